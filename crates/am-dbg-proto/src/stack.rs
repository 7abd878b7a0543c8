//! Stack traces of queued mutations, as Go's debugger shows them: from the caller of the
//! mutation on, without the frames of the machine and the tracer above it.

use std::backtrace::Backtrace;

/// Frames kept at most.
const MAX_FRAMES: usize = 24;

/// Whether a frame belongs to the machinery between the caller and the capture (the
/// machine, the tracer, the capture, and generic glue among them): by its symbol, or, for an
/// inlined frame that debug info names without its path (`call`, `for_each<…>`, as builds
/// with `debug = "line-tables-only"` give), by the source file it is `at`.
fn machinery(symbol: &str, at: &[&str]) -> bool {
    let s = symbol.trim_start_matches('<');
    ["std::backtrace", "am_core::", "am_dbg_proto::", "core::", "alloc::"].iter().any(|p| s.starts_with(p))
        || at.first().is_some_and(|a| machinery_source(a))
}

/// Whether an `at path:line` line points into the Rust library's `core`/`alloc`, the
/// capture, or the sources of am-core or am-dbg-proto (a checkout or a registry copy).
fn machinery_source(at: &str) -> bool {
    let path = at.trim_start_matches("at ").replace('\\', "/");
    let in_crate = |name: &str| {
        path.contains(&format!("/{name}/src/"))
            || path.match_indices(&format!("/{name}-")).any(|(i, m)| {
                let rest = &path[i + m.len()..];
                rest.starts_with(|c: char| c.is_ascii_digit()) && rest.contains("/src/")
            })
    };
    ["/library/core/", "/library/alloc/", "/library/std/src/backtrace"].iter().any(|p| path.contains(p))
        || in_crate("am-core")
        || in_crate("am-dbg-proto")
}

/// The frames of `bt` from the mutation's caller on (symbol and `at file:line` lines, as
/// std prints them), the process's start frames left out.
///
/// ```text
///    0: my_app::worker::run
///              at ./src/worker.rs:42:9
///    1: my_app::main
///              at ./src/main.rs:7:5
/// ```
pub(crate) fn caller_frames(bt: &Backtrace) -> String {
    trim(bt.to_string())
}

fn trim(text: String) -> String {
    // a frame starts with "<n>: symbol"; its "at path" lines follow
    let mut frames: Vec<(String, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        match t.split_once(": ") {
            Some((n, sym)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                frames.push((sym.to_string(), Vec::new()));
            }
            _ => {
                if let Some(f) = frames.last_mut() {
                    f.1.push(t);
                }
            }
        }
    }
    let from = frames.iter().position(|(sym, at)| !machinery(sym, at)).unwrap_or(0);
    let mut kept: Vec<&(String, Vec<&str>)> = frames[from..]
        .iter()
        .take_while(|(sym, _)| !sym.contains("__rust_begin_short_backtrace") && !sym.starts_with("std::rt::"))
        .collect();
    // the runtime's glue below `main` (or a thread's closure)
    while kept.last().is_some_and(|(sym, _)| ["core::", "std::", "alloc::"].iter().any(|p| sym.starts_with(p))) {
        kept.pop();
    }
    let mut out = String::new();
    for (n, (sym, at)) in kept.into_iter().take(MAX_FRAMES).enumerate() {
        out.push_str(&format!("{n:>4}: {sym}\n"));
        for a in at {
            out.push_str(&format!("             {a}\n"));
        }
    }
    if out.is_empty() {
        // nothing recognisable (no symbols): the whole trace rather than none
        return text;
    }
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_the_callers_frame() {
        let text = "   0: std::backtrace::Backtrace::force_capture
             at /rustc/x/library/std/src/backtrace.rs:312:9
   1: <am_dbg_proto::tracer::DbgMachine as am_core::tracer::Tracer>::mutation_queued
   2: am_core::machine::run::<impl am_core::machine::Machine>::add
             at ./crates/am-core/src/machine/run.rs:62:9
   3: my_app::worker::run
             at ./src/worker.rs:42:9
   4: my_app::main
             at ./src/main.rs:7:5
   5: core::ops::function::FnOnce::call_once
   6: std::sys::backtrace::__rust_begin_short_backtrace
   7: std::rt::lang_start_internal
";
        assert_eq!(
            trim(text.to_string()),
            "   0: my_app::worker::run\n             at ./src/worker.rs:42:9\n   1: my_app::main\n             at ./src/main.rs:7:5"
        );
        // nothing recognisable: kept whole
        assert_eq!(trim("<unsupported>".into()), "<unsupported>");
    }

    #[test]
    fn inlined_frames_without_paths_are_known_by_their_source() {
        // `debug = "line-tables-only"`: inlined frames named without their module path
        let text = "   0: for_each<alloc::sync::Arc<dyn am_core::tracer::Tracer>>
             at /rustc/x/library/core/src/slice/iter/macros.rs:301:21
   1: am_core::dispatch::Dispatch::each
             at /home/u/.cargo/registry/src/index.crates.io-1/am-core-0.1.0/src/dispatch.rs:85:36
   2: call
             at /home/u/.cargo/registry/src/index.crates.io-1/am-core-0.1.0/src/machine/run.rs:72:17
   3: queue_from_here
             at ./tests/stack_traces.rs:17:7
   4: am_core_helpers::call
             at /home/u/src/am-core-helpers/src/lib.rs:3:1
";
        let out = trim(text.to_string());
        assert!(out.starts_with("   0: queue_from_here\n"), "{out}");
        // a crate of the app whose name starts like ours is the app's
        assert!(out.contains("am_core_helpers::call"), "{out}");
        assert!(machinery_source("at C:\\cargo\\am-dbg-proto-0.2.1\\src\\tracer\\mod.rs:3:1"));
        assert!(!machinery_source("at ./src/am-core-notes/main.rs:1:1"));
    }
}
