//! `am-example-service`: a service as Rust services are written today — tokio, axum, `tracing`
//! — with a state machine per request and every am exporter bound from the environment.
//!
//! - `POST /orders` runs one order as a machine (`order-N`, a submachine of the service's
//!   root machine `orders-api`) made for the request: its span is a child of the request's
//!   span (`MachineBuilder::trace_parent`), so one trace holds the request and the machine's
//!   transitions.
//! - `/metrics`, `/healthz`, `/readyz` are served by the app's own router
//!   (`Telemetry::router`), next to its routes: no second port.
//! - Logs go to stdout as JSON (`tracing_subscriber`), machine log entries included (am-core's
//!   `tracing` events carry `machine`, `tx`, `trace_id`, `span_id`); request spans go to the
//!   same OTLP pipeline as the machine spans (`tracing-opentelemetry` on am-otel's provider).
//! - SIGTERM or Ctrl-C: `/readyz` answers 503 at once (held for `AM_HEALTH_DRAIN`), then axum
//!   stops accepting and finishes the requests in flight, then the exporters flush; the
//!   delivery report goes to stderr.
//!
//! Run it: `AM_OTEL_TRACE=1 AM_LOG=2 cargo run -p am-example-service -- --listen 127.0.0.1:8080`,
//! then `curl -X POST localhost:8080/orders`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use am_telemetry::am_core::{Handlers, Machine, Schema, State, TraceContext};
use am_telemetry::{BindOptions, bind_env_with};
use axum::extract::State as AxumState;
use axum::routing::post;
use axum::{Json, Router};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

const HELP: &str = "\
am-example-service: an axum service with a machine per request, every am exporter bound
from the environment (AM_OTEL_TRACE, AM_LOKI_ADDR, AM_DBG_ADDR, ...; see docs/env.md)

USAGE:
    am-example-service [--listen ADDR]

    --listen ADDR   where to serve (default 127.0.0.1:8080): POST /orders, and the
                    probes and metrics: /metrics, /healthz, /readyz

Logs are JSON lines on stdout; the bind and delivery reports go to stderr.
";

/// The service's root machine: started, then ready to take orders.
fn service_schema() -> Schema {
    Schema::builder()
        .state("Start", State::new())
        .state("Ready", State::new().require(["Start"]))
        .build()
        .unwrap_or_else(|e| panic!("the service schema: {e}"))
}

/// One order's life.
fn order_schema() -> Schema {
    Schema::builder()
        .state("Received", State::new())
        .state("Validated", State::new().require(["Received"]))
        .state("Paid", State::new().require(["Validated"]))
        .state("Shipped", State::new().require(["Paid"]))
        .build()
        .unwrap_or_else(|e| panic!("the order schema: {e}"))
}

struct App {
    root: Machine,
    orders: Schema,
    next: AtomicU64,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:8080".to_string();
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            ("-h" | "--help", _) => {
                print!("{HELP}");
                return;
            }
            _ => {
                eprintln!("am-example-service: unexpected argument {a:?}\n\n{HELP}");
                std::process::exit(2);
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("am-example-service: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(&listen)) {
        eprintln!("am-example-service: {}", am_telemetry::am_core::ErrorChain(&*e));
        std::process::exit(1);
    }
}

async fn run(listen: &str) -> Result<(), Box<dyn std::error::Error>> {
    let root = Machine::builder(service_schema()).id("orders-api").build();
    // prom binds for the app's own router even without AM_PROM_ADDR
    let telemetry = bind_env_with(&root, &BindOptions::default().app_server())?;
    eprint!("{}", telemetry.report());
    init_logging();

    let app = Arc::new(App { root: root.clone(), orders: order_schema(), next: AtomicU64::new(1) });
    let router = Router::new()
        .route("/orders", post(create_order))
        .with_state(app)
        .merge(telemetry.router().ok_or("prom is not bound")?);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("am-example-service: listening on {}", listener.local_addr()?);
    root.add(&["Start", "Ready"])?;

    let mut signals = am_telemetry::am_core::exporter::StopSignals::new()?;
    let prom = telemetry.prom().cloned().ok_or("prom is not bound")?;
    let drain = async move {
        let name = signals.next().await;
        // readiness first: the Service stops routing here while requests still finish
        let hold = prom.drain();
        tracing::info!(signal = name, hold_ms = hold.as_millis() as u64, "shutting down: /readyz answers 503");
        tokio::time::sleep(hold).await;
    };
    axum::serve(listener, router).with_graceful_shutdown(drain).await?;
    root.dispose();
    let delivered = tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    eprint!("{delivered}");
    Ok(())
}

/// JSON lines on stdout (`RUST_LOG` filters, default `info`), and the request spans on the
/// machines' OTLP pipeline when am-otel is bound.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(false);
    let otel = am_telemetry::otel::env_tracer_provider()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("am-example-service")));
    tracing_subscriber::registry().with(filter).with(json).with(otel).init();
}

/// Runs one order as a machine made for this request, in the request's trace.
#[tracing::instrument(name = "POST /orders", skip_all, fields(order, trace_id))]
async fn create_order(AxumState(app): AxumState<Arc<App>>) -> Json<serde_json::Value> {
    let id = format!("order-{}", app.next.fetch_add(1, Relaxed));
    let span = tracing::Span::current();
    span.record("order", id.as_str());
    let sc = span.context().span().span_context().clone();
    let mut b = Machine::builder(app.orders.clone()).id(id.clone()).parent(&app.root);
    let trace_id = sc.is_valid().then(|| sc.trace_id().to_string());
    if sc.is_valid() {
        span.record("trace_id", trace_id.as_deref());
        b = b.trace_parent(TraceContext { trace_id: sc.trace_id().to_bytes(), span_id: sc.span_id().to_bytes() });
    }
    let order = b.build();
    let handlers = Handlers::new("order")
        .state("Validated", |e| e.machine().log("validated: 1 item, 12.50 EUR"))
        .state("Paid", |e| e.machine().log("payment captured"));
    let shipped = order
        .bind_handlers(handlers)
        .and_then(|_| order.add(&["Received"]))
        .and_then(|_| order.add(&["Validated"]))
        .and_then(|_| order.add(&["Paid"]))
        .and_then(|_| order.add(&["Shipped"]))
        .map(|_| order.is1("Shipped"));
    let shipped = match shipped {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(order = %id, "order failed: {e}");
            false
        }
    };
    order.dispose();
    tracing::info!(order = %id, shipped, "order handled");
    Json(serde_json::json!({"order": id, "shipped": shipped, "trace_id": trace_id}))
}
