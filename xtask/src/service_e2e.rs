//! The example service end to end, as part of `cargo xtask itest`: `am-example-service`
//! against an OTLP receiver that keeps the spans (`am-receiver otlp --spans`). Requests in;
//! at the collector each request's span holds its order machine, whose transitions are in the
//! same trace; the JSON log lines of the machine carry that trace ID; the probes and
//! `/metrics` answer on the app's own port; SIGTERM turns `/readyz` to 503 (never refused)
//! until the service exits 0 with a complete delivery report.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use xshell::{Shell, cmd};

use crate::Result;
use crate::backends::{self, Proc, Ready};

const ORDERS: usize = 3;

pub(crate) fn run(sh: &Shell, bin: &dyn Fn(&str) -> PathBuf, dir: &Path) -> Result<()> {
    eprintln!("==> am-example-service");
    cmd!(sh, "cargo build --quiet -p am-example-service -p am-testkit --bins").run()?;
    let spans_file = dir.join("service-spans.jsonl");
    let otlp_port = backends::free_port()?;
    let args = ["otlp", "--listen", &format!("127.0.0.1:{otlp_port}"), "--spans", &spans_file.to_string_lossy()]
        .map(String::from);
    let mut otlp =
        Proc::start("service-otlp", &bin("am-receiver").to_string_lossy(), &args, otlp_port, dir, Ready::Listening)?;

    let port = backends::free_port()?;
    let stderr = std::fs::File::create(dir.join("service.stderr.log"))?;
    let mut service = Command::new(bin("am-example-service"));
    for v in ["AM_DBG_ADDR", "AM_LOKI_ADDR", "AM_PROM_ADDR", "AM_PROM_PUSH_URL", "AM_GRAFANA_URL", "RUST_LOG"] {
        service.env_remove(v);
    }
    let mut child = service
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("AM_SERVICE", "orders")
        .env("AM_OTEL_TRACE", "1")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{otlp_port}"))
        .env("AM_LOG", "2")
        .env("AM_HEALTH_DRAIN", "1s")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start am-example-service: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let logs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::BufReader::new(stdout).read_to_string(&mut s);
        s
    });

    let result = drive(port, &mut child);
    let exit = child.wait()?;
    otlp.stop(true)?;
    let stdout = logs.join().map_err(|_| "the log reader panicked")?;
    std::fs::write(dir.join("service.stdout.log"), &stdout)?;
    let traces = result?;
    if !exit.success() {
        return Err(format!("am-example-service exited with {exit}").into());
    }
    let err = std::fs::read_to_string(dir.join("service.stderr.log"))?;
    // every span sent: `otel:    N spans: N sent, 0 dropped, 0 failed, 0 pending`, N > 0
    let otel = err.lines().find(|l| l.starts_with("  otel:    ")).unwrap_or_default();
    let counts: Vec<&str> = otel.split_whitespace().collect();
    let sent_all = counts.len() > 4 && counts[1] == counts[3] && counts[1] != "0";
    if !err.contains("am-telemetry: delivered\n") || !sent_all {
        return Err(format!("service: no complete delivery report on stderr:\n{err}").into());
    }
    check_spans(&spans_file, &traces)?;
    check_logs(&stdout, &traces)?;
    eprintln!(
        "service: {ORDERS} orders, each in its request's trace at the collector and in its JSON logs; drained on SIGTERM"
    );
    Ok(())
}

/// Readiness, orders, metrics, then SIGTERM and the drain; returns `(order, trace_id)` of
/// each order.
fn drive(port: u16, child: &mut std::process::Child) -> Result<Vec<(String, String)>> {
    let until = Instant::now() + Duration::from_secs(30);
    while backends::http_get(port, "/readyz").map(|(s, _)| s).unwrap_or(0) != 200 {
        if Instant::now() > until || child.try_wait()?.is_some() {
            return Err("service: /readyz never answered 200".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut traces = Vec::new();
    for _ in 0..ORDERS {
        let (status, body) = post(port, "/orders")?;
        let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("POST /orders: {e}: {body}"))?;
        let (Some(order), Some(trace)) = (v["order"].as_str(), v["trace_id"].as_str()) else {
            return Err(format!("POST /orders answered {status}: {body}").into());
        };
        if status != 200 || v["shipped"] != true {
            return Err(format!("POST /orders answered {status}: {body}").into());
        }
        traces.push((order.to_string(), trace.to_string()));
    }
    let (status, metrics) = backends::http_get(port, "/metrics")?;
    if status != 200 || !metrics.contains(r#"am_transitions_total{mach_id="orders-api",result="accepted"}"#) {
        return Err(format!("service: /metrics on the app's port answered {status} without the root machine").into());
    }
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
    let (mut answered_503, mut ready_after) = (0, false);
    loop {
        match backends::http_get(port, "/readyz") {
            Ok((503, _)) => answered_503 += 1,
            Ok((200, _)) if answered_503 > 0 => ready_after = true,
            Ok(_) => {}
            Err(_) => break,
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if answered_503 == 0 || ready_after {
        return Err(format!("service: /readyz while draining: {answered_503} × 503, ready again: {ready_after}").into());
    }
    Ok(traces)
}

/// A plain HTTP/1.0 `POST` without a body: `(status, body)`.
fn post(port: u16, path: &str) -> Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()))
}

/// Each order's machine span is a child of its request's span, and transitions of it are in
/// the same trace.
fn check_spans(file: &Path, traces: &[(String, String)]) -> Result<()> {
    let spans: Vec<serde_json::Value> =
        std::fs::read_to_string(file)?.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or("").to_string();
    for (order, trace) in traces {
        let in_trace: Vec<&serde_json::Value> = spans.iter().filter(|v| s(v, "trace_id") == *trace).collect();
        let request = in_trace
            .iter()
            .find(|v| s(v, "name") == "POST /orders")
            .ok_or_else(|| format!("spans: no request span in trace {trace} ({} spans there)", in_trace.len()))?;
        let machine = in_trace
            .iter()
            .find(|v| s(v, "name").ends_with(&format!(":{order}")))
            .ok_or_else(|| format!("spans: no machine span of {order} in its request's trace {trace}"))?;
        if s(machine, "parent_id") != s(request, "span_id") {
            return Err(format!("spans: {order}'s span is not a child of its request's span").into());
        }
        if in_trace.len() < 4 {
            return Err(format!("spans: trace {trace} has {} spans: no transitions of {order}", in_trace.len()).into());
        }
    }
    Ok(())
}

/// The machine's JSON log lines carry its request's trace ID.
fn check_logs(stdout: &str, traces: &[(String, String)]) -> Result<()> {
    let lines: Vec<serde_json::Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    for (order, trace) in traces {
        let of_order: Vec<&serde_json::Value> =
            lines.iter().filter(|v| v["fields"]["machine"].as_str() == Some(order.as_str())).collect();
        if of_order.is_empty() {
            return Err(format!("logs: no JSON line of machine {order}").into());
        }
        if let Some(bad) = of_order.iter().find(|v| v["fields"]["trace_id"].as_str() != Some(trace.as_str())) {
            return Err(format!("logs: a line of {order} without its trace ID {trace}: {bad}").into());
        }
    }
    Ok(())
}
