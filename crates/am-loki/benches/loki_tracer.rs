//! The Loki tracer's cost, in one run: transitions at `LogLevel::Changes` (one `[state]`
//! entry per transition) without a tracer vs with the Loki tracer pushing to a fast local
//! receiver (criterion), then a table with the ratio and what the receiver got.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use am_core::{LogLevel, Machine, Schema};
use am_loki::{LokiTracer, PushFormat};
use criterion::{Criterion, criterion_group};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// A receiver that reads each push and answers 204 at once; counts requests and bytes.
struct FastReceiver {
    addr: String,
    requests: Arc<AtomicU64>,
    _rt: tokio::runtime::Runtime,
}

fn receiver() -> FastReceiver {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let requests = Arc::new(AtomicU64::new(0));
    let n = requests.clone();
    rt.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let n = n.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let n = n.clone();
                    async move {
                        let _ = req.into_body().collect().await?;
                        n.fetch_add(1, Relaxed);
                        let mut r = hyper::Response::new(Full::new(Bytes::new()));
                        *r.status_mut() = hyper::StatusCode::NO_CONTENT;
                        Ok::<_, hyper::Error>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    FastReceiver { addr, requests, _rt: rt }
}

fn machine(id: &str, t: Option<&LokiTracer>) -> Machine {
    let schema = Schema::builder().states(["A", "B", "C"]).build().unwrap();
    let b = Machine::builder(schema).id(id).log_level(LogLevel::Changes);
    match t {
        Some(t) => b.tracer(t.clone()).build(),
        None => b.build(),
    }
}

fn tracer(addr: &str, format: PushFormat) -> LokiTracer {
    LokiTracer::builder().addr(addr).service("bench").format(format).build().unwrap()
}

fn bench(c: &mut Criterion) {
    let r = receiver();
    let loki = tracer(&r.addr, PushFormat::Protobuf);
    let plain = machine("plain", None);
    let with = machine("with-loki", Some(&loki));
    let mut g = c.benchmark_group("toggle, LogLevel::Changes");
    g.bench_function("no tracer", |b| b.iter(|| plain.toggle(&["A"])));
    g.bench_function("loki tracer", |b| b.iter(|| with.toggle(&["A"])));
    g.finish();
    loki.shutdown();
}

/// Listens to the log hook and does nothing: what the machine itself spends on having a
/// log tracer bound (transition IDs, the tracer list), apart from the Loki tracer's work.
struct IdleLog;
impl am_core::Tracer for IdleLog {
    fn id(&self) -> &str {
        "idle-log"
    }
    fn interest(&self) -> am_core::Interest {
        am_core::Interest::LOG
    }
}

fn ns_per_tx(m: &Machine, n: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        let _ = m.toggle(&["A"]);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Paced so the sender keeps up: every entry must be delivered, none dropped.
fn table() {
    println!("\n== am-loki: Loki tracer cost at LogLevel::Changes (one run) ==");
    for format in [PushFormat::Protobuf, PushFormat::Json] {
        let r = receiver();
        let loki = tracer(&r.addr, format);
        let plain = machine("plain", None);
        let with = machine("with-loki", Some(&loki));
        let schema = Schema::builder().states(["A", "B", "C"]).build().unwrap();
        let idle = Machine::builder(schema).id("idle").log_level(LogLevel::Changes).tracer(IdleLog).build();
        let (n, rounds) = (5_000u64, 20);
        ns_per_tx(&plain, n);
        ns_per_tx(&with, n);
        ns_per_tx(&idle, n);
        let (mut base, mut traced, mut idle_ns) = (0.0, 0.0, 0.0);
        for _ in 0..rounds {
            base += ns_per_tx(&plain, n);
            idle_ns += ns_per_tx(&idle, n);
            traced += ns_per_tx(&with, n);
            // let the sender drain between rounds so the queue never overflows
            loki.flush(Duration::from_secs(10));
        }
        let (base, traced, idle_ns) = (base / rounds as f64, traced / rounds as f64, idle_ns / rounds as f64);
        loki.shutdown();
        let s = loki.stats();
        println!(
            "{format:?}: no tracer {base:.0} ns/tx, idle log tracer {idle_ns:.0} ns/tx ({:.2}x), \
             loki {traced:.0} ns/tx, ratio {:.2}x (target <= 1.5x); \
             {} entries sent in {} pushes ({} received), {} dropped, {} failed",
            idle_ns / base,
            traced / base,
            s.sent,
            s.batches,
            r.requests.load(Relaxed),
            s.dropped,
            s.failed
        );
    }
}

/// The hook alone: the sender is parked in a long backoff (nothing listens), the queue is
/// big enough to hold every entry, so no background work competes with the machine.
fn hook_only() {
    let loki = LokiTracer::builder()
        .addr("127.0.0.1:9")
        .service("bench")
        .queue_capacity(1_000_000)
        .batch_entries(10_000_000)
        .batch_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let plain = machine("plain", None);
    let with = machine("with-loki", Some(&loki));
    let (n, rounds) = (5_000u64, 20);
    let (mut base, mut traced) = (0.0, 0.0);
    for _ in 0..rounds {
        base += ns_per_tx(&plain, n);
        traced += ns_per_tx(&with, n);
    }
    println!(
        "hook only (sender idle): no tracer {:.0} ns/tx, loki {:.0} ns/tx, ratio {:.2}x; {} entries queued",
        base / rounds as f64,
        traced / rounds as f64,
        traced / base,
        loki.stats().queued
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
    table();
    hook_only();
}
