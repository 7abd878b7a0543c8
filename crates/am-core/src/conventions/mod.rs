//! Names as they appear in backends — metric names, Loki labels, span names and attribute
//! keys — in one place, in the spirit of `opentelemetry-semantic-conventions`. The exporter
//! that sends a name and the dashboards and queries that read it both use these constants,
//! so they cannot drift apart; the Go original's names are kept where users search for them.
//!
//! - [`prom`] — Prometheus metric names (`am-prom`, `am-otel` metrics, `am-grafana-gen`).
//! - [`loki`] — Loki stream labels and structured metadata (`am-loki`, `am-grafana-gen`).
//! - [`otel`] — OpenTelemetry span names and attribute keys (`am-otel`).

pub mod loki;
pub mod otel;
pub mod prom;
