//! Stack traces of queued mutations, as Go's debugger shows them: from the caller of the
//! mutation on, without the frames of the machine and the tracer above it.

use std::backtrace::Backtrace;

/// Frames kept at most.
const MAX_FRAMES: usize = 24;

/// Whether a frame's symbol belongs to the machinery between the caller and the capture
/// (the machine, the tracer, the capture, and generic glue among them).
fn machinery(symbol: &str) -> bool {
    let s = symbol.trim_start_matches('<');
    ["std::backtrace", "am_core::", "am_dbg_proto::", "core::", "alloc::"].iter().any(|p| s.starts_with(p))
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
    let from = frames.iter().position(|(sym, _)| !machinery(sym)).unwrap_or(0);
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
}
