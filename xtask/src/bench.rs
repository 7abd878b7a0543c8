//! `cargo xtask bench`: runs the criterion benches; each bench prints its own table.

use xshell::{Shell, cmd};

use crate::{Args, Result};

const HELP: &str = "\
cargo xtask bench [-p CRATE] [-- BENCH_ARGS...]

Runs the `[[bench]]` targets (`cargo bench --bench '*'`) of the whole
workspace, or of one crate with `-p CRATE`, with the exporter features of
am-telemetry on (its bench binds every exporter at once). Arguments after `--`
go to the bench binaries (a criterion filter, `--quick`, ...). Output is
forwarded unchanged.
";

/// am-telemetry's `all_exporters` bench needs these (its `required-features`).
const FEATURES: &str = "am-telemetry/dbg,am-telemetry/loki,am-telemetry/prom,am-telemetry/otel";

pub(crate) fn run(sh: &Shell, args: &mut Args) -> Result<()> {
    if args.help() {
        print!("{HELP}");
        return Ok(());
    }
    let package = args.value(&["-p", "--package"])?;
    let bench_args = args.finish()?;

    let mut scope = match &package {
        Some(name) => vec!["--package".to_string(), name.clone()],
        None => vec!["--workspace".to_string()],
    };
    if package.as_deref().is_none_or(|p| p == "am-telemetry") {
        scope.extend(["--features".to_string(), FEATURES.to_string()]);
    }
    cmd!(sh, "cargo bench {scope...} --bench * -- {bench_args...}").run()?;
    Ok(())
}
