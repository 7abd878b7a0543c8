//! `cargo xtask ci`: every check CI runs, in order, stopping at the first failure.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use xshell::{Shell, cmd};

use crate::{Args, Result};

/// What `cargo xtask ci --help` says around the step table.
const HELP_HEAD: &str = "cargo xtask ci\n\nRuns, in order, stopping at the first failure:\n";
const HELP_TAIL: &str = "\
then prints how long each step took.

On a machine with only the Rust toolchain this is the one command to run: the `deps`
step installs the rest (apt-get needs root; without it the step names the command to run).
";

/// One CI check.
struct Step {
    name: &'static str,
    /// What it runs, for `--help`; lines after the first are indented under it.
    what: &'static str,
    run: fn(&Shell) -> Result<Outcome>,
}

enum Outcome {
    Passed,
    Skipped(&'static str),
}

/// Every CI step, in the order it runs; `--help` is generated from this table.
const STEPS: &[Step] = &[
    Step {
        name: "deps",
        what: "install what the tests need and is missing (as `cargo xtask deps`: Debian\n\
               packages with apt-get as root, cargo-deny and cargo-hack with cargo install)",
        run: deps,
    },
    Step { name: "fmt", what: "cargo fmt --all --check", run: fmt },
    Step {
        name: "tidy",
        what: "cargo xtask tidy: the env table against the code, exporters apart, module docs,\n\
               file sizes, includes inside published crates",
        run: tidy,
    },
    Step { name: "clippy", what: "cargo clippy --workspace --all-targets --all-features -- -D warnings", run: clippy },
    Step { name: "test", what: "cargo nextest run --workspace --all-features (cargo test without nextest)", run: test },
    Step { name: "fuzz", what: "every stable fuzz target (`fuzz_*` tests) for 6 s each, 54 s in all", run: fuzz },
    Step { name: "doctest", what: "cargo test --workspace --all-features --doc", run: doctest },
    Step {
        name: "doc",
        what: "cargo doc --no-deps --workspace --all-features, warnings (broken links) are errors",
        run: doc,
    },
    Step {
        name: "deny",
        what: "cargo deny check bans licenses sources (skipped only when AM_SKIP_CARGO_DENY\n\
               is set outside CI)",
        run: deny,
    },
    Step {
        name: "dashboards",
        what: "cargo xtask gen-dashboard --check (committed dashboards are up to date)",
        run: dashboards,
    },
    Step {
        name: "captures",
        what: "cargo xtask captures --check (the README's TUI, span tree, /metrics and report\n\
               are what the programs print now)",
        run: captures,
    },
    Step {
        name: "features",
        what: "cargo hack check: am-telemetry's every combination of the five exporters and\n\
               each feature alone; each feature alone of every exporter crate and am-core",
        run: features,
    },
    Step {
        name: "package",
        what: "cargo package of every crate the manifests let be published, each built from\n\
               its .crate file (what crates.io would get)",
        run: package,
    },
    Step { name: "itest", what: "cargo xtask itest: the demo against local backends, checked end to end", run: itest },
    Step { name: "readme", what: "cargo xtask readme: the README example, verbatim, in a fresh crate", run: readme },
    Step {
        name: "soak",
        what: "cargo xtask soak --secs 60: 1,000 machines, every backend killed and restarted",
        run: soak,
    },
];

/// Column where a step's description starts in `--help`.
const WHAT_COLUMN: usize = 12;

/// `--help`: the step table, one entry per step.
fn help() -> String {
    let mut out = String::from(HELP_HEAD);
    for step in STEPS {
        let mut lines = step.what.lines();
        let first = lines.next().unwrap_or("");
        // a name too long for its column gets a line of its own
        if step.name.len() + 3 > WHAT_COLUMN {
            out += &format!("  {}\n{:WHAT_COLUMN$}{first}\n", step.name, "");
        } else {
            out += &format!("  {:<w$}{first}\n", step.name, w = WHAT_COLUMN - 2);
        }
        for line in lines {
            out += &format!("{:WHAT_COLUMN$}{}\n", "", line.trim_start());
        }
    }
    out + HELP_TAIL
}

pub(crate) fn run(sh: &Shell, args: &mut Args) -> Result<()> {
    if args.help() {
        print!("{}", help());
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
    // a feature (a transport, `tls`) that builds only beside another one fails the users who
    // pick an exporter crate directly
    let crates = ["am-core"].iter().chain(crate::tidy::EXPORTERS).flat_map(|c| ["-p", c]);
    cmd!(sh, "cargo hack check --each-feature --no-dev-deps {crates...}").run()?;
    Ok(Outcome::Passed)
}

fn package(sh: &Shell) -> Result<Outcome> {
    let metadata = cmd!(sh, "cargo metadata --no-deps --format-version 1").quiet().read()?;
    let crates = publishable(&serde_json::from_str(&metadata)?);
    if crates.is_empty() {
        return Err("cargo metadata lists no crate to publish".into());
    }
    forget_earlier_packages(&crates)?;
    let crates = crates.iter().flat_map(|(name, _)| ["-p", name.as_str()]);
    // the working tree as it is, as every other step checks it; dependencies between the
    // crates resolve to the ones packaged alongside
    cmd!(sh, "cargo package --allow-dirty --target-dir {PACKAGE_TARGET} {crates...}").run()?;
    Ok(Outcome::Passed)
}

/// Where `package` builds what it packaged: apart from `target/debug`, so that forgetting our
/// crates' builds there ([`forget_earlier_packages`]) costs the other steps nothing.
const PACKAGE_TARGET: &str = "target/package-check";

/// Cargo takes a registry crate of a given version to be immutable, but the crates packaged
/// alongside come from a temporary registry that gets new contents under the same version
/// each run. It extracts each once (`$CARGO_HOME/registry/src/-<hash>/<name>-<version>`: a
/// `file://` registry has no host) and keeps what it built from it, so a run after a change
/// verified against the first run's am-core. Both go first; third-party builds stay.
fn forget_earlier_packages(crates: &[(String, String)]) -> Result<()> {
    let home = match std::env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home),
        None => PathBuf::from(std::env::var_os("HOME").ok_or("neither CARGO_HOME nor HOME is set")?).join(".cargo"),
    };
    let registries = std::fs::read_dir(home.join("registry/src")).into_iter().flatten().flatten();
    for registry in registries.filter(|r| r.file_name().to_string_lossy().starts_with('-')) {
        for (name, version) in crates {
            remove_dir_if_there(&registry.path().join(format!("{name}-{version}")))?;
        }
    }
    let fingerprints = crate::workspace_root().join(PACKAGE_TARGET).join("debug/.fingerprint");
    for unit in std::fs::read_dir(fingerprints).into_iter().flatten().flatten() {
        let unit_name = unit.file_name().to_string_lossy().into_owned();
        let krate = unit_name.rsplit_once('-').map_or("", |(krate, _hash)| krate);
        if crates.iter().any(|(name, _)| name == krate) {
            remove_dir_if_there(&unit.path())?;
        }
    }
    Ok(())
}

fn remove_dir_if_there(dir: &std::path::Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("{}: {e}", dir.display()).into()),
        _ => Ok(()),
    }
}

/// `(name, version)` of the workspace members (in `cargo metadata` output) that may go to
/// crates.io: `publish` unset, or naming `crates-io`.
fn publishable(metadata: &Value) -> Vec<(String, String)> {
    let packages = metadata["packages"].as_array().map_or(&[][..], Vec::as_slice);
    packages
        .iter()
        .filter(|p| match &p["publish"] {
            Value::Null => true,
            Value::Array(registries) => registries.iter().any(|r| r == "crates-io"),
            _ => false,
        })
        .filter_map(|p| Some((p["name"].as_str()?.to_string(), p["version"].as_str()?.to_string())))
        .collect()
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

fn captures(sh: &Shell) -> Result<Outcome> {
    crate::captures::update(sh, true)?;
    Ok(Outcome::Passed)
}

/// Is the cargo subcommand `cargo <sub>` installed?
pub(crate) fn cargo_has(sh: &Shell, sub: &str) -> bool {
    cmd!(sh, "cargo {sub} --version").quiet().ignore_stdout().ignore_stderr().run().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_step_in_order() {
        let help = help();
        // table entries start in column 2; their continuation lines further right
        let listed: Vec<&str> = help
            .lines()
            .filter_map(|l| l.strip_prefix("  "))
            .filter(|l| !l.starts_with(' '))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let names: Vec<&str> = STEPS.iter().map(|s| s.name).collect();
        assert_eq!(listed, names, "{help}");
        for step in STEPS {
            assert!(help.contains(step.what.lines().next().unwrap_or("")), "{}: no description\n{help}", step.name);
        }
    }

    #[test]
    fn publishable_crates_leave_out_publish_false() {
        let metadata = serde_json::json!({"packages": [
            {"name": "am-core", "version": "0.1.0", "publish": null},
            {"name": "am-demo", "version": "0.1.0", "publish": []},
            {"name": "internal", "version": "0.1.0", "publish": ["my-registry"]},
            {"name": "am-prom", "version": "0.2.0", "publish": ["crates-io"]},
        ]});
        let expected = [("am-core", "0.1.0"), ("am-prom", "0.2.0")].map(|(n, v)| (n.to_string(), v.to_string()));
        assert_eq!(publishable(&metadata), expected);
    }
}
