//! Loki behind HTTPS, as a hosted Loki is: entries arrive over TLS with a CA of the test's
//! own, client certificates work for mutual TLS, and a server with a certificate nobody
//! trusts is a clear, counted failure that never blocks the machine.
#![cfg(feature = "tls")]

use std::time::{Duration, Instant};

use am_core::exporter::TlsSettings;
use am_core::{LogLevel, Machine, Schema};
use am_loki::LokiTracer;
use am_testkit::loki::Receiver;
use am_testkit::tls::{ProxyOptions, TestCa, TlsProxy};

const WAIT: Duration = Duration::from_secs(10);

fn machine(id: &str, loki: &LokiTracer) -> Machine {
    let schema = Schema::builder().states(["A"]).build().unwrap();
    Machine::builder(schema).id(id).log_level(LogLevel::Changes).tracer(loki.clone()).build()
}

fn tracer(url: &str, tls: TlsSettings) -> LokiTracer {
    LokiTracer::builder()
        .addr(url)
        .service("svc")
        .tls(tls)
        .batch_interval(Duration::from_millis(20))
        .backoff(Duration::from_millis(10), Duration::from_millis(40))
        .max_retries(2)
        .build()
        .unwrap()
}

fn toggle(m: &Machine, n: usize) {
    for _ in 0..n {
        m.toggle(&["A"]).unwrap();
    }
}

#[test]
fn entries_arrive_over_tls_with_a_ca_of_our_own() {
    let ca = TestCa::new("loki");
    let rx = Receiver::start();
    let proxy = TlsProxy::start(
        rx.addr().trim_start_matches("http://").parse().unwrap(),
        &ca,
        &ca.server,
        ProxyOptions::http(),
    );
    let loki = tracer(&proxy.url(), TlsSettings::default().ca_file(&ca.ca_file).unwrap());
    let m = machine("tls-m", &loki);
    toggle(&m, 10);
    let d = loki.flush(WAIT);
    assert!(d.complete(), "{d}");
    assert_eq!(rx.lines_of("tls-m").len(), 10);
    assert!(proxy.handshakes().0 >= 1, "{:?}", proxy.handshakes());
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let ca = TestCa::new("loki-mtls");
    let rx = Receiver::start();
    let backend = rx.addr().trim_start_matches("http://").parse().unwrap();
    let proxy = TlsProxy::start(backend, &ca, &ca.server, ProxyOptions::http().mutual());
    let with_id = TlsSettings::default()
        .ca_file(&ca.ca_file)
        .unwrap()
        .identity_files(&ca.client.cert_file, &ca.client.key_file)
        .unwrap();
    let loki = tracer(&proxy.url(), with_id);
    let m = machine("mtls-m", &loki);
    toggle(&m, 4);
    assert!(loki.flush(WAIT).complete());
    assert_eq!(rx.lines_of("mtls-m").len(), 4);

    // the same server without a client certificate: refused, counted, the machine unharmed
    let anon = tracer(&proxy.url(), TlsSettings::default().ca_file(&ca.ca_file).unwrap());
    let m = machine("anon-m", &anon);
    let start = Instant::now();
    toggle(&m, 4);
    assert!(start.elapsed() < Duration::from_millis(500), "the machine waited: {:?}", start.elapsed());
    let d = anon.flush(WAIT);
    assert!(d.in_time && !d.complete() && d.balanced() && d.sent == 0 && d.failed == 4, "{d}");
    assert!(rx.lines_of("anon-m").is_empty());
}

#[test]
fn a_certificate_nobody_trusts_is_a_counted_failure() {
    let ours = TestCa::new("loki-ours");
    let theirs = TestCa::new("loki-theirs");
    let rx = Receiver::start();
    let backend = rx.addr().trim_start_matches("http://").parse().unwrap();
    // the server shows a certificate of another CA
    let proxy = TlsProxy::start(backend, &theirs, &theirs.server, ProxyOptions::http());
    let loki = tracer(&proxy.url(), TlsSettings::default().ca_file(&ours.ca_file).unwrap());
    let m = machine("untrusted", &loki);
    let start = Instant::now();
    toggle(&m, 6);
    assert!(start.elapsed() < Duration::from_millis(500), "the machine waited: {:?}", start.elapsed());
    let d = loki.flush(WAIT);
    assert!(d.in_time && d.balanced() && (d.sent, d.failed) == (0, 6), "{d}");
    let hs = proxy.refused_handshakes();
    assert!(hs.1 >= 1, "the client refused the handshake: {hs:?}");
    assert!(rx.lines_of("untrusted").is_empty());
}

#[test]
fn a_bad_ca_file_is_an_error_naming_it() {
    let e = TlsSettings::default().ca_file("/nonexistent/ca.pem").unwrap_err().to_string();
    assert!(e.contains("/nonexistent/ca.pem") && e.contains("cannot read"), "{e}");
}
