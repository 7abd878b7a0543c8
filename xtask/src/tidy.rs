//! `cargo xtask tidy`: the checks that keep the workspace's shape from drifting, in the
//! spirit of rust-analyzer's `tidy` tests. Each check reads files only (no build):
//!
//! - **env table**: every `AM_*` / `OTEL_*` name the code reads (a string literal outside
//!   doc comments and `#[cfg(test)]` modules, in a crate's `src/` or `xtask/src/`, or one an
//!   integration test reads with `env::var`) has a row in the env table ([`ENV_TABLE`],
//!   which am-telemetry ships as its `env` page; `docs/env.md` links to it), and every row
//!   names a variable the code reads.
//! - **Go variables**: the env table's "Go variables" section lists exactly the variables
//!   asyncmachine-go reads or documents ([`GO_VARIABLES`]), each `implemented` (then a row
//!   of the table above names it) or `not implemented` with a reason (and no row).
//! - **exporters stay apart**: no exporter crate depends on another (any dependency section).
//! - **module docs**: every Rust source file under `crates/*/src` and `xtask/src` opens with
//!   a `//!` line.
//! - **file size**: no source file is over [`MAX_LINES`] lines unless its `//!` says why, in a
//!   line starting `//! Long file:`.
//! - **packagable**: an `include_str!`/`include_bytes!` in a published crate's `src/` names a
//!   file inside that crate (`cargo package` copies the crate's directory only).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::{Args, Result};

const HELP: &str = "\
cargo xtask tidy

Checks without building: the env table (crates/am-telemetry/docs/env.md; docs/env.md links
to it) lists exactly the AM_*/OTEL_* variables the code reads, and its Go variables section
every variable of asyncmachine-go, implemented or not and why; exporter crates do not
depend on each other; every source file opens with a //! line; no source file is over 600
lines unless its //! has a `Long file:` line saying why; files that published crates
include (include_str!/include_bytes!) are inside the crate.
";

/// Lines a source file may have without saying why it is longer.
pub(crate) const MAX_LINES: usize = 600;

/// The table of every environment variable, inside the crate whose docs show it.
const ENV_TABLE: &str = "crates/am-telemetry/docs/env.md";

/// Every `AM_*` variable asyncmachine-go reads or documents (at `7acc40f`: its code and
/// `docs/env-configs.md`), in one literal so that the env check does not take them for
/// variables this workspace reads.
pub(crate) const GO_VARIABLES: &str = "\
    AM_DBG_ADDR AM_DBG_NO_TRACE AM_DBG_WORKER_RPC_ADDR AM_DBG_WORKER_TELEMETRY_ADDR AM_DEBUG \
    AM_DEPLOY_API_URL AM_DEPLOY_ASSETS_URL AM_DETECT_EVAL AM_GRAFANA_TOKEN AM_GRAFANA_URL \
    AM_HEALTHCHECK AM_HOSTNAME AM_LOG AM_LOG_ARGS AM_LOG_CHECKS AM_LOG_FILE AM_LOG_FULL \
    AM_LOG_GRAPH AM_LOG_PRINT AM_LOG_QUEUED AM_LOG_STATE_CTX AM_LOG_STEPS AM_LOG_WHEN AM_LOKI_ADDR \
    AM_NODE_LOG_CLIENT AM_NODE_LOG_SUPERVISOR AM_NODE_LOG_WORKER AM_OTEL_SPAN_ID AM_OTEL_TRACE \
    AM_OTEL_TRACE_ALLOW_STATES AM_OTEL_TRACE_ALLOW_STATES_RE AM_OTEL_TRACE_ARGS AM_OTEL_TRACE_ID \
    AM_OTEL_TRACE_NOAUTO AM_OTEL_TRACE_SKIP_STATES AM_OTEL_TRACE_SKIP_STATES_RE AM_OTEL_TRACE_TXS \
    AM_PROM_PUSH_URL AM_PUBSUB_DBG AM_PUBSUB_LOG AM_RELAY_DBG AM_REPL_ADDR AM_REPL_DIR AM_RPC_DBG \
    AM_RPC_LOG_CLIENT AM_RPC_LOG_CLIENT_VERBOSE AM_RPC_LOG_MUX AM_RPC_LOG_SERVER AM_SERVICE \
    AM_TEST_DBG_ADDR AM_TEST_DEBUG AM_TEST_RUNNER AM_TRACE_FILTER";

/// The heading of the env table's Go section.
const GO_SECTION: &str = "## Go variables";

/// The exporter crates, which depend on `am-core` only.
pub(crate) const EXPORTERS: &[&str] = &["am-otel", "am-prom", "am-loki", "am-dbg-proto", "am-grafana-gen"];

pub(crate) fn run(args: &mut Args) -> Result<()> {
    if args.help() {
        print!("{HELP}");
        return Ok(());
    }
    args.finish()?;
    let root = crate::workspace_root();
    let problems = check(&root)?;
    if problems.is_empty() {
        eprintln!("tidy: ok");
        return Ok(());
    }
    for p in &problems {
        eprintln!("tidy: {p}");
    }
    Err(format!("tidy: {} problem(s)", problems.len()).into())
}

/// Every problem found under the workspace `root`, as readable lines.
pub(crate) fn check(root: &Path) -> Result<Vec<String>> {
    let mut sources = Vec::new();
    for dir in crate_dirs(root)?.iter().map(|c| c.join("src")).chain([root.join("xtask/src")]) {
        rust_files(&dir, &mut sources)?;
    }
    let mut problems = Vec::new();
    let mut read = BTreeSet::new();
    for path in &sources {
        let text = fs::read_to_string(path)?;
        let shown = path.strip_prefix(root).unwrap_or(path).display().to_string();
        problems.extend(module_doc(&shown, &text));
        read.extend(env_names(&text));
    }
    for dir in crate_dirs(root)? {
        if fs::read_to_string(dir.join("Cargo.toml"))?.lines().any(|l| l.replace(' ', "") == "publish=false") {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files)?;
        for path in files {
            let rel = path.strip_prefix(&dir).unwrap_or(&path);
            let shown = path.strip_prefix(root).unwrap_or(&path).display().to_string();
            problems.extend(outside_includes(&shown, rel, &fs::read_to_string(&path)?));
        }
    }
    for dir in crate_dirs(root)?.iter().map(|c| c.join("tests")) {
        let mut tests = Vec::new();
        rust_files(&dir, &mut tests)?;
        for path in tests {
            read.extend(test_env_reads(&fs::read_to_string(path)?));
        }
    }
    let md = fs::read_to_string(root.join(ENV_TABLE))?;
    let table = env_table(&md);
    problems.extend(env_drift(&read, &table));
    problems.extend(go_drift(&go_table(&md), &table));
    for dir in crate_dirs(root)? {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if EXPORTERS.contains(&name.as_str()) {
            problems.extend(exporter_deps(&name, &fs::read_to_string(dir.join("Cargo.toml"))?));
        }
    }
    Ok(problems)
}

fn crate_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root.join("crates"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    Ok(())
}

/// The `//!` opening and the size rule for one file.
fn module_doc(path: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if !first.starts_with("//!") {
        problems.push(format!("{path}: does not open with a `//!` line saying what the module is for"));
    }
    let lines = text.lines().count();
    let says_why = text
        .lines()
        .take_while(|l| l.starts_with("//!") || l.trim().is_empty())
        .any(|l| l.starts_with("//! Long file:"));
    if lines > MAX_LINES && !says_why {
        problems.push(format!(
            "{path}: {lines} lines (over {MAX_LINES}): split it by concern, or say why not in a `//! Long file:` line"
        ));
    }
    problems
}

/// `include_str!`/`include_bytes!` paths of the file at `rel` (relative to its crate's
/// directory) that lead out of the crate.
fn outside_includes(shown: &str, rel: &Path, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for mac in ["include_str!(\"", "include_bytes!(\""] {
        for (at, _) in text.match_indices(mac) {
            let rest = &text[at + mac.len()..];
            let Some(lit) = rest.split('"').next() else { continue };
            // lexically: the including file's directory, then the literal's components
            let mut depth: Vec<&str> =
                rel.parent().into_iter().flat_map(|p| p.iter()).filter_map(|c| c.to_str()).collect();
            let mut outside = false;
            for c in lit.split('/') {
                match c {
                    "" | "." => {}
                    ".." => outside |= depth.pop().is_none(),
                    c => depth.push(c),
                }
            }
            if outside {
                problems.push(format!(
                    "{shown}: includes `{lit}`, outside its crate: `cargo package` leaves it behind (move the file into the crate)"
                ));
            }
        }
    }
    problems
}

/// Environment variable names in string literals (`"AM_…"`, `"OTEL_…"`) of code: doc
/// comments (examples) and what follows `#[cfg(test)]` (unit tests, which use made-up names)
/// are left out.
fn env_names(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).flat_map(|l| [l, "\n"]).collect();
    let mut names = BTreeSet::new();
    for part in code.split('"').skip(1).step_by(2) {
        if is_env_name(part) {
            names.insert(part.to_string());
        }
    }
    names
}

/// Variables an integration test reads itself (`var("AM_…")` / `var_os("AM_…")`): developer
/// switches such as `AM_UPDATE_GOLDEN` belong in the table too.
fn test_env_reads(text: &str) -> BTreeSet<String> {
    text.split("var(\"")
        .chain(text.split("var_os(\""))
        .filter_map(|p| p.split('"').next())
        .filter(|n| is_env_name(n))
        .map(str::to_string)
        .collect()
}

fn is_env_name(s: &str) -> bool {
    let rest = s.strip_prefix("AM_").or_else(|| s.strip_prefix("OTEL_")).unwrap_or("");
    !rest.is_empty()
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !s.ends_with('_')
}

/// The variable names in the first column of the env table (above the Go section).
fn env_table(md: &str) -> BTreeSet<String> {
    md.lines()
        .take_while(|l| !l.starts_with(GO_SECTION))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|n| is_env_name(n))
        .map(str::to_string)
        .collect()
}

/// One row of the Go section: the variable, whether it is implemented, the reason.
#[derive(Debug, PartialEq)]
struct GoRow {
    name: String,
    status: String,
    why: String,
}

/// The rows of the env table's Go section.
fn go_table(md: &str) -> Vec<GoRow> {
    md.lines()
        .skip_while(|l| !l.starts_with(GO_SECTION))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| {
            let (name, rest) = l.split_once('`')?;
            let cells: Vec<&str> = rest.split('|').map(str::trim).collect();
            Some(GoRow {
                name: name.to_string(),
                status: cells.get(1).copied().unwrap_or("").to_string(),
                why: cells.get(2).copied().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// The Go section against [`GO_VARIABLES`] and the table above it.
fn go_drift(rows: &[GoRow], table: &BTreeSet<String>) -> Vec<String> {
    let go: BTreeSet<&str> = GO_VARIABLES.split_whitespace().collect();
    let listed: BTreeSet<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    let mut problems: Vec<String> = go
        .difference(&listed)
        .map(|n| format!("{ENV_TABLE}: the Go variables section has no row for Go's `{n}`"))
        .chain(listed.difference(&go).map(|n| format!("{ENV_TABLE}: `{n}` in the Go variables section is not Go's")))
        .collect();
    for r in rows {
        let (n, row) = (&r.name, table.contains(&r.name));
        match r.status.as_str() {
            "implemented" if !row => {
                problems.push(format!("{ENV_TABLE}: Go's `{n}` is marked implemented, but no row above names it"))
            }
            "not implemented" if row => problems.push(format!(
                "{ENV_TABLE}: Go's `{n}` is marked not implemented, but the code reads it: mark it implemented"
            )),
            "not implemented" if r.why.is_empty() => {
                problems.push(format!("{ENV_TABLE}: Go's `{n}` is not implemented without saying why"))
            }
            "implemented" | "not implemented" => {}
            other => {
                problems.push(format!("{ENV_TABLE}: Go's `{n}`: `{other}` is neither implemented nor not implemented"))
            }
        }
    }
    problems
}

fn env_drift(read: &BTreeSet<String>, table: &BTreeSet<String>) -> Vec<String> {
    let missing = read.difference(table).map(|n| format!("{ENV_TABLE}: no row for `{n}`, which the code reads"));
    let stale = table.difference(read).map(|n| format!("{ENV_TABLE}: a row for `{n}`, which no code reads"));
    missing.chain(stale).collect()
}

/// Exporter crates named in any dependency section of an exporter's manifest.
fn exporter_deps(name: &str, manifest: &str) -> Vec<String> {
    let mut section = String::new();
    let mut problems = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.trim_matches(['[', ']']).to_string();
            continue;
        }
        if !section.contains("dependencies") {
            continue;
        }
        let dep = line.split(['=', ' ', '.']).next().unwrap_or("");
        if dep != name && EXPORTERS.contains(&dep) {
            problems.push(format!(
                "crates/{name}/Cargo.toml: [{section}] names `{dep}`; exporters depend on am-core only (move what they share there)"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_found_in_literals_only_when_whole() {
        let src = r#"pub const A: &str = "AM_LOG"; let x = "AM_"; let y = "OTEL_BSP_MAX_QUEUE_SIZE"; "am_log"; "AM_LOG x"
/// is_on("AM_EXAMPLE")
#[cfg(test)]
mod tests { "AM_MADE_UP" }"#;
        let found: Vec<_> = env_names(src).into_iter().collect();
        assert_eq!(found, ["AM_LOG", "OTEL_BSP_MAX_QUEUE_SIZE"]);
        let test = r#"if std::env::var_os("AM_UPDATE_GOLDEN").is_some() { set("AM_FAKE") }"#;
        assert_eq!(test_env_reads(test).into_iter().collect::<Vec<_>>(), ["AM_UPDATE_GOLDEN"]);
    }

    #[test]
    fn drift_both_ways_is_reported() {
        let read: BTreeSet<String> = ["AM_A", "AM_B"].map(String::from).into();
        let table = env_table("| variable |\n|---|\n| `AM_B` | x |\n| `AM_C` | y |\n");
        let p = env_drift(&read, &table);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("no row for `AM_A`") && p[1].contains("a row for `AM_C`"), "{p:?}");
    }

    #[test]
    fn the_go_section_is_checked_against_go_s_list_and_the_table() {
        let first = GO_VARIABLES.split_whitespace().next().unwrap();
        let md = format!(
            "| `{first}` | x |\n{GO_SECTION}\n| `{first}` | implemented | |\n| `AM_LOG_GRAPH` | not implemented | |\n\
             | `AM_NOT_GO` | maybe | why |\n"
        );
        let table = env_table(&md);
        assert_eq!(table.iter().collect::<Vec<_>>(), [first], "the Go section is not the table");
        let p = go_drift(&go_table(&md), &table);
        assert!(p.iter().any(|p| p.contains("no row for Go's `AM_LOG_WHEN`")), "{p:?}");
        assert!(p.iter().any(|p| p.contains("`AM_NOT_GO` in the Go variables section is not Go's")), "{p:?}");
        assert!(p.iter().any(|p| p.contains("`AM_LOG_GRAPH` is not implemented without saying why")), "{p:?}");
        assert!(p.iter().any(|p| p.contains("`maybe` is neither")), "{p:?}");
        assert!(!p.iter().any(|p| p.contains(&format!("`{first}` is marked"))), "{p:?}");
        let none = BTreeSet::new();
        let p = go_drift(&go_table(&md), &none);
        assert!(p.iter().any(|p| p.contains(&format!("`{first}` is marked implemented, but no row"))), "{p:?}");
    }

    #[test]
    fn an_exporter_naming_another_is_caught_in_any_section() {
        let ok = "[dependencies]\nam-core = { workspace = true }\n[dev-dependencies]\nam-testkit = { path = \"x\" }\n";
        assert!(exporter_deps("am-loki", ok).is_empty());
        let bad = "[dependencies]\nam-core.workspace = true\n[dev-dependencies]\nam-otel = { path = \"../am-otel\" }\n";
        let p = exporter_deps("am-loki", bad);
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("[dev-dependencies] names `am-otel`"), "{p:?}");
    }

    #[test]
    fn module_docs_and_long_files() {
        assert!(module_doc("a.rs", "//! What it is.\nfn f() {}\n").is_empty());
        assert_eq!(module_doc("a.rs", "fn f() {}\n").len(), 1);
        let long = format!("//! Big.\n{}", "x\n".repeat(MAX_LINES));
        assert_eq!(module_doc("a.rs", &long).len(), 1);
        let said = format!("//! Big.\n//! Long file: one table of cases.\n{}", "x\n".repeat(MAX_LINES));
        assert!(module_doc("a.rs", &said).is_empty());
    }

    #[test]
    fn includes_leaving_the_crate_are_caught() {
        let rel = Path::new("src/lib.rs");
        assert!(outside_includes("a", rel, r#"#[doc = include_str!("../docs/x.md")]"#).is_empty());
        assert!(outside_includes("a", Path::new("src/m/n.rs"), r#"include_bytes!("../../README.md")"#).is_empty());
        let p = outside_includes("a", rel, r#"#[doc = include_str!("../../../docs/x.md")]"#);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("`../../../docs/x.md`"), "{p:?}");
    }

    #[test]
    fn the_workspace_is_tidy() {
        let problems = check(&crate::workspace_root()).expect("read the workspace");
        assert!(problems.is_empty(), "run `cargo xtask tidy`:\n{}", problems.join("\n"));
    }
}
