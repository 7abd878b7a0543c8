//! Heap allocations per transition, counted by a global allocator. Only the allocations of
//! the thread that counts are counted: the test harness's own threads (its watchdog, its
//! output) allocate too, and under load they did so while a count was running
//! (`am_testkit::alloc`).

use am_core::{Handlers, Machine, NoopTracer, Schema, State};
use am_testkit::alloc::allocs;

#[global_allocator]
static GLOBAL: am_testkit::alloc::Counting = am_testkit::alloc::Counting;

fn per_transition(m: &Machine, f: impl Fn(&Machine)) -> f64 {
    for _ in 0..3 {
        f(m); // warms the runner's buffers up
    }
    let before = allocs();
    for _ in 0..500 {
        f(m);
    }
    (allocs() - before) as f64 / 1000.0
}

fn pair(m: &Machine) {
    m.add(&["A"]).unwrap();
    m.remove(&["A"]).unwrap();
}

/// 20 states: S0..S9 each require the previous; T0..T9 add the next and remove their S twin
/// (the transitions bench's relations scenario).
fn relations20() -> Machine {
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
    Machine::new(b.build().unwrap())
}

#[test]
fn no_allocations_per_transition() {
    let schema = || Schema::builder().states(["A", "B"]).build().unwrap();
    let plain = Machine::new(schema());
    let noop = Machine::builder(schema()).tracer(NoopTracer).build();
    let handlers = Machine::new(schema());
    handlers.bind_handlers(Handlers::new("h").enter("A", |_| true).state("A", |_| {}).exit("A", |_| true)).unwrap();
    for (name, m) in [("no tracer", &plain), ("noop tracer", &noop), ("3 handlers", &handlers)] {
        let n = per_transition(m, pair);
        assert_eq!(n, 0.0, "{name}: {n} allocations per transition");
    }
    // relations, with a transition canceled by them (its reason reuses the last one's list)
    let rel = relations20();
    let n = per_transition(&rel, |m| {
        let _ = m.add(&["S0", "S1", "S2", "T5"]).unwrap();
        m.set(&["T2"]).unwrap();
    });
    assert_eq!(n, 0.0, "relations: {n} allocations per transition");
    // more than four called states: the called list is the one allocation
    let n = per_transition(&rel, |m| {
        let _ = m.add(&["S0", "S1", "S2", "S3", "T5"]).unwrap();
        m.set(&["T2"]).unwrap();
    });
    assert_eq!(n, 0.5, "five called states: {n} allocations per transition");
    // queries
    let m = Machine::new(Schema::builder().states(["A", "B", "C"]).build().unwrap());
    m.add(&["A"]).unwrap();
    // `per_transition` counts per two calls; a query is one
    let n = 2.0
        * per_transition(&m, |m| {
            assert!(m.is(&["A"]).unwrap());
            assert!(m.not(&["B", "C"]).unwrap());
            assert_eq!(m.switch(&["B", "A"]).unwrap(), Some("A"));
            assert!(m.is1("A"));
        });
    assert_eq!(n, 0.0, "{n} allocations per query round");
}
