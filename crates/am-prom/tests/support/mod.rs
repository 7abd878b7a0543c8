//! Test helpers that run the real Prometheus tools on loopback: `prometheus` (with a
//! temporary config and TSDB dir), `prometheus-pushgateway`, and `promtool check metrics`,
//! plus a std-only HTTP GET and an exposition-text parser.
//!
//! Reusable from other crates' tests (it needs `serde_json` and `am-testkit` as
//! dev-dependencies):
//!
//! ```ignore
//! #[path = "../../am-prom/tests/support/mod.rs"]
//! mod prom_support;
//! let prom = prom_support::Prometheus::start(&[prom_support::ScrapeJob::new("am", addr)]);
//! let v = prom.wait_for_value("am_transitions_total", |v| v > 0.0, std::time::Duration::from_secs(20));
//! ```
//!
//! The binaries are looked up on `PATH` (Debian packages `prometheus` and
//! `prometheus-pushgateway`; `cargo xtask deps` installs them). Every process is killed and
//! its directory removed on drop.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use am_testkit::TempDir;

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// The path of a binary on `PATH`; panics with the install hint when it is missing.
pub fn binary(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` not found on PATH; install it with `cargo xtask deps` (Debian package)"))
}

/// A child process with a working directory; killed and cleaned up on drop.
pub struct Process {
    name: &'static str,
    child: Child,
    dir: TempDir,
    addr: SocketAddr,
}

impl Process {
    fn spawn(name: &'static str, bin: &str, args: &[String], dir: TempDir, addr: SocketAddr) -> Process {
        let log = std::fs::File::create(dir.join("output.log")).expect("log file");
        let child = Command::new(binary(bin))
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
        let p = Process { name, child, dir, addr };
        p.wait_ready(Duration::from_secs(30));
        p
    }

    fn wait_ready(&self, timeout: Duration) {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if http_get(self.addr, "/-/ready", &[]).is_ok_and(|r| r.status == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} did not become ready on {}:\n{}", self.name, self.addr, self.log());
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Its working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// What it printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("output.log")).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One scrape job of a test Prometheus.
#[derive(Clone, Debug)]
pub struct ScrapeJob {
    /// `job_name`.
    pub name: String,
    /// `host:port` to scrape (`/metrics`).
    pub target: SocketAddr,
    /// `honor_labels` (needed for a Pushgateway).
    pub honor_labels: bool,
}

impl ScrapeJob {
    /// A job scraping `target` every second.
    pub fn new(name: &str, target: SocketAddr) -> Self {
        ScrapeJob { name: name.into(), target, honor_labels: false }
    }
    /// A job scraping a Pushgateway (`honor_labels: true`).
    pub fn pushgateway(name: &str, target: SocketAddr) -> Self {
        ScrapeJob { honor_labels: true, ..ScrapeJob::new(name, target) }
    }
}

/// One sample of a query result: its labels and value.
pub type Sample = (BTreeMap<String, String>, f64);

/// A real Prometheus server scraping the given jobs every second.
pub struct Prometheus(pub Process);

impl Prometheus {
    /// Starts `prometheus` with a temporary config and TSDB; waits until it is ready.
    pub fn start(jobs: &[ScrapeJob]) -> Prometheus {
        let dir = TempDir::new("prom-prometheus");
        let mut cfg = String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n");
        for j in jobs {
            cfg += &format!(
                "  - job_name: '{}'\n    honor_labels: {}\n    static_configs:\n      - targets: ['{}']\n",
                j.name, j.honor_labels, j.target
            );
        }
        std::fs::write(dir.join("prometheus.yml"), cfg).expect("config");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let args = [
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address={addr}"),
        ];
        Prometheus(Process::spawn("prometheus", "prometheus", &args, dir, addr))
    }

    /// Runs an instant PromQL query; returns `(labels, value)` of each sample of a vector
    /// result.
    pub fn query(&self, promql: &str) -> Result<Vec<Sample>, String> {
        let path = format!("/api/v1/query?query={}", url_encode(promql));
        let r = http_get(self.0.addr, &path, &[]).map_err(|e| e.to_string())?;
        let v: serde_json::Value = serde_json::from_str(&r.body).map_err(|e| format!("{e}: {}", r.body))?;
        if v["status"] != "success" {
            return Err(r.body);
        }
        let mut out = Vec::new();
        for s in v["data"]["result"].as_array().cloned().unwrap_or_default() {
            let labels = s["metric"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
                .unwrap_or_default();
            let value = s["value"][1].as_str().and_then(|x| x.parse::<f64>().ok()).ok_or("no value")?;
            out.push((labels, value));
        }
        Ok(out)
    }

    /// Polls a query until its single sample satisfies `ok`; returns that value. Panics
    /// with the last answer and the server log on timeout.
    pub fn wait_for_value(&self, promql: &str, ok: impl Fn(f64) -> bool, timeout: Duration) -> f64 {
        let until = Instant::now() + timeout;
        let mut last = String::new();
        while Instant::now() < until {
            match self.query(promql) {
                Ok(v) if v.len() == 1 && ok(v[0].1) => return v[0].1,
                Ok(v) => last = format!("{v:?}"),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let targets = http_get(self.0.addr, "/api/v1/targets", &[]).map(|r| r.body).unwrap_or_default();
        panic!("query `{promql}` never matched; last answer: {last}\ntargets: {targets}\nlog:\n{}", self.0.log());
    }
}

/// A real Pushgateway without persistence.
pub struct Pushgateway(pub Process);

impl Pushgateway {
    /// Starts `prometheus-pushgateway`; waits until it is ready.
    pub fn start() -> Pushgateway {
        let dir = TempDir::new("prom-pushgateway");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let args = [format!("--web.listen-address={addr}"), "--persistence.file=".to_string()];
        Pushgateway(Process::spawn("pushgateway", "prometheus-pushgateway", &args, dir, addr))
    }
    /// What it exposes now.
    pub fn metrics(&self) -> String {
        http_get(self.0.addr, "/metrics", &[]).map(|r| r.body).unwrap_or_default()
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: String,
}

impl HttpResponse {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.1 GET with `Connection: close`.
pub fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "\r\n";
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Ok(HttpResponse { status, headers, body })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `promtool check metrics` on exposition text; `Err` with its output when it
/// reports anything.
pub fn promtool_check_metrics(text: &str) -> Result<(), String> {
    let mut child = Command::new(binary("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() && said.trim().is_empty() { Ok(()) } else { Err(format!("{}: {said}", out.status)) }
}

/// Samples of an exposition text (either format), keyed `name{label="value",…}` with
/// labels sorted by name.
pub fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (series, value) = match line.find('}') {
            Some(end) => (&line[..=end], line[end + 1..].trim()),
            None => line.split_once(' ').unwrap_or((line, "")),
        };
        let value = value.split_whitespace().next().unwrap_or_default();
        let v = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or(f64::NAN),
        };
        out.insert(canonical(series), v);
    }
    out
}

/// `name{b="2",a="1"}` → `name{a="1",b="2"}`.
pub fn canonical(series: &str) -> String {
    let Some((name, rest)) = series.split_once('{') else { return series.to_string() };
    let body = rest.trim_end_matches('}');
    let mut labels: Vec<&str> = Vec::new();
    let (mut start, mut in_str, mut esc) = (0, false, false);
    for (i, c) in body.char_indices() {
        match c {
            _ if esc => esc = false,
            '\\' => esc = true,
            '"' => in_str = !in_str,
            ',' if !in_str => {
                labels.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < body.len() {
        labels.push(&body[start..]);
    }
    labels.sort_unstable();
    format!("{name}{{{}}}", labels.join(","))
}
