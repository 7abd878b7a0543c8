//! Transition benchmarks. Criterion measures each scenario with and without a no-op tracer;
//! afterwards a table prints ns/transition, the tracer/no-tracer ratio from the same run,
//! and heap allocations per transition (counted by a global allocator).

use std::hint::black_box;
use std::time::Instant;

use am_core::{Handlers, LogLevel, Machine, MachineBuilder, NoopTracer, Schema, State, Tracer, Transition};
use criterion::{Criterion, criterion_group};

#[global_allocator]
static GLOBAL: am_testkit::alloc::Counting = am_testkit::alloc::Counting;

/// A scenario: a machine factory and one iteration (which runs `per_iter` transitions).
struct Scenario {
    name: &'static str,
    make: fn(Bound) -> Machine,
    iter: fn(&Machine),
    per_iter: u64,
}

/// Listens to every hook (the default interest) and does nothing with them.
struct Listening;
impl Tracer for Listening {
    fn id(&self) -> &str {
        "listening"
    }
    fn transition_end(&self, tx: &Transition<'_>) {
        black_box(tx.accepted());
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Bound {
    Nothing,
    Noop,
    Listening,
}

const BOUND: [(Bound, &str); 3] =
    [(Bound::Nothing, "no_tracer"), (Bound::Noop, "noop_tracer"), (Bound::Listening, "listening_tracer")];

fn with_tracer(schema: Schema, tracer: Bound) -> Machine {
    bound(Machine::builder(schema), tracer)
}

fn bound(b: MachineBuilder, tracer: Bound) -> Machine {
    match tracer {
        Bound::Nothing => b.build(),
        Bound::Noop => b.tracer(NoopTracer).build(),
        Bound::Listening => b.tracer(Listening).build(),
    }
}

fn pair(t: Bound) -> Machine {
    with_tracer(Schema::builder().states(["A", "B"]).build().unwrap(), t)
}

/// Logging at Ops and steps on: what a machine watched by a debugger spends.
fn logged(schema: Schema, t: Bound) -> Machine {
    bound(Machine::builder(schema).log_level(LogLevel::Ops).log_steps(true), t)
}

fn handlers3(t: Bound) -> Machine {
    bind3(pair(t))
}

fn handlers3_logged(t: Bound) -> Machine {
    bind3(logged(Schema::builder().states(["A", "B"]).build().unwrap(), t))
}

fn bind3(m: Machine) -> Machine {
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

fn relations20(t: Bound) -> Machine {
    with_tracer(schema20(), t)
}

fn relations20_logged(t: Bound) -> Machine {
    logged(schema20(), t)
}

/// 20 states: S0..S9 each require the previous; T0..T9 add the next and remove their S twin.
fn schema20() -> Schema {
    let mut b = Schema::builder();
    for i in 0..10 {
        let mut s = State::new();
        if i > 0 {
            s = s.require([format!("S{}", i - 1)]);
        }
        b = b.state(format!("S{i}"), s);
    }
    for i in 0..10 {
        let mut s = State::new().remove([format!("S{i}")]);
        if i < 9 {
            s = s.add([format!("T{}", i + 1)]);
        }
        b = b.state(format!("T{i}"), s);
    }
    b.build().unwrap()
}

fn states1000(t: Bound) -> Machine {
    let names: Vec<String> = (0..1000).map(|i| format!("S{i}")).collect();
    with_tracer(Schema::builder().states(names).build().unwrap(), t)
}

fn add_remove(m: &Machine) {
    m.add(&["A"]).unwrap();
    m.remove(&["A"]).unwrap();
}

fn relations_iter(m: &Machine) {
    m.add(&["S0", "S1", "S2", "S3", "T5"]).unwrap();
    m.set(&["T2"]).unwrap();
}

fn big_iter(m: &Machine) {
    m.add(&["S500"]).unwrap();
    m.remove(&["S500"]).unwrap();
}

const SCENARIOS: [Scenario; 6] = [
    Scenario { name: "add_remove_pair", make: pair, iter: add_remove, per_iter: 2 },
    Scenario { name: "three_handlers", make: handlers3, iter: add_remove, per_iter: 2 },
    Scenario { name: "three_handlers_logged", make: handlers3_logged, iter: add_remove, per_iter: 2 },
    Scenario { name: "relations_20_states", make: relations20, iter: relations_iter, per_iter: 2 },
    Scenario { name: "relations_20_logged", make: relations20_logged, iter: relations_iter, per_iter: 2 },
    Scenario { name: "schema_1000_states", make: states1000, iter: big_iter, per_iter: 2 },
];

fn bench(c: &mut Criterion) {
    for s in &SCENARIOS {
        let mut g = c.benchmark_group(s.name);
        for (bound, label) in BOUND {
            let m = (s.make)(bound);
            g.bench_function(label, |b| b.iter(|| (s.iter)(&m)));
        }
        g.finish();
    }
}

criterion_group!(benches, bench);

/// ns per transition: best of several interleaved rounds.
fn time_ns(m: &Machine, s: &Scenario, iters: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        (s.iter)(m);
    }
    start.elapsed().as_nanos() as f64 / (iters * s.per_iter) as f64
}

fn allocs_per_transition(m: &Machine, s: &Scenario) -> f64 {
    (s.iter)(m); // warm up buffers
    let iters = 1000;
    let before = am_testkit::alloc::allocs();
    for _ in 0..iters {
        (s.iter)(m);
    }
    (am_testkit::alloc::allocs() - before) as f64 / (iters * s.per_iter) as f64
}

fn table() {
    println!();
    println!(
        "| scenario | ns/tx no tracer | ns/tx noop tracer | ratio | ns/tx listening tracer | ratio | allocs/tx (none / noop / listening) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for s in &SCENARIOS {
        let ms: Vec<Machine> = BOUND.iter().map(|(b, _)| (s.make)(*b)).collect();
        let iters = if s.name == "schema_1000_states" { 5_000 } else { 50_000 };
        let mut best = [f64::MAX; 3];
        for _ in 0..7 {
            for (i, m) in ms.iter().enumerate() {
                best[i] = best[i].min(time_ns(m, s, iters));
            }
        }
        let allocs: Vec<String> = ms.iter().map(|m| format!("{:.2}", allocs_per_transition(m, s))).collect();
        println!(
            "| {} | {:.0} | {:.0} | {:.3} | {:.0} | {:.3} | {} |",
            s.name,
            best[0],
            best[1],
            best[1] / best[0],
            best[2],
            best[2] / best[0],
            allocs.join(" / ")
        );
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    table();
}
