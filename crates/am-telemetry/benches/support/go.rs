//! Target 6 of issue #31, the Go protocol beside the native one: one machine sends
//! transitions at a steady rate to the receivers' debugger server, once over `gob://` (the
//! Go am-dbg's protocol, as a Go client's transitions arrive there) and once over the native
//! protocol. The client's CPU is this process's; the server's (the code `am-dbg record`
//! runs, less writing the file) is the receivers' process's, read from its threads'
//! `schedstat` — nothing else sends to that process meanwhile.

use std::time::{Duration, Instant};

use am_core::{LogLevel, Machine, Schema};
use am_dbg_proto::DbgTracer;

use crate::measure::{process_cpu_ns, wait_until};

/// What one protocol cost per transition.
pub struct Side {
    pub client_ns: f64,
    pub server_ns: f64,
    pub sent: u64,
    pub dropped: u64,
}

/// CPU time so far of every live thread of process `pid`, in ns.
fn pid_cpu_ns(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    dir.flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
        .sum()
}

/// `n` transitions at `rate` a second (a burst every millisecond) from one machine bound to
/// a debugger tracer for `addr`, then a flush; `Err` when no tracer can be built for it
/// (`gob://` without am-dbg-proto's `go` feature).
pub fn run(addr: &str, rx_pid: u32, n: u64, rate: f64) -> Result<Side, String> {
    let tracer = DbgTracer::builder().addr(addr).build().map_err(|e| format!("{addr}: {e}"))?;
    let schema = Schema::builder().states(["A", "B", "C"]).build().expect("a schema");
    let m = Machine::builder(schema).id("go-protocol").log_level(LogLevel::Changes).tracer(tracer.clone()).build();
    // connected, and the schema sent, before anything is counted
    let _ = m.add(&["B"]);
    let until = Instant::now() + Duration::from_secs(10);
    while !tracer.stats().connected && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(tracer.flush(Duration::from_secs(10)).in_time, "{addr}: not connected: {:?}", tracer.stats());
    let s0 = tracer.stats();
    let per_tick = ((rate / 1000.0).round() as u64).max(1);
    let (c0, r0) = (process_cpu_ns(), pid_cpu_ns(rx_pid));
    let start = Instant::now();
    let (mut done, mut waited, mut tick) = (0, 0, 0);
    while done < n {
        waited += wait_until(start + Duration::from_millis(tick));
        tick += 1;
        for _ in 0..per_tick.min(n - done) {
            let _ = if done % 2 == 0 { m.add(&["A"]) } else { m.remove(&["A"]) };
            done += 1;
        }
    }
    let flushed = tracer.flush(Duration::from_secs(120));
    let (c1, r1) = (process_cpu_ns(), pid_cpu_ns(rx_pid));
    let s1 = tracer.stats();
    assert!(flushed.in_time, "{addr}: flushed: {s1:?}");
    Ok(Side {
        client_ns: (c1 - c0 - waited) as f64 / n as f64,
        server_ns: (r1 - r0) as f64 / n as f64,
        sent: s1.sent - s0.sent,
        dropped: s1.dropped - s0.dropped,
    })
}
