//! `cargo xtask readme`: the README's binding example, verbatim, as a newcomer runs it: a
//! fresh crate depending on `am-telemetry` (features `prom-push`, `otel`, `dbg`), run
//! against a real Pushgateway, an OTLP receiver and the `am-dbg` recorder on loopback, with
//! no `AM_SERVICE`. Checks the report, and that the span, the pushed metric and the
//! debugger stream arrived.

use std::path::{Path, PathBuf};

use xshell::{Shell, cmd};

use crate::backends::{self, Proc, Ready};
use crate::{Args, Result};

const HELP: &str = "\
cargo xtask readme [--keep]

Extracts the first ```rust block under `## Binding exporters` in README.md into a fresh crate
(target/readme-check, its own workspace, depending on crates/am-telemetry with features
prom-push, otel and dbg), builds it, and runs it with AM_OTEL_TRACE, AM_PROM_ADDR,
AM_PROM_PUSH_URL and AM_DBG_ADDR pointing at a Pushgateway, `am-receiver otlp` and
`am-dbg record` on loopback, and no AM_SERVICE. Fails unless the printed report shows
dbg, prom and otel bound under the executable's name, the receiver got spans, the
Pushgateway holds the machine's series, and the recording holds its transitions.
";

pub(crate) fn run(sh: &Shell, args: &mut Args) -> Result<()> {
    if args.help() {
        print!("{HELP}");
        return Ok(());
    }
    let keep = args.flag(&["--keep"]);
    args.finish()?;
    crate::deps::apt_tools(sh)?;
    let root = sh.current_dir();
    let readme = std::fs::read_to_string(root.join("README.md"))?;
    let example = extract(&readme).ok_or("README.md: no ```rust block under `## Binding exporters`")?;
    let krate = root.join("target/readme-check");
    write_crate(&root, &krate, &example)?;
    cmd!(sh, "cargo build --quiet -p am-dbg -p am-testkit --bins").run()?;
    {
        let _target = sh.push_env("CARGO_TARGET_DIR", root.join("target"));
        let manifest = krate.join("Cargo.toml");
        cmd!(sh, "cargo build --quiet --manifest-path {manifest}").run()?;
    }
    let dir = std::env::temp_dir().join(format!("am-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = check(&root.join("target/debug"), &dir);
    if keep || result.is_err() {
        eprintln!("readme outputs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// The first ```rust block after the `## Binding exporters` heading.
fn extract(readme: &str) -> Option<String> {
    let section = &readme[readme.find("## Binding exporters")?..];
    let start = section.find("```rust\n")? + "```rust\n".len();
    let len = section[start..].find("```")?;
    Some(section[start..start + len].to_string())
}

fn write_crate(workspace: &Path, krate: &Path, example: &str) -> Result<()> {
    std::fs::create_dir_all(krate.join("src"))?;
    let telemetry = workspace.join("crates/am-telemetry");
    let manifest = format!(
        "[package]\nname = \"readme-check\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nam-telemetry = {{ path = {:?}, features = [\"prom-push\", \"otel\", \"dbg\"] }}\n\n\
         # a workspace of its own: this crate stands for a user's project\n[workspace]\n",
        telemetry.display().to_string()
    );
    std::fs::write(krate.join("Cargo.toml"), manifest)?;
    // the workspace's lock file keeps the versions CI tested
    std::fs::copy(workspace.join("Cargo.lock"), krate.join("Cargo.lock"))?;
    let indented: String = example.lines().map(|l| format!("    {l}\n")).collect();
    let main = format!(
        "//! The README's example, verbatim (written by `cargo xtask readme`).\n\n\
         fn main() -> Result<(), Box<dyn std::error::Error>> {{\n{indented}    Ok(())\n}}\n"
    );
    std::fs::write(krate.join("src/main.rs"), main)?;
    Ok(())
}

fn check(bins: &Path, dir: &Path) -> Result<()> {
    let bin = |name: &str| -> String { bins.join(name).to_string_lossy().into_owned() };
    let pushgateway = backends::pushgateway(dir)?;
    let (otlp_port, dbg_port, prom_port) = (backends::free_port()?, backends::free_port()?, backends::free_port()?);
    let listen = |port: u16| vec!["--listen".to_string(), format!("127.0.0.1:{port}")];
    let mut otlp = Proc::start(
        "otlp",
        &bin("am-receiver"),
        &[vec!["otlp".to_string()], listen(otlp_port)].concat(),
        otlp_port,
        dir,
        Ready::Listening,
    )?;
    let recording: PathBuf = dir.join("dbg.jsonl");
    let record = [
        vec!["record".to_string(), "--quiet".into(), "--out".into(), recording.to_string_lossy().into_owned()],
        listen(dbg_port),
    ]
    .concat();
    let mut recorder = Proc::start("am-dbg", &bin("am-dbg"), &record, dbg_port, dir, Ready::Listening)?;

    let mut example = std::process::Command::new(bin("readme-check"));
    for v in ["AM_SERVICE", "OTEL_SERVICE_NAME", "AM_TEST_RUNNER", "AM_LOKI_ADDR", "AM_GRAFANA_URL", "AM_LOG"] {
        example.env_remove(v);
    }
    let out = example
        .env("AM_OTEL_TRACE", "1")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{otlp_port}"))
        .env("AM_PROM_ADDR", format!("127.0.0.1:{prom_port}"))
        .env("AM_PROM_PUSH_URL", format!("http://127.0.0.1:{}", pushgateway.port))
        .env("AM_DBG_ADDR", format!("127.0.0.1:{dbg_port}"))
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(format!("the README example failed: {}", out.status).into());
    }
    let mut failures = Vec::new();
    for want in [
        "machine `worker`, service readme-check (the executable's name",
        "bound:   dbg, prom, otel",
        &format!("    prom → 127.0.0.1:{prom_port} (/metrics /healthz /readyz)"),
        // every exporter delivered everything, and says so
        "am-telemetry: delivered\n",
        "  dbg:     ",
        "  otel:    ",
        "  prom:    ",
    ] {
        if !stdout.contains(want) {
            failures.push(format!("the report lacks {want:?}"));
        }
    }
    otlp.stop(true)?;
    recorder.stop(true)?;
    let spans = std::fs::read_to_string(otlp.log())?
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["spans"].as_u64())
        .max()
        .unwrap_or(0);
    if spans == 0 {
        failures.push("the OTLP receiver got no span".into());
    }
    let (_, pushed) = backends::http_get(pushgateway.port, "/metrics")?;
    let series = pushed
        .lines()
        .filter(|l| l.starts_with("am_transitions_total{") && l.contains(r#"mach_id="worker""#))
        .filter(|l| l.contains(r#"job="readme_check""#))
        .count();
    if series == 0 {
        failures.push("the Pushgateway has no am_transitions_total series of `worker` under job readme_check".into());
    }
    let txs = std::fs::read_to_string(&recording)?
        .lines()
        .filter(|l| l.starts_with(r#"{"Tx""#) && l.contains(r#""worker""#))
        .count();
    if txs == 0 {
        failures.push("the am-dbg recording has no transition of `worker`".into());
    }
    println!(
        "readme: report ok; {spans} spans at the OTLP receiver, {series} pushed series, {txs} recorded transitions"
    );
    if failures.is_empty() { Ok(()) } else { Err(format!("readme check failed:\n  {}", failures.join("\n  ")).into()) }
}
