//! Manual setup: a pipeline built in code, a tracer with explicit options, logs, and span
//! counts. Runs without a collector (exports then fail and are counted).
//!
//! ```sh
//! cargo run -p am-otel --example otel_manual -- http://127.0.0.1:4317
//! ```

use std::time::Duration;

use am_core::{LogLevel, Machine, Schema, State, err_msg};
use am_otel::{OtlpPipeline, Protocol, StateFilter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::args().nth(1).unwrap_or_else(|| "http://127.0.0.1:4317".into());
    let otel = OtlpPipeline::builder()
        .service("manual-demo")
        .endpoint(endpoint)
        .protocol(Protocol::Grpc)
        .timeout(Duration::from_secs(1))
        .logs(true)
        .build()?;
    let tracer = otel
        .tracer_builder()
        .transitions(true)
        .args(true)
        .skip_canceled(true)
        .filter(StateFilter::new().skip(["Heartbeat"]))
        .build()?;
    let logs = otel.log_tracer().expect("logs on");

    let schema = Schema::builder()
        .state("Connecting", State::new().remove(["Connected"]))
        .state("Connected", State::new().remove(["Connecting"]))
        .build()?;
    let conn =
        Machine::builder(schema).id("conn").log_level(LogLevel::Changes).tracer(tracer.clone()).tracer(logs).build();
    conn.add(&["Connecting"])?;
    conn.add(&["Connected"])?;
    conn.add_err(err_msg("connection reset"))?; // ERROR status on `!0: [add] Exception`
    conn.dispose(); // ends spans, flushes and shuts the trace provider down

    println!("spans: {:?}", otel.span_stats());
    otel.shutdown(Duration::from_secs(2));
    Ok(())
}
