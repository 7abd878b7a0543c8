//! OpenTelemetry names `am-otel` emits: the span tree of the Go original (a `root` span, per
//! machine `mach:<n>:<id>` with `<n>:states`, `<n>:transitions` and `<n>:submachines` groups),
//! span attribute keys, and log record attributes.
//!
//! ```
//! use am_core::conventions::otel;
//! assert_eq!(otel::machine_span(3, "worker"), "mach:3:worker");
//! assert_eq!(otel::group_span(3, otel::GROUP_STATES), "3:states");
//! ```

/// Name of the span every machine tree hangs under, one per tracer.
pub const ROOT_SPAN: &str = "root";
/// Group span of a machine's state spans.
pub const GROUP_STATES: &str = "states";
/// Group span of a machine's transition spans (when transitions are traced).
pub const GROUP_TRANSITIONS: &str = "transitions";
/// Group span of a machine's submachine spans.
pub const GROUP_SUBMACHINES: &str = "submachines";

/// A machine's span: `mach:<n>:<id>`, `n` counting machines per tracer from 0.
pub fn machine_span(n: usize, id: &str) -> String {
    format!("mach:{n}:{id}")
}

/// A group span under machine `n`: `<n>:<group>`.
pub fn group_span(n: usize, group: &str) -> String {
    format!("{n}:{group}")
}

/// Machine span attribute: the machine ID.
pub const ATTR_ID: &str = "id";
/// Machine span attribute: the parent machine's ID.
pub const ATTR_PARENT_ID: &str = "parent_id";
/// Machine span attribute: the machine's tags, comma-separated.
pub const ATTR_TAGS: &str = "tags";
/// Group span attribute: the machine ID.
pub const ATTR_MACH_ID: &str = "mach_id";
/// State and transition span attribute: the transition ID.
pub const ATTR_TX_ID: &str = "tx_id";

/// Log record attribute: the machine ID.
pub const LOG_MACHINE_ID: &str = "asyncmachine.id";
/// Log record attribute: the transition ID.
pub const LOG_TX_ID: &str = "asyncmachine.tx_id";
/// Log record attribute: the machine's active states.
pub const LOG_STATES: &str = "asyncmachine.states";
