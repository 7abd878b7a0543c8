//! `am-prom` — Prometheus metrics for asyncmachine machines.
//!
//! A [`PromTracer`] is a [`Tracer`](am_core::Tracer) that keeps, per machine, a set of
//! atomics its hooks update, and encodes them with `prometheus-client` when Prometheus
//! scrapes or when the pusher pushes. The families and labels are the constants of
//! [`am_core::conventions::prom`] (which `am-grafana-gen` queries too):
//!
//! | family | type | labels |
//! |---|---|---|
//! | `am_transitions_total` | counter | `mach_id`, `result` (`accepted`/`canceled`) |
//! | `am_exceptions_total`, `am_states_added_total`, `am_states_removed_total` | counter | `mach_id` |
//! | `am_transition_duration_seconds` | histogram (seconds) | `mach_id` |
//! | `am_transition_ticks`, `am_transition_steps`, `am_transition_handlers` | histogram | `mach_id` |
//! | `am_queue_length`, `am_states_active`, `am_schema_states`, `am_schema_relations`, `am_schema_ref_states` | gauge | `mach_id` |
//! | `am_state_active` | gauge (0/1) | `mach_id`, `state` — allow-list and per-machine cap |
//! | `am_machine_info` | gauge (1) | `mach_id`, `parent_id` |
//!
//! plus the exporter's own health families ([`names`]): pushes, push failures, last
//! successful push, scrapes, dropped updates, refused series and machines. Pushed series
//! also carry `service`.
//!
//! **Go-compatible mode** ([`go_compat`](PromTracerBuilder::go_compat),
//! `AM_PROM_GO_COMPAT`): the Go exporter's label-less `am_<metric>_<normalised id>` gauges
//! too, with its help texts, by its rules where its numbers are right (the repository's
//! `docs/go-compat.md` gives each metric: Go's computation, ours, why), synced once per
//! interval for every reader as Go syncs once per push ([`PromTracer::go_sync`]); pushes
//! as Go's (`/metrics/job/<service>`, the Go gauges alone, no labels) unless an
//! [`instance`](PromTracerBuilder::instance) is set; a disposed machine's Go gauges read 0,
//! are pushed as 0, and leave at the sync after.
//!
//! - **Hot path**: a machine bound directly gets its own small tracer holding its metric
//!   handles; a transition updates atomics (plain loads and stores, since one machine's
//!   hooks never run concurrently). No lock, no allocation, no I/O. Encoding happens at
//!   collection time. Two clock reads cost as much as all the rest, so by default one
//!   transition in 8 is timed for `am_transition_duration_seconds`
//!   ([`timing_every`](PromTracerBuilder::timing_every)); the tracer then stays within
//!   1.2x of an untraced machine (`benches/prom_tracer.rs`).
//! - **Series lifetime**: [`dispose`](am_core::Machine::dispose) a machine to remove its
//!   series; a machine dropped without disposal keeps them until the process ends.
//! - **Scrape**: [`listen`](PromTracerBuilder::listen) (or `AM_PROM_ADDR`) serves
//!   `GET /metrics` (OpenMetrics or text 0.0.4 by `Accept`), and the probes `/readyz` and
//!   `/healthz` driven by the bound machines' states (see [`HealthRules`]: `Ready`, or no
//!   `Exception`; heartbeats and a moving queue); or
//!   pass your own [`Registry`](prometheus_client::registry::Registry) with
//!   [`registry`](PromTracerBuilder::registry).
//! - **Push**: [`push`](PromTracerBuilder::push) (or `AM_PROM_PUSH_URL`) PUTs to
//!   `/metrics/job/<service>/instance/<host>` (Go-compatible mode: `/metrics/job/<service>`)
//!   every interval from a background task, and
//!   once more on [`shutdown`](PromTracer::shutdown). Failures are counted and logged, never
//!   raised into the machine.
//! - **Submachines** inherit the tracer, each with its own `mach_id` and an
//!   `am_machine_info{parent_id}` series; a disposed machine's series are removed.
//! - **Env**: [`bind_env`] binds a root machine from `AM_SERVICE` + `AM_PROM_*`
//!   ([`env`](mod@env)); builder calls win over env variables, which win over defaults.
//!
//! # Lifecycle
//!
//! The three steps every exporter of this workspace follows (drawn in the repository's
//! `docs/architecture.md`):
//!
//! 1. **Build**: [`PromTracer::builder`] (options fall back to the `AM_PROM_*` variables,
//!    each checked) starts the scrape server and pusher, if any, on the current tokio
//!    runtime or a thread of their own.
//! 2. **Bind / attach**: [`PromTracer::bind`] or `Machine::builder(..).tracer(..)`; the
//!    machine attaches one per-machine tracer holding that machine's metric handles;
//!    submachines inherit it.
//! 3. **Shut down**: [`PromTracer::shutdown_within`] (or a [`PromGuard`]) pushes a last
//!    time, stops the server and waits at most the deadline.
//!
//! [`bind_env`] does steps 1 and 2 from the environment and returns the guard for step 3.
//!
//! # Example
//!
//! ```
//! use am_core::{Machine, Schema, conventions::prom as metric_names};
//! use am_prom::{Format, PromTracer};
//! use prometheus_client::registry::Registry;
//!
//! let mut registry = Registry::default(); // yours: serve or push it as you like
//! let prom = PromTracer::builder().registry(&mut registry).state_allow_list(["Ready"]).build()?;
//!
//! let m = Machine::builder(Schema::builder().states(["Ready", "Busy"]).build()?).id("worker-1").build();
//! prom.bind(&m)?;
//! m.add(&["Ready"])?;
//! m.add(&["Busy"])?;
//!
//! let text = am_prom::encode(&registry, Format::OpenMetrics)?;
//! assert!(text.contains(r#"am_transitions_total{mach_id="worker-1",result="accepted"} 2"#));
//! assert!(text.contains(r#"am_state_active{mach_id="worker-1",state="Ready"} 1"#));
//! assert!(!text.contains(r#"state="Busy""#)); // not on the allow-list
//! assert!(text.contains(&format!("# TYPE {} histogram", metric_names::TRANSITION_DURATION_SECONDS)));
//! assert_eq!(text, prom.encode(Format::OpenMetrics));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Scrape and push setups: `examples/prom_metrics.rs`.
//!
//! # Features
//!
//! - `server` (default): the hyper scrape endpoint.
//! - `push` (default): the reqwest Pushgateway pusher.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(any(feature = "server", feature = "push"))]
mod background;
mod builder;
mod collect;
mod endpoints;
pub mod env;
mod error;
mod exposition;
mod gocompat;
mod health;
mod hist;
mod machine;
pub mod names;
#[cfg(feature = "push")]
mod push;
#[cfg(feature = "axum")]
mod router;
#[cfg(feature = "server")]
mod server;
mod shared;
mod tracer;

pub use builder::{
    DEFAULT_MAX_MACHINES, DEFAULT_MAX_STATE_SERIES, DEFAULT_PUSH_INTERVAL, DEFAULT_TIMING_EVERY, PromTracerBuilder,
};
pub use endpoints::{Answer, Verdict};
pub use error::Error;
pub use exposition::{Format, encode};
pub use health::{HealthRules, MachineHealth};
pub use hist::DEFAULT_DURATION_BUCKETS;
#[cfg(feature = "push")]
pub use push::PushMethod;
pub use tracer::{PromGuard, PromStats, PromTracer, bind_env, bind_env_for_app_server};
