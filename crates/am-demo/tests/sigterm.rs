//! The demo as a service manager stops it: SIGTERM (systemd, Docker, Kubernetes) gets the
//! same graceful shutdown as Ctrl-C — machines stopped, every exporter flushed, the summary
//! printed, exit 0.

use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn sigterm_flushes_every_exporter_and_prints_the_summary() {
    let dir = std::env::temp_dir().join(format!("am-demo-sigterm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let stats = dir.join("stats.jsonl");
    let child = Command::new(env!("CARGO_BIN_EXE_am-demo"))
        .args(["--quiet", "--machines", "20", "--rate", "500", "--out-dir"])
        .arg(&dir)
        .arg("--stats-json")
        .arg(&stats)
        .env("AM_PROM_ADDR", "127.0.0.1:0")
        .env_remove("AM_DBG_ADDR")
        .env_remove("AM_LOKI_ADDR")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {}: {text}", out.status);
    for needle in ["SIGTERM, shutting down", "accepted and", "otel: ", "dbg: ", "dbg recording: ", "prometheus: "] {
        assert!(text.contains(needle), "summary lacks {needle:?}:\n{text}");
    }
    // every exporter accounted for everything it produced
    let last = std::fs::read_to_string(&stats).unwrap().lines().last().map(str::to_string).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(v["final"], true, "{last}");
    for name in ["otel", "dbg"] {
        let e = &v["exporters"][name];
        let n = |k: &str| e[k].as_u64().unwrap_or_else(|| panic!("{name}.{k} in {last}"));
        assert!(n("produced") > 0, "{last}");
        assert_eq!(n("produced"), n("sent") + n("dropped") + n("failed") + n("queued"), "{name}: {last}");
    }
    // the recording was closed with everything sent: the spans and logs files are complete
    let dbg = std::fs::read_to_string(dir.join("dbg.jsonl")).unwrap();
    let txs = dbg.lines().filter(|l| l.starts_with(r#"{"Tx""#)).count() as u64;
    assert_eq!(txs, v["exporters"]["dbg"]["sent"].as_u64().unwrap());
    assert!(std::fs::read_to_string(dir.join("spans.jsonl")).unwrap().lines().count() > 20);
    let _ = std::fs::remove_dir_all(&dir);
}
