//! A Pushgateway behind HTTPS (an ingress): pushes arrive over TLS with a CA of the test's
//! own, and one whose certificate nobody trusts is a counted push failure, never a machine
//! that waits. The Pushgateway is the real one (`cargo xtask deps`).
#![cfg(all(feature = "push", feature = "tls"))]

mod support;

use std::time::{Duration, Instant};

use am_core::exporter::TlsSettings;
use am_core::{Machine, Schema};
use am_prom::PromTracer;
use am_testkit::tls::{ProxyOptions, TestCa, TlsProxy};
use support::Pushgateway;

fn pusher(url: &str, tls: TlsSettings) -> PromTracer {
    PromTracer::builder()
        .push(url, Duration::from_secs(3600))
        .tls(tls)
        .service("tls-push")
        .instance("tls-host")
        .shutdown_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn machine(id: &str, prom: &PromTracer) -> Machine {
    let m = Machine::builder(Schema::builder().states(["A"]).build().unwrap()).id(id).build();
    prom.bind(&m).unwrap();
    m
}

#[test]
fn pushes_arrive_over_tls() {
    if am_testkit::tool("prometheus-pushgateway", "apt-get install prometheus-pushgateway").is_none() {
        return;
    }
    let ca = TestCa::new("push");
    let gw = Pushgateway::start();
    let proxy = TlsProxy::start(gw.0.addr(), &ca, &ca.server, ProxyOptions::http());
    let prom = pusher(&proxy.url(), TlsSettings::default().ca_file(&ca.ca_file).unwrap());
    let m = machine("pushed-over-tls", &prom);
    let until = Instant::now() + Duration::from_secs(20);
    while prom.stats().pushes < 1 {
        assert!(Instant::now() < until, "no first push: {:?}", prom.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    m.add(&["A"]).unwrap();
    let d = prom.shutdown();
    assert!(d.complete() && d.sent == 2, "first push and final push: {d}");
    let page = gw.metrics();
    assert!(page.contains(r#"mach_id="pushed-over-tls""#), "{page}");
    assert!(proxy.handshakes().0 >= 1);
}

#[test]
fn an_untrusted_pushgateway_is_a_counted_failure() {
    let (ours, theirs) = (TestCa::new("push-ours"), TestCa::new("push-theirs"));
    // nothing behind it: the handshake fails first
    let proxy = TlsProxy::start(am_testkit::free_port(), &theirs, &theirs.server, ProxyOptions::http());
    let prom = pusher(&proxy.url(), TlsSettings::default().ca_file(&ours.ca_file).unwrap());
    let m = machine("untrusted-push", &prom);
    let start = Instant::now();
    for _ in 0..50 {
        m.toggle(&["A"]).unwrap();
    }
    assert!(start.elapsed() < Duration::from_millis(500), "the machine waited: {:?}", start.elapsed());
    let d = prom.shutdown();
    assert!(d.in_time && d.balanced() && d.sent == 0 && d.failed >= 1, "{d}");
    let hs = proxy.refused_handshakes();
    assert!(hs.1 >= 1, "{hs:?}");
}
