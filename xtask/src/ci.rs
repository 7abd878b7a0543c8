//! `cargo xtask ci`: every check CI runs, in order, stopping at the first failure.

use std::time::{Duration, Instant};

use xshell::{Shell, cmd};

use crate::{Args, Result};

const HELP: &str = "\
cargo xtask ci

Runs, in order, stopping at the first failure:
  deps      install what the tests need and is missing (as `cargo xtask deps`: Debian
            packages with apt-get as root, cargo-deny and cargo-hack with cargo install)
  fmt       cargo fmt --all --check
  clippy    cargo clippy --workspace --all-targets --all-features -- -D warnings
  test      cargo nextest run --workspace --all-features (cargo test without nextest)
  fuzz      every stable fuzz target (`fuzz_*` tests) for 6 s each, 54 s in all
  doctest   cargo test --workspace --all-features --doc
  doc       cargo doc --no-deps --workspace --all-features, warnings (broken links) are errors
  deny      cargo deny check bans licenses sources (skipped only when AM_SKIP_CARGO_DENY
            is set outside CI)
  dashboards  cargo xtask gen-dashboard --check (committed dashboards are up to date)
  features  cargo hack check -p am-telemetry: every combination of the five exporters, and
            each feature alone
  itest     cargo xtask itest: the demo against local backends, checked end to end
  readme    cargo xtask readme: the README example, verbatim, in a fresh crate
  soak      cargo xtask soak --secs 60: 1,000 machines, every backend killed and restarted
then prints how long each step took.

On a machine with only the Rust toolchain this is the one command to run: the `deps`
step installs the rest (apt-get needs root; without it the step names the command to run).
";

/// One CI check.
struct Step {
    name: &'static str,
    run: fn(&Shell) -> Result<Outcome>,
}

enum Outcome {
    Passed,
    Skipped(&'static str),
}

/// Every CI step, in the order it runs. New checks (`gen-dashboard --check`,
/// `itest`, ...) are appended here and run after the ones above them.
const STEPS: &[Step] = &[
    Step { name: "deps", run: deps },
    Step { name: "fmt", run: fmt },
    Step { name: "tidy", run: tidy },
    Step { name: "clippy", run: clippy },
    Step { name: "test", run: test },
    Step { name: "fuzz", run: fuzz },
    Step { name: "doctest", run: doctest },
    Step { name: "doc", run: doc },
    Step { name: "deny", run: deny },
    Step { name: "dashboards", run: dashboards },
    Step { name: "features", run: features },
    Step { name: "itest", run: itest },
    Step { name: "readme", run: readme },
    Step { name: "soak", run: soak },
];

pub(crate) fn run(sh: &Shell, args: &mut Args) -> Result<()> {
    if args.help() {
        print!("{HELP}");
        return Ok(());
    }
    args.finish()?;

    let mut report: Vec<(&str, Duration, String)> = Vec::new();
    let mut failure = None;
    for step in STEPS {
        eprintln!("\n==> ci step `{}`", step.name);
        let start = Instant::now();
        let status = match (step.run)(sh) {
            Ok(Outcome::Passed) => "ok".to_string(),
            Ok(Outcome::Skipped(why)) => {
                eprintln!("ci step `{}` skipped: {why}", step.name);
                format!("skipped ({why})")
            }
            Err(err) => {
                failure = Some(format!("ci step `{}` failed: {err}", step.name));
                "FAILED".to_string()
            }
        };
        report.push((step.name, start.elapsed(), status));
        if failure.is_some() {
            break;
        }
    }

    eprintln!("\nci summary:");
    for step in STEPS {
        match report.iter().find(|(name, ..)| *name == step.name) {
            Some((name, took, status)) => {
                eprintln!("  {name:<10} {:>8.1}s  {status}", took.as_secs_f64());
            }
            None => eprintln!("  {:<10} {:>9}  not run", step.name, "-"),
        }
    }
    let total: Duration = report.iter().map(|(_, took, _)| *took).sum();
    eprintln!("  {:<10} {:>8.1}s", "total", total.as_secs_f64());

    match failure {
        Some(msg) => Err(msg.into()),
        None => Ok(()),
    }
}

fn deps(sh: &Shell) -> Result<Outcome> {
    crate::deps::install_missing(sh)?;
    Ok(Outcome::Passed)
}

fn fmt(sh: &Shell) -> Result<Outcome> {
    cmd!(sh, "cargo fmt --all --check").run()?;
    Ok(Outcome::Passed)
}

fn tidy(_: &Shell) -> Result<Outcome> {
    let problems = crate::tidy::check(&crate::workspace_root())?;
    problems.iter().for_each(|p| eprintln!("tidy: {p}"));
    if problems.is_empty() {
        Ok(Outcome::Passed)
    } else {
        Err(format!("{} problem(s); run `cargo xtask tidy`", problems.len()).into())
    }
}

fn clippy(sh: &Shell) -> Result<Outcome> {
    cmd!(sh, "cargo clippy --workspace --all-targets --all-features -- -D warnings").run()?;
    Ok(Outcome::Passed)
}

fn test(sh: &Shell) -> Result<Outcome> {
    if cargo_has(sh, "nextest") {
        cmd!(sh, "cargo nextest run --workspace --all-features").run()?;
    } else {
        eprintln!("cargo-nextest not installed; using cargo test");
        cmd!(sh, "cargo test --workspace --all-features").run()?;
    }
    Ok(Outcome::Passed)
}

fn features(sh: &Shell) -> Result<Outcome> {
    if !cargo_has(sh, "hack") {
        return Err("cargo-hack is not installed; `cargo xtask deps` installs it".into());
    }
    // every combination of the five exporters, and each feature (transports, log) alone
    let exporters = "dbg,loki,grafana,prom,otel";
    cmd!(sh, "cargo hack check --feature-powerset --include-features {exporters} --no-dev-deps -p am-telemetry")
        .run()?;
    cmd!(sh, "cargo hack check --each-feature --no-dev-deps -p am-telemetry").run()?;
    Ok(Outcome::Passed)
}

fn itest(sh: &Shell) -> Result<Outcome> {
    cmd!(sh, "cargo xtask itest").run()?;
    Ok(Outcome::Passed)
}

fn fuzz(sh: &Shell) -> Result<Outcome> {
    cmd!(sh, "cargo xtask fuzz --ms 6000").run()?;
    Ok(Outcome::Passed)
}

fn readme(sh: &Shell) -> Result<Outcome> {
    cmd!(sh, "cargo xtask readme").run()?;
    Ok(Outcome::Passed)
}

fn soak(sh: &Shell) -> Result<Outcome> {
    cmd!(sh, "cargo xtask soak --secs 60").run()?;
    Ok(Outcome::Passed)
}

fn doctest(sh: &Shell) -> Result<Outcome> {
    cmd!(sh, "cargo test --workspace --all-features --doc").run()?;
    Ok(Outcome::Passed)
}

fn doc(sh: &Shell) -> Result<Outcome> {
    let _flags = sh.push_env("RUSTDOCFLAGS", "-D warnings");
    cmd!(sh, "cargo doc --no-deps --workspace --all-features").run()?;
    Ok(Outcome::Passed)
}

fn deny(sh: &Shell) -> Result<Outcome> {
    if !cargo_has(sh, "deny") {
        // `deps` installs it unless AM_SKIP_CARGO_DENY is set, which CI does not honour
        if std::env::var_os("CI").is_some() {
            return Err("cargo-deny is not installed (CI ignores AM_SKIP_CARGO_DENY)".into());
        }
        return Ok(Outcome::Skipped("cargo-deny not installed (AM_SKIP_CARGO_DENY is set)"));
    }
    cmd!(sh, "cargo deny check bans licenses sources").run()?;
    Ok(Outcome::Passed)
}

fn dashboards(sh: &Shell) -> Result<Outcome> {
    crate::dashboard::check_committed(sh)?;
    Ok(Outcome::Passed)
}

/// Is the cargo subcommand `cargo <sub>` installed?
pub(crate) fn cargo_has(sh: &Shell, sub: &str) -> bool {
    cmd!(sh, "cargo {sub} --version").quiet().ignore_stdout().ignore_stderr().run().is_ok()
}
