//! The span tree as an OTLP collector receives it, over gRPC and HTTP.
#![cfg(any(feature = "grpc", feature = "http"))]

mod scenario;

use std::time::Duration;

use am_otel::{OtlpPipeline, Protocol};
use am_testkit::otlp::{RSpan, Receiver, one, render_tree};

const GOLDEN: &str = include_str!("golden/scenario_tree.txt");

fn pipeline(endpoint: String, protocol: Protocol, logs: bool) -> OtlpPipeline {
    OtlpPipeline::builder()
        .service("am-test")
        .endpoint(endpoint)
        .protocol(protocol)
        .logs(logs)
        .batch_delay(Duration::from_millis(20))
        .build()
        .unwrap()
}

fn run_scenario(p: &OtlpPipeline, logs: bool) {
    let tracer = p.tracer_builder().transitions(true).args(true).parent(None).build().unwrap();
    let lt = if logs { p.log_tracer() } else { None };
    scenario::run(&tracer, lt.as_ref()).unwrap();
    // disposing the last top-level machine shut the trace provider down (flushed)
    assert!(tracer.machine_span_context("api").is_none());
}

fn check_golden(spans: &[RSpan]) {
    let tree = render_tree(spans);
    if std::env::var_os("AM_UPDATE_GOLDEN").is_some() {
        std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/scenario_tree.txt"), &tree).unwrap();
    }
    assert_eq!(tree, GOLDEN, "span tree differs from tests/golden/scenario_tree.txt:\n{tree}");
}

const EXPECTED_SPANS: usize = 32;

#[cfg(feature = "grpc")]
#[test]
fn grpc_span_tree() {
    let rx = Receiver::grpc();
    let p = pipeline(rx.grpc_url(), Protocol::Grpc, true);
    run_scenario(&p, true);
    let spans = rx.wait_spans(|s| s.len() >= EXPECTED_SPANS);
    check_golden(&spans);
    assert_eq!(spans.len(), EXPECTED_SPANS);

    // resource, scope, kind, one trace
    let trace = &one(&spans, "root").trace_id;
    for s in &spans {
        assert_eq!(s.service, "am-test", "{}", s.name);
        assert_eq!(s.scope, "am-test");
        assert_eq!(s.kind, 1, "INTERNAL");
        assert_eq!(&s.trace_id, trace, "{}", s.name);
    }

    // structure: submachine under the parent's submachines span
    let root = one(&spans, "root");
    let api = one(&spans, "mach:0:api");
    assert_eq!(api.parent_id, root.span_id);
    assert_eq!(api.attrs["id"], "api");
    assert_eq!(api.attrs["tags"], "svc,v1");
    let subs = one(&spans, "0:submachines");
    assert_eq!(subs.parent_id, api.span_id);
    assert_eq!(subs.attrs["mach_id"], "api");
    let worker = one(&spans, "mach:1:worker");
    assert_eq!(worker.parent_id, subs.span_id);
    assert_eq!(worker.attrs["parent_id"], "api");
    assert_eq!(one(&spans, "0:states").parent_id, api.span_id);
    let txs = one(&spans, "0:transitions");
    assert_eq!(txs.parent_id, api.span_id);

    // a transition: attributes, handler events, link to the state span it opened
    let ready_tx = one(&spans, "0: [add] Ready");
    assert_eq!(ready_tx.parent_id, txs.span_id);
    assert_eq!(ready_tx.attrs["mutation"], "[add] Ready");
    assert_eq!(ready_tx.attrs["states_diff"], "+Ready");
    assert_eq!(ready_tx.attrs["accepted"], "true");
    assert_eq!(ready_tx.attrs["auto"], "false");
    assert_eq!(ready_tx.attrs["time_before"], "1");
    assert_eq!(ready_tx.attrs["time_after"], "2");
    assert_eq!(ready_tx.attrs["tx_id"].len(), 16);
    let events: Vec<_> = ready_tx.events.iter().map(|(n, a)| (n.as_str(), a["emitter"].as_str())).collect();
    assert_eq!(events, [("ReadyEnter", "api-h"), ("ReadyState", "api-h")]);
    assert_eq!(ready_tx.status.0, 0);

    // the Ready group and its instance span
    let ready_spans: Vec<_> = spans.iter().filter(|s| s.name == "0:Ready").collect();
    assert_eq!(ready_spans.len(), 2);
    let (group, inst) = if ready_spans[0].parent_id == one(&spans, "0:states").span_id {
        (ready_spans[0], ready_spans[1])
    } else {
        (ready_spans[1], ready_spans[0])
    };
    assert_eq!(inst.parent_id, group.span_id);
    assert_eq!(inst.attrs["tx_id"], ready_tx.attrs["tx_id"]);
    assert_eq!(inst.events[0].0, "[add] Ready");
    assert!(ready_tx.links.contains(&inst.span_id), "tx links to the state span it opened");
    let remove_tx = one(&spans, "0: [remove] Ready");
    assert!(remove_tx.links.contains(&inst.span_id), "tx links to the state span it closed");
    assert_eq!(remove_tx.attrs["states_diff"], "-Ready");
    assert!(inst.end >= remove_tx.start && inst.end <= remove_tx.end, "instance open while active");
    assert!(group.end - group.start < 1_000_000 && group.end < inst.end, "structural spans end at once (Go)");

    // Multi re-activation: one open span, one event per activation
    let jobs: Vec<_> = spans.iter().filter(|s| s.name == "0:Job [M]").collect();
    assert_eq!(jobs.len(), 2);
    let job = jobs.iter().find(|s| s.events.len() == 2).expect("instance with two events");
    assert!(job.events.iter().all(|(n, _)| n == "[add] Job"));

    // canceled: accepted=false and a reason, no state span
    let blocked = one(&spans, "0: [add] Blocked");
    assert_eq!(blocked.attrs["accepted"], "false");
    assert!(blocked.attrs["cancel_reason"].starts_with("handler"), "{:?}", blocked.attrs);
    assert!(!spans.iter().any(|s| s.name == "0:Blocked"));

    // source link: worker's mutation came from api's Spawn handler
    let spawn = one(&spans, "0: [add] Spawn");
    let work = one(&spans, "1: [add] Work");
    assert!(work.links.contains(&spawn.span_id), "link to the source transition");

    // Exception: `!` prefix, error attribute, ERROR status and an exception event
    let exc = one(&spans, "!0: [add] Exception");
    assert_eq!(exc.attrs["error"], "boom");
    assert_eq!(exc.status, (2, "boom".to_string()));
    assert!(
        exc.events
            .iter()
            .any(|(n, a)| n == "exception" && a.get("exception.message").map(String::as_str) == Some("boom"))
    );
    assert!(!spans.iter().any(|s| s.name.starts_with("!") && s.name != exc.name), "no `!` on later transitions");

    // logs: the record logged in ReadyState carries that transition's span
    let t0 = std::time::Instant::now();
    let logs = loop {
        let l = rx.logs();
        if !l.is_empty() || t0.elapsed() > Duration::from_secs(10) {
            break l;
        }
        p.force_flush();
        std::thread::sleep(Duration::from_millis(20));
    };
    let rec = logs.iter().find(|l| l.body == "api is ready").unwrap_or_else(|| panic!("{logs:#?}"));
    assert_eq!(rec.trace_id, *trace);
    assert_eq!(rec.span_id, ready_tx.span_id);
    assert_eq!(rec.attrs["asyncmachine.id"], "api");
    // a line the machine logged inside the transition also carries its ID
    let change = logs
        .iter()
        .find(|l| l.attrs.get("asyncmachine.tx_id") == ready_tx.attrs.get("tx_id"))
        .unwrap_or_else(|| panic!("no record with the Ready tx_id: {logs:#?}"));
    assert_eq!(change.span_id, ready_tx.span_id);
    assert_eq!(change.severity_text, "changes");
    assert_eq!(rec.severity, 12, "INFO4 for External");
    assert_eq!(rec.severity_text, "external");
    assert_eq!(rec.service, "am-test");
    assert_eq!(rec.scope, "api");
    p.shutdown(Duration::from_secs(2));
}

#[cfg(feature = "http")]
#[test]
fn http_span_tree() {
    let rx = Receiver::http();
    let p = pipeline(format!("http://{}", rx.addr), Protocol::HttpProtobuf, true);
    run_scenario(&p, true);
    let spans = rx.wait_spans(|s| s.len() >= EXPECTED_SPANS);
    check_golden(&spans);
    assert!(spans.iter().all(|s| s.service == "am-test"));
    let exc = one(&spans, "!0: [add] Exception");
    assert_eq!(exc.status.0, 2);
    let t0 = std::time::Instant::now();
    while rx.logs().is_empty() && t0.elapsed() < Duration::from_secs(10) {
        p.force_flush();
        std::thread::sleep(Duration::from_millis(20));
    }
    let logs = rx.logs();
    assert!(logs.iter().any(|l| l.body == "api is ready" && l.trace_id == exc.trace_id), "{logs:#?}");
    p.shutdown(Duration::from_secs(2));
}

/// A machine made for a request (the builder's `trace_parent`) lives in the request's trace:
/// its span is a child of the request span, its transitions below it, although it is a
/// submachine of a traced service machine.
#[cfg(feature = "grpc")]
#[test]
fn a_machine_joins_the_span_it_was_made_for() {
    use am_core::{Machine, Schema, TraceContext};
    use opentelemetry::trace::{Span as _, Tracer as _};
    let rx = Receiver::grpc();
    let p = pipeline(rx.grpc_url(), Protocol::Grpc, false);
    let tracer = p.tracer_builder().transitions(true).build().unwrap();
    let schema = Schema::builder().states(["Received", "Done"]).build().unwrap();
    let service = Machine::builder(schema.clone()).id("service").tracer(tracer.clone()).build();
    // the request span of an HTTP handler, made by the app with the same SDK
    let mut request = p.sdk_tracer().start("POST /orders");
    let sc = request.span_context().clone();
    let cx = TraceContext { trace_id: sc.trace_id().to_bytes(), span_id: sc.span_id().to_bytes() };
    let order = Machine::builder(schema).id("order-1").parent(&service).trace_parent(cx).build();
    order.add(&["Received"]).unwrap();
    order.add(&["Done"]).unwrap();
    order.dispose();
    request.end();
    service.dispose();
    let spans =
        rx.wait_spans(|s| s.iter().any(|s| s.name == "POST /orders") && s.iter().any(|s| s.name.ends_with(":order-1")));
    let req = one(&spans, "POST /orders");
    let mach = spans.iter().find(|s| s.name.ends_with(":order-1")).unwrap();
    assert_eq!((&mach.trace_id, &mach.parent_id), (&req.trace_id, &req.span_id), "the machine is the request's child");
    assert_eq!(mach.attrs.get("parent_id").map(String::as_str), Some("service"), "{:?}", mach.attrs);
    // its transitions are in the request's trace too
    let tx: Vec<&RSpan> = spans.iter().filter(|s| s.name.contains("Received") || s.name.contains("Done")).collect();
    assert!(!tx.is_empty() && tx.iter().all(|s| s.trace_id == req.trace_id), "{spans:#?}");
}

/// A tracer over an SDK tracer of the application's own provider (not a pipeline's) builds
/// its spans through that provider: the same tree, with the provider's resource and scope.
#[cfg(feature = "grpc")]
#[test]
fn a_tracer_over_the_apps_own_provider_builds_the_same_tree() {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;
    use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
    let rx = Receiver::grpc();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let exporter = {
        let _g = rt.enter();
        opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(rx.grpc_url()).build().unwrap()
    };
    let bsp = BatchSpanProcessor::new(
        RtExporter(exporter, rt.handle().clone()),
        BatchConfigBuilder::default().with_scheduled_delay(Duration::from_millis(20)).build(),
    );
    let provider = SdkTracerProvider::builder()
        .with_span_processor(bsp)
        .with_id_generator(am_otel::AmIdGenerator::default())
        .with_resource(opentelemetry_sdk::Resource::builder().with_service_name("am-test").build())
        .build();
    let tracer = am_otel::OtelTracer::builder(provider.tracer("am-test"))
        .provider(provider.clone())
        .shutdown_on_dispose(Duration::from_secs(5))
        .transitions(true)
        .args(true)
        .parent(None)
        .build()
        .unwrap();
    scenario::run(&tracer, None).unwrap();
    let spans = rx.wait_spans(|s| s.len() >= EXPECTED_SPANS);
    check_golden(&spans);
    assert!(spans.iter().all(|s| s.service == "am-test" && s.scope == "am-test"));
    let ready_tx = one(&spans, "0: [add] Ready");
    let inst = spans.iter().find(|s| s.name == "0:Ready" && s.attrs.contains_key("tx_id")).unwrap();
    assert!(ready_tx.links.contains(&inst.span_id), "tx links to the state span it opened");
    drop(rt);
}

/// Runs the OTLP exporter's exports on a runtime (the SDK's batch thread has none).
#[cfg(feature = "grpc")]
#[derive(Debug)]
struct RtExporter<E>(E, tokio::runtime::Handle);

#[cfg(feature = "grpc")]
impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter for RtExporter<E> {
    async fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
        self.1.block_on(self.0.export(batch))
    }
    fn set_resource(&mut self, r: &opentelemetry_sdk::Resource) {
        self.0.set_resource(r)
    }
}
