//! Feature `metrics`: am-prom's quantities as OTel instruments, received over OTLP.
#![cfg(feature = "grpc")]

use std::time::{Duration, Instant};

use am_core::{Machine, Schema, conventions::prom as n, err_msg};
use am_otel::OtlpPipeline;
use am_testkit::otlp::Receiver;

#[test]
fn metrics_over_grpc() {
    let rx = Receiver::grpc();
    let p = OtlpPipeline::builder()
        .service("metrics")
        .endpoint(rx.grpc_url())
        .metrics(Duration::from_millis(50))
        .build()
        .unwrap();
    let mt = p.metrics_tracer().expect("metrics on");
    let m =
        Machine::builder(Schema::builder().states(["A", "B"]).build().unwrap()).id("api").tracer(mt.clone()).build();
    let child = Machine::builder(Schema::builder().states(["C"]).build().unwrap()).id("worker").parent(&m).build();
    m.add(&["A"]).unwrap();
    m.remove(&["A"]).unwrap();
    child.add(&["C"]).unwrap();
    m.add_err(err_msg("x")).unwrap();
    let want = n::ALL;
    let t0 = Instant::now();
    let mut names = rx.metric_names();
    while !want.iter().all(|w| names.iter().any(|x| x == w)) && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
        names = rx.metric_names();
    }
    for w in want {
        assert!(names.iter().any(|x| x == w), "{w} missing from {names:?}");
    }
    assert_eq!(mt.overflow(), 0);
    p.shutdown(Duration::from_secs(2));
}
