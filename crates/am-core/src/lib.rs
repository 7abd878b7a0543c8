//! `am-core` — the asyncmachine state machine, in Rust.
//!
//! A machine holds a [`Schema`] of named states with relations (Require, Add, Remove,
//! After), Auto and Multi flags and the reserved `Exception` state. Every state has a tick
//! counter; odd means active. Mutations ([`Machine::add`], [`Machine::remove`],
//! [`Machine::set`], [`Machine::add_err`]) become transitions, run in queue order, that
//! resolve relations, call negotiation handlers (which may cancel), apply the clocks, and
//! call final handlers. Exporters observe everything through the [`Tracer`] trait.
//!
//! With no tracer bound, a transition builds no telemetry data: the machine checks one
//! relaxed atomic, and the views tracers receive are borrowed from the runner's own buffers.
//!
//! What a machine does — relations, results, handlers, auto states, failures, waits,
//! disposal, and where the port deliberately differs from Go — is written down for users in
//! [`semantics`] (`crates/am-core/docs/semantics.md`, shipped with the crate).
//!
//! # Example
//!
//! ```
//! use am_core::{Handlers, Machine, MutResult, Schema, State};
//!
//! let schema = Schema::builder()
//!     .state("Start", State::new())
//!     .state("Connecting", State::new().require(["Start"]).remove(["Connected"]))
//!     .state("Connected", State::new().require(["Start"]).remove(["Connecting"]))
//!     .state("Ready", State::new().auto().require(["Connected"]))
//!     .build()?;
//! let m = Machine::builder(schema).id("conn").build();
//! m.bind_handlers(
//!     Handlers::new("conn")
//!         .enter("Connected", |e| e.machine().is1("Connecting"))
//!         .state("Ready", |e| e.machine().log("ready")),
//! )?;
//!
//! assert_eq!(m.add(&["Connected"])?, MutResult::Canceled); // requires Start
//! m.add(&["Start", "Connecting"])?;
//! assert_eq!(m.add(&["Connected"])?, MutResult::Executed);
//! assert!(m.is(&["Connected", "Ready"])?); // Ready activated itself (auto)
//! assert!(m.not(&["Connecting"])?); // removed by Connected
//! assert_eq!(m.tick("Connecting")?, 2);
//! # Ok::<(), am_core::Error>(())
//! ```
//!
//! # Handlers
//!
//! Handlers are closures registered per state and kind on a named [`Handlers`] set, rather
//! than methods of a trait named after states: the Go handler names (`FooEnter`, `FooBar`)
//! depend on the schema, so closures are checked against it once at bind time and stored in
//! a table indexed by state. A transition finds its handlers by index, without building
//! strings. Handlers run inline on the thread running the queue; a handler that never
//! returns blocks its machine's queue (other threads still get `Queued`, never block).
//! A handler that panics, or returns after the handler timeout, turns into `Exception`.
//!
//! # Errors
//!
//! Two kinds, kept apart. **API errors** are [`Error`] values returned to the caller: an
//! unknown state name (nothing is queued), a schema mistake at construction, a disposed
//! machine ([`Error::Disposed`], so "disposed" is never confused with a canceled transition).
//! **Machine errors** are states: a handler that panics or times out, or your own
//! [`Machine::add_err`] / [`Machine::add_err_state`] (with [`err_msg`] for plain text), make
//! `Exception` active and [`Machine::last_error`] return the error.
//!
//! ```
//! use am_core::{Machine, Schema, State, err_msg};
//! let m = Machine::new(Schema::builder().state("ErrNetwork", State::new().require(["Exception"])).build()?);
//! m.add_err_state("ErrNetwork", err_msg("connection reset"), None)?;
//! assert!(m.is_err() && m.is1("ErrNetwork"));
//! assert_eq!(m.last_error().unwrap().to_string(), "connection reset");
//! assert_eq!(m.add(&["Nope"]), Err(am_core::Error::UnknownState("Nope".into())));
//! # Ok::<(), am_core::Error>(())
//! ```
//!
//! # Features
//!
//! - `testing`: [`testing::Recorder`], a tracer that records every hook, for exporter tests.
//! - `tracing`: log entries are also emitted as `tracing` events (target `am_core`).
//! - `serde`: `Serialize`/`Deserialize` for the plain data types.
//! - `exporter`: plumbing shared by exporter crates ([`exporter`]: warning limiter, waits
//!   without polling, poison-tolerant locks, JSON escaping).
//! - `exporter-runtime`: `exporter` plus its tokio parts (where senders run).
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod binding;
mod bits;
pub mod conventions;
mod dispatch;
pub mod env;
mod error;
mod exec;
#[cfg(feature = "exporter")]
pub mod exporter;
mod forms;
mod handlers;
mod healthcheck;
mod inspect;
mod log;
mod log_print;
mod machine;
mod mutation;
mod queue;
mod relations;
#[doc = include_str!("../docs/semantics.md")]
pub mod semantics {}
mod schema;
mod steps;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod trace_ctx;
mod tracer;
mod transition;
mod unpoison;
mod wait;

pub use binding::{Binding, Delivery, ExporterGuard, Skip, env_gate};
pub use error::{AnyError, Error, ErrorChain, HandlerError, HandlerErrorKind, MessageError, err_msg};
pub use handlers::{Event, FinalFn, Handlers, NegotiationFn, TxValidity};
pub use healthcheck::{HEALTHCHECK_INTERVAL, HealthcheckTicker};
pub use inspect::RelationsBetween;
pub use log::{LogEntry, LogLevel};
pub use log_print::LogPrinter;
pub use machine::{Machine, MachineBuilder, Snapshot, WeakMachine};
pub use mutation::{Arg, Args, ArgsMapper, MutResult, Mutation, MutationKind, Source, default_args_mapper};
pub use queue::{Position, QueueQuery, Queued};
pub use schema::{ANY, EXCEPTION, HEALTHCHECK, HEARTBEAT, MACHINE_RESTORED, Schema, SchemaBuilder, State, StateIdx};
pub use steps::{Relation, Step, StepKind};
pub use trace_ctx::{SpanIdHex, TraceContext, TraceIdHex};
pub use tracer::{Attach, Interest, NoopTracer, Tracer, TracerId, Tracers};
pub use transition::{CancelReason, Transition, TxId, TxIds};
pub use wait::{CancelToken, Wait, WaitError};
