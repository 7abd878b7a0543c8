//! Metric names. The machine families come from [`am_core::conventions::prom`] (which
//! `am-grafana-gen` queries too); the names registered with `prometheus-client` are derived
//! from them here, because the encoder appends `_total` to counters and `_<unit>` when a
//! unit is given. The exporter's own health families are named here.

use am_core::conventions::prom as n;
use prometheus_client::registry::Unit;

/// Counter: pushes the Pushgateway accepted.
pub const PUSHES_TOTAL: &str = "am_prom_pushes_total";
/// Counter: pushes that failed (connection error, timeout or a non-2xx answer).
pub const PUSH_FAILURES_TOTAL: &str = "am_prom_push_failures_total";
/// Gauge: Unix time of the last accepted push, in seconds (0 before the first).
pub const LAST_PUSH_SUCCESS_SECONDS: &str = "am_prom_last_push_success_timestamp_seconds";
/// Counter: `GET /metrics` requests answered.
pub const SCRAPES_TOTAL: &str = "am_prom_scrapes_total";
/// Counter: transitions not recorded because their machine was refused (machine cap,
/// duplicate ID).
pub const DROPPED_UPDATES_TOTAL: &str = "am_prom_dropped_updates_total";
/// Counter: `am_state_active` series refused by the per-machine cap.
pub const REFUSED_SERIES_TOTAL: &str = "am_prom_refused_series_total";
/// Counter: machines refused (over the machine cap, a duplicate ID, or in Go-compatible
/// mode a normalised-ID collision).
pub const REFUSED_MACHINES_TOTAL: &str = "am_prom_refused_machines_total";
/// Gauge: machines currently exported.
pub const MACHINES: &str = "am_prom_machines";

/// Every machine family name as exposed, in exposition order.
pub const MACHINE_FAMILIES: [&str; 15] = n::ALL;

/// Every health family name as exposed: this exporter's own, then every exporter's in the
/// process ([`am_core::conventions::prom::EXPORTER_FAMILIES`]).
pub const HEALTH_FAMILIES: [&str; 14] = [
    PUSHES_TOTAL,
    PUSH_FAILURES_TOTAL,
    LAST_PUSH_SUCCESS_SECONDS,
    SCRAPES_TOTAL,
    DROPPED_UPDATES_TOTAL,
    REFUSED_SERIES_TOTAL,
    REFUSED_MACHINES_TOTAL,
    MACHINES,
    n::EXPORTER_FAMILIES[0],
    n::EXPORTER_FAMILIES[1],
    n::EXPORTER_FAMILIES[2],
    n::EXPORTER_FAMILIES[3],
    n::EXPORTER_FAMILIES[4],
    n::EXPORTER_FAMILIES[5],
];

/// The name to pass to the encoder for a counter exposed as `full` (`…_total`).
pub(crate) fn counter(full: &'static str) -> &'static str {
    full.strip_suffix("_total").unwrap_or(full)
}

/// The name and unit to pass to the encoder for a family exposed as `full` ending in
/// `_seconds`.
pub(crate) fn seconds(full: &'static str) -> (&'static str, Unit) {
    (full.strip_suffix("_seconds").unwrap_or(full), Unit::Seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_round_trip() {
        assert_eq!(counter(n::TRANSITIONS_TOTAL), "am_transitions");
        assert_eq!(seconds(n::TRANSITION_DURATION_SECONDS).0, "am_transition_duration");
        assert_eq!(seconds(LAST_PUSH_SUCCESS_SECONDS).0, "am_prom_last_push_success_timestamp");
        for name in MACHINE_FAMILIES.iter().chain(&HEALTH_FAMILIES) {
            assert!(name.starts_with("am_") && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{name}");
        }
    }
}
