//! The dbg tracer's cost, in one run: transitions without a tracer vs with the dbg tracer
//! bound (criterion), then a table with the ratio, the end-to-end rate into a local
//! recorder with its loss count, and memory while the server is stalled.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use am_core::{Machine, Schema};
use am_dbg_proto::{DbgTracer, RecordOptions, Recorder, Server, ServerEvent};
use criterion::{Criterion, criterion_group};

fn schema() -> Schema {
    Schema::builder().states(["A", "B", "C"]).build().unwrap_or_else(|e| panic!("{e}"))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

/// A server that only counts messages.
fn counting_server(rt: &tokio::runtime::Runtime) -> (Server, Arc<AtomicU64>) {
    let n = Arc::new(AtomicU64::new(0));
    let c = n.clone();
    let server = rt
        .block_on(Server::bind("127.0.0.1:0", move |ev| {
            if let ServerEvent::Message { .. } = ev {
                c.fetch_add(1, Relaxed);
            }
        }))
        .unwrap();
    (server, n)
}

fn tracer(rt: &tokio::runtime::Runtime, addr: String, queued: bool, capacity: usize) -> DbgTracer {
    DbgTracer::builder().addr(addr).runtime(rt.handle().clone()).queued(queued).capacity(capacity).build().unwrap()
}

fn machine(t: Option<&DbgTracer>) -> Machine {
    let b = Machine::builder(schema());
    match t {
        Some(t) => b.tracer(t.clone()).build(),
        None => b.build(),
    }
}

fn bench(c: &mut Criterion) {
    let rt = rt();
    let (server, _) = counting_server(&rt);
    let addr = server.local_addr().to_string();
    let t_q = tracer(&rt, addr.clone(), true, 10_000);
    let t_nq = tracer(&rt, addr, false, 10_000);
    let plain = machine(None);
    let with_q = machine(Some(&t_q));
    let with_nq = machine(Some(&t_nq));
    let mut g = c.benchmark_group("toggle");
    g.bench_function("no tracer", |b| b.iter(|| plain.toggle(&["A"])));
    g.bench_function("dbg tracer", |b| b.iter(|| with_q.toggle(&["A"])));
    g.bench_function("dbg tracer, no queued msgs", |b| b.iter(|| with_nq.toggle(&["A"])));
    g.finish();
}

/// Listens to the same hooks as the dbg tracer and does nothing: what the machine itself
/// spends on having such a tracer bound.
struct Idle;
impl am_core::Tracer for Idle {
    fn id(&self) -> &str {
        "idle"
    }
    fn interest(&self) -> am_core::Interest {
        am_core::Interest::TRANSITION_END | am_core::Interest::MUTATION_QUEUED
    }
}

fn ns_per_tx(m: &Machine, n: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        let _ = m.toggle(&["A"]);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Interleaved bursts at a paced rate: every `period`, one burst of `burst` transitions on
/// each machine (the order rotating from round to round), then an idle spin (untimed; the
/// core stays awake) until the period is over, so each machine runs at `burst / period`
/// transitions per second and a sender that keeps up is measured sending, not dropping.
/// Neighbouring bursts share the moment's machine speed (this VM's speed drifts over
/// seconds), so the per-round ratio to the first machine is steady where whole-run times
/// are not. Returns per machine the median ns per transition and the quartiles of its
/// per-round ratio to the first machine.
fn paced_rounds(ms: &[&Machine], rounds: usize, burst: usize, period: Duration) -> (Vec<f64>, Vec<[f64; 3]>) {
    let mut ns = vec![Vec::with_capacity(rounds); ms.len()];
    let mut ratios = vec![Vec::with_capacity(rounds); ms.len()];
    for r in 0..rounds {
        let start = Instant::now();
        let mut took = vec![0.0; ms.len()];
        for k in 0..ms.len() {
            let i = (k + r) % ms.len();
            let t = Instant::now();
            for _ in 0..burst {
                let _ = ms[i].toggle(&["A"]);
            }
            took[i] = t.elapsed().as_nanos() as f64 / burst as f64;
        }
        for (i, v) in took.iter().enumerate() {
            ns[i].push(*v);
            ratios[i].push(v / took[0]);
        }
        while start.elapsed() < period {
            std::hint::spin_loop();
        }
    }
    let q = |v: &mut Vec<f64>, f: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * f) as usize]
    };
    let med = ns.iter_mut().map(|v| q(v, 0.5)).collect();
    let quart = ratios.iter_mut().map(|v| [q(v, 0.25), q(v, 0.5), q(v, 0.75)]).collect();
    (med, quart)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4)
}

/// Sends `n` transitions at most `rate` per second; returns (achieved tx/s, end-to-end s).
fn paced(m: &Machine, t: &DbgTracer, n: u64, rate: f64) -> (f64, f64) {
    let start = Instant::now();
    for i in 0..n {
        if i % 1000 == 0 {
            let due = Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let _ = m.toggle(&["A"]);
    }
    let produced = start.elapsed().as_secs_f64();
    t.flush(Duration::from_secs(30));
    (n as f64 / produced, start.elapsed().as_secs_f64())
}

/// Runs `f` on every machine, `rounds` times interleaved; returns per machine the median
/// time and the median of its per-round ratio to the first machine.
fn medians(ms: &[&Machine], rounds: usize, f: impl Fn(&Machine) -> f64) -> (Vec<f64>, Vec<f64>) {
    let mut ns = vec![Vec::new(); ms.len()];
    let mut ratios = vec![Vec::new(); ms.len()];
    for _ in 0..rounds {
        let r: Vec<f64> = ms.iter().map(|m| f(m)).collect();
        for (i, v) in r.iter().enumerate() {
            ns[i].push(*v);
            ratios[i].push(v / r[0]);
        }
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (ns.into_iter().map(med).collect(), ratios.into_iter().map(med).collect())
}

fn table() {
    let rt = rt();
    println!("\n== am-dbg-proto: dbg tracer cost (one run) ==");
    {
        // a stack trace per queued mutation (Go's default; AM_DBG_TRACE here): its cost
        let (server, _) = counting_server(&rt);
        let addr = server.local_addr().to_string();
        let traced = |on: bool| {
            let t =
                DbgTracer::builder().addr(addr.clone()).runtime(rt.handle().clone()).stack_traces(on).build().unwrap();
            (machine(Some(&t)), t)
        };
        let ((off, _t_off), (on, _t_on)) = (traced(false), traced(true));
        let (rounds, n) = (9, 5_000);
        let (ns, ratios) = medians(&[&off, &on], rounds, |m| ns_per_tx(m, n));
        println!(
            "stack traces: off {:.0} ns/transition, on {:.0} ns/transition ({:+.1} µs per queued mutation, ratio {:.1}x)",
            ns[0],
            ns[1],
            (ns[1] - ns[0]) / 1000.0,
            ratios[1]
        );
    }
    {
        let (server, _) = counting_server(&rt);
        let addr = server.local_addr().to_string();
        let plain = machine(None);
        let (tq, tnq) = (tracer(&rt, addr.clone(), true, 10_000), tracer(&rt, addr, false, 10_000));
        let (mq, mnq) = (machine(Some(&tq)), machine(Some(&tnq)));
        // nothing listens on port 9: the outbox stays full and every push drops the oldest
        let off = tracer(&rt, "127.0.0.1:9".into(), true, 10_000);
        let (midle, moff) = (Machine::builder(schema()).tracer(Idle).build(), machine(Some(&off)));
        // the cores are shared: interleave short runs of every variant and take medians, so
        // a burst of outside load hits all of them alike
        let (rounds, n) = (15, 20_000);
        let ms = [&plain, &midle, &moff, &mq, &mnq];
        for m in ms {
            ns_per_tx(m, n);
        }
        let (ns, ratios) = medians(&ms, rounds, |m| ns_per_tx(m, n));
        let [base, idle, hook_only, q, nq] = [0, 1, 2, 3, 4].map(|i| ns[i]);
        let [_, r_idle, r_hook, r_q, r_nq] = [0, 1, 2, 3, 4].map(|i| ratios[i]);
        println!("(medians of {rounds} interleaved rounds of {n} transitions; ratio = median of per-round ratios)");
        println!("no tracer                      {base:8.0} ns/transition");
        println!("idle tracer, same hooks        {idle:8.0} ns/transition   ratio {r_idle:.2}x");
        println!(
            "dbg tracer, server down        {hook_only:8.0} ns/transition   ratio {r_hook:.2}x (outbox full, oldest dropped)"
        );
        println!("dbg tracer (queued msgs on)    {q:8.0} ns/transition   ratio {r_q:.2}x");
        println!("dbg tracer (queued msgs off)   {nq:8.0} ns/transition   ratio {r_nq:.2}x");
        let (sq, snq) = (tq.stats(), tnq.stats());
        println!(
            "sent while measuring: queued on {}/{} (dropped {}), queued off {}/{} (dropped {})",
            sq.sent, sq.enqueued, sq.dropped, snq.sent, snq.enqueued, snq.dropped
        );
    }
    {
        // at the stream rate, where the sender keeps up and nothing is dropped
        let (server, _) = counting_server(&rt);
        let addr = server.local_addr().to_string();
        let (tq, tnq) = (tracer(&rt, addr.clone(), true, 10_000), tracer(&rt, addr, false, 10_000));
        let (plain, mq, mnq) = (machine(None), machine(Some(&tq)), machine(Some(&tnq)));
        let (burst, period, rounds) = (500, Duration::from_micros(2500), 2_000);
        let rate = burst as f64 / period.as_secs_f64();
        // one tracer per phase: both at once would be more than the one sender thread
        // keeps up with, and a dropping tracer is a different measurement (above)
        let phase = |m: &Machine| {
            paced_rounds(&[&plain, m], 100, burst, period);
            paced_rounds(&[&plain, m], rounds, burst, period)
        };
        let ((nsq, rq), (nsnq, rnq)) = (phase(&mq), phase(&mnq));
        tq.flush(Duration::from_secs(5));
        tnq.flush(Duration::from_secs(5));
        let (sq, snq) = (tq.stats(), tnq.stats());
        let r = |q: &[f64; 3]| format!("ratio {:.2}x (quartiles {:.2}-{:.2})", q[1], q[0], q[2]);
        println!(
            "paced at {rate:.0} tx/s: every {period:?} a burst of {burst} on the plain machine and one on the traced one (order alternating), {rounds} rounds; medians:"
        );
        println!("no tracer                      {:8.0} ns/transition", nsq[0]);
        println!(
            "dbg tracer (queued msgs on)    {:8.0} ns/transition   {} target <= 1.4x; sent {}/{} dropped {}",
            nsq[1],
            r(&rq[1]),
            sq.sent,
            sq.enqueued,
            sq.dropped
        );
        println!("no tracer                      {:8.0} ns/transition", nsnq[0]);
        println!(
            "dbg tracer (queued msgs off)   {:8.0} ns/transition   {}; sent {}/{} dropped {}",
            nsnq[1],
            r(&rnq[1]),
            snq.sent,
            snq.enqueued,
            snq.dropped
        );
    }
    let dir = am_testkit::TempDir::new("dbg-bench");
    // the target rate, then more, to show the headroom
    let runs = [(200_000.0, false), (200_000.0, true), (300_000.0, false), (300_000.0, true)];
    for (target, queued) in runs {
        let label = if queued { "transitions + queued msgs" } else { "transitions only" };
        let path = dir.join("bench.jsonl");
        let rec = rt.block_on(Recorder::start("127.0.0.1:0", &path, RecordOptions::default())).unwrap();
        let t = tracer(&rt, rec.local_addr().to_string(), queued, am_dbg_proto::DEFAULT_CAPACITY);
        let m = machine(Some(&t));
        let n = 500_000;
        let (rate, total) = paced(&m, &t, n, target);
        let st = t.stats();
        let expected = if queued { 2 * n } else { n } + 1;
        // acknowledged by the server is not yet written: wait for the writer
        let until = Instant::now() + Duration::from_secs(10);
        while rec.messages() < expected && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        let got = rec.messages();
        let _ = rt.block_on(rec.stop());
        println!(
            "to a local recorder ({label}): {rate:.0} tx/s produced, {:.0} tx/s end to end, recorded {got}/{expected} msgs, dropped {}",
            n as f64 / total,
            st.dropped
        );
    }
    {
        let (server, rx) = rt.block_on(Server::bind_channel("127.0.0.1:0", 1)).unwrap();
        let capacity = 10_000;
        let t = DbgTracer::builder()
            .addr(server.local_addr().to_string())
            .runtime(rt.handle().clone())
            .capacity(capacity)
            .call_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let m = machine(Some(&t));
        for _ in 0..50_000 {
            let _ = m.toggle(&["A"]);
        }
        let before = rss_kib();
        let mut peak_q = 0;
        for i in 0..1_000_000 {
            let _ = m.toggle(&["A"]);
            if i % 10_000 == 0 {
                peak_q = peak_q.max(t.stats().queued);
            }
        }
        let after = rss_kib();
        let st = t.stats();
        println!(
            "server stalled, 1M transitions: outbox peak {peak_q}/{capacity} msgs, dropped {}, RSS {before} -> {after} KiB ({:+} KiB)",
            st.dropped,
            after as i64 - before as i64
        );
        drop(rx);
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    table();
}
