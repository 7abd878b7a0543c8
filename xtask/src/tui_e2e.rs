//! The `am-dbg` terminal UI end to end, as a person sees it: started in `tmux` (160×45),
//! listening on a loopback port, the demo streaming to it; the screen read with
//! `capture-pane`, keys sent with `send-keys`, and after `q` the terminal checked restored.

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
        "{} tui --listen {listen} --record {}; echo \"am-dbg exited with $?\"; sleep 600",
        am_dbg.display(),
        record.display()
    );
    eprintln!("==> am-dbg TUI in tmux ({session}), demo streaming to {listen}");
    cmd!(sh, "tmux new-session -d -s {session} -x 160 -y 45 {command}").run()?;
    let result = scenario(sh, bin, &session, &listen, &record);
    let _ = cmd!(sh, "tmux kill-session -t {session}").quiet().ignore_status().run();
    result
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
    eprintln!("tui: machines, time travel, help, filters and a clean quit seen in tmux; screen before quitting:");
    eprintln!("{}", screen.lines().take(14).collect::<Vec<_>>().join("\n"));
    Ok(())
}
