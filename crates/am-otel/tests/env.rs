//! Env-only activation: this test binary re-runs itself with `AM_OTEL_*` variables set (a
//! process's env cannot be changed safely from a threaded test), the child binds a root
//! machine with `bind_env`, and the parent asserts on what its receiver got.
#![cfg(feature = "grpc")]

use std::process::Command;

use am_core::{Machine, Schema};
use am_testkit::otlp::{Receiver, one};

const CHILD: &str = "AM_OTEL_TEST_CHILD";

fn child() {
    let schema = Schema::builder().states(["Start", "Heartbeat", "Noise"]).build().unwrap();
    let root = Machine::builder(schema).id("envroot").build();
    let guard = am_otel::bind_env(&root).unwrap().guard().expect("bound from env");
    assert!(guard.tracer().options().transitions);
    let sub = Machine::builder(Schema::builder().states(["Work"]).build().unwrap()).id("envsub").parent(&root).build();
    assert!(!am_otel::bind_env(&sub).unwrap().is_bound(), "submachines inherit instead");
    let rpc = Machine::builder(Schema::builder().states(["X"]).build().unwrap()).id("rpc").tags(["rpc-client"]).build();
    assert!(!am_otel::bind_env(&rpc).unwrap().is_bound(), "rpc machines are skipped");
    root.add(&["Start"]).unwrap();
    root.add(&["Noise"]).unwrap();
    sub.add(&["Work"]).unwrap();
    sub.dispose();
    root.dispose(); // flushes and shuts the env pipeline down
    assert!(am_otel::env_span_stats().is_none());
}

#[test]
fn bind_env_from_variables() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let rx = Receiver::grpc();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "bind_env_from_variables", "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("AM_TEST_RUNNER")
        .env_remove("AM_OTEL_TRACE_ID")
        .env_remove("AM_OTEL_SPAN_ID")
        .env_remove("TRACEPARENT")
        .env("AM_SERVICE", "env-svc")
        .env("AM_OTEL_TRACE", "1")
        .env("AM_OTEL_TRACE_TXS", "1")
        .env("AM_OTEL_TRACE_SKIP_STATES", "Noise")
        .env("AM_OTEL_LOG", "1")
        .env("AM_LOG", "2")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", rx.grpc_url())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    let spans = rx.wait_spans(|s| s.iter().any(|s| s.name == "1: [add] Work"));
    assert!(spans.iter().all(|s| s.service == "env-svc"));
    let root = one(&spans, "mach:0:envroot");
    assert_eq!(one(&spans, "root").span_id, root.parent_id);
    one(&spans, "0: [add] Start");
    one(&spans, "0: [add] Noise");
    assert!(!spans.iter().any(|s| s.name == "0:Noise"), "AM_OTEL_TRACE_SKIP_STATES");
    assert_eq!(one(&spans, "mach:1:envsub").parent_id, one(&spans, "0:submachines").span_id);
    assert!(!spans.iter().any(|s| s.name.contains("rpc")));
    // AM_OTEL_LOG: the root's log lines, in the same trace
    let logs = rx.logs();
    let start_tx = one(&spans, "0: [add] Start");
    assert!(
        logs.iter().any(|l| l.attrs.get("asyncmachine.id").map(String::as_str) == Some("envroot")
            && l.trace_id == root.trace_id
            && l.span_id == start_tx.span_id
            && l.service == "env-svc"),
        "{logs:#?}"
    );
}

#[test]
fn bind_env_off_without_switch() {
    // this process runs without AM_OTEL_TRACE (tests must not depend on the caller's env)
    if am_core::env::is_on(am_otel::env::AM_OTEL_TRACE) {
        eprintln!("SKIPPED bind_env_off_without_switch: AM_OTEL_TRACE is set in this environment");
        return;
    }
    let m = Machine::builder(Schema::builder().states(["A"]).build().unwrap()).build();
    assert!(!am_otel::bind_env(&m).unwrap().is_bound());
    assert!(m.tracers().is_empty());
}
