//! The backends of the bench in a process of their own, so that what they spend decoding
//! is not counted as the exporters' CPU: the bench starts itself again with
//! [`CHILD_ENV`] set, and that process runs a debugger server, a Loki receiver and an OTLP
//! (gRPC) receiver, each counting what it accepted.
//!
//! Protocol on the child's pipes: it prints `DBG_ADDR LOKI_ADDR OTLP_URL` once; each line
//! `counts` on its stdin is answered with `DBG_MESSAGES LOKI_ENTRIES OTLP_SPANS`; it exits
//! when its stdin closes (the bench ended, or died).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Set in the child's environment: run the receivers instead of the bench.
pub const CHILD_ENV: &str = "AM_BENCH_RECEIVERS";

/// The receivers' process, seen from the bench.
pub struct Receivers {
    pub dbg: String,
    pub loki: String,
    pub otlp: String,
    pub pid: u32,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// What the receivers accepted so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub dbg_messages: u64,
    pub loki_entries: u64,
    pub otlp_spans: u64,
}

impl Receivers {
    /// Starts the bench binary again as the receivers' process.
    pub fn start() -> Receivers {
        let exe = std::env::current_exe().expect("the bench's own path");
        let mut child = Command::new(exe)
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the receivers' process");
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the receivers' addresses");
        let mut it = line.split_whitespace().map(String::from);
        let (Some(dbg), Some(loki), Some(otlp)) = (it.next(), it.next(), it.next()) else {
            panic!("the receivers' process said {line:?}");
        };
        let pid = child.id();
        Receivers { dbg, loki, otlp, pid, child, stdin, stdout }
    }

    pub fn counts(&mut self) -> Counts {
        writeln!(self.stdin, "counts").expect("ask the receivers");
        self.stdin.flush().expect("ask the receivers");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("the receivers' counts");
        let n: Vec<u64> = line.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        Counts { dbg_messages: n[0], loki_entries: n[1], otlp_spans: n[2] }
    }
}

impl Drop for Receivers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's main: serves until its stdin closes.
pub fn serve() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let messages = Arc::new(AtomicU64::new(0));
    let n = messages.clone();
    let server = rt
        .block_on(am_dbg_proto::Server::bind("127.0.0.1:0", move |ev| {
            if let am_dbg_proto::ServerEvent::Message { .. } = ev {
                n.fetch_add(1, Relaxed);
            }
        }))
        .unwrap();
    let loki = am_testkit::loki::Receiver::counting("127.0.0.1:0".parse().unwrap());
    let otlp = am_testkit::otlp::Receiver::counting("127.0.0.1:0".parse().unwrap());
    println!("{} {} http://{}", server.local_addr(), loki.addr(), otlp.addr);
    let _ = std::io::stdout().flush();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "counts" {
            let spans = otlp.counts().spans.load(Relaxed);
            println!("{} {} {spans}", messages.load(Relaxed), loki.entries_accepted());
            let _ = std::io::stdout().flush();
        }
    }
    drop(server);
    rt.shutdown_background();
}
