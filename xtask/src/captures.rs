//! `cargo xtask captures`: the README's pictures of what users see, generated from the real
//! programs and checked for staleness like the dashboards: the TUI drawn for a committed demo
//! recording, the span tree a collector received (am-otel's golden scenario), a `/metrics`
//! excerpt and a bind report. Each sits in the README between `<!-- capture:NAME -->` and
//! `<!-- /capture:NAME -->`.

use std::path::Path;

use xshell::{Shell, cmd};

use crate::{Args, Result};

const HELP: &str = "\
cargo xtask captures [--check]

Regenerates the README's captures between <!-- capture:NAME --> and <!-- /capture:NAME -->:
  tui      `am-dbg` drawing docs/captures/demo.jsonl (a real demo recording) at 100x24,
           through the TUI's own draw into ratatui's TestBackend (the am-dbg `capture`
           example), so the text is the same on every run
  spans    the span tree an OTLP receiver got from am-otel's scenario
           (crates/am-otel/tests/golden/scenario_tree.txt, itself checked by its test)
  metrics  /metrics lines of a scripted order machine (am-telemetry's `captures` example)
  report   the bind report of that example under a fixed environment
--check  write nothing; fail when a capture in the README differs from what it would be
";

/// One capture: its name and the text between its markers (a code block).
struct Capture {
    name: &'static str,
    lang: &'static str,
    text: String,
}

pub(crate) fn run(sh: &Shell, args: &mut Args) -> Result<()> {
    if args.help() {
        print!("{HELP}");
        return Ok(());
    }
    let check = args.flag(&["--check"]);
    args.finish()?;
    update(sh, check)
}

/// Regenerates the captures into the README, or with `check` only compares (CI's step).
pub(crate) fn update(sh: &Shell, check: bool) -> Result<()> {
    let root = sh.current_dir();
    let captures = generate(sh, &root)?;
    let path = root.join("README.md");
    let readme = std::fs::read_to_string(&path)?;
    let mut updated = readme.clone();
    let mut stale = Vec::new();
    for c in &captures {
        let (new, changed) = replace(&updated, c)?;
        if changed {
            stale.push(c.name);
        }
        updated = new;
    }
    if check {
        if stale.is_empty() {
            eprintln!("captures: up to date");
            return Ok(());
        }
        return Err(format!(
            "README.md captures are stale: {}; run `cargo xtask captures` and commit",
            stale.join(", ")
        )
        .into());
    }
    std::fs::write(&path, updated)?;
    eprintln!("captures: {} regenerated", if stale.is_empty() { "none".to_string() } else { stale.join(", ") });
    Ok(())
}

/// Replaces the text between the markers of `c`; errs when the markers are missing.
fn replace(readme: &str, c: &Capture) -> Result<(String, bool)> {
    let open = format!("<!-- capture:{} -->\n", c.name);
    let close = format!("<!-- /capture:{} -->", c.name);
    let start = readme.find(&open).ok_or_else(|| format!("README.md has no `{}` marker", open.trim()))? + open.len();
    let len = readme[start..].find(&close).ok_or_else(|| format!("README.md has no `{close}` marker"))?;
    let body = format!("```{}\n{}```\n", c.lang, c.text);
    let changed = readme[start..start + len] != body;
    Ok((format!("{}{}{}", &readme[..start], body, &readme[start + len..]), changed))
}

fn generate(sh: &Shell, root: &Path) -> Result<Vec<Capture>> {
    let recording = root.join("docs/captures/demo.jsonl");
    let tui = cmd!(sh, "cargo run --quiet -p am-dbg --example capture -- {recording} 100 24 worker-1").read()?;
    let tree = std::fs::read_to_string(root.join("crates/am-otel/tests/golden/scenario_tree.txt"))?;
    let example =
        |mode: &str| cmd!(sh, "cargo run --quiet -p am-telemetry --features full --example captures -- {mode}");
    let metrics = example("metrics").read()?;
    let report = {
        let mut c = example("report");
        for v in ["AM_PROM_ADDR", "AM_PROM_PUSH_URL", "AM_DBG_ADDR", "AM_GRAFANA_URL", "AM_LOG", "OTEL_SERVICE_NAME"] {
            c = c.env_remove(v);
        }
        c.env("AM_SERVICE", "checkout")
            .env("AM_OTEL_TRACE", "1")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otlp.example.com:4317")
            .env("AM_LOKI_ADDR", "https://logs.example.com")
            .read()?
    };
    let block = |name, lang, text: String| Capture { name, lang, text: format!("{}\n", text.trim_end()) };
    Ok(vec![
        block("tui", "text", tui),
        block("spans", "text", tree),
        block("metrics", "text", metrics),
        block("report", "text", report),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_between_markers_and_says_when_it_changed() {
        let readme = "a\n<!-- capture:x -->\n```text\nold\n```\n<!-- /capture:x -->\nb\n";
        let c = Capture { name: "x", lang: "text", text: "new\n".into() };
        let (out, changed) = replace(readme, &c).unwrap();
        assert!(changed);
        assert_eq!(out, "a\n<!-- capture:x -->\n```text\nnew\n```\n<!-- /capture:x -->\nb\n");
        assert!(!replace(&out, &c).unwrap().1, "a second run changes nothing");
        assert!(replace("no markers", &c).is_err());
    }
}
