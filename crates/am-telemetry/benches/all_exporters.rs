//! Every exporter at once, in one run: machines without a tracer vs the same machines with
//! am-prom (metrics), am-otel (state and transition spans, batch export to a no-op
//! exporter), am-loki (pushing to a receiver) and am-dbg-proto (streaming to a recorder)
//! bound together, and each alone. The receivers run in a process of their own
//! ([`receivers`]), so the process CPU the bench reads is the exporters' and the machines'
//! alone.
//!
//! Criterion first, then tables: wall time and process CPU (every thread) per transition
//! with their same-run ratios, for one machine and for 100 machines driven from 2 threads;
//! paced runs that must lose nothing; 1,000 machines paced and unpaced; the cost curve of
//! schema size and machine count (ns/tx and memory per machine); and a last block that
//! names each target of issue #31 with the figure measured for it.
#![allow(unsafe_code)] // support/measure.rs reads the process CPU clock through libc

#[path = "support/go.rs"]
mod go;
#[path = "support/measure.rs"]
mod measure;
#[path = "support/receivers.rs"]
mod receivers;

use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use am_core::{LogLevel, Machine, Schema};
use am_dbg_proto::DbgTracer;
use am_loki::LokiTracer;
use am_otel::{OtelTracer, OtlpPipeline};
use am_prom::PromTracer;
use criterion::{Criterion, criterion_group};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use measure::{process_cpu_ns, rss_bytes, spread};
use receivers::Receivers;

#[derive(Debug)]
struct Noop;
impl SpanExporter for Noop {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

/// The four exporters (default settings, but for machine caps above 10,000), and an OTel
/// tracer exporting over OTLP/gRPC for comparison; the receivers in their own process.
struct All {
    prom: PromTracer,
    otel: OtelTracer,
    pipeline: OtlpPipeline,
    otel_grpc: OtelTracer,
    grpc_pipeline: OtlpPipeline,
    loki: LokiTracer,
    dbg: DbgTracer,
    rx: RefCell<Receivers>,
    /// Keeps both OTel pipelines up: a tracer from `tracer_builder` shuts its pipeline down
    /// when its last top-level machine is disposed, and the tables drop theirs.
    _anchor: Machine,
}

impl All {
    fn new() -> All {
        let rx = Receivers::start();
        let dbg = DbgTracer::builder().addr(rx.dbg.clone()).build().unwrap();
        let loki = LokiTracer::builder().addr(rx.loki.clone()).service("bench").max_machines(20_000).build().unwrap();
        let pipeline = OtlpPipeline::with_exporter(Noop, "bench");
        let otel = pipeline.tracer_builder().transitions(true).parent(None).build().unwrap();
        let grpc_pipeline = OtlpPipeline::builder().service("bench").endpoint(rx.otlp.clone()).build().unwrap();
        let otel_grpc = grpc_pipeline.tracer_builder().transitions(true).parent(None).build().unwrap();
        let prom = PromTracer::builder().max_machines(20_000).build().unwrap();
        let _anchor = Machine::builder(schema()).id("anchor").tracer(otel.clone()).tracer(otel_grpc.clone()).build();
        All { prom, otel, pipeline, otel_grpc, grpc_pipeline, loki, dbg, rx: RefCell::new(rx), _anchor }
    }

    fn machine(&self, id: &str) -> Machine {
        self.only(id, ALL)
    }

    /// A machine with the exporters named in `which` ("prom", "otel", "otel-grpc", "loki",
    /// "dbg"); none for an empty list.
    fn only(&self, id: &str, which: &[&str]) -> Machine {
        self.with_schema(schema(), id, which)
    }

    fn with_schema(&self, schema: Schema, id: &str, which: &[&str]) -> Machine {
        let mut b = Machine::builder(schema).id(id).log_level(LogLevel::Changes);
        for w in which {
            b = match *w {
                "prom" => b.tracer(self.prom.clone()),
                "otel" => b.tracer(self.otel.clone()),
                "otel-grpc" => b.tracer(self.otel_grpc.clone()),
                "loki" => b.tracer(self.loki.clone()),
                _ => b.tracer(self.dbg.clone()),
            };
        }
        b.build()
    }

    /// Lets every background sender catch up.
    fn drain(&self) {
        self.otel.flush();
        self.pipeline.force_flush();
        self.otel_grpc.flush();
        self.grpc_pipeline.force_flush();
        self.loki.flush(Duration::from_secs(10));
        self.dbg.flush(Duration::from_secs(10));
    }

    fn loss(&self) -> Loss {
        let (s, g, l, d) =
            (self.pipeline.span_stats(), self.grpc_pipeline.span_stats(), self.loki.stats(), self.dbg.stats());
        Loss {
            spans: s.ended + g.ended,
            spans_exported: s.exported + g.exported,
            spans_dropped: s.dropped + g.dropped,
            records_dropped: s.overflow + g.overflow,
            loki: l.produced,
            loki_sent: l.sent,
            loki_dropped: l.dropped + l.dropped_machines + l.failed + l.rejected,
            dbg: d.enqueued + d.dropped,
            dbg_sent: d.sent,
            dbg_dropped: d.dropped,
        }
    }
}

/// What the exporters counted (OTel: both pipelines).
#[derive(Clone, Copy, Debug, Default)]
struct Loss {
    spans: u64,
    spans_exported: u64,
    spans_dropped: u64,
    records_dropped: u64,
    loki: u64,
    loki_sent: u64,
    loki_dropped: u64,
    dbg: u64,
    dbg_sent: u64,
    dbg_dropped: u64,
}

impl Loss {
    fn since(self, b: Loss) -> Loss {
        Loss {
            spans: self.spans - b.spans,
            spans_exported: self.spans_exported - b.spans_exported,
            spans_dropped: self.spans_dropped - b.spans_dropped,
            records_dropped: self.records_dropped - b.records_dropped,
            loki: self.loki - b.loki,
            loki_sent: self.loki_sent - b.loki_sent,
            loki_dropped: self.loki_dropped - b.loki_dropped,
            dbg: self.dbg - b.dbg,
            dbg_sent: self.dbg_sent - b.dbg_sent,
            dbg_dropped: self.dbg_dropped - b.dbg_dropped,
        }
    }
    fn describe(&self) -> String {
        format!(
            "otel spans {} exported {} dropped {}, records dropped {}; loki entries {} sent {} lost {}; dbg messages {} sent {} dropped {}",
            self.spans,
            self.spans_exported,
            self.spans_dropped,
            self.records_dropped,
            self.loki,
            self.loki_sent,
            self.loki_dropped,
            self.dbg,
            self.dbg_sent,
            self.dbg_dropped
        )
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
    if threads == 1 {
        for _ in 0..rounds {
            ms.iter().for_each(pair);
        }
        return start.elapsed().as_nanos() as f64 / (ms.len() * rounds * 2) as f64;
    }
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

/// One measurement: wall ns/tx of the loop, and process CPU ns/tx of the loop plus the
/// drain after it (what the background threads spent on these transitions).
#[derive(Clone, Copy)]
struct Sample {
    wall: f64,
    cpu: f64,
}

fn sample(all: &All, ms: &[Machine], threads: usize, rounds: usize) -> Sample {
    let c0 = process_cpu_ns();
    let wall = ns_per_tx(ms, threads, rounds);
    all.drain();
    let cpu = (process_cpu_ns() - c0) as f64 / (ms.len() * rounds * 2) as f64;
    Sample { wall, cpu }
}

/// A row of a table: its samples, and its ratios to the plain samples of the same rounds.
struct Row {
    name: String,
    s: Vec<Sample>,
    /// CPU ns by thread name over all rounds.
    split: std::collections::BTreeMap<String, u64>,
}

/// Interleaved rounds: every config once per round, plain first; `reps` rounds after a
/// warm-up one. Rows in the order given; the first is the plain one.
fn table(all: &All, configs: &[(String, Vec<Machine>)], threads: usize, rounds: usize, reps: usize) -> Vec<Row> {
    let mut rows: Vec<Row> =
        configs.iter().map(|(n, _)| Row { name: n.clone(), s: Vec::new(), split: Default::default() }).collect();
    for rep in 0..=reps {
        for (i, (_, ms)) in configs.iter().enumerate() {
            let t0 = measure::cpu_by_thread();
            let s = sample(all, ms, threads, rounds);
            if rep > 0 {
                rows[i].s.push(s);
                for (k, v) in measure::cpu_by_thread() {
                    let d = v.saturating_sub(t0.get(&k).copied().unwrap_or(0));
                    *rows[i].split.entry(k).or_insert(0) += d;
                }
            }
        }
    }
    rows
}

/// The figures of a row against the plain row: (wall ns, wall ratio and its range, CPU ns,
/// CPU ratio and its range), medians over the rounds.
struct Figures {
    wall: f64,
    ratio: (f64, f64, f64),
    cpu: (f64, f64, f64),
    cpu_ratio: f64,
}

fn figures(plain: &Row, row: &Row) -> Figures {
    let ratios: Vec<f64> = row.s.iter().zip(&plain.s).map(|(t, p)| t.wall / p.wall).collect();
    let cpu_ratios: Vec<f64> = row.s.iter().zip(&plain.s).map(|(t, p)| t.cpu / p.cpu).collect();
    let walls: Vec<f64> = row.s.iter().map(|s| s.wall).collect();
    let cpus: Vec<f64> = row.s.iter().map(|s| s.cpu).collect();
    Figures { wall: spread(&walls).0, ratio: spread(&ratios), cpu: spread(&cpus), cpu_ratio: spread(&cpu_ratios).0 }
}

fn print_rows(rows: &[Row]) -> Vec<Figures> {
    println!(
        "  {:<22} {:>9} {:>20} {:>10} {:>16} {:>9}",
        "", "wall ns/tx", "ratio [min-max]", "CPU ns/tx", "[min-max]", "CPU ratio"
    );
    let mut out = Vec::new();
    for r in rows {
        let f = figures(&rows[0], r);
        println!(
            "  {:<22} {:>9.0} {:>8.2}x [{:.2}-{:.2}] {:>10.0} {:>7.0}-{:<7.0} {:>8.2}x",
            r.name, f.wall, f.ratio.0, f.ratio.1, f.ratio.2, f.cpu.0, f.cpu.1, f.cpu.2, f.cpu_ratio
        );
        out.push(f);
    }
    out
}

/// Pairs at `rate` transitions a second for `secs` seconds, from `threads` threads (each a
/// burst every millisecond, round-robin over its share of `ms`, asleep in between); then a
/// drain. Returns the rate reached and the process CPU per transition (run and drain, less
/// what the pacing threads spent waiting for their next burst).
fn paced(all: &All, ms: &[Machine], threads: usize, rate: f64, secs: f64) -> (f64, f64) {
    let per = ms.len().div_ceil(threads);
    let ticks = (secs * 1000.0) as u64;
    let pairs_per_tick = ((rate / threads as f64 / 1000.0 / 2.0).round() as usize).max(1);
    let waited = std::sync::atomic::AtomicU64::new(0);
    let c0 = process_cpu_ns();
    let start = Instant::now();
    std::thread::scope(|s| {
        for chunk in ms.chunks(per) {
            let waited = &waited;
            s.spawn(move || {
                let (mut k, mut w) = (0, 0);
                for tick in 0..ticks {
                    w += measure::wait_until(start + Duration::from_millis(tick));
                    for _ in 0..pairs_per_tick {
                        pair(&chunk[k % chunk.len()]);
                        k += 1;
                    }
                }
                waited.fetch_add(w, std::sync::atomic::Ordering::Relaxed);
            });
        }
    });
    let took = start.elapsed();
    all.drain();
    let tx = (pairs_per_tick * 2 * ticks as usize * ms.chunks(per).len()) as f64;
    let cpu = process_cpu_ns() - c0 - waited.into_inner();
    (tx / took.as_secs_f64(), cpu as f64 / tx)
}

/// The figures the targets block names.
#[derive(Default)]
struct Results {
    one: Vec<(String, f64, f64)>,
    cpu_all: f64,
    cpu_all_100: f64,
    ratio_all: f64,
    ratio_all_100: f64,
    paced: Vec<String>,
    unpaced_loss: String,
    sustained: String,
    go: String,
    states_1000: f64,
    kb_plain: f64,
    kb_all: f64,
}

fn main_tables() {
    let all = All::new();
    let mut res = Results::default();
    println!(
        "\n== all four exporters (prom + otel states+transitions + loki + dbg), one run; receivers in process {} (not counted); load {} ==",
        all.rx.borrow().pid,
        measure::load()
    );
    let before = all.loss();

    // 1 machine, 1 thread: each exporter alone and all four
    let mut configs = vec![("no tracer".to_string(), vec![plain("plain")])];
    for w in ["prom", "otel", "loki", "dbg"] {
        configs.push((format!("{w} alone"), vec![all.only(w, &[w])]));
    }
    configs.push(("all four".into(), vec![all.machine("all")]));
    configs.push(("otel over OTLP/gRPC".into(), vec![all.only("otel-grpc", &["otel-grpc"])]));
    println!("1 machine, 1 thread (8,000 tx per round, 21 rounds; medians):");
    let rows = table(&all, &configs, 1, 4_000, 21);
    let f = print_rows(&rows);
    for (r, f) in rows.iter().zip(&f).skip(1) {
        res.one.push((r.name.clone(), f.ratio.0, f.cpu.0));
    }
    println!("  ns CPU/tx by thread (live threads; the machine's is the bench's main thread):");
    for r in &rows {
        let tx = (r.s.len() * 8_000) as f64;
        println!("    {:<22} {}", r.name, measure::thread_split(&Default::default(), &r.split, tx));
    }
    res.ratio_all = f[5].ratio.0;
    res.cpu_all = f[5].cpu.0;
    drop(configs);

    // 100 machines, 2 threads
    let configs = vec![
        ("no tracer".to_string(), (0..100).map(|i| plain(&format!("plain-{i}"))).collect::<Vec<_>>()),
        ("all four".to_string(), (0..100).map(|i| all.machine(&format!("all-{i}"))).collect()),
    ];
    println!("100 machines, 2 threads (8,000 tx per round, 15 rounds; medians):");
    let rows = table(&all, &configs, 2, 40, 15);
    let f = print_rows(&rows);
    res.ratio_all_100 = f[1].ratio.0;
    res.cpu_all_100 = f[1].cpu.0;
    drop(configs);
    all.drain();
    let loss = all.loss().since(before);
    println!("counted during these tables: {}", loss.describe());
    res.unpaced_loss = format!(
        "spans dropped {}, records dropped {}, loki lost {}, dbg dropped {}",
        loss.spans_dropped, loss.records_dropped, loss.loki_dropped, loss.dbg_dropped
    );

    paced_runs(&all, &mut res);
    go_protocol(&all, &mut res);
    thousand(&all, &mut res);
    growth(&all, &mut res);
    {
        let c = all.rx.borrow_mut().counts();
        let l = all.loss();
        println!(
            "receivers got: dbg {} messages (tracer sent {}), loki {} entries (sent {}), otlp {} spans (gRPC pipeline exported {})",
            c.dbg_messages,
            l.dbg_sent,
            c.loki_entries,
            l.loki_sent,
            c.otlp_spans,
            all.grpc_pipeline.span_stats().exported
        );
    }
    targets(&res);
}

/// Paced runs that must lose nothing (target 4).
fn paced_runs(all: &All, res: &mut Results) {
    println!("paced, one machine each (1 thread), then a drain:");
    for (name, which, rate) in [("otel", "otel", 100_000.0), ("dbg", "dbg", 200_000.0), ("loki", "loki", 50_000.0)] {
        let m = vec![all.only(&format!("paced-{name}"), &[which])];
        let before = all.loss();
        let (got, cpu) = paced(all, &m, 1, rate, 2.0);
        let l = all.loss().since(before);
        let lost = match name {
            "otel" => format!("spans {} dropped {}, records dropped {}", l.spans, l.spans_dropped, l.records_dropped),
            "dbg" => format!("messages {} dropped {}", l.dbg, l.dbg_dropped),
            _ => format!("entries {} lost {}", l.loki, l.loki_dropped),
        };
        println!("  {name:<5} at {:>7.0} tx/s (asked {rate:.0}): {cpu:>6.0} ns CPU/tx; {lost}", got);
        res.paced.push(format!("{name} {:.0}k/s: {lost}", rate / 1000.0));
    }
}

/// The Go protocol beside the native one (target 6; see `support/go.rs`).
fn go_protocol(all: &All, res: &mut Results) {
    let (addr, pid) = {
        let rx = all.rx.borrow();
        (rx.dbg.clone(), rx.pid)
    };
    let (n, rate) = (10_000, 5_000.0);
    println!("debugger protocols, one machine at {rate:.0} tx/s ({n} tx), then a flush:");
    let mut line = Vec::new();
    for (name, scheme) in [("gob://", "gob://"), ("native", "")] {
        match go::run(&format!("{scheme}{addr}"), pid, n, rate) {
            Ok(s) => {
                println!(
                    "  {name:<7} client {:>7.0} ns CPU/tx, server {:>7.0} ns CPU/tx; sent {} dropped {}",
                    s.client_ns, s.server_ns, s.sent, s.dropped
                );
                line.push((name, s));
            }
            Err(e) => {
                println!("  {name:<7} not measured: {e}");
                res.go = format!("not measured: {e}");
            }
        }
    }
    if let [(_, gob), (_, native)] = &line[..] {
        res.go = format!(
            "gob:// client {:.1} us CPU/tx (<= 5) {}, server {:.1} us per Go-client transition (<= 10) {}; native {:.1} / {:.1} us",
            gob.client_ns / 1000.0,
            verdict(gob.client_ns <= 5000.0),
            gob.server_ns / 1000.0,
            verdict(gob.server_ns <= 10_000.0),
            native.client_ns / 1000.0,
            native.server_ns / 1000.0
        );
    }
}

/// 1,000 machines with all four bound: paced at 200k tx/s, then unpaced (target 5).
fn thousand(all: &All, res: &mut Results) {
    let ms: Vec<Machine> = (0..1000).map(|i| all.machine(&format!("k-{i}"))).collect();
    all.drain();
    let before = all.loss();
    let (got, cpu) = paced(all, &ms, 2, 200_000.0, 3.0);
    let l = all.loss().since(before);
    println!(
        "1,000 machines, all four, paced 200k tx/s on 2 threads for 3 s: {got:.0} tx/s, {cpu:.0} ns CPU/tx; {}",
        l.describe()
    );
    res.sustained = format!(
        "{:.0}k tx/s reached; spans dropped {}, records dropped {}, loki lost {}, dbg dropped {}",
        got / 1000.0,
        l.spans_dropped,
        l.records_dropped,
        l.loki_dropped,
        l.dbg_dropped
    );
    let before = all.loss();
    let c0 = process_cpu_ns();
    let start = Instant::now();
    let wall = ns_per_tx(&ms, 2, 50);
    let took = start.elapsed();
    all.drain();
    let cpu = (process_cpu_ns() - c0) as f64 / (ms.len() * 100) as f64;
    let l = all.loss().since(before);
    println!(
        "1,000 machines, all four, unpaced on 2 threads (100,000 tx): {:.0} tx/s ({wall:.0} ns/tx wall), {cpu:.0} ns CPU/tx (drain included, {:.2} s); {}",
        (ms.len() * 100) as f64 / took.as_secs_f64(),
        (start.elapsed()).as_secs_f64(),
        l.describe()
    );
    let _ = write!(
        res.sustained,
        "; unpaced {:.0}k tx/s: spans dropped {}, records dropped {}, loki lost {}, dbg dropped {}",
        (ms.len() * 100) as f64 / took.as_secs_f64() / 1000.0,
        l.spans_dropped,
        l.records_dropped,
        l.loki_dropped,
        l.dbg_dropped
    );
}

/// `n` states named S0.., no relations.
fn wide(n: usize) -> Schema {
    Schema::builder().states((0..n).map(|i| format!("S{i}"))).build().unwrap()
}

/// The cost curve: a transition by schema size, and machines by number (target 7).
fn growth(all: &All, res: &mut Results) {
    println!("schema size, one state changes (no tracer; best of 7 rounds of 20,000 tx):");
    let mut line = String::from(" ");
    for n in [10, 100, 1000] {
        let m = Machine::builder(wide(n)).id(format!("wide-{n}")).build();
        let name = format!("S{}", n / 2);
        let mut best = f64::MAX;
        for _ in 0..7 {
            let start = Instant::now();
            for _ in 0..10_000 {
                let _ = m.add(&[&name]);
                let _ = m.remove(&[&name]);
            }
            best = best.min(start.elapsed().as_nanos() as f64 / 20_000.0);
        }
        let _ = write!(line, " {n} states {best:.0} ns/tx;");
        if n == 1000 {
            res.states_1000 = best;
        }
    }
    println!("{line}");
    println!("machines (6 states each, built from one schema, one add/remove pair done), 2 threads:");
    let six = Schema::builder().states(["A", "B", "C", "D", "E", "F"]).build().unwrap();
    for n in [10usize, 1_000, 10_000] {
        let mut line = format!("  {n:>6} machines:");
        for (label, which) in [("no tracer", &[][..]), ("all four", ALL)] {
            all.drain();
            trim();
            let r0 = rss_bytes();
            let ms: Vec<Machine> =
                (0..n).map(|i| all.with_schema(six.clone(), &format!("g{n}-{label}-{i}"), which)).collect();
            ms.iter().for_each(|m| {
                let _ = m.add(&["A"]);
                let _ = m.remove(&["A"]);
            });
            all.drain();
            let kb = (rss_bytes().saturating_sub(r0)) as f64 / n as f64 / 1024.0;
            let rounds = (40_000 / n).max(2);
            let walls: Vec<f64> = (0..3).map(|_| sample(all, &ms, 2, rounds)).map(|s| s.wall).collect();
            let cpus: Vec<f64> = (0..3).map(|_| sample(all, &ms, 2, rounds)).map(|s| s.cpu).collect();
            let _ = write!(
                line,
                " {label}: {:>5.0} ns/tx, {:>5.0} ns CPU/tx, {kb:>5.1} KB/machine;",
                spread(&walls).0,
                spread(&cpus).0
            );
            if n == 10_000 {
                if which.is_empty() {
                    res.kb_plain = kb;
                } else {
                    res.kb_all = kb;
                }
            }
            drop(ms);
            all.drain();
        }
        println!("{line}");
    }
}

/// Gives freed heap memory back to the system, so the next RSS growth is new memory, not
/// reuse of what an earlier phase freed.
fn trim() {
    // SAFETY: malloc_trim has no preconditions
    unsafe {
        libc::malloc_trim(0);
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn targets(r: &Results) {
    println!("\n== issue #31 targets (figures from the tables above, this run) ==");
    println!(
        " 1. CPU per transition, all four, 1 machine: {:.0} ns (target <= 1,000) {}; 100 machines on 2 threads: {:.0} ns",
        r.cpu_all,
        verdict(r.cpu_all <= 1000.0),
        r.cpu_all_100
    );
    for (name, ratio, cpu) in &r.one {
        println!("    {name:<22} {cpu:>6.0} ns CPU/tx, wall ratio {ratio:.2}x");
    }
    println!(
        " 2. all four: 1 machine {:.2}x (target <= 4x) {}; 100 machines on 2 threads {:.2}x (target <= 5x) {}",
        r.ratio_all,
        verdict(r.ratio_all <= 4.0),
        r.ratio_all_100,
        verdict(r.ratio_all_100 <= 5.0)
    );
    let want = [("otel alone", 1.8), ("loki alone", 1.5), ("dbg alone", 1.4), ("prom alone", 1.15)];
    let mut line = String::from(" 3. alone:");
    for (name, t) in want {
        if let Some((_, ratio, _)) = r.one.iter().find(|(n, _, _)| n == name) {
            let _ = write!(line, " {} {ratio:.2}x (<= {t}x) {};", &name[..4], verdict(*ratio <= t));
        }
    }
    println!("{line}");
    println!(" 4. paced, lossless: {}; unpaced tables: {}", r.paced.join("; "), r.unpaced_loss);
    println!(" 5. 1,000 machines, all four, 200k tx/s paced: {}", r.sustained);
    println!(" 6. Go protocol: {}", r.go);
    println!(
        " 7. 1,000-state schema: {:.0} ns/tx (target <= 600) {}; per added 6-state machine: {:.1} KB without tracers (<= 4) {}, {:.1} KB with all four (<= 12) {}",
        r.states_1000,
        verdict(r.states_1000 <= 600.0),
        r.kb_plain,
        verdict(r.kb_plain <= 4.0),
        r.kb_all,
        verdict(r.kb_all <= 12.0)
    );
    println!(" 8. core pair and three handlers: see am-core's bench (transitions)");
}

fn profile(which: &[&str]) {
    let all = All::new();
    if which == ["gob"] {
        // the Go protocol's client and (in the receivers' process) server, 50,000 tx
        let rx = all.rx.borrow();
        println!("pid {} (receivers {}): gob:// at 5,000 tx/s for 10 s", std::process::id(), rx.pid);
        match go::run(&format!("gob://{}", rx.dbg), rx.pid, 50_000, 5_000.0) {
            Ok(s) => println!("client {:.0} ns CPU/tx, server {:.0} ns CPU/tx", s.client_ns, s.server_ns),
            Err(e) => println!("{e}"),
        }
        return;
    }
    let m = all.only("profiled", which);
    println!("pid {}: {which:?} for 10 s (rounds of 8,000 tx and a drain)", std::process::id());
    let until = Instant::now() + Duration::from_secs(10);
    let (t0, c0) = (measure::cpu_by_thread(), process_cpu_ns());
    let mut n = 0u64;
    while Instant::now() < until {
        ns_per_tx(std::slice::from_ref(&m), 1, 4_000);
        all.drain();
        n += 8_000;
    }
    let (t1, c1) = (measure::cpu_by_thread(), process_cpu_ns());
    println!("{n} transitions, {:.0} ns CPU/tx; {}", (c1 - c0) as f64 / n as f64, all.loss().describe());
    println!("ns CPU/tx by thread: {}", measure::thread_split(&t0, &t1, n as f64));
}

criterion_group!(benches, bench);

fn main() {
    if std::env::var_os(receivers::CHILD_ENV).is_some() {
        receivers::serve();
        return;
    }
    // `AM_BENCH_PROFILE=otel,loki`: only those exporters on one machine for 10 s, for a
    // profiler to watch (`perf record -g --call-graph dwarf -p PID`); `gob`: the Go protocol
    if let Ok(which) = std::env::var("AM_BENCH_PROFILE") {
        profile(&which.split(',').collect::<Vec<_>>());
        return;
    }
    // `AM_BENCH_TABLES=1`: the tables only (no criterion)
    if std::env::var_os("AM_BENCH_TABLES").is_none() {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    main_tables();
}
