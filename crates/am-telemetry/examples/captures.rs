//! Prints what a user sees, for the README's captures (`cargo xtask captures` runs it and
//! checks the README is up to date): `report` — the bind report for the environment it runs
//! in; `metrics` — the `/metrics` lines of a scripted order machine (the counters and state
//! gauges; durations vary from run to run and are left out).
//!
//! `cargo run -p am-telemetry --example captures --features full -- report|metrics`

use am_telemetry::am_core::{Machine, Schema, State};

fn schema() -> Result<Schema, am_telemetry::am_core::Error> {
    Schema::builder()
        .state("Received", State::new())
        .state("Validated", State::new().require(["Received"]))
        .state("Paid", State::new().require(["Validated"]))
        .state("Shipped", State::new().require(["Paid"]))
        .build()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("report") => {
            let m = Machine::builder(schema()?).id("checkout").build();
            let options = am_telemetry::BindOptions::default().app_server();
            let t = am_telemetry::bind_env_with(&m, &options)?;
            print!("{}", t.report());
            // nothing to deliver: the report above is the capture
            let _ = t.shutdown_within(std::time::Duration::from_millis(100));
        }
        Some("metrics") => {
            let prom = am_telemetry::prom::PromTracer::builder().service("checkout").build()?;
            let m = Machine::builder(schema()?).id("order-7").build();
            prom.bind(&m)?;
            m.add(&["Received"])?;
            m.add(&["Paid"])?; // canceled: Paid requires Validated
            m.add(&["Validated"])?;
            m.add(&["Paid"])?;
            m.add(&["Shipped"])?;
            let text = prom.encode(am_telemetry::prom::Format::Text);
            let keep = ["am_transitions_total", "am_states_active", "am_state_active", "am_queue_length"];
            for line in text.lines().filter(|l| {
                keep.iter().any(|k| l.starts_with(k)) || keep.iter().any(|k| l.starts_with(&format!("# TYPE {k} ")))
            }) {
                println!("{line}");
            }
        }
        _ => return Err("usage: captures report|metrics".into()),
    }
    Ok(())
}
