//! `am-telemetry`: every `am` exporter behind a cargo feature, and [`bind_env`], which
//! binds each compiled-in exporter that its `AM_*` variable switches on and reports what it
//! did.
//!
//! The crates are not on crates.io yet; until they are, depend on the repository:
//!
//! ```sh
//! cargo add am-telemetry --git https://github.com/am-rs/am --features prom,otel,dbg
//! ```
//!
//! Once they are published, `cargo add am-telemetry --features prom,otel,dbg` works, and you
//! pick exporters in one of two ways:
//!
//! ```toml
//! # only the crates you need
//! [dependencies]
//! am-core = "0.1"
//! am-dbg-proto = "0.1"
//!
//! # or the umbrella, with features
//! [dependencies]
//! am-telemetry = { version = "0.1", features = ["prom", "otel"] }   # or "full"
//! ```
//!
//! ```
//! use am_telemetry::am_core::{Machine, Schema};
//!
//! let m = Machine::builder(Schema::builder().states(["A"]).build()?).id("worker").build();
//! let telemetry = am_telemetry::bind_env(&m)?; // reads AM_PROM_*, AM_OTEL_*, AM_DBG_ADDR, …
//! print!("{}", telemetry.report()); // bound, skipped and why, ignored, notes
//! m.add(&["A"])?;
//! telemetry.shutdown(); // flushes what this machine produced and releases the exporters
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The lifecycle
//!
//! 1. **Build**: each exporter reads its variables (builder > env > default); an unusable
//!    value is an [`Error`] naming the variable.
//! 2. **Bind**: [`bind_env`] binds a *root* machine; submachines built after that inherit
//!    every exporter. Called on a submachine it binds nothing and the report says why.
//!    Exporters bound from the env are shared by every root machine of the process.
//! 3. **Shutdown**: [`Telemetry::shutdown`] (or dropping it) flushes what the machine
//!    produced within [`Telemetry::SHUTDOWN_DEADLINE`] and releases its share of each
//!    exporter; an exporter stops when its last share is released (or its last root machine
//!    is disposed).
//!
//! # Service name
//!
//! Every exporter reports as one service: `AM_SERVICE`, else `OTEL_SERVICE_NAME`, else the
//! executable's name ([`am_core::env::service`]). The report shows which.
//!
//! # Diagnostics
//!
//! [`Telemetry::report`] needs no logging setup. Warnings also go through `tracing` (target
//! `am_telemetry` and each exporter's crate name); to see them, install a subscriber, e.g.
//! `tracing_subscriber::fmt().init()`.
//!
//! # In an axum service, with `tracing`
//!
//! `/metrics`, `/healthz` and `/readyz` go on the app's own router (feature `axum`), with
//! the same answers as the built-in server; request spans go on the same OTLP pipeline as the
//! machines' spans; a machine made for a request lives in the request's trace:
//!
//! ```ignore
//! let telemetry = am_telemetry::bind_env_with(&root, &BindOptions::default().app_server())?;
//! let app = Router::new().route("/orders", post(create_order)).merge(telemetry.router().unwrap());
//! // request spans on the machines' pipeline
//! let otel = am_telemetry::otel::env_tracer_provider()
//!     .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("orders")));
//! tracing_subscriber::registry().with(tracing_subscriber::fmt::layer().json()).with(otel).init();
//! // in the handler: the order's machine under the request's span
//! let sc = tracing::Span::current().context().span().span_context().clone();
//! let cx = TraceContext { trace_id: sc.trace_id().to_bytes(), span_id: sc.span_id().to_bytes() };
//! let order = Machine::builder(schema).id(id).parent(&root).trace_parent(cx).build();
//! ```
//!
//! With the feature `log`, every machine log entry is a `tracing` event (target `am_core`)
//! with the fields `machine`, `tx`, `trace_id` and `span_id`, so a JSON log line joins its
//! trace (Fluent Bit → Loki, Tempo); this line is from the example service
//! (`crates/am-example-service`, run by `cargo xtask itest`):
//!
//! ```text
//! {"timestamp":"2026-12-07T19:29:00.423992Z","level":"INFO","fields":{"message":"[order] [state] +Validated",
//!  "machine":"order-2","tx":"acfc20154ebf77be","trace_id":"a466555e06ca3b19b6fe68821887c1e0",
//!  "span_id":"43df1877a7ac2245","level":2},"target":"am_core",
//!  "span":{"order":"order-2","trace_id":"a466555e06ca3b19b6fe68821887c1e0","name":"POST /orders"}}
//! ```
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `prom` | Prometheus scrape endpoint (`AM_PROM_ADDR`) |
//! | `prom-push` | the Pushgateway pusher too (`AM_PROM_PUSH_URL`) |
//! | `otel` | OpenTelemetry traces and logs over OTLP/gRPC (`AM_OTEL_TRACE`, `AM_OTEL_LOG`) |
//! | `otel-http`, `otel-http-json` | OTLP over HTTP with protobuf or JSON bodies (`OTEL_EXPORTER_OTLP_PROTOCOL`) |
//! | `otel-metrics` | machine metrics over OTLP (`AM_OTEL_METRICS`) |
//! | `loki` | machine logs pushed to Loki (`AM_LOKI_ADDR`) |
//! | `dbg` | the live debugger client (`AM_DBG_ADDR`) |
//! | `grafana` | dashboards uploaded to Grafana (`AM_GRAFANA_URL`) |
//! | `log` | machine log entries (`AM_LOG`) as `tracing` events with `machine`, `tx`, `trace_id` and `span_id` fields, for any subscriber |
//! | `axum` | `/metrics`, `/healthz`, `/readyz` on the app's own axum server ([`Telemetry::router`]) |
//! | `tls` | `https://` endpoints, a CA of your own, client certificates (rustls) |
//! | `full` | all of the above |
//!
//! Every variable any `am` crate reads, with its default and an example, is in [`env`](mod@env).
#![warn(missing_docs)]

mod bind;
mod switches;
// shipped inside the crate (not the workspace's docs/, which `cargo package` leaves behind)
#[doc = include_str!("../docs/env.md")]
pub mod env {}

pub use am_core;
#[cfg(feature = "dbg")]
pub use am_dbg_proto as dbg;
#[cfg(feature = "grafana")]
pub use am_grafana_gen as grafana;
#[cfg(feature = "loki")]
pub use am_loki as loki;
#[cfg(feature = "otel")]
pub use am_otel as otel;
#[cfg(feature = "prom")]
pub use am_prom as prom;
pub use bind::{BindOptions, DeliveryReport, Error, Exporter, IgnoredVar, Report, Telemetry, bind_env, bind_env_with};
