//! Plumbing every exporter needs and none should write again (feature `exporter`; the tokio
//! parts with feature `exporter-runtime`). The machine itself never uses it.
//!
//! | Problem | Here |
//! |---|---|
//! | a backend that fails every batch must not log every batch | [`LogLimiter`] |
//! | callers wait for a background task's progress (flush, shutdown) without sleep-polling | [`Watch`] |
//! | a poisoned lock must not take the exporter down with the thread that panicked | [`Unpoison`] |
//! | hand-built JSON strings (Loki push bodies, dashboards) | [`json::push_str`] |
//! | run the sender on the app's runtime, or on a thread of its own without one | [`spawn`] (`exporter-runtime`) |
//! | an owned runtime for exports that must not run on the app's | [`OwnedRuntime`] (`exporter-runtime`) |
//! | wait from sync code that may be inside a runtime | [`block_in_runtime`] (`exporter-runtime`) |
//! | Ctrl-C and SIGTERM both start a graceful shutdown; a second one is seen | [`StopSignals`] (`exporter-runtime`) |
//! | every exporter's own health, exported in one place (am-prom) | [`register_stats`], [`exporter_stats`] |
//! | a CA and client certificate read the same way by every exporter | [`TlsSettings`] |
//! | one HTTP client with the user agent, timeouts and TLS | [`http::client`] (`exporter-http`; `exporter-tls` adds rustls) |
//!
//! Every exporter follows one lifecycle — build, bind (the machine [attaches](crate::Tracer::attach)
//! one per-machine handle), shut down with a deadline ([`ExporterGuard`](crate::ExporterGuard))
//! — drawn in the repository's `docs/architecture.md`. Names on the wire (metric names, Loki
//! labels, span names) live in [`conventions`](crate::conventions).

#[cfg(feature = "exporter-http")]
pub mod http;
pub mod json;
mod limiter;
#[cfg(feature = "exporter-runtime")]
mod runtime;
#[cfg(feature = "exporter-runtime")]
mod signals;
mod stats;
mod tls;
mod watch;

pub use crate::unpoison::Unpoison;
pub use limiter::LogLimiter;
#[cfg(feature = "exporter-runtime")]
pub use runtime::{OwnedRuntime, Spawned, block_in_runtime, spawn};
#[cfg(feature = "exporter-runtime")]
pub use signals::StopSignals;
pub use stats::{ExporterStats, StatsSource, exporter_stats, last_ms, register_stats, unix_ms};
pub use tls::{
    AM_TLS_CERTIFICATE, AM_TLS_CLIENT_CERTIFICATE, AM_TLS_CLIENT_KEY, SHARED_VARS, TlsError, TlsSettings, TlsVars,
};
pub use watch::Watch;
