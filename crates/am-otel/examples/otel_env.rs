//! Env setup: everything from variables, as with the Go exporter.
//!
//! ```sh
//! AM_SERVICE=shop AM_OTEL_TRACE=1 AM_OTEL_TRACE_TXS=1 AM_OTEL_LOG=1 AM_LOG=2 \
//!   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \
//!   cargo run -p am-otel --example otel_env
//! ```
//!
//! Start a collector first (e.g. `rotel-agent start --otlp-grpc-endpoint 127.0.0.1:4317
//! --exporter blackhole --debug-log traces --debug-log-verbosity detailed`), or Jaeger. Without
//! `AM_OTEL_TRACE` / `AM_SERVICE` the example runs untraced and says so.

use am_core::{Handlers, Machine, Schema, State};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let schema = Schema::builder()
        .state("Start", State::new())
        .state("Ready", State::new().auto().require(["Start"]))
        .state("Order", State::new().multi())
        .build()?;
    let shop = Machine::builder(schema).id("shop").build();
    let binding = am_otel::bind_env(&shop)?;
    match &binding {
        am_core::Binding::Bound { guard, .. } => {
            println!("tracing with {:?}", guard.tracer().options());
            // a child process would join this trace with these variables
            for (k, v) in guard.tracer().child_env() {
                println!("  child env {k}={v}");
            }
        }
        am_core::Binding::Skipped(why) => println!("not tracing: {why}"),
    }
    let cart = Machine::builder(Schema::builder().states(["Item", "Paid"]).build()?).id("cart").parent(&shop).build();
    shop.bind_handlers(Handlers::new("shop").state("Ready", |e| e.machine().log("open for orders")))?;

    shop.add(&["Start"])?;
    for _ in 0..3 {
        shop.add(&["Order"])?;
        cart.add(&["Item"])?;
    }
    cart.add(&["Paid"])?;
    cart.dispose();
    // disposing the root flushes and shuts the env pipeline down (bounded)
    shop.dispose();
    if let Some(s) = am_otel::env_span_stats() {
        println!("spans still queued: {s:?}");
    }
    println!("done");
    Ok(())
}
