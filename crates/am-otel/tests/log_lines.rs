//! A collector that is down costs one warning per interval, not a line per batch: am-otel
//! logs failed exports at most every 10 s (with how many it held back), and the
//! OpenTelemetry SDK's own per-batch error lines are not compiled in.
#![cfg(feature = "grpc")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use am_core::{Machine, Schema};
use am_otel::{OtlpPipeline, Protocol};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Every WARN or ERROR event: (target, message).
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<(String, String)>>>);

impl<S: Subscriber> Layer<S> for Lines {
    fn on_event(&self, e: &Event<'_>, _: Context<'_, S>) {
        if *e.metadata().level() <= Level::WARN {
            let mut msg = String::new();
            struct V<'a>(&'a mut String);
            impl tracing::field::Visit for V<'_> {
                fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                    self.0.push_str(&format!("{}={v:?} ", f.name()));
                }
            }
            e.record(&mut V(&mut msg));
            self.0.lock().unwrap().push((e.metadata().target().to_string(), msg));
        }
    }
}

#[test]
fn collector_down_is_one_warning_per_interval() {
    let lines = Lines::default();
    // global: exports run on the pipeline's own threads (the only test in this binary)
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(lines.clone())).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let p = OtlpPipeline::builder()
        .service("down")
        .endpoint(format!("http://127.0.0.1:{port}"))
        .protocol(Protocol::Grpc)
        .timeout(Duration::from_millis(200))
        .batch_size(4)
        .batch_delay(Duration::from_millis(5))
        .retry(am_otel::Retry::NONE)
        .build()
        .unwrap();
    let tracer = p.tracer_builder().transitions(true).parent(None).build().unwrap();
    let m = Machine::builder(Schema::builder().states(["A"]).build().unwrap()).tracer(tracer).build();
    for _ in 0..50 {
        m.add(&["A"]).unwrap();
        m.remove(&["A"]).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(m);
    p.force_flush();
    let failed = p.span_stats().failed;
    assert!(failed > 20, "batches failed: {:?}", p.span_stats());
    let got = lines.0.lock().unwrap().clone();
    let ours: Vec<_> = got.iter().filter(|(t, _)| t == "am_otel").collect();
    let sdk: Vec<_> = got.iter().filter(|(t, _)| t.starts_with("opentelemetry")).collect();
    assert_eq!(ours.len(), 1, "one am_otel warning for the whole outage: {got:#?}");
    assert!(sdk.is_empty(), "no SDK error lines: {sdk:#?}");
}
