//! A hosted collector is `https://`: spans and logs arrive over TLS, gRPC and HTTP alike,
//! with a CA of the test's own and with client certificates (mutual TLS); a collector whose
//! certificate nobody trusts is a clear, counted failure that blocks nothing.
#![cfg(all(feature = "tls", feature = "grpc", feature = "http"))]

use std::time::Duration;

use am_core::exporter::TlsSettings;
use am_otel::{OtlpPipeline, Protocol, Retry};
use am_testkit::otlp::Receiver;
use am_testkit::tls::{Leaf, ProxyOptions, TestCa, TlsProxy};
use opentelemetry::trace::{Span as _, Tracer as _};

fn pipeline(url: &str, protocol: Protocol, tls: TlsSettings) -> OtlpPipeline {
    OtlpPipeline::builder()
        .service("tls")
        .endpoint(url)
        .protocol(protocol)
        .tls(tls)
        .logs(true)
        .retry(Retry::NONE)
        .timeout(Duration::from_secs(3))
        .batch_delay(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A receiver of `protocol` behind a TLS proxy showing `leaf`.
fn behind_tls(protocol: Protocol, ca: &TestCa, leaf: &Leaf, mutual: bool) -> (Receiver, TlsProxy) {
    let (rx, opts) = match protocol {
        Protocol::Grpc => (Receiver::grpc(), ProxyOptions::grpc()),
        _ => (Receiver::http(), ProxyOptions::http()),
    };
    let opts = if mutual { opts.mutual() } else { opts };
    let proxy = TlsProxy::start(rx.addr, ca, leaf, opts);
    (rx, proxy)
}

fn ca_only(ca: &TestCa) -> TlsSettings {
    TlsSettings::default().ca_file(&ca.ca_file).unwrap()
}

fn export(p: &OtlpPipeline, n: usize) -> am_core::Delivery {
    let t = p.sdk_tracer();
    for i in 0..n {
        t.start(format!("over-tls-{i}")).end();
    }
    p.force_flush()
}

#[test]
fn spans_arrive_over_tls_on_both_transports() {
    let ca = TestCa::new("otel");
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let (rx, proxy) = behind_tls(protocol, &ca, &ca.server, false);
        let p = pipeline(&proxy.url(), protocol, ca_only(&ca));
        let d = export(&p, 5);
        assert!(d.complete() && d.sent == 5, "{protocol:?}: {d}");
        assert_eq!(rx.spans().len(), 5, "{protocol:?}");
        assert!(proxy.handshakes().0 >= 1);
        assert!(p.shutdown(Duration::from_secs(2)).complete());
    }
}

#[test]
fn mutual_tls_presents_the_client_certificate() {
    let ca = TestCa::new("otel-mtls");
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let (rx, proxy) = behind_tls(protocol, &ca, &ca.server, true);
        let id = ca_only(&ca).identity_files(&ca.client.cert_file, &ca.client.key_file).unwrap();
        let p = pipeline(&proxy.url(), protocol, id);
        let d = export(&p, 3);
        assert!(d.complete(), "{protocol:?}: {d}");
        assert_eq!(rx.spans().len(), 3);

        // without it the collector refuses: nothing arrives, and the report says so
        let anon = pipeline(&proxy.url(), protocol, ca_only(&ca));
        let d = export(&anon, 3);
        assert!(d.in_time && d.balanced() && d.sent == 0 && d.failed == 3, "{protocol:?}: {d}");
        assert_eq!(rx.spans().len(), 3, "nothing more arrived");
    }
}

#[test]
fn an_untrusted_collector_is_a_counted_failure() {
    let (ours, theirs) = (TestCa::new("otel-ours"), TestCa::new("otel-theirs"));
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let (rx, proxy) = behind_tls(protocol, &theirs, &theirs.server, false);
        let p = pipeline(&proxy.url(), protocol, ca_only(&ours));
        let start = std::time::Instant::now();
        let d = export(&p, 4);
        assert!(start.elapsed() < Duration::from_secs(8), "{:?}", start.elapsed());
        assert!(!d.complete() && d.balanced() && (d.sent, d.failed) == (0, 4), "{protocol:?}: {d}");
        assert!(rx.spans().is_empty());
        let hs = proxy.refused_handshakes();
        assert!(hs.1 >= 1, "{protocol:?}: {hs:?}");
    }
}
