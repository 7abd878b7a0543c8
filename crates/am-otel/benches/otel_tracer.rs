//! The OTel tracer's cost, in one run: an add/remove pair on a machine without a tracer vs
//! with [`OtelTracer`] bound to a pipeline whose batch processor exports to an in-process
//! no-op exporter (criterion), then a table of ratios (target: states-only <= 3x).

use std::time::Instant;

use am_core::{Machine, Schema};
use am_otel::{OtelTracer, OtlpPipeline};
use criterion::{Criterion, criterion_group};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

#[derive(Debug)]
struct Noop;
impl SpanExporter for Noop {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

fn machine(id: &str, t: Option<&OtelTracer>) -> Machine {
    let schema = Schema::builder().states(["A", "B", "C"]).build().unwrap();
    let b = Machine::builder(schema).id(id);
    match t {
        Some(t) => b.tracer(t.clone()).build(),
        None => b.build(),
    }
}

fn pair(m: &Machine) {
    let _ = m.add(&["A"]);
    let _ = m.remove(&["A"]);
}

fn setup(transitions: bool) -> (OtlpPipeline, OtelTracer) {
    let p = OtlpPipeline::with_exporter(Noop, "bench");
    // a buffer that holds a whole round of the table (flushed between rounds), so the
    // figures are for recording every transition, not for dropping records
    let t = p.tracer_builder().transitions(transitions).parent(None).buffer(1 << 15).build().unwrap();
    (p, t)
}

fn bench(c: &mut Criterion) {
    let (_p1, states) = setup(false);
    let (_p2, txs) = setup(true);
    let plain = machine("plain", None);
    let with_states = machine("states", Some(&states));
    let with_txs = machine("txs", Some(&txs));
    let mut g = c.benchmark_group("add+remove pair");
    g.bench_function("no tracer", |b| b.iter(|| pair(&plain)));
    g.bench_function("otel states", |b| b.iter(|| pair(&with_states)));
    g.bench_function("otel states+transitions", |b| b.iter(|| pair(&with_txs)));
    g.finish();
}

fn ns_per_pair(m: &Machine, n: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        pair(m);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Listens to the same hook and does nothing: what the machine spends on having a tracer.
struct Idle;
impl am_core::Tracer for Idle {
    fn id(&self) -> &str {
        "idle"
    }
    fn interest(&self) -> am_core::Interest {
        am_core::Interest::TRANSITION_FINALS
    }
}

/// The tracer over a provider with no span processor: span bookkeeping without the batch
/// processor's queue and thread.
fn no_processor() -> OtelTracer {
    use opentelemetry::trace::TracerProvider as _;
    let p = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    OtelTracer::builder(p.tracer("bench")).parent(None).build().unwrap()
}

fn table() {
    println!("\n== am-otel: tracer cost per add/remove pair, batch processor + no-op exporter (one run) ==");
    let (p1, states) = setup(false);
    let (p2, txs) = setup(true);
    let plain = machine("plain", None);
    let with_states = machine("states", Some(&states));
    let with_txs = machine("txs", Some(&txs));
    let idle =
        Machine::builder(Schema::builder().states(["A", "B", "C"]).build().unwrap()).id("idle").tracer(Idle).build();
    let bare = machine("bare", Some(&no_processor()));
    let (n, rounds) = (2_000u64, 40);
    let (mut base, mut s, mut t, mut i, mut b) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for m in [&plain, &with_states, &with_txs, &idle, &bare] {
        ns_per_pair(m, n);
    }
    for _ in 0..rounds {
        base += ns_per_pair(&plain, n);
        i += ns_per_pair(&idle, n);
        b += ns_per_pair(&bare, n);
        s += ns_per_pair(&with_states, n);
        t += ns_per_pair(&with_txs, n);
        // let the batch thread drain so the bounded queue does not drop
        p1.force_flush();
        p2.force_flush();
    }
    let r = rounds as f64;
    let (base, s, t, i, b) = (base / r, s / r, t / r, i / r, b / r);
    let (ss, ts) = (p1.span_stats(), p2.span_stats());
    println!("no tracer:              {base:>7.0} ns/pair");
    println!("idle tracer (finals):   {i:>7.0} ns/pair  ratio {:.2}x", i / base);
    println!("otel, no span processor:{b:>7.0} ns/pair  ratio {:.2}x", b / base);
    println!(
        "otel states only:       {s:>7.0} ns/pair  ratio {:.2}x (target <= 3x)  spans ended {} exported {} dropped {} records dropped {}",
        s / base,
        ss.ended,
        ss.exported,
        ss.dropped,
        ss.overflow
    );
    println!(
        "otel states+txs:        {t:>7.0} ns/pair  ratio {:.2}x (target <= 1.6x) spans ended {} exported {} dropped {} records dropped {}",
        t / base,
        ts.ended,
        ts.exported,
        ts.dropped,
        ts.overflow
    );
}

/// Transitions at a sustained `rate` per second for `secs` seconds (bursts every
/// millisecond), on one machine with default settings (tracer buffer, batch processor):
/// what reached the exporter and what was dropped, after a flush.
fn paced(rate: u64, secs: u64) {
    let p = OtlpPipeline::with_exporter(Noop, "bench");
    let t = p.tracer_builder().transitions(true).parent(None).build().unwrap();
    let m = machine("paced", Some(&t));
    let burst = (rate / 1000).max(1);
    let start = Instant::now();
    let mut busy = std::time::Duration::ZERO;
    for tick in 0..secs * 1000 {
        let due = start + std::time::Duration::from_millis(tick);
        while Instant::now() < due {
            std::hint::spin_loop();
        }
        let b = Instant::now();
        for _ in 0..burst / 2 {
            pair(&m);
        }
        busy += b.elapsed();
    }
    let took = start.elapsed();
    t.flush();
    p.force_flush();
    let s = p.span_stats();
    println!(
        "paced {:.0} tx/s for {secs} s (default buffer and batch settings): {:.0} ns/tx busy, spans ended {} exported {} dropped {}, records dropped {}",
        (burst / 2 * 2 * secs * 1000) as f64 / took.as_secs_f64(),
        busy.as_nanos() as f64 / (burst / 2 * 2 * secs * 1000) as f64,
        s.ended,
        s.exported,
        s.dropped,
        t.dropped()
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
    table();
    paced(100_000, 3);
}
