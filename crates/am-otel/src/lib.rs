//! `am-otel` — OpenTelemetry traces, logs and metrics of asyncmachine machines, exported
//! over OTLP (gRPC by default; HTTP with protobuf or JSON bodies with the `http` or
//! `http-json` feature).
//!
//! - [`OtelTracer`] records the Go exporter's span tree (names and attributes kept, so
//!   Jaeger/Tempo views match):
//!
//!   ```text
//!   root
//!   └── mach:0:api                 attr id, parent_id, tags
//!       ├── 0:states               attr mach_id
//!       │   └── 0:Ready            name group, one per state ever traced
//!       │       └── 0:Ready        one span per activation (open while active), attr tx_id
//!       ├── 0:transitions          (with transitions on)
//!       │   └── 0: [add] Ready     one per transition; `!` prefix when raising Exception
//!       └── 0:submachines
//!           └── mach:1:worker      the child's subtree (inherited tracer)
//!   ```
//!
//!   Transition spans carry `tx_id`, `time_before`, `mutation`, `states_diff`,
//!   `time_after`, `accepted`, `auto`, `steps_count`, optional `args.<name>`, one event per
//!   handler call (attr `emitter`), links to the state spans they opened or closed and to
//!   the source transition (last 300 per machine). Unlike Go, a transition that activates
//!   `Exception` gets status ERROR and an `exception` event, canceled transitions get
//!   `accepted=false` (or are skipped), and `TRACEPARENT` is honoured.
//!
//!   A transition only copies a small record into its machine's bounded buffer; the
//!   tracer's `am-otel-spans` thread builds the SDK spans (with the span IDs the machine's
//!   trace context already named, via [`AmIdGenerator`]). Bench, add/remove pair vs no
//!   tracer, same run: states only (the default) 1.5x, states and transitions 2.7x.
//! - Options on [`OtelTracerBuilder`] or from `AM_OTEL_TRACE_*` variables ([`mod@env`]), state
//!   allow/skip rules in [`StateFilter`]. Builder > env > default.
//! - [`OtlpPipeline`] builds the OTLP exporters with a batch processor (Go-parity 100 ms /
//!   50 spans) on its own runtime thread, so it works with or without tokio; spans are
//!   counted ([`SpanStats`]): a slow or absent collector costs dropped spans, never
//!   machine speed or unbounded memory.
//! - [`bind_env`] activates everything from the env (`AM_OTEL_TRACE`, `AM_SERVICE`).
//! - [`OtelLogTracer`] turns machine log entries into OTel log records carrying the
//!   machine's current trace/span IDs (`AM_OTEL_LOG`).
//! - Feature `metrics`: `OtelMetricsTracer`, am-prom's quantities as OTel instruments.
//! - Root trace sharing: [`env_parent`] reads `AM_OTEL_TRACE_ID` / `AM_OTEL_SPAN_ID` or
//!   `TRACEPARENT`; [`OtelTracer::child_env`] gives the variables for a child process.
//!
//! # Cargo features
//!
//! - `grpc` (default): OTLP over gRPC (tonic): [`Protocol::Grpc`],
//!   `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`.
//! - `http`: OTLP over HTTP with protobuf bodies (reqwest): [`Protocol::HttpProtobuf`],
//!   `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`.
//! - `http-json`: OTLP over HTTP with JSON bodies (reqwest): [`Protocol::HttpJson`],
//!   `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`.
//! - `metrics`: `OtelMetricsTracer` and the metrics exporter of the transports above.
//!
//! A transport feature compiles in that transport of `opentelemetry-otlp` (and nothing of
//! the others) with retries of failed exports ([`Retry`], set with
//! [`OtlpPipelineBuilder::retry`]). Asking for a transport that is not compiled in, by
//! [`OtlpPipelineBuilder::protocol`] or `OTEL_EXPORTER_OTLP_PROTOCOL`, fails with
//! [`Error::TransportDisabled`]. Without any transport feature only
//! [`OtlpPipeline::with_exporter`] pipelines can be built.
//!
//! # Lifecycle
//!
//! The three steps every exporter of this workspace follows (drawn in the repository's
//! `docs/architecture.md`):
//!
//! 1. **Build**: an [`OtlpPipeline`] (OTLP exporters and batch processors on a runtime of
//!    its own) and an [`OtelTracer`] from it ([`OtelTracerBuilder`]; `OTEL_*` / `AM_OTEL_*`
//!    fallbacks, each checked).
//! 2. **Bind / attach**: [`OtelTracer::bind`]; the machine attaches one per-machine span tree
//!    (its `mach:<n>:<id>` span and groups); submachines inherit and hang under it.
//! 3. **Shut down**: [`OtelTracer::shutdown`] ends the open spans, flushes and shuts the
//!    pipeline down within the deadline (or an [`OtelGuard`]).
//!
//! [`bind_env`] does steps 1 and 2 from the environment and returns the guard for step 3.
//!
//! # Example
//!
//! ```
//! use am_core::{Machine, Schema};
//! use am_otel::OtlpPipeline;
//! use std::time::Duration;
//!
//! // no collector on this port: exports fail and are counted, transitions are unaffected
//! let otel = OtlpPipeline::builder()
//!     .service("checkout")
//!     .endpoint("http://127.0.0.1:9")
//!     .timeout(Duration::from_millis(200))
//!     .build()?;
//! let tracer = otel.tracer_builder().transitions(true).build()?;
//! let m = Machine::builder(Schema::builder().states(["Ready"]).build()?)
//!     .id("cart")
//!     .tracer(tracer.clone())
//!     .build();
//! m.add(&["Ready"])?;
//! m.remove(&["Ready"])?;
//! m.dispose(); // ends the spans; the last top-level machine also shuts the pipeline down
//! let s = otel.span_stats();
//! // root, mach:0:cart, 0:states, 0:transitions, 0:Ready (group), 0:Ready, 2 transitions
//! assert_eq!(s.ended, 8);
//! assert_eq!(s.exported + s.failed + s.dropped, 8);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Combining with `tracing-opentelemetry`
//!
//! The workspace pins the OpenTelemetry 0.32 line, which `tracing-opentelemetry` 0.33
//! matches. Applications using `tracing` can share one provider: build an
//! [`OtlpPipeline`], then
//! `tracing_opentelemetry::layer().with_tracer(pipeline.sdk_tracer())` for their own spans,
//! and bind [`OtelTracer`] (from `pipeline.tracer_builder()`) to machines. Both export
//! through the same batch processor and resource. To nest machines under an application
//! span, pass that span's context to [`OtelTracerBuilder::parent`]. `am-otel` itself
//! does not depend on `tracing-opentelemetry`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod bind;
mod direct;
pub mod env;
mod error;
mod filter;
mod ids;
mod logs;
#[cfg(feature = "metrics")]
mod metrics;
mod options;
mod pipeline;
mod root;
mod spans;
mod stats;
mod tracer;

pub use bind::{ENV_SHUTDOWN_TIMEOUT, OtelGuard, bind_env, env_span_stats, env_tracer_provider};
pub use error::Error;
pub use filter::StateFilter;
pub use ids::AmIdGenerator;
pub use logs::{ATTR_MACHINE_ID, ATTR_STATES, ATTR_TX_ID, LOG_TRACER_ID, OtelLogTracer, severity};
#[cfg(feature = "metrics")]
pub use metrics::{MAX_MACHINES, METRICS_TRACER_ID, OtelMetricsTracer};
pub use options::{OtelTracerBuilder, TraceOptions};
pub use pipeline::{
    DEFAULT_BATCH_DELAY, DEFAULT_BATCH_SIZE, DEFAULT_QUEUE_SIZE, OtlpPipeline, OtlpPipelineBuilder, Protocol, Retry,
    SCHEMA_URL,
};
pub use root::{child_env, env_parent, parse_traceparent, remote_parent};
pub use stats::{CountingExporter, DISCARD_KEY, SpanCounter, SpanGate, SpanStats};
pub use tracer::{DEFAULT_BUFFER, OtelTracer, SOURCE_LOOKUP, TRACER_ID};
