//! Names of the labelled Prometheus metrics `am-prom` exports, as they appear in queries.
//! `am-prom` registers them and `am-grafana-gen` queries them; both read these constants,
//! so a dashboard can never drift from the exporter.
//!
//! Counters end in `_total` and histograms expose `_bucket`, `_sum` and `_count` series
//! under the base name given here.

/// Counter of transitions, labels `mach_id`, `result` (`accepted` / `canceled`).
pub const TRANSITIONS_TOTAL: &str = "am_transitions_total";
/// Counter of `Exception` activations, label `mach_id`.
pub const EXCEPTIONS_TOTAL: &str = "am_exceptions_total";
/// Histogram of transition wall time in seconds, label `mach_id`.
pub const TRANSITION_DURATION_SECONDS: &str = "am_transition_duration_seconds";
/// Histogram of machine-time ticks per transition, label `mach_id`.
pub const TRANSITION_TICKS: &str = "am_transition_ticks";
/// Histogram of steps per transition (needs step logging), label `mach_id`.
pub const TRANSITION_STEPS: &str = "am_transition_steps";
/// Histogram of handler calls per transition, label `mach_id`.
pub const TRANSITION_HANDLERS: &str = "am_transition_handlers";
/// Counter of states activated (Multi re-activations included), label `mach_id`.
pub const STATES_ADDED_TOTAL: &str = "am_states_added_total";
/// Counter of states deactivated, label `mach_id`.
pub const STATES_REMOVED_TOTAL: &str = "am_states_removed_total";
/// Gauge: mutations waiting in the queue after the last transition, label `mach_id`.
pub const QUEUE_LENGTH: &str = "am_queue_length";
/// Gauge: active states, label `mach_id`.
pub const STATES_ACTIVE: &str = "am_states_active";
/// Gauge: 1 while a state is active, labels `mach_id`, `state` (behind a cardinality guard).
pub const STATE_ACTIVE: &str = "am_state_active";
/// Gauge: states in the schema, label `mach_id`.
pub const SCHEMA_STATES: &str = "am_schema_states";
/// Gauge: non-empty relation lists in the schema, label `mach_id`.
pub const SCHEMA_RELATIONS: &str = "am_schema_relations";
/// Gauge: state references in relations, label `mach_id`.
pub const SCHEMA_REF_STATES: &str = "am_schema_ref_states";
/// Info-style gauge (value 1) linking a machine to its parent, labels `mach_id`, `parent_id`.
pub const MACHINE_INFO: &str = "am_machine_info";

/// Every per-machine metric above, in the order `am-prom` exposes them.
pub const ALL: [&str; 15] = [
    MACHINE_INFO,
    TRANSITIONS_TOTAL,
    EXCEPTIONS_TOTAL,
    STATES_ADDED_TOTAL,
    STATES_REMOVED_TOTAL,
    TRANSITION_DURATION_SECONDS,
    TRANSITION_TICKS,
    TRANSITION_STEPS,
    TRANSITION_HANDLERS,
    QUEUE_LENGTH,
    STATES_ACTIVE,
    STATE_ACTIVE,
    SCHEMA_STATES,
    SCHEMA_RELATIONS,
    SCHEMA_REF_STATES,
];

/// Counter: items each exporter delivered (spans, log entries, debugger messages, pushes,
/// uploads), label `exporter`. Exported by am-prom for every exporter in the process.
pub const EXPORTER_SENT_TOTAL: &str = "am_exporter_sent_total";
/// Counter: items each exporter dropped before delivery, label `exporter`.
pub const EXPORTER_DROPPED_TOTAL: &str = "am_exporter_dropped_total";
/// Counter: deliveries each exporter failed (batches, pushes, uploads), label `exporter`.
pub const EXPORTER_FAILED_TOTAL: &str = "am_exporter_failed_total";
/// Gauge: items waiting in each exporter, label `exporter`.
pub const EXPORTER_QUEUED: &str = "am_exporter_queued";
/// Gauge: 1 while an exporter that keeps a connection (the debugger client) holds one,
/// label `exporter`.
pub const EXPORTER_CONNECTED: &str = "am_exporter_connected";
/// Gauge: Unix time of each exporter's last successful delivery, in seconds, label `exporter`.
pub const EXPORTER_LAST_SUCCESS_SECONDS: &str = "am_exporter_last_success_timestamp_seconds";
/// Every exporter-health family, in exposition order.
pub const EXPORTER_FAMILIES: [&str; 6] = [
    EXPORTER_SENT_TOTAL,
    EXPORTER_DROPPED_TOTAL,
    EXPORTER_FAILED_TOTAL,
    EXPORTER_QUEUED,
    EXPORTER_CONNECTED,
    EXPORTER_LAST_SUCCESS_SECONDS,
];
/// Label: the exporter (`otel`, `loki`, `dbg`, `prom`, `grafana`).
pub const LABEL_EXPORTER: &str = "exporter";

/// Label: the machine ID.
pub const LABEL_MACH_ID: &str = "mach_id";
/// Label: the parent machine ID.
pub const LABEL_PARENT_ID: &str = "parent_id";
/// Label: a state name.
pub const LABEL_STATE: &str = "state";
/// Label: `accepted` or `canceled`.
pub const LABEL_RESULT: &str = "result";
/// Label: the service name, added when pushing.
pub const LABEL_SERVICE: &str = "service";

/// The Go exporter's metric names (`am-prom`'s Go-compatible mode, and the generator's Go
/// layout): label-less gauges `am_<metric>_<normalised machine ID>`.
pub mod go {
    /// The metric parts, in the Go exporter's order.
    pub const METRICS: [&str; 15] = [
        "states",
        "relations",
        "ref_states",
        "queue_size",
        "tx_ticks",
        "exceptions",
        "transitions",
        "states_added",
        "states_removed",
        "states_touched",
        "steps",
        "handlers",
        "tx_time",
        "states_active",
        "states_inactive",
    ];

    /// The Go metric name of `metric` (one of [`METRICS`]) for a normalised machine ID.
    ///
    /// ```
    /// assert_eq!(am_core::conventions::prom::go::name("transitions", "worker_1"), "am_transitions_worker_1");
    /// ```
    pub fn name(metric: &str, normalised_id: &str) -> String {
        format!("am_{metric}_{normalised_id}")
    }
}
