//! Pushes the log of a machine and its submachine to Loki, then prints what was sent.
//!
//! `cargo run -p am-loki --example loki_push [-- ADDR]`, where ADDR defaults to
//! `AM_LOKI_ADDR`, else `localhost:3100`. With no Loki listening, the entries are retried
//! and then counted as failed. In Grafana: `{service_name="am_loki_example"}`.

use std::time::Duration;

use am_core::{LogLevel, Machine, Schema, State};
use am_loki::LokiTracer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut b = LokiTracer::builder()
        .service("am-loki-example")
        .max_retries(2)
        .backoff(Duration::from_millis(100), Duration::from_millis(400))
        .shutdown_timeout(Duration::from_secs(3));
    if let Some(addr) = std::env::args().nth(1) {
        b = b.addr(addr);
    }
    let loki = b.build()?;
    // pushes what is left when main returns, within the shutdown timeout
    let guard = loki.guard();
    println!("pushing to {} as service_name={:?}", loki.url(), loki.service());

    let schema = Schema::builder()
        .state("Start", State::new())
        .state("Connected", State::new().require(["Start"]))
        .state("Ready", State::new().auto().require(["Connected"]))
        .build()?;
    let m = Machine::builder(schema.clone()).id("example-root").log_level(LogLevel::Ops).tracer(loki.clone()).build();
    let worker = Machine::builder(schema).id("example-worker").parent(&m).build();

    m.add(&["Start", "Connected"])?;
    for i in 0..3 {
        worker.add(&["Start", "Connected"])?;
        worker.log(format!("job {i} done"));
        worker.remove(&["Connected"])?;
    }
    m.dispose();
    worker.dispose();

    drop(guard);
    let s = loki.stats();
    println!(
        "entries: {} logged, {} sent in {} requests, {} failed, {} rejected, {} dropped, {} retries",
        s.enqueued, s.sent, s.batches, s.failed, s.rejected, s.dropped, s.retries
    );
    Ok(())
}
