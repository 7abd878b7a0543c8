//! `http/json` (feature `http-json`): machine spans, log records and metrics reach a loopback
//! HTTP receiver as OTLP/JSON bodies, checked against the encoding the OTLP specification
//! gives (camelCase fields, hex IDs, `intValue` and timestamps as strings).

use std::time::Duration;

use am_core::{Machine, Schema};
use am_otel::{OtlpPipeline, Protocol};
use am_testkit::otlp::{Failure, Receiver};
use opentelemetry::trace::{Span as _, Tracer as _};
use serde_json::Value;

fn pipeline(rx: &Receiver, service: &str) -> am_otel::OtlpPipelineBuilder {
    OtlpPipeline::builder()
        .service(service)
        .endpoint(format!("http://{}", rx.addr))
        .protocol(Protocol::HttpJson)
        .batch_delay(Duration::from_millis(20))
}

/// The string value of the attribute `key` in an OTLP/JSON attribute list.
fn attr<'a>(attrs: &'a Value, key: &str) -> Option<&'a Value> {
    attrs.as_array()?.iter().find(|kv| kv["key"] == key).map(|kv| &kv["value"])
}

fn is_hex(v: &Value, len: usize) -> bool {
    v.as_str().is_some_and(|s| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
}

/// Every `(resource, span)` pair of the received trace bodies.
fn spans(rx: &Receiver) -> Vec<(Value, Value)> {
    let mut out = Vec::new();
    for body in rx.json("/v1/traces") {
        for rs in body["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    out.push((rs["resource"].clone(), s.clone()));
                }
            }
        }
    }
    out
}

#[test]
fn machine_spans_and_logs_as_json() {
    use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _};

    let rx = Receiver::http();
    let p = pipeline(&rx, "json-svc").logs(true).build().unwrap();
    let tracer = p.tracer_builder().transitions(true).parent(None).build().unwrap();
    let m = Machine::builder(Schema::builder().states(["Ready"]).build().unwrap()).id("api").tracer(tracer).build();
    m.add(&["Ready"]).unwrap();
    m.remove(&["Ready"]).unwrap();

    let provider = p.logger_provider().expect("logs on");
    let logger = provider.logger("json-test");
    let mut r = logger.create_log_record();
    r.set_body("hello json".into());
    r.add_attribute("n", AnyValue::Int(42));
    logger.emit(r);
    assert!(provider.force_flush().is_ok());

    m.dispose(); // the last top-level machine shuts the pipeline down: every span is exported
    let s = p.span_stats();
    assert_eq!((s.exported, s.failed, s.dropped), (s.ended, 0, 0), "{s:?}");

    let spans = spans(&rx);
    assert_eq!(spans.len() as u64, s.ended, "{spans:#?}");
    let names: Vec<&str> = spans.iter().filter_map(|(_, s)| s["name"].as_str()).collect();
    for want in ["mach:0:api", "0:states", "0:Ready", "0:transitions", "0: [add] Ready", "0: [remove] Ready"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let (resource, mach) = spans.iter().find(|(_, s)| s["name"] == "mach:0:api").unwrap();
    assert_eq!(attr(&resource["attributes"], "service.name").unwrap()["stringValue"], "json-svc");
    assert!(is_hex(&mach["traceId"], 32), "traceId {}", mach["traceId"]);
    assert!(is_hex(&mach["spanId"], 16), "spanId {}", mach["spanId"]);
    assert_eq!(attr(&mach["attributes"], "id").unwrap()["stringValue"], "api");
    assert_eq!(mach["kind"], 1, "SPAN_KIND_INTERNAL as a number");
    assert!(
        mach["startTimeUnixNano"].as_str().is_some_and(|t| t.parse::<u64>().is_ok()),
        "{}",
        mach["startTimeUnixNano"]
    );
    let states = spans.iter().find(|(_, s)| s["name"] == "0:states").map(|(_, s)| s).unwrap();
    assert_eq!(states["parentSpanId"], mach["spanId"]);
    assert_eq!(states["traceId"], mach["traceId"]);

    let logs = rx.json("/v1/logs");
    let resource_logs: Vec<&Value> =
        logs.iter().flat_map(|b| b["resourceLogs"].as_array().into_iter().flatten()).collect();
    for rl in &resource_logs {
        assert_eq!(attr(&rl["resource"]["attributes"], "service.name").unwrap()["stringValue"], "json-svc");
    }
    let records: Vec<&Value> = resource_logs
        .iter()
        .flat_map(|rl| rl["scopeLogs"].as_array().into_iter().flatten())
        .flat_map(|sl| sl["logRecords"].as_array().into_iter().flatten())
        .collect();
    let hello = records.iter().find(|r| r["body"]["stringValue"] == "hello json").expect("log record");
    assert_eq!(attr(&hello["attributes"], "n").unwrap()["intValue"], "42");
    // protobuf bodies never arrived
    assert!(rx.spans().is_empty() && rx.logs().is_empty());
}

#[test]
fn json_exports_are_retried() {
    let rx = Receiver::http();
    rx.fail_next(2, Failure::Unavailable);
    let p = pipeline(&rx, "json-retry")
        .logs(false)
        .retry(am_otel::Retry::new(2, Duration::from_millis(10), Duration::from_millis(20)))
        .build()
        .unwrap();
    let tracer = p.sdk_tracer();
    tracer.start("first").end();
    tracer.start("second").end();
    assert!(p.force_flush().complete());
    let s = p.span_stats();
    assert_eq!((s.exported, s.failed), (2, 0), "{s:?}");
    assert_eq!(rx.requests(), 3);
    let mut names: Vec<Value> = spans(&rx).into_iter().map(|(_, s)| s["name"].clone()).collect();
    names.sort_by_key(|n| n.to_string());
    assert_eq!(names, ["first", "second"]);
}

#[cfg(feature = "metrics")]
#[test]
fn metrics_as_json() {
    let rx = Receiver::http();
    let p = pipeline(&rx, "json-metrics").logs(false).metrics(Duration::from_millis(50)).build().unwrap();
    let mt = p.metrics_tracer().expect("metrics on");
    let m = Machine::builder(Schema::builder().states(["A"]).build().unwrap()).id("m").tracer(mt).build();
    m.add(&["A"]).unwrap();
    let name = am_core::conventions::prom::TRANSITIONS_TOTAL;
    let received = || {
        rx.json("/v1/metrics")
            .iter()
            .flat_map(|b| b["resourceMetrics"].as_array().into_iter().flatten())
            .flat_map(|rm| rm["scopeMetrics"].as_array().into_iter().flatten())
            .flat_map(|sm| sm["metrics"].as_array().into_iter().flatten())
            .any(|x| x["name"] == name)
    };
    let t0 = std::time::Instant::now();
    while !received() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(received(), "{name} not received as JSON");
    p.shutdown(Duration::from_secs(2));
}

#[cfg(not(feature = "grpc"))]
#[test]
fn grpc_disabled() {
    let err = OtlpPipeline::builder().service("x").protocol(Protocol::Grpc).build().unwrap_err();
    assert!(matches!(err, am_otel::Error::TransportDisabled("grpc")), "{err}");
}

#[cfg(not(feature = "http"))]
#[test]
fn http_protobuf_disabled() {
    let err = OtlpPipeline::builder().service("x").protocol(Protocol::HttpProtobuf).build().unwrap_err();
    assert!(matches!(err, am_otel::Error::TransportDisabled("http")), "{err}");
}
