//! Real backends for `cargo xtask itest`, on loopback ports, stopped on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;

/// A free loopback port (bound, then released).
pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A started process, killed on drop.
pub(crate) struct Proc {
    name: &'static str,
    child: Child,
    pub(crate) port: u16,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn start(name: &'static str, bin: &str, args: &[String], port: u16, log: &Path) -> Result<Proc> {
        let out = std::fs::File::create(log)?;
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("cannot start {bin}: {e} (run `cargo xtask deps` as root to install it)"))?;
        let mut p = Proc { name, child, port };
        p.wait_ready(log)?;
        Ok(p)
    }

    fn wait_ready(&mut self, log: &Path) -> Result<()> {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                return Err(format!("{} exited ({status}):\n{tail}", self.name).into());
            }
            if http_get(self.port, "/-/ready").is_ok_and(|(code, _)| code == 200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("{} did not become ready on port {}", self.name, self.port).into())
    }
}

/// Prometheus scraping `targets` every second (with honour_labels for the Pushgateway).
pub(crate) fn prometheus(dir: &Path, scrape: &[(&str, u16)]) -> Result<Proc> {
    let port = free_port()?;
    let mut cfg = String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n");
    for (job, p) in scrape {
        cfg.push_str(&format!(
            "  - job_name: {job}\n    honor_labels: true\n    static_configs:\n      - targets: ['127.0.0.1:{p}']\n"
        ));
    }
    let cfg_path = dir.join("prometheus.yml");
    std::fs::write(&cfg_path, cfg)?;
    let data = dir.join("prometheus-data");
    let args = vec![
        format!("--config.file={}", cfg_path.display()),
        format!("--storage.tsdb.path={}", data.display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    Proc::start("prometheus", "prometheus", &args, port, &dir.join("prometheus.log"))
}

/// A Pushgateway without persistence.
pub(crate) fn pushgateway(dir: &Path) -> Result<Proc> {
    let port = free_port()?;
    let args = vec![format!("--web.listen-address=127.0.0.1:{port}"), "--persistence.file=".to_string()];
    Proc::start("pushgateway", "prometheus-pushgateway", &args, port, &dir.join("pushgateway.log"))
}

/// A plain HTTP/1.0 GET on loopback: (status, body).
pub(crate) fn http_get(port: u16, path_and_query: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path_and_query} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let code = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or("malformed HTTP response")?;
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((code, body))
}

/// Percent-encodes a query parameter.
pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs an instant query; returns the number of series in the result.
pub(crate) fn prom_query(port: u16, expr: &str) -> Result<usize> {
    let (code, body) = http_get(port, &format!("/api/v1/query?query={}", encode(expr)))?;
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("bad JSON from Prometheus: {e}"))?;
    if code != 200 || v["status"] != "success" {
        return Err(format!("query `{expr}` failed ({code}): {body}").into());
    }
    Ok(v["data"]["result"].as_array().map_or(0, Vec::len))
}
