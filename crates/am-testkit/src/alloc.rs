//! A global allocator that counts the allocations of each thread, for the tests and benches
//! that hold code to "no allocation per transition". Only the calling thread's count is read,
//! so a harness's own threads (its watchdog, its output) never show up in a count.
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: am_testkit::alloc::Counting = am_testkit::alloc::Counting;
//!
//! let before = am_testkit::alloc::allocs();
//! m.add(&["A"])?;
//! assert_eq!(am_testkit::alloc::allocs() - before, 0);
//! ```
#![allow(unsafe_code)] // a global allocator is an unsafe trait

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to the system allocator and counts `alloc` and `realloc` calls per thread.
#[derive(Debug)]
pub struct Counting;

thread_local! {
    /// This thread's allocations (a const initializer: reading it never allocates).
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: a thread being torn down may still allocate
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

/// Allocations (and reallocations) made by the calling thread so far.
pub fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract for `alloc`, passed on
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from `alloc`/`realloc` above, i.e. from `System`
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: as for `dealloc`
        unsafe { System.realloc(p, l, n) }
    }
}
