//! `cargo xtask itest`: the end-to-end check. Runs the demo for a short fixed time against
//! local backends and checks what each exporter delivered.

use std::path::{Path, PathBuf};

use xshell::{Shell, cmd};

use crate::{Args, Result};

const HELP: &str = "\
cargo xtask itest [--duration SECS] [--keep]

Builds the demo, runs it for SECS seconds (default 6) with every exporter on its local
default, and checks the outputs end to end:
  dbg   the am-dbg recording holds every demo machine, transitions, and no drops
Outputs go to a temporary directory, removed afterwards unless --keep.
";

/// Machines the demo runs with its default three workers.
const DEMO_MACHINES: [&str; 4] = ["worker-pool", "worker-1", "worker-2", "worker-3"];

pub(crate) fn run(sh: &Shell, args: &mut Args) -> Result<()> {
    if args.help() {
        print!("{HELP}");
        return Ok(());
    }
    let duration = args.value(&["--duration"])?.unwrap_or_else(|| "6".into());
    let keep = args.flag(&["--keep"]);
    args.finish()?;
    duration.parse::<f64>().map_err(|_| format!("bad --duration `{duration}`"))?;

    let dir = std::env::temp_dir().join(format!("am-itest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run_in(sh, &dir, &duration);
    if keep || result.is_err() {
        eprintln!("itest outputs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn run_in(sh: &Shell, dir: &Path, duration: &str) -> Result<()> {
    cmd!(sh, "cargo build --quiet -p am-demo -p am-dbg-proto --bins").run()?;
    let bin = |name: &str| -> PathBuf { sh.current_dir().join("target/debug").join(name) };
    let demo = bin("am-demo");
    eprintln!("==> am-demo --duration {duration}");
    let out = cmd!(sh, "{demo} --duration {duration} --quiet --out-dir {dir}")
        .env_remove("AM_DBG_ADDR")
        .read()
        .map_err(|e| format!("the demo failed: {e}"))?;
    println!("{out}");
    check_dbg(sh, &bin("am-dbg"), &dir.join("dbg.jsonl"))?;
    eprintln!("itest: all checks passed");
    Ok(())
}

/// The recording summarises to every demo machine, with transitions and no drops.
fn check_dbg(sh: &Shell, am_dbg: &Path, file: &Path) -> Result<()> {
    let summary = cmd!(sh, "{am_dbg} summary {file}").read().map_err(|e| format!("am-dbg summary failed: {e}"))?;
    let first = summary.lines().next().unwrap_or_default();
    let field = |name: &str| -> Option<u64> {
        first.split(',').find_map(|part| part.trim().strip_prefix(name)?.trim().parse().ok())
    };
    let (machines, transitions, dropped) = (field("machines:"), field("transitions:"), field("dropped:"));
    let fail = |why: String| -> Result<()> { Err(format!("dbg check: {why}\n{summary}").into()) };
    if machines != Some(DEMO_MACHINES.len() as u64) {
        return fail(format!("expected {} machines, summary says {machines:?}", DEMO_MACHINES.len()));
    }
    if transitions.is_none_or(|t| t < 20) {
        return fail(format!("too few transitions: {transitions:?}"));
    }
    if dropped != Some(0) {
        return fail(format!("messages were dropped: {dropped:?}"));
    }
    for m in DEMO_MACHINES {
        if !summary.lines().any(|l| l.starts_with(m)) {
            return fail(format!("machine `{m}` missing"));
        }
    }
    eprintln!("itest dbg: {first}");
    Ok(())
}
