//! Names of the Loki stream labels and structured-metadata keys `am-loki` pushes, shared with
//! `am-grafana-gen`'s log panels and trace links, so queries cannot drift from what is sent.

/// Stream label: the normalised service name (`AM_SERVICE`).
pub const SERVICE_NAME: &str = "service_name";
/// Stream label: the machine ID, as is (the Go name).
pub const MACHINE_ID: &str = "asyncmachine_id";
/// Stream label: the log level.
pub const LEVEL: &str = "level";
/// Structured metadata: the transition ID.
pub const META_TX_ID: &str = "tx_id";
/// Structured metadata: the trace ID (32 hex characters) when a trace is active.
pub const META_TRACE_ID: &str = "trace_id";
/// Structured metadata: the span ID (16 hex characters) when a trace is active.
pub const META_SPAN_ID: &str = "span_id";
/// Structured metadata: the machine's active states.
pub const META_STATES: &str = "states";
