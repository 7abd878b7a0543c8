//! `am-loki` — pushes asyncmachine log entries to [Grafana Loki](https://grafana.com/oss/loki/).
//!
//! A [`LokiTracer`] is a [`Tracer`](am_core::Tracer) whose `log` hook copies each entry the
//! machine records (at the machine's log level) into a bounded queue and returns; a
//! background task batches the entries (1,000 entries, 1 MiB or 1 s, whichever first) and
//! pushes them to `/loki/api/v1/push`, as snappy-compressed protobuf (default) or JSON.
//!
//! - **Streams** are labelled `service_name` (normalised `AM_SERVICE`), `asyncmachine_id`
//!   (the raw machine ID) and `level` (`DEBUG`, `INFO`, `ERROR`); lines read
//!   `INFO: [state] +Ready`. Structured metadata carries `tx_id`, and `trace_id` /
//!   `span_id` when a tracing exporter set the machine's
//!   [`trace_context`](am_core::Machine::trace_context).
//! - **Never blocking**: when the queue is full the oldest entry is dropped and counted.
//!   Connection errors, timeouts, 429 and 5xx are retried with exponential backoff; other
//!   4xx are counted and logged, not retried. See [`LokiStats`].
//! - **Shutdown** ([`LokiTracer::shutdown`], or dropping a [`LokiGuard`]) pushes what is
//!   queued within a deadline.
//! - **Auth**: `X-Scope-OrgID` tenant, basic auth or bearer token; credentials never appear
//!   in logs, errors or `Debug` output.
//! - **Env**: [`bind_env`] reads [`env::AM_LOKI_ADDR`] and the other `AM_LOKI_*` names;
//!   builder calls win over env variables, which win over defaults.
//! - Submachines inherit the tracer, each with its own `asyncmachine_id`.
//!
//! # Lifecycle
//!
//! The three steps every exporter of this workspace follows (drawn in the repository's
//! `docs/architecture.md`):
//!
//! 1. **Build**: [`LokiTracer::builder`] (options fall back to the `AM_LOKI_*` variables,
//!    each checked) starts the sender on the current tokio runtime or a thread of its own.
//! 2. **Bind / attach**: [`LokiTracer::bind`]; the machine attaches one per-machine handle
//!    holding its three streams; submachines inherit it.
//! 3. **Shut down**: [`LokiTracer::shutdown_within`] (or a [`LokiGuard`]) pushes what is
//!    queued and stops the sender, waiting at most the deadline.
//!
//! [`bind_env`] does steps 1 and 2 from the environment and returns the guard for step 3.
//!
//! # Example
//!
//! ```
//! use am_core::{LogLevel, Machine, Schema};
//! use am_loki::{LokiTracer, PushFormat};
//! use std::time::Duration;
//!
//! // nothing listens on this port: entries are retried, then counted as failed
//! let loki = LokiTracer::builder()
//!     .addr("127.0.0.1:9")
//!     .service("Checkout-API")
//!     .format(PushFormat::Json)
//!     .max_retries(0)
//!     .shutdown_timeout(Duration::from_secs(2))
//!     .build()?;
//! assert_eq!(loki.service(), "checkout_api");
//!
//! let m = Machine::builder(Schema::builder().states(["Ready"]).build()?)
//!     .id("cart")
//!     .log_level(LogLevel::Changes) // one `[state]` line per transition
//!     .tracer(loki.clone())
//!     .build();
//! m.add(&["Ready"])?;
//! assert_eq!(loki.stats().enqueued, 1);
//!
//! loki.shutdown();
//! let s = loki.stats();
//! assert_eq!(s.sent + s.failed, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod builder;
mod encode;
pub mod env;
mod error;
pub mod proto;
mod queue;
mod sender;
mod tracer;

pub use builder::{DEFAULT_ADDR, LokiTracerBuilder};
pub use encode::PushFormat;
pub use error::Error;
pub use queue::{
    LABEL_LEVEL, LABEL_MACHINE_ID, LABEL_SERVICE, LokiLevel, META_SPAN_ID, META_STATES, META_TRACE_ID, META_TX_ID,
};
pub use tracer::{LokiGuard, LokiStats, LokiTracer, bind_env};
