//! Heap allocations per transition, counted by a global allocator (this file holds one test,
//! so nothing else allocates while it counts).
#![allow(unsafe_code)] // the counting global allocator

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use am_core::{Handlers, Machine, NoopTracer, Schema};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn per_transition(m: &Machine) -> f64 {
    m.add(&["A"]).unwrap();
    m.remove(&["A"]).unwrap();
    let before = ALLOCS.load(Relaxed);
    for _ in 0..500 {
        m.add(&["A"]).unwrap();
        m.remove(&["A"]).unwrap();
    }
    (ALLOCS.load(Relaxed) - before) as f64 / 1000.0
}

#[test]
fn at_most_two_allocations_per_transition() {
    let schema = || Schema::builder().states(["A", "B"]).build().unwrap();
    let plain = Machine::new(schema());
    let noop = Machine::builder(schema()).tracer(NoopTracer).build();
    let handlers = Machine::new(schema());
    handlers.bind_handlers(Handlers::new("h").enter("A", |_| true).state("A", |_| {}).exit("A", |_| true)).unwrap();
    for (name, m) in [("no tracer", &plain), ("noop tracer", &noop), ("3 handlers", &handlers)] {
        let n = per_transition(m);
        assert!(n <= 2.0, "{name}: {n} allocations per transition");
    }
}
