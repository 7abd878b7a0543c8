//! The Prometheus tracer's cost, in one run: criterion measures each scenario without a
//! tracer, with the tracer bound directly (per-machine handles; the default timing of one
//! transition in 8, and timing every one), and inside a composite (looked up by machine ID
//! on every hook); then a table prints ns/transition,
//! the ratios to "no tracer" and heap allocations per transition.

use std::hint::black_box;
use std::time::Instant;

use am_core::{Handlers, Interest, Machine, Schema, Tracer, Tracers};
use am_prom::PromTracer;
use criterion::{Criterion, criterion_group};

#[global_allocator]
static GLOBAL: am_testkit::alloc::Counting = am_testkit::alloc::Counting;

/// Listens to the same hooks as the Prometheus tracer and does nothing: what the machine
/// itself spends on having such a tracer bound.
struct Idle;
impl Tracer for Idle {
    fn id(&self) -> &str {
        "idle"
    }
    fn interest(&self) -> Interest {
        Interest::TRANSITION_INIT | Interest::TRANSITION_END | Interest::HANDLERS
    }
}

#[derive(Clone, Copy)]
enum Bound {
    Nothing,
    Idle,
    Prom,
    PromTimeAll,
    PromComposite,
}

const BOUND: [(Bound, &str); 5] = [
    (Bound::Nothing, "no_tracer"),
    (Bound::Idle, "idle_tracer_same_hooks"),
    (Bound::Prom, "prom_tracer"),
    (Bound::PromTimeAll, "prom_tracer_timing_every_tx"),
    (Bound::PromComposite, "prom_tracer_in_composite"),
];

fn pair(bound: Bound, prom: &PromTracer) -> Machine {
    let b = Machine::builder(Schema::builder().states(["A", "B"]).build().unwrap());
    match bound {
        Bound::Nothing => b.build(),
        Bound::Idle => b.tracer(Idle).build(),
        Bound::Prom => b.tracer(prom.clone()).build(),
        Bound::PromTimeAll => b.tracer(PromTracer::builder().timing_every(1).build().unwrap()).build(),
        Bound::PromComposite => b.tracer(Tracers::new().with(prom.clone())).build(),
    }
}

fn handlers3(bound: Bound, prom: &PromTracer) -> Machine {
    let m = pair(bound, prom);
    m.bind_handlers(
        Handlers::new("bench")
            .enter("A", |e| black_box(e.handler()).len() > 1)
            .state("A", |e| {
                black_box(e.handler());
            })
            .exit("A", |e| black_box(e.handler()).len() > 1),
    )
    .unwrap();
    m
}

fn add_remove(m: &Machine) {
    m.add(&["A"]).unwrap();
    m.remove(&["A"]).unwrap();
}

type Make = fn(Bound, &PromTracer) -> Machine;
const SCENARIOS: [(&str, Make); 2] = [("add_remove_pair", pair), ("three_handlers", handlers3)];

fn tracer() -> PromTracer {
    PromTracer::builder().build().unwrap()
}

fn bench(c: &mut Criterion) {
    for (name, make) in SCENARIOS {
        let prom = tracer();
        let mut g = c.benchmark_group(name);
        for (bound, label) in BOUND {
            let m = make(bound, &prom);
            g.bench_function(label, |b| b.iter(|| add_remove(&m)));
        }
        g.finish();
    }
}

criterion_group!(benches, bench);

/// ns per transition.
fn time_ns(m: &Machine, iters: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        add_remove(m);
    }
    start.elapsed().as_nanos() as f64 / (iters * 2) as f64
}

fn allocs_per_transition(m: &Machine) -> f64 {
    add_remove(m);
    let iters = 1000;
    let before = am_testkit::alloc::allocs();
    for _ in 0..iters {
        add_remove(m);
    }
    (am_testkit::alloc::allocs() - before) as f64 / (iters * 2) as f64
}

fn table() {
    println!("\n== am-prom: Prometheus tracer cost (best of 100 interleaved short rounds, one run) ==");
    println!("| scenario | tracer | ns/tx | ratio to no tracer | allocs/tx |");
    println!("|---|---|---|---|---|");
    for (name, make) in SCENARIOS {
        let prom = tracer();
        let ms: Vec<Machine> = BOUND.iter().map(|(b, _)| make(*b, &prom)).collect();
        let mut best = [f64::MAX; BOUND.len()];
        // many short rounds, interleaved: the minimum is robust to other load on the host
        for _ in 0..100 {
            for (i, m) in ms.iter().enumerate() {
                best[i] = best[i].min(time_ns(m, 2_000));
            }
        }
        for (i, (_, label)) in BOUND.iter().enumerate() {
            println!(
                "| {name} | {label} | {:.0} | {:.3} | {:.2} |",
                best[i],
                best[i] / best[0],
                allocs_per_transition(&ms[i])
            );
        }
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    table();
}
