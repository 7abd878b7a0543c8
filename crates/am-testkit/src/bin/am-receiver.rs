//! `am-receiver`: an OTLP (gRPC) or Loki push receiver as a process of its own, for soak
//! and fault runs that kill and restart backends. It keeps nothing but counts, prints
//! `listening on ADDR` once, then a JSON line of its totals every half second while they
//! change, and a last one (`"final":true`) when stopped with SIGTERM or Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use am_testkit::{loki, otlp};

const HELP: &str = "\
am-receiver: count what exporters push, on loopback

USAGE:
    am-receiver otlp [--listen ADDR] [--spans FILE]
                                        OTLP/gRPC traces, logs and metrics; with --spans it
                                        keeps the spans and writes them to FILE as JSON lines
                                        (name, trace_id, span_id, parent_id, service, attrs)
                                        when stopped
    am-receiver loki [--listen ADDR]    Loki push API (snappy protobuf and JSON)

ADDR defaults to 127.0.0.1:0 (a free port). Output, on stdout:
    listening on 127.0.0.1:PORT
    {\"spans\":N,\"logs\":N,\"metrics\":N}   (otlp)  or  {\"entries\":N}   (loki)
";

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_default();
    let mut listen: SocketAddr = "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}"));
    let mut spans_file: Option<std::path::PathBuf> = None;
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--listen", Some(v)) => match v.parse() {
                Ok(addr) => listen = addr,
                Err(e) => fail(&format!("--listen {v:?}: {e}")),
            },
            ("--spans", Some(v)) => spans_file = Some(v.into()),
            _ => fail(&format!("unexpected argument {a:?}")),
        }
    }
    let mut on_stop: Option<Box<dyn FnOnce()>> = None;
    let totals: Box<dyn Fn() -> String> = match kind.as_str() {
        "otlp" => {
            let r = std::sync::Arc::new(match &spans_file {
                Some(_) => otlp::Receiver::grpc_at(listen),
                None => otlp::Receiver::counting(listen),
            });
            println!("listening on {}", r.addr);
            if let Some(file) = spans_file.clone() {
                let r = r.clone();
                on_stop = Some(Box::new(move || write_spans(&file, &r.spans())));
            }
            Box::new(move || {
                let c = r.counts();
                let n = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
                format!(r#""spans":{},"logs":{},"metrics":{}"#, n(&c.spans), n(&c.logs), n(&c.metrics))
            })
        }
        "loki" => {
            let r = loki::Receiver::counting(listen);
            println!("listening on {}", r.addr);
            Box::new(move || format!(r#""entries":{}"#, r.entries_accepted()))
        }
        "-h" | "--help" => {
            print!("{HELP}");
            return;
        }
        other => fail(&format!("unknown receiver {other:?}")),
    };
    let _ = std::io::stdout().flush();
    let stop = stop_flag();
    let mut last = String::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let now = totals();
        if now != last {
            println!("{{{now}}}");
            let _ = std::io::stdout().flush();
            last = now;
        }
    }
    if let Some(f) = on_stop {
        f();
    }
    println!("{{{},\"final\":true}}", totals());
}

/// The spans as JSON lines, for a test to read.
fn write_spans(file: &std::path::Path, spans: &[otlp::RSpan]) {
    let mut out = String::new();
    for s in spans {
        let v = serde_json::json!({
            "name": s.name, "trace_id": s.trace_id, "span_id": s.span_id, "parent_id": s.parent_id,
            "service": s.service, "scope": s.scope, "attrs": s.attrs,
        });
        out.push_str(&v.to_string());
        out.push('\n');
    }
    if let Err(e) = std::fs::write(file, out) {
        eprintln!("am-receiver: cannot write {}: {e}", file.display());
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("am-receiver: {msg}\n\n{HELP}");
    std::process::exit(2)
}

/// Set on SIGTERM or SIGINT, by a signal thread of a one-thread tokio runtime.
fn stop_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = flag.clone();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    std::thread::spawn(move || {
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
                return;
            };
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        });
        f.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    flag
}
