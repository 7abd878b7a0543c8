//! A paced load for a running `am-dbg` (the TUI or `record`): one machine toggling at RATE
//! transitions per second for SECS seconds, streamed to ADDR; prints what the tracer sent and
//! dropped. Used to check that the TUI keeps up with 200k transitions/s.
//!
//! ```text
//! cargo run --release -p am-dbg                                        # terminal 1
//! cargo run --release -p am-dbg --example load -- 127.0.0.1:6831 200000 5   # terminal 2
//! ```

use std::time::{Duration, Instant};

use am_core::{Machine, Schema};
use am_dbg_proto::DbgTracer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:6831".into());
    let rate: u64 = args.next().map(|v| v.parse()).transpose()?.unwrap_or(200_000);
    let secs: u64 = args.next().map(|v| v.parse()).transpose()?.unwrap_or(5);
    let tracer = DbgTracer::builder().addr(addr).queued(false).build()?;
    let m = Machine::builder(Schema::builder().states(["A", "B"]).build()?).id("load").tracer(tracer.clone()).build();
    let start = Instant::now();
    let burst = rate / 1000; // every millisecond
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        let due = start.elapsed().as_millis() as u64 * burst;
        while n < due {
            m.toggle(&["A"])?;
            n += 1;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let produced = n as f64 / start.elapsed().as_secs_f64();
    let delivery = tracer.flush(Duration::from_secs(30));
    println!("produced {n} transitions ({produced:.0}/s); {delivery}");
    Ok(())
}
