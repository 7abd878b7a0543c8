//! A collector that is down or slow costs spans (counted), never transition speed, memory or
//! a panic.
#![cfg(feature = "grpc")]

use std::time::{Duration, Instant};

use am_core::{Machine, Schema};
use am_otel::{OtlpPipeline, Protocol, SpanStats};
use am_testkit::otlp::Receiver;

const QUEUE: usize = 32;

fn drive(p: &OtlpPipeline, pairs: usize) -> (Duration, u64) {
    // a buffer that holds the whole burst: every span reaches the (failing) exporter
    let tracer = p.tracer_builder().transitions(true).parent(None).buffer(1 << 16).build().unwrap();
    let m = Machine::builder(Schema::builder().states(["A"]).build().unwrap()).id("load").tracer(tracer).build();
    let mut worst = Duration::ZERO;
    let mut max_queued = 0;
    for _ in 0..pairs {
        let t = Instant::now();
        m.add(&["A"]).unwrap();
        m.remove(&["A"]).unwrap();
        worst = worst.max(t.elapsed());
        max_queued = max_queued.max(p.span_stats().queued);
    }
    (worst, max_queued)
}

fn accounted(s: &SpanStats) {
    assert_eq!(s.ended, s.exported + s.failed + s.dropped + s.queued, "{s:?}");
}

#[test]
fn collector_down() {
    // a port nobody listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let p = OtlpPipeline::builder()
        .service("down")
        .endpoint(format!("http://127.0.0.1:{port}"))
        .protocol(Protocol::Grpc)
        .timeout(Duration::from_secs(1))
        .queue_size(QUEUE)
        .batch_size(8)
        .batch_delay(Duration::from_millis(5))
        // fail fast: the retries of a refused connection are tested in retry.rs
        .retry(am_otel::Retry::NONE)
        .build()
        .unwrap();
    let (worst, max_queued) = drive(&p, 3000);
    // exports fail or time out after 1 s; no transition waited for one
    assert!(worst < Duration::from_millis(500), "slowest add/remove pair took {worst:?}");
    assert!(max_queued <= QUEUE as u64, "queue bounded: {max_queued}");
    // every span built (the tracer's buffers drained), then every batch failed: counters
    // settle once nothing is in flight
    p.force_flush();
    // the tracer went away with the machine: its buffered records were built when it was
    // dropped, so the flush saw every span
    assert!(p.span_stats().ended >= 6000, "{:?}", p.span_stats());
    let t = Instant::now();
    while (p.span_stats().queued > 0 || p.span_stats().failed == 0) && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let s = p.span_stats();
    accounted(&s);
    assert_eq!(s.exported, 0);
    assert!(s.failed > 0, "{s:?}");
    assert!(s.ended >= 6000, "{s:?}");
    let t = Instant::now();
    let d = p.shutdown(Duration::from_secs(1));
    assert!(t.elapsed() < Duration::from_secs(3), "shutdown is bounded: {:?}", t.elapsed());
    // nothing reached the collector: the report says so (it used to be a plain `true`)
    assert!(!d.complete() && d.balanced(), "{d}");
    assert_eq!(d.sent, 0, "{d}");
    assert!(d.failed > 0, "{d}");
}

#[test]
fn collector_slow() {
    let rx = Receiver::grpc_with_delay(Duration::from_secs(2));
    let p = OtlpPipeline::builder()
        .service("slow")
        .endpoint(rx.grpc_url())
        .timeout(Duration::from_secs(1))
        .queue_size(QUEUE)
        .batch_size(8)
        .batch_delay(Duration::from_millis(5))
        .build()
        .unwrap();
    let (worst, max_queued) = drive(&p, 2000);
    assert!(worst < Duration::from_millis(500), "slowest add/remove pair took {worst:?}");
    assert!(max_queued <= QUEUE as u64, "queue bounded: {max_queued}");
    let s = p.span_stats();
    accounted(&s);
    // each export hangs for the 1 s timeout: the bounded queue overflows
    assert!(s.dropped > 1000, "{s:?}");
    assert!(rx.requests() > 0);
    let t = Instant::now();
    p.shutdown(Duration::from_secs(1));
    assert!(t.elapsed() < Duration::from_secs(3), "shutdown is bounded: {:?}", t.elapsed());
}

#[test]
fn plain_threads_and_tokio() {
    // the pipeline works from inside a tokio runtime as well as from plain threads
    let rx = Receiver::grpc();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let p = rt.block_on(async {
        OtlpPipeline::builder()
            .service("in-tokio")
            .endpoint(rx.grpc_url())
            .batch_delay(Duration::from_millis(5))
            .build()
            .unwrap()
    });
    let tracer = p.tracer_builder().parent(None).build().unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let t = tracer.clone();
            std::thread::spawn(move || {
                let m = Machine::builder(Schema::builder().states(["A"]).build().unwrap())
                    .id(format!("t{i}"))
                    .tracer(t)
                    .build();
                for _ in 0..50 {
                    m.add(&["A"]).unwrap();
                    m.remove(&["A"]).unwrap();
                }
                m
            })
        })
        .collect();
    let machines: Vec<Machine> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    rt.block_on(async {
        // ending spans and flushing from async code must not panic
        for m in &machines {
            m.dispose();
        }
    });
    // root + 4 × (mach, states, A group) + 4 × 50 instances
    let spans = rx.wait_spans(|s| s.len() >= 213);
    assert_eq!(spans.len(), 213);
    let s = p.span_stats();
    assert_eq!((s.exported, s.dropped, s.failed), (213, 0, 0));
    drop(rt);
}

/// A machine outrunning the span thread: records beyond the machine's buffer are dropped and
/// counted, the machine never waits, and the spans that were built still form a tree.
#[test]
fn buffer_overflow_is_counted() {
    #[derive(Debug)]
    struct Noop;
    impl opentelemetry_sdk::trace::SpanExporter for Noop {
        async fn export(&self, _: Vec<opentelemetry_sdk::trace::SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
            Ok(())
        }
    }
    let p = OtlpPipeline::with_exporter(Noop, "burst");
    let tracer = p.tracer_builder().transitions(true).parent(None).buffer(16).build().unwrap();
    let m = Machine::builder(Schema::builder().states(["A", "B"]).build().unwrap())
        .id("burst")
        .tracer(tracer.clone())
        .build();
    for _ in 0..5_000 {
        m.add(&["A"]).unwrap();
        m.add(&["B"]).unwrap();
        m.remove(&["A", "B"]).unwrap();
    }
    tracer.flush();
    let dropped = tracer.dropped();
    assert!(dropped > 0, "a 16-record buffer cannot hold a burst of 15,000 transitions");
    assert_eq!(p.span_stats().overflow, dropped);
    // still tracing after the overflow
    m.add(&["A"]).unwrap();
    m.dispose();
    let s = p.span_stats();
    assert!(s.ended > 0, "{s:?}");
    accounted(&s);
}
