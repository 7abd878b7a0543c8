//! `cargo xtask fuzz`: every stable fuzz target (`fuzz_*` tests, built on `am_testkit::fuzz`)
//! for a time budget each, one after the other, with their execution counts.

use xshell::{Shell, cmd};

use crate::{Args, Result};

const HELP: &str = "\
cargo xtask fuzz [--ms N]

Runs every test named fuzz_* in the workspace (the stable-toolchain fuzz targets: dbg frames
and recordings, env values and addresses, Pushgateway URLs, Loki addresses, trace parents,
state filters, dashboard IDs) for N milliseconds each (default 6000), one at a time, and
prints how many inputs each tried. A failure prints the arbtest seed to reproduce it
(ARBTEST_SEED=0x… cargo test NAME).
";

pub(crate) fn run(sh: &Shell, args: &mut Args) -> Result<()> {
    if args.help() {
        print!("{HELP}");
        return Ok(());
    }
    let ms = args.value(&["--ms"])?.unwrap_or_else(|| "6000".into());
    ms.parse::<u64>().map_err(|_| format!("bad --ms `{ms}`"))?;
    args.finish()?;
    let _budget = sh.push_env("AM_FUZZ_MS", &ms);
    // a failing target's output (its seed) must be printed, so the status is checked below
    let out = cmd!(sh, "cargo nextest run --workspace --all-features --no-capture -E test(/fuzz_/)")
        .ignore_status()
        .output()?;
    let text = [out.stdout, out.stderr].concat();
    let text = String::from_utf8_lossy(&text);
    let mut total = 0u64;
    for line in text.lines().filter(|l| l.starts_with("fuzz ")) {
        println!("{line}");
        total +=
            line.split(": ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    }
    if !out.status.success() {
        eprintln!("{text}");
        return Err("a fuzz target failed (its seed is above)".into());
    }
    println!("fuzz: {total} inputs in all");
    Ok(())
}
