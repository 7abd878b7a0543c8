//! Tracer options and filters, with spans collected by an in-process exporter behind the
//! same gate and batch processor as OTLP.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use am_core::{Handlers, Machine, Schema, State};
use am_otel::{OtelTracerBuilder, OtlpPipeline, StateFilter};
use opentelemetry::trace::{SpanId, TraceContextExt as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

#[derive(Clone, Debug, Default)]
struct Mem(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Mem {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

fn schema() -> Schema {
    Schema::builder()
        .state("Start", State::new())
        .state("Ready", State::new().auto().require(["Start"]))
        .state("Blocked", State::new())
        .state("Healthcheck", State::new().multi())
        .build()
        .unwrap()
}

/// Runs a fixed set of transitions and returns the exported span names and the pipeline.
fn run(id: &str, f: impl FnOnce(OtelTracerBuilder) -> OtelTracerBuilder) -> (Vec<String>, OtlpPipeline) {
    let mem = Mem::default();
    let p = OtlpPipeline::with_exporter(mem.clone(), "opts");
    let tracer = f(p.tracer_builder().parent(None)).build().unwrap();
    let m = Machine::builder(schema()).id(id).tracer(tracer).build();
    m.bind_handlers(Handlers::new("h").enter("Blocked", |_| false)).unwrap();
    m.add(&["Start"]).unwrap(); // + auto Ready
    m.add(&["Start"]).unwrap(); // accepted, changes nothing
    m.add(&["Blocked"]).unwrap(); // canceled
    m.add(&["Healthcheck"]).unwrap();
    m.dispose(); // last top-level machine: flush + shutdown
    let names = mem.0.lock().unwrap().iter().map(|s| s.name.to_string()).collect();
    (names, p)
}

fn has(names: &[String], n: &str) -> bool {
    names.iter().any(|x| x == n)
}

#[test]
fn states_only_by_default() {
    let (names, _) = run("m", |b| b.transitions(false));
    assert!(!names.iter().any(|n| n.contains("transitions") || n.contains("[add]")), "{names:?}");
    assert!(has(&names, "0:Start") && has(&names, "0:Ready"), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("Healthcheck")), "health hidden: {names:?}");
}

#[test]
fn transitions_and_canceled() {
    let (names, p) = run("m", |b| b.transitions(true));
    for n in ["0:transitions", "0: [add] Start", "0: [add] Ready", "0: [add] Blocked"] {
        assert!(has(&names, n), "{n} in {names:?}");
    }
    assert_eq!(names.iter().filter(|n| *n == "0: [add] Start").count(), 2, "empty transition traced");
    assert!(!names.iter().any(|n| n.contains("Healthcheck")), "{names:?}");
    assert_eq!(p.span_stats().discarded, 0);
}

#[test]
fn skip_canceled_empty_auto() {
    let (names, p) = run("m", |b| b.transitions(true).skip_canceled(true).skip_empty(true).skip_auto(true));
    assert!(!has(&names, "0: [add] Blocked"), "{names:?}");
    assert_eq!(names.iter().filter(|n| *n == "0: [add] Start").count(), 1, "{names:?}");
    assert!(!has(&names, "0: [add] Ready"), "auto skipped: {names:?}");
    assert!(has(&names, "0:Ready"), "auto state change still traced: {names:?}");
    let s = p.span_stats();
    assert_eq!(s.discarded, 2, "{s:?}");
    assert_eq!(s.dropped, 0);
}

#[test]
fn include_health() {
    let (names, _) = run("m", |b| b.transitions(true).include_health(true));
    assert!(has(&names, "0: [add] Healthcheck"), "{names:?}");
    assert!(has(&names, "0:Healthcheck [M]"), "{names:?}");
}

#[test]
fn state_filters() {
    let (names, _) = run("m", |b| b.filter(StateFilter::new().allow(["m:Ready"])));
    assert!(has(&names, "0:Ready") && !has(&names, "0:Start"), "{names:?}");
    let (names, _) = run("m", |b| b.filter(StateFilter::new().allow(["Ready", "Start"]).skip(["Start"])));
    assert!(has(&names, "0:Ready") && !has(&names, "0:Start"), "skip wins: {names:?}");
    let (names, _) = run("m", |b| b.filter(StateFilter::new().skip_regex("Rea").unwrap()));
    assert!(!has(&names, "0:Ready") && has(&names, "0:Start"), "{names:?}");
    // the skip regex also drops whole machines by ID
    let (names, _) = run("rm-1", |b| b.filter(StateFilter::new().skip_regex("^rm-").unwrap()));
    assert!(!names.iter().any(|n| n.starts_with("mach:")), "{names:?}");
}

#[test]
fn open_groups_and_remote_parent() {
    let parent = am_otel::remote_parent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7").unwrap();
    let mem = Mem::default();
    let p = OtlpPipeline::with_exporter(mem.clone(), "opts");
    let tracer = p.tracer_builder().parent(Some(parent.clone())).open_groups(true).build().unwrap();
    let m = Machine::builder(schema()).id("m").tracer(tracer.clone()).build();
    m.add(&["Start"]).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(m.trace_context().unwrap().trace_id, parent.trace_id().to_bytes());
    assert_eq!(tracer.child_env()[0], ("AM_OTEL_TRACE_ID", "4bf92f3577b34da6a3ce929d0e0e4736".to_string()));
    m.dispose();
    let spans = mem.0.lock().unwrap().clone();
    assert!(!spans.iter().any(|s| s.name == "root"), "a joined trace has no root span");
    let mach = spans.iter().find(|s| s.name == "mach:0:m").unwrap();
    assert_eq!(mach.parent_span_id, SpanId::from_hex("00f067aa0ba902b7").unwrap());
    assert_eq!(mach.span_context.trace_id(), parent.trace_id());
    assert!(mach.end_time.duration_since(mach.start_time).unwrap() >= Duration::from_millis(5), "open until dispose");
}

/// Root trace sharing across processes: the child (this test binary, re-run) joins the
/// parent's trace from the env alone — the Go pair, or `TRACEPARENT` alone.
#[test]
fn child_process_joins_trace() {
    if let Ok(expect) = std::env::var("TEST_EXPECT_OTEL_OPTIONS") {
        let sc = am_otel::env_parent().expect("parent from env");
        assert_eq!(format!("{}-{}", sc.trace_id(), sc.span_id()), expect);
        return;
    }
    let mem = Mem::default();
    let p = OtlpPipeline::with_exporter(mem, "parent");
    let tracer = p.tracer_builder().parent(None).build().unwrap();
    let root = tracer.root_span_context().unwrap();
    let expect = format!("{}-{}", root.trace_id(), root.span_id());
    let env = tracer.child_env();
    assert_eq!(env.len(), 3);
    for vars in [env.clone(), env.into_iter().filter(|(k, _)| *k == "TRACEPARENT").collect()] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_process_joins_trace", "--test-threads=1"])
            .env_remove("AM_OTEL_TRACE_ID")
            .env_remove("AM_OTEL_SPAN_ID")
            .env_remove("TRACEPARENT")
            .envs(vars)
            .env("TEST_EXPECT_OTEL_OPTIONS", &expect)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    }
}

#[test]
fn install_global_provider() {
    use opentelemetry::trace::{Span as _, Tracer as _};
    let mem = Mem::default();
    let p = OtlpPipeline::with_exporter(mem.clone(), "global");
    p.install_global();
    opentelemetry::global::tracer("app").start("app-span").end();
    assert!(p.force_flush().complete());
    assert!(mem.0.lock().unwrap().iter().any(|s| s.name == "app-span"));
    let mut carrier = std::collections::HashMap::new();
    let cx = opentelemetry::Context::new().with_remote_span_context(
        am_otel::remote_parent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7").unwrap(),
    );
    opentelemetry::global::get_text_map_propagator(|prop| prop.inject_context(&cx, &mut carrier));
    assert_eq!(carrier["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
}

#[test]
fn shutdown_twice_is_ok() {
    let mem = Mem::default();
    let p = OtlpPipeline::with_exporter(mem.clone(), "twice");
    let t = p.tracer_builder().parent(None).build().unwrap();
    let m = Machine::builder(schema()).id("tw").tracer(t.clone()).build();
    m.add(&["Start"]).unwrap();
    assert!(t.shutdown(Duration::from_secs(1)));
    assert!(t.shutdown(Duration::from_secs(1)), "a provider already shut down is not a failure");
    let spans = mem.0.lock().unwrap().clone();
    assert!(spans.iter().any(|s| s.name == "0:Start"), "the open state span was ended and exported");
}
