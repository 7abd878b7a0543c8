//! Project automation, run as `cargo xtask <command>` (see `.cargo/config.toml`).
//!
//! Depends on `xshell` and `am-grafana-gen` (generation only, no network crates), so
//! `cargo xtask ci` builds and starts in seconds on a fresh machine and installs what the
//! tests need (`deps`) before anything else.

mod backends;
mod bench;
mod captures;
mod ci;
mod dashboard;
mod deps;
mod fuzz;
mod itest;
mod readme;
mod service_e2e;
mod soak;
mod tidy;
mod tui_e2e;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use xshell::Shell;

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

const HELP: &str = "\
cargo xtask <COMMAND> [OPTIONS]

Commands:
  ci      Install what is missing, then run every check CI runs: fmt, tidy, clippy, tests,
          fuzzing, doctests, docs, cargo-deny, dashboards, features, packaging, end-to-end,
          the README example, the soak
  deps    Install the non-crate tools the tests need (Prometheus, cargo-deny, ...)
  bench   Run the workspace's benchmarks
  captures
          Regenerate (or --check) the README's captures: TUI, span tree, /metrics, report
  fuzz    Run every stable fuzz target for a time budget each
  gen-dashboard
          Generate (or --check) Grafana dashboards and alert rules for machine IDs
  itest   Run the demo against local backends and check every exporter's output
  readme  Run the README's binding example verbatim in a fresh crate against local backends
  tidy    Check without building: env.md against the code, exporters apart, module docs,
          file sizes
  soak    Run the demo at scale while each backend is killed and restarted; check that no
          outage stalls the machines, memory, and that every exporter accounts for what it
          produced

Run `cargo xtask <COMMAND> --help` for the options of one command.
";

fn main() -> ExitCode {
    let mut args = Args::from_env();
    match run(&mut args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &mut Args) -> Result<()> {
    let Some(command) = args.subcommand() else {
        print!("{HELP}");
        return if args.help() { Ok(()) } else { Err("no command given".into()) };
    };
    let sh = Shell::new()?;
    sh.change_dir(workspace_root());
    match command.as_str() {
        "ci" => ci::run(&sh, args),
        "deps" => deps::run(&sh, args),
        "bench" => bench::run(&sh, args),
        "captures" => captures::run(&sh, args),
        "fuzz" => fuzz::run(&sh, args),
        "gen-dashboard" => dashboard::run(&sh, args),
        "itest" => itest::run(&sh, args),
        "soak" => soak::run(&sh, args),
        "readme" => readme::run(&sh, args),
        "tidy" => tidy::run(args),
        "help" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`; see `cargo xtask --help`").into()),
    }
}

fn workspace_root() -> PathBuf {
    // xtask/ sits directly under the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask has a parent directory").to_path_buf()
}

/// Is `name` an executable file on `PATH`?
fn on_path(name: &str) -> bool {
    let Some(paths) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&paths).any(|dir| dir.join(name).is_file())
}

/// A tiny hand-written argument parser: commands take a few flags each, so this
/// is all the parsing xtask needs. Everything after `--` is passed through.
#[derive(Debug)]
struct Args {
    args: Vec<String>,
    passthrough: Vec<String>,
}

impl Args {
    fn from_env() -> Self {
        let mut args: Vec<String> = std::env::args().skip(1).collect();
        let passthrough = match args.iter().position(|a| a == "--") {
            Some(i) => {
                let rest = args.split_off(i);
                rest[1..].to_vec()
            }
            None => Vec::new(),
        };
        Self { args, passthrough }
    }

    /// Takes the first argument if it is not a flag.
    fn subcommand(&mut self) -> Option<String> {
        if self.args.first().is_some_and(|a| !a.starts_with('-')) { Some(self.args.remove(0)) } else { None }
    }

    /// Takes `-h` / `--help`.
    fn help(&mut self) -> bool {
        self.flag(&["-h", "--help"])
    }

    /// Takes a boolean flag spelled any of `names`.
    fn flag(&mut self, names: &[&str]) -> bool {
        let before = self.args.len();
        self.args.retain(|a| !names.contains(&a.as_str()));
        self.args.len() != before
    }

    /// Takes `NAME VALUE` or `NAME=VALUE` for any of `names`.
    fn value(&mut self, names: &[&str]) -> Result<Option<String>> {
        for i in 0..self.args.len() {
            let arg = &self.args[i];
            if names.contains(&arg.as_str()) {
                if i + 1 >= self.args.len() {
                    return Err(format!("`{arg}` needs a value").into());
                }
                let value = self.args.remove(i + 1);
                self.args.remove(i);
                return Ok(Some(value));
            }
            if let Some((name, value)) = arg.split_once('=')
                && names.contains(&name)
            {
                let value = value.to_string();
                self.args.remove(i);
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    /// Fails on anything not taken; returns what followed `--`.
    fn finish(&mut self) -> Result<Vec<String>> {
        if let Some(extra) = self.args.first() {
            return Err(format!("unexpected argument `{extra}`; see `--help`").into());
        }
        Ok(std::mem::take(&mut self.passthrough))
    }
}
