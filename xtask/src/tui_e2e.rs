//! The `am-dbg` terminal UI end to end, as a person sees it: started in `tmux` (160×45),
//! listening on a loopback port, the demo streaming to it; the screen read with
//! `capture-pane`, keys sent with `send-keys`: time travel, help, a filter, the log pane,
//! step-through, the matrix, a live pause, an export, 80×24; after `q` the terminal checked
//! restored; then the recording it made opened and played.

use std::path::Path;
use std::time::{Duration, Instant};

use xshell::{Shell, cmd};

use crate::{Result, backends};

/// Runs the scenario; `bin` finds a workspace binary.
pub(crate) fn run(sh: &Shell, bin: &dyn Fn(&str) -> std::path::PathBuf, dir: &Path) -> Result<()> {
    let port = backends::free_port()?;
    let session = format!("am-dbg-itest-{}", std::process::id());
    let am_dbg = bin("am-dbg");
    let listen = format!("127.0.0.1:{port}");
    let record = dir.join("tui.jsonl");
    // through a shell that says how am-dbg ended: tmux does not always reap a pane's own
    // process in time to report its status
    let command = format!(
        "{} tui --listen {listen} --record {} --dir {}; echo \"am-dbg exited with $?\"; sleep 600",
        am_dbg.display(),
        record.display(),
        dir.display()
    );
    eprintln!("==> am-dbg TUI in tmux ({session}), demo streaming to {listen}");
    cmd!(sh, "tmux new-session -d -s {session} -x 160 -y 45 {command}").run()?;
    let result = scenario(sh, bin, &session, &listen, &record, dir);
    let _ = cmd!(sh, "tmux kill-session -t {session}").quiet().ignore_status().run();
    result?;
    play(sh, &am_dbg, &format!("{session}-play"), &record)
}

/// Sends keys (tmux key names) one call each, so none reads as an Alt combination.
fn keys(sh: &Shell, session: &str, keys: &[&str]) -> Result<()> {
    for k in keys {
        cmd!(sh, "tmux send-keys -t {session} {k}").run()?;
    }
    Ok(())
}

fn capture(sh: &Shell, session: &str) -> Result<String> {
    Ok(cmd!(sh, "tmux capture-pane -p -t {session}").quiet().read()?)
}

/// Polls the screen until `ok` holds (10 s at most).
fn wait_screen(sh: &Shell, session: &str, what: &str, ok: impl Fn(&str) -> bool) -> Result<String> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let screen = capture(sh, session)?;
        if ok(&screen) {
            return Ok(screen);
        }
        if Instant::now() > until {
            return Err(format!("the TUI never showed {what}; the screen was:\n{screen}").into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn scenario(
    sh: &Shell,
    bin: &dyn Fn(&str) -> std::path::PathBuf,
    session: &str,
    listen: &str,
    record: &Path,
    dir: &Path,
) -> Result<()> {
    wait_screen(sh, session, "its empty state", |s| s.contains("waiting for machines"))?;
    let demo = std::process::Command::new(bin("am-demo"))
        .args(["--duration", "3", "--quiet", "--machines", "3"])
        .env("AM_DBG_ADDR", listen)
        .env_remove("AM_LOKI_ADDR")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("AM_PROM_ADDR")
        .env_remove("AM_PROM_PUSH_URL")
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot start the demo: {e}"))?;
    if !demo.success() {
        return Err(format!("the demo failed: {demo}").into());
    }
    let screen = wait_screen(sh, session, "the demo's machines", |s| {
        s.contains("worker-pool") && s.contains("worker-1") && s.contains("timeline")
    })?;
    // the demo binds am-otel too, so transitions carry their trace ID
    for want in ["machines (", "worker-pool @ now", "accepted", "· following", "filters: none", "fps", "trace "] {
        if !screen.contains(want) {
            return Err(format!("the TUI does not show `{want}`:\n{screen}").into());
        }
    }
    // time travel: one transition back
    cmd!(sh, "tmux send-keys -t {session} Up").run()?;
    let screen =
        wait_screen(sh, session, "time travel", |s| s.contains("time travel") && s.contains("worker-pool @ #"))?;
    // the help, then a filter
    cmd!(sh, "tmux send-keys -t {session} ?").run()?;
    wait_screen(sh, session, "the help", |s| s.contains(" keys ") && s.contains("q / Ctrl-C"))?;
    // separately: ESC then `c` at once reads as Alt-c
    cmd!(sh, "tmux send-keys -t {session} Escape").run()?;
    wait_screen(sh, session, "the help closed", |s| !s.contains("q / Ctrl-C"))?;
    cmd!(sh, "tmux send-keys -t {session} c").run()?;
    wait_screen(sh, session, "the canceled filter", |s| s.contains("filters: hiding canceled"))?;
    keys(sh, session, &["c"])?;
    // the log pane: the machine's whole log, focused by Tab from the timeline
    keys(sh, session, &["Tab"])?;
    wait_screen(sh, session, "the log pane", |s| s.contains(" log ") && s.contains(" lines"))?;
    keys(sh, session, &["Up", "BTab"])?;
    // step-through: the states pane counts the steps, Escape leaves
    keys(sh, session, &["]"])?;
    wait_screen(sh, session, "step-through", |s| s.contains("· step 0/"))?;
    keys(sh, session, &["]", "Escape"])?;
    wait_screen(sh, session, "step-through left", |s| !s.contains("· step "))?;
    // the matrix in the timeline's place, and back
    keys(sh, session, &["M"])?;
    wait_screen(sh, session, "the matrix", |s| s.contains(" matrix ") && s.contains(" 0 1 2"))?;
    keys(sh, session, &["M"])?;
    // live pause: the view holds while messages may arrive; Space again follows
    keys(sh, session, &["f", "Space"])?;
    wait_screen(sh, session, "a live pause", |s| s.contains("paused: the view holds"))?;
    keys(sh, session, &["Space"])?;
    wait_screen(sh, session, "following again", |s| s.contains("· following"))?;
    // export all machines as .gob.br into --dir
    keys(sh, session, &["s"])?;
    wait_screen(sh, session, "the export menu", |s| s.contains(" export ") && s.contains("all machines, .gob.br"))?;
    keys(sh, session, &["2"])?;
    wait_screen(sh, session, "the export written", |s| s.contains("exported ") && s.contains(".gob.br"))?;
    let exported = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".gob.br"))
        .ok_or("no .gob.br export in --dir")?;
    let msgs = am_dbg_proto_len(sh, bin, &exported)?;
    // 80×24: the ticks and the help key stay
    cmd!(sh, "tmux resize-window -t {session} -x 80 -y 24").run()?;
    let narrow = wait_screen(sh, session, "80×24", |s| s.lines().count() <= 24 && s.contains("? help · q quit"))?;
    let ticks = narrow
        .lines()
        .flat_map(|l| l.split('│'))
        .filter(|cell| cell.starts_with("■ ") || cell.starts_with("□ "))
        .all(|cell| cell.trim_end().ends_with(|c: char| c.is_ascii_digit()));
    if !ticks || !narrow.contains("■ ") {
        return Err(format!("at 80×24 the states pane lost its ticks:\n{narrow}").into());
    }
    // quit: the process ends with 0 and leaves the alternate screen
    cmd!(sh, "tmux send-keys -t {session} q").run()?;
    let after = wait_screen(sh, session, "am-dbg's exit", |s| s.contains("am-dbg exited with"))?;
    if !after.contains("am-dbg exited with 0") {
        return Err(format!("am-dbg did not exit with 0 on `q`:\n{after}").into());
    }
    if after.contains("timeline") || after.contains("worker-pool @") {
        return Err(format!("the terminal was not restored after quitting:\n{after}").into());
    }
    let recorded = std::fs::read_to_string(record)?;
    if !recorded.lines().any(|l| l.contains("worker-pool")) {
        return Err("--record wrote no message of worker-pool".into());
    }
    eprintln!(
        "tui: machines, time travel, help, filters, log, steps, matrix, pause, export ({msgs}) and 80×24 seen in tmux, a clean quit; screen before quitting:"
    );
    eprintln!("{}", screen.lines().take(14).collect::<Vec<_>>().join("\n"));
    Ok(())
}

/// What `am-dbg summary` says of an export, in a line.
fn am_dbg_proto_len(sh: &Shell, bin: &dyn Fn(&str) -> std::path::PathBuf, file: &Path) -> Result<String> {
    let am_dbg = bin("am-dbg");
    let summary = cmd!(sh, "{am_dbg} summary {file}").read()?;
    let first = summary.lines().next().unwrap_or_default().to_string();
    if !first.starts_with("machines: ") || first.starts_with("machines: 0") {
        return Err(format!("the export reads back empty: {summary}").into());
    }
    Ok(first)
}

/// The recording made live, opened and played: the timeline plays, + speeds it up.
fn play(sh: &Shell, am_dbg: &Path, session: &str, record: &Path) -> Result<()> {
    let command = format!("{} tui {} ; sleep 600", am_dbg.display(), record.display());
    cmd!(sh, "tmux new-session -d -s {session} -x 160 -y 45 {command}").run()?;
    let result = (|| -> Result<()> {
        wait_screen(sh, session, "the recording", |s| s.contains("worker-pool") && s.contains("· following"))?;
        keys(sh, session, &["g", "Space"])?;
        wait_screen(sh, session, "playing", |s| s.contains("· playing ×1"))?;
        keys(sh, session, &["+"])?;
        wait_screen(sh, session, "a faster play", |s| s.contains("play speed ×2") || s.contains("played to the end"))?;
        keys(sh, session, &["Space"])?;
        wait_screen(sh, session, "a pause", |s| !s.contains("· playing"))?;
        keys(sh, session, &["q"])?;
        Ok(())
    })();
    let _ = cmd!(sh, "tmux kill-session -t {session}").quiet().ignore_status().run();
    result?;
    eprintln!("tui: the recording plays, speeds up and pauses");
    Ok(())
}
