//! Every exporter at once, in one run: machines without a tracer vs the same machines with
//! am-prom (metrics), am-otel (state and transition spans, batch export to a no-op
//! exporter), am-loki (pushing to a local receiver) and am-dbg-proto (streaming to a local
//! recorder) bound together. Criterion first, then a table of same-run ratios for one
//! machine and for 100 machines driven from 2 threads, with what each exporter delivered
//! and dropped. Targets (issue #22): one machine <= 2.5x, 100 machines <= 3x.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use am_core::{LogLevel, Machine, Schema};
use am_dbg_proto::{DbgTracer, Server, ServerEvent};
use am_loki::LokiTracer;
use am_otel::{OtelTracer, OtlpPipeline};
use am_prom::PromTracer;
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

/// The four exporters with their local peers, built with default settings.
struct All {
    prom: PromTracer,
    otel: OtelTracer,
    pipeline: OtlpPipeline,
    loki: LokiTracer,
    dbg: DbgTracer,
    recorded: Arc<AtomicU64>,
    loki_rx: am_testkit::loki::Receiver,
    _server: Server,
    _rt: tokio::runtime::Runtime,
}

impl All {
    fn new() -> All {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let recorded = Arc::new(AtomicU64::new(0));
        let n = recorded.clone();
        let server = rt
            .block_on(Server::bind("127.0.0.1:0", move |ev| {
                if let ServerEvent::Message { .. } = ev {
                    n.fetch_add(1, Relaxed);
                }
            }))
            .unwrap();
        let dbg =
            DbgTracer::builder().addr(server.local_addr().to_string()).runtime(rt.handle().clone()).build().unwrap();
        let loki_rx = am_testkit::loki::Receiver::counting(am_testkit::free_port());
        let loki = LokiTracer::builder().addr(loki_rx.addr()).service("bench").build().unwrap();
        let pipeline = OtlpPipeline::with_exporter(Noop, "bench");
        let otel = pipeline.tracer_builder().transitions(true).parent(None).build().unwrap();
        let prom = PromTracer::builder().build().unwrap();
        All { prom, otel, pipeline, loki, dbg, recorded, loki_rx, _server: server, _rt: rt }
    }

    fn machine(&self, id: &str) -> Machine {
        self.only(id, ALL)
    }

    /// A machine with the exporters named in `which` ("prom", "otel", "loki", "dbg").
    fn only(&self, id: &str, which: &[&str]) -> Machine {
        let mut b = Machine::builder(schema()).id(id).log_level(LogLevel::Changes);
        for w in which {
            b = match *w {
                "prom" => b.tracer(self.prom.clone()),
                "otel" => b.tracer(self.otel.clone()),
                "loki" => b.tracer(self.loki.clone()),
                _ => b.tracer(self.dbg.clone()),
            };
        }
        b.build()
    }

    /// Lets every background sender catch up (between rounds of the table).
    fn drain(&self) {
        self.otel.flush();
        self.pipeline.force_flush();
        self.loki.flush(Duration::from_secs(5));
        self.dbg.flush(Duration::from_secs(5));
    }

    fn report(&self) {
        let (s, l, d) = (self.pipeline.span_stats(), self.loki.stats(), self.dbg.stats());
        println!(
            "otel: spans ended {} exported {} dropped {}, records dropped {}",
            s.ended,
            s.exported,
            s.dropped,
            self.otel.dropped()
        );
        println!(
            "loki: entries enqueued {} sent {} dropped {}; receiver accepted {}",
            l.enqueued,
            l.sent,
            l.dropped,
            self.loki_rx.entries_accepted()
        );
        println!(
            "dbg: messages enqueued {} sent {} dropped {}; recorder got {}",
            d.enqueued,
            d.sent,
            d.dropped,
            self.recorded.load(Relaxed)
        );
    }
}

const ALL: &[&str] = &["prom", "otel", "loki", "dbg"];

fn schema() -> Schema {
    Schema::builder().states(["A", "B", "C"]).build().unwrap()
}

fn plain(id: &str) -> Machine {
    Machine::builder(schema()).id(id).log_level(LogLevel::Changes).build()
}

fn pair(m: &Machine) {
    let _ = m.add(&["A"]);
    let _ = m.remove(&["A"]);
}

fn bench(c: &mut Criterion) {
    let all = All::new();
    let (p, a) = (plain("plain"), all.machine("all"));
    let mut g = c.benchmark_group("add+remove pair, LogLevel::Changes");
    g.bench_function("no tracer", |b| b.iter(|| pair(&p)));
    g.bench_function("prom+otel+loki+dbg", |b| b.iter(|| pair(&a)));
    g.finish();
    all.drain();
}

/// ns per transition over `rounds` passes of `pair` on each machine, from `threads` threads
/// (each driving its share of the machines).
fn ns_per_tx(ms: &[Machine], threads: usize, rounds: usize) -> f64 {
    let per = ms.len().div_ceil(threads);
    let start = Instant::now();
    std::thread::scope(|s| {
        for chunk in ms.chunks(per) {
            s.spawn(move || {
                for _ in 0..rounds {
                    chunk.iter().for_each(pair);
                }
            });
        }
    });
    start.elapsed().as_nanos() as f64 / (ms.len() * rounds * 2) as f64
}

/// Interleaved runs, plain first then traced, `reps` times; medians of each.
fn compare(all: &All, plain: &[Machine], traced: &[Machine], threads: usize, rounds: usize, reps: usize) -> (f64, f64) {
    let (mut p, mut t) = (Vec::new(), Vec::new());
    ns_per_tx(plain, threads, rounds);
    ns_per_tx(traced, threads, rounds);
    all.drain();
    for _ in 0..reps {
        p.push(ns_per_tx(plain, threads, rounds));
        t.push(ns_per_tx(traced, threads, rounds));
        all.drain();
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(&mut p), median(&mut t))
}

fn table() {
    println!("\n== all exporters bound at once (prom + otel states+transitions + loki + dbg), one run ==");
    let all = All::new();
    let (p, t) = compare(&all, &[plain("plain")], &[all.machine("all")], 1, 2_000, 31);
    println!(
        "1 machine, 1 thread:      no tracer {p:>6.0} ns/tx, all {t:>6.0} ns/tx, ratio {:.2}x (target <= 2.5x)",
        t / p
    );
    for w in ALL {
        let (p, t) = compare(&all, &[plain("plain")], &[all.only(w, &[w])], 1, 2_000, 15);
        println!("  {w:<4} alone:               no tracer {p:>6.0} ns/tx, {w:<4} {t:>6.0} ns/tx, ratio {:.2}x", t / p);
    }
    let ps: Vec<Machine> = (0..100).map(|i| plain(&format!("plain-{i}"))).collect();
    let ts: Vec<Machine> = (0..100).map(|i| all.machine(&format!("all-{i}"))).collect();
    let (p, t) = compare(&all, &ps, &ts, 2, 40, 15);
    println!(
        "100 machines, 2 threads:  no tracer {p:>6.0} ns/tx, all {t:>6.0} ns/tx, ratio {:.2}x (target <= 3x)",
        t / p
    );
    all.drain();
    all.report();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    table();
}
