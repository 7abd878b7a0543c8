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

/// One probe of the drain test: when it ended (unix ms) and what it got (`None`: refused).
struct Probe {
    at_ms: u128,
    status: Option<u16>,
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// A Loki that accepts connections and never answers: the slow exporter of the drain test.
fn hung_loki() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().flatten() {
            held.push(c);
        }
    });
    addr
}

/// What a rollout sees: readiness steady while the workers fail and reconnect (they are
/// submachines: the pool decides), then from SIGTERM `/readyz` answers 503 — never a refused
/// connection — while a slow exporter holds the shutdown; the scrape endpoint closes last,
/// so the last scrape has the other exporters' final counts.
#[test]
fn sigterm_drains_readiness_until_the_endpoint_closes_last() {
    use std::io::{BufRead, BufReader};
    let dir = am_testkit::TempDir::new("demo-drain");
    let stats = dir.join("stats.jsonl");
    let prom = am_testkit::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_am-demo"))
        .args(["--quiet", "--machines", "4", "--rate", "400", "--out-dir"])
        .arg(dir.path())
        .arg("--stats-json")
        .arg(&stats)
        .env("AM_PROM_ADDR", prom.to_string())
        .env("AM_LOKI_ADDR", format!("http://{}", hung_loki()))
        .env("AM_HEALTH_DRAIN", "300ms")
        .env_remove("AM_DBG_ADDR")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let err_lines =
        std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>());
    // a failed assertion must not leave the demo running
    let _kill = KillOnDrop(child.id());

    // steady: once the pool is ready, readiness holds while workers fail and reconnect
    let ready_by = std::time::Instant::now() + Duration::from_secs(20);
    let pool_ready = |r: &std::io::Result<(u16, String)>| {
        r.as_ref().is_ok_and(|(s, body)| *s == 200 && body.contains("worker-pool ok"))
    };
    while !pool_ready(&am_testkit::http_get(prom, "/readyz")) {
        assert!(std::time::Instant::now() < ready_by, "the pool never became ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let exceptions = |page: &str| -> f64 {
        page.lines()
            .filter(|l| l.starts_with("am_exceptions_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let before = exceptions(&am_testkit::http_get(prom, "/metrics").unwrap().1);
    let steady_until = std::time::Instant::now() + Duration::from_secs(3);
    let mut steady = 0;
    while std::time::Instant::now() < steady_until {
        let (status, body) = am_testkit::http_get(prom, "/readyz").unwrap();
        assert_eq!(status, 200, "readiness flapped under the workers' errors:\n{body}");
        steady += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    let after = exceptions(&am_testkit::http_get(prom, "/metrics").unwrap().1);
    assert!(after > before, "no worker failed in the window ({before} → {after}): the check proved nothing");

    // SIGTERM: probe /readyz and scrape /metrics until the endpoint is gone
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let mut probes = Vec::new();
    let mut last_page = String::new();
    loop {
        let r = am_testkit::http_get(prom, "/readyz");
        probes.push(Probe { at_ms: unix_ms(), status: r.as_ref().ok().map(|r| r.0) });
        if r.is_err() {
            break;
        }
        if let Ok((200, page)) = am_testkit::http_get(prom, "/metrics") {
            last_page = page;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit {}", out.status);
    let err = err_lines.join().unwrap();
    let closed_ms: u128 = err
        .iter()
        .find_map(|l| l.strip_prefix("am-demo: closing the scrape endpoint (unix_ms=")?.strip_suffix(')')?.parse().ok())
        .unwrap_or_else(|| panic!("no closing line in {err:?}"));

    // answered while draining: 503 from the first one on, never 200 again
    let first_503 = probes.iter().position(|p| p.status == Some(503)).expect("no 503 while draining");
    assert!(probes[first_503..].iter().all(|p| p.status != Some(200)), "ready again after draining began");
    let drained = probes.iter().filter(|p| p.status == Some(503)).count();
    // refused only once the demo closed the endpoint, after every other exporter (the hung
    // Loki held it for its 5 s deadline)
    for p in probes.iter().filter(|p| p.status.is_none()) {
        assert!(p.at_ms >= closed_ms, "refused at {} before the endpoint closed at {closed_ms}", p.at_ms);
    }
    // the last scrape has the other exporters' final counts
    let v: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&stats).unwrap().lines().last().unwrap()).unwrap();
    let dbg_sent = v["exporters"]["dbg"]["sent"].as_u64().unwrap();
    let scraped = last_page
        .lines()
        .find_map(|l| l.strip_prefix(r#"am_exporter_sent_total{exporter="dbg"} "#))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no dbg sent count in the last scrape:\n{last_page}"));
    assert_eq!(scraped as u64, dbg_sent, "the last scrape is not final");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("draining: /readyz answers 503 for 0.3s"), "{text}");
    let loki = text.lines().find(|l| l.starts_with("am-demo: loki: ")).unwrap_or_else(|| panic!("{text}"));
    assert!(loki.contains(" 0 sent,") && loki.contains("(deadline passed)"), "the hung Loki's report: {loki}");
    println!("steady probes: {steady}, 503 answers while draining: {drained}, last dbg sent {dbg_sent}");
}

/// Kills a process when dropped during a panic (a failing test leaves nothing running).
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = Command::new("kill").args(["-KILL", &self.0.to_string()]).status();
        }
    }
}
