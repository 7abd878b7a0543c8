//! Every PromQL expression of the dashboard and the alert rules, checked by real Prometheus
//! tools: `promtool check rules` on the rules file, and each expression sent to a real
//! `prometheus` (127.0.0.1, temporary config and data) through `/api/v1/query`, which must
//! answer `success` rather than a parse error. The series themselves come from `am-prom`;
//! that the queries return data is the end-to-end harness's job.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use am_grafana_gen::{AlertRules, Dashboard};
use am_testkit::TempDir;
use serde_json::Value;

/// The Debian package shipping `prometheus` and `promtool`.
const INSTALL: &str = "apt-get install prometheus";

/// A running Prometheus, killed on drop.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(bin: &Path) -> Prometheus {
        let dir = TempDir::new("grafana-gen-prom");
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 15s\nscrape_configs: []\n")
            .unwrap_or_else(|e| panic!("write config: {e}"));
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
        let port = port.unwrap_or_else(|e| panic!("no free port: {e}"));
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let mut p = Prometheus { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, _)) = get(port, "/-/ready") {
                return p;
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("prometheus exited early: {status}");
            }
            assert!(Instant::now() < deadline, "prometheus not ready after 20 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn query(&self, expr: &str) -> Value {
        let (status, body) =
            get(self.port, &format!("/api/v1/query?query={}", encode(expr))).unwrap_or_else(|e| panic!("query: {e}"));
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{status} {body}: {e}"));
        assert_eq!(v["status"], "success", "Prometheus refused `{expr}`: {body}");
        v
    }
}

/// A minimal HTTP/1.0 GET (no client crate needed for a loopback check).
fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What Grafana substitutes before sending a query (the variables' "All" values).
fn interpolate(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$service_name", ".*")
        .replace("$service", ".*")
        .replace("$mach_id", ".+")
}

fn dashboards() -> Vec<Dashboard> {
    [
        // every rule switched on: the quiet-machine rules are opt-in
        Dashboard::for_machines(&["worker-pool", "worker-1", "worker-2", "worker-3"])
            .name("am-demo")
            .source("am-demo")
            .alert_rules(AlertRules { expect_transitions: vec!["worker-pool".into()], ..AlertRules::default() })
            .build(),
        // IDs needing escapes in PromQL strings and regexes.
        Dashboard::for_machines(&["a.b", "c\"d", "e\\f", "g|h"]).build(),
    ]
    .into_iter()
    .map(|d| d.unwrap_or_else(|e| panic!("{e}")))
    .collect()
}

fn prometheus_exprs(d: &Dashboard) -> Vec<String> {
    d.prometheus_queries()
}

#[test]
fn promtool_accepts_rules() {
    let Some(promtool) = am_testkit::tool("promtool", INSTALL) else { return };
    let dir = TempDir::new("grafana-gen-rules");
    for (i, d) in dashboards().iter().enumerate() {
        let file = dir.join(format!("rules-{i}.yml"));
        std::fs::write(&file, d.alert_rules_yaml()).unwrap_or_else(|e| panic!("{e}"));
        let out = Command::new(&promtool).arg("check").arg("rules").arg(&file).output();
        let out = out.unwrap_or_else(|e| panic!("run promtool: {e}"));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "promtool check rules failed:\n{text}\n{}", d.alert_rules_yaml());
        let n = d.alert_expressions().len();
        assert!(text.contains(&format!("SUCCESS: {n} rules found")), "{text}");
    }
    // And the committed demo rules file.
    let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dashboards/am-demo.rules.yml");
    let out = Command::new(&promtool).arg("check").arg("rules").arg(&committed).output();
    assert!(out.is_ok_and(|o| o.status.success()), "promtool rejects {}", committed.display());
}

#[test]
fn real_prometheus_parses_every_expression() {
    let Some(prometheus) = am_testkit::tool("prometheus", INSTALL) else { return };
    let prom = Prometheus::start(&prometheus);
    // The check itself can fail: a broken expression is refused.
    let (status, body) =
        get(prom.port, &format!("/api/v1/query?query={}", encode("sum(rate(x[1m])"))).unwrap_or_default();
    assert_eq!(status, 400, "{body}");
    let mut n = 0;
    for d in dashboards() {
        let exprs: Vec<String> = prometheus_exprs(&d).into_iter().chain(d.alert_expressions()).collect();
        assert!(exprs.len() > 20);
        for e in exprs {
            let e = interpolate(&e);
            assert!(!e.contains('$'), "uninterpolated variable in `{e}`");
            prom.query(&e);
            n += 1;
        }
    }
    eprintln!("{n} expressions accepted by Prometheus");
}
