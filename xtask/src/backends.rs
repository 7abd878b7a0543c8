//! Real backends for `cargo xtask itest`, on loopback ports, stopped on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;

/// A free loopback port (bound, then released).
pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A started process, killed on drop; it can be stopped and started again on its port.
pub(crate) struct Proc {
    name: &'static str,
    child: Option<Child>,
    pub(crate) port: u16,
    bin: String,
    args: Vec<String>,
    dir: PathBuf,
    ready: Ready,
    /// Runs so far; run `n` logs to `<dir>/<name>.<n>.log`.
    runs: u32,
}

/// How a started process shows it is ready.
#[derive(Clone, Copy)]
pub(crate) enum Ready {
    /// `GET /-/ready` answers 200 (Prometheus, the Pushgateway).
    PromReady,
    /// Its port accepts connections.
    Listening,
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Proc {
    pub(crate) fn start(
        name: &'static str,
        bin: &str,
        args: &[String],
        port: u16,
        dir: &Path,
        ready: Ready,
    ) -> Result<Proc> {
        let mut p = Proc {
            name,
            child: None,
            port,
            bin: bin.to_string(),
            args: args.to_vec(),
            dir: dir.to_path_buf(),
            ready,
            runs: 0,
        };
        p.restart()?;
        Ok(p)
    }

    /// The log (stdout and stderr) of the current or last run.
    pub(crate) fn log(&self) -> PathBuf {
        self.log_of(self.runs)
    }

    /// The log of run `n` (1-based).
    pub(crate) fn log_of(&self, n: u32) -> PathBuf {
        self.dir.join(format!("{}.{n}.log", self.name))
    }

    /// Runs so far.
    pub(crate) fn runs(&self) -> u32 {
        self.runs
    }

    /// Starts it (again), with the same arguments (`{run}` in one becomes the run number) and
    /// port, and waits until it is ready.
    pub(crate) fn restart(&mut self) -> Result<()> {
        self.runs += 1;
        let log = self.log();
        let out = std::fs::File::create(&log)?;
        let run = self.runs.to_string();
        let child = Command::new(&self.bin)
            .args(self.args.iter().map(|a| a.replace("{run}", &run)))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e} (run `cargo xtask deps` as root to install it)", self.bin))?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Stops it: SIGTERM and up to 10 s for it to exit when `graceful`, SIGKILL otherwise
    /// (or when it does not exit).
    pub(crate) fn stop(&mut self, graceful: bool) -> Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        if graceful {
            Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                if child.try_wait()?.is_some() {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!("{} did not exit within 10 s of SIGTERM; killing it", self.name);
        }
        let _ = child.kill();
        child.wait()?;
        Ok(())
    }

    fn wait_ready(&mut self) -> Result<()> {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                let tail = std::fs::read_to_string(self.log()).unwrap_or_default();
                return Err(format!("{} exited ({status}):\n{tail}", self.name).into());
            }
            let ready = match self.ready {
                Ready::PromReady => http_get(self.port, "/-/ready").is_ok_and(|(code, _)| code == 200),
                Ready::Listening => TcpStream::connect(("127.0.0.1", self.port)).is_ok(),
            };
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("{} did not become ready on port {}", self.name, self.port).into())
    }
}

/// One scrape job of the test Prometheus.
pub(crate) struct ScrapeJob<'a> {
    /// `job_name`, and the `job` label unless `labels` sets one.
    pub(crate) name: &'a str,
    pub(crate) port: u16,
    /// Keep the scraped series' own `job`/`instance` (the Pushgateway's pushed groups).
    pub(crate) honor_labels: bool,
    /// Target labels set by relabelling, as prometheus-operator sets `job`, `service`,
    /// `namespace`, `pod`, `container` and `endpoint` from the Kubernetes objects.
    pub(crate) labels: &'a [(&'a str, &'a str)],
}

impl ScrapeJob<'_> {
    fn yaml(&self) -> String {
        let mut y = format!(
            "  - job_name: '{}'\n    honor_labels: {}\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            self.name, self.honor_labels, self.port
        );
        if !self.labels.is_empty() {
            y.push_str("    relabel_configs:\n");
            for (k, v) in self.labels {
                y.push_str(&format!("      - target_label: {k}\n        replacement: '{v}'\n"));
            }
        }
        y
    }
}

/// Prometheus scraping `targets` every second (with honour_labels for the Pushgateway).
pub(crate) fn prometheus(dir: &Path, scrape: &[(&str, u16)]) -> Result<Proc> {
    let jobs: Vec<ScrapeJob<'_>> =
        scrape.iter().map(|&(name, port)| ScrapeJob { name, port, honor_labels: true, labels: &[] }).collect();
    prometheus_jobs(dir, &jobs)
}

/// Prometheus scraping `jobs` every second.
pub(crate) fn prometheus_jobs(dir: &Path, jobs: &[ScrapeJob<'_>]) -> Result<Proc> {
    let port = free_port()?;
    let mut cfg = String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n");
    for job in jobs {
        cfg.push_str(&job.yaml());
    }
    let cfg_path = dir.join("prometheus.yml");
    std::fs::write(&cfg_path, cfg)?;
    let data = dir.join("prometheus-data");
    let args = vec![
        format!("--config.file={}", cfg_path.display()),
        format!("--storage.tsdb.path={}", data.display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    Proc::start("prometheus", "prometheus", &args, port, dir, Ready::PromReady)
}

/// A Pushgateway without persistence.
pub(crate) fn pushgateway(dir: &Path) -> Result<Proc> {
    let port = free_port()?;
    let args = vec![format!("--web.listen-address=127.0.0.1:{port}"), "--persistence.file=".to_string()];
    Proc::start("pushgateway", "prometheus-pushgateway", &args, port, dir, Ready::PromReady)
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
    Ok(prom_series(port, expr)?.len())
}

/// Runs an instant query; returns the result's series (`metric` labels and `value`).
pub(crate) fn prom_series(port: u16, expr: &str) -> Result<Vec<serde_json::Value>> {
    let (code, body) = http_get(port, &format!("/api/v1/query?query={}", encode(expr)))?;
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("bad JSON from Prometheus: {e}"))?;
    if code != 200 || v["status"] != "success" {
        return Err(format!("query `{expr}` failed ({code}): {body}").into());
    }
    Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
}
