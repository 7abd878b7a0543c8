//! The Go-compatible series: the 15 label-less gauges `am_<metric>_<normalised id>` of the
//! Go exporter, averaged per collection interval.
//!
//! Fixed on purpose (spec §5.6): averages are floats (1); `queue_size` averages every
//! sample (2); `exceptions` counts `Exception` activations (3); `tx_ticks` has no inflated
//! first sample (4); `states_active`/`states_inactive` count after the transition (5);
//! `states_added`/`states_removed` count every activation/deactivation and average over
//! all accepted transitions (6); `handlers` counts handler calls, so it does not need step
//! logging (7; `steps` and `states_touched` still do). `tx_time` averages the timed
//! transitions (see [`timing_every`](crate::PromTracerBuilder::timing_every)). An interval is the time between two
//! collections (scrapes or pushes): each collection reports what happened since the
//! previous one, and an interval without transitions reports 0.

use am_core::exporter::Unpoison;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use crate::hist::bump;
use crate::machine::MachineMetrics;

/// The Go metric suffixes (`am_core::conventions::prom::go::METRICS`, checked by a test),
/// in the Go exporter's order, with help texts.
pub(crate) const GO_METRICS: [(&str, &str); 15] = [
    ("states", "Registered states"),
    ("relations", "Non-empty relation lists over all states"),
    ("ref_states", "State references in relations"),
    ("queue_size", "Average queue length after a transition"),
    ("tx_ticks", "Average machine-time ticks per transition"),
    ("exceptions", "Exception activations in the interval"),
    ("transitions", "Accepted transitions in the interval"),
    ("states_added", "Average states activated per transition"),
    ("states_removed", "Average states deactivated per transition"),
    ("states_touched", "Average states touched per transition (needs step logging)"),
    ("steps", "Average steps per transition (needs step logging)"),
    ("handlers", "Average handler calls per transition"),
    ("tx_time", "Average transition wall time in microseconds"),
    ("states_active", "Average active states after a transition"),
    ("states_inactive", "Average inactive states after a transition"),
];

/// The Go metric names of a normalised ID.
pub(crate) fn go_names(norm: &str) -> [String; 15] {
    GO_METRICS.map(|(m, _)| am_core::conventions::prom::go::name(m, norm))
}

#[cfg(test)]
mod names_tests {
    #[test]
    fn the_go_metrics_are_the_shared_ones() {
        assert_eq!(super::GO_METRICS.map(|(m, _)| m), am_core::conventions::prom::go::METRICS);
    }
}

/// One accepted transition, as the Go series need it.
pub(crate) struct TxSample {
    pub(crate) queue_len: u64,
    pub(crate) ticks: u64,
    pub(crate) exception: bool,
    pub(crate) added: u64,
    pub(crate) removed: u64,
    pub(crate) touched: u64,
    pub(crate) steps: u64,
    pub(crate) handlers: u64,
    /// Wall time, when this transition was timed.
    pub(crate) nanos: Option<u64>,
    pub(crate) active: u64,
    pub(crate) inactive: u64,
}

const TXS: usize = 0;
const TIMED: usize = 12;
const N: usize = 13;

/// Running totals since the machine was bound (single writer); the collector keeps the
/// totals it saw last and reports the difference.
#[derive(Debug, Default)]
pub(crate) struct GoAcc {
    totals: [AtomicU64; N],
    seen: Mutex<[u64; N]>,
}

impl GoAcc {
    #[inline]
    pub(crate) fn record(&self, s: &TxSample) {
        let t = &self.totals;
        let vals = [
            1,
            s.queue_len,
            s.ticks,
            u64::from(s.exception),
            s.added,
            s.removed,
            s.touched,
            s.steps,
            s.handlers,
            s.nanos.unwrap_or(0),
            s.active,
            s.inactive,
            u64::from(s.nanos.is_some()),
        ];
        for (a, v) in t.iter().zip(vals) {
            if v != 0 {
                bump(a, v);
            }
        }
    }

    /// Totals since the previous call: (transitions, per-field sums).
    fn interval(&self) -> [u64; N] {
        let now: [u64; N] = std::array::from_fn(|i| self.totals[i].load(Relaxed));
        let mut seen = self.seen.lock().unpoison();
        let delta = std::array::from_fn(|i| now[i].wrapping_sub(seen[i]));
        *seen = now;
        delta
    }
}

/// Encodes the 15 Go gauges of every machine that has them.
pub(crate) fn encode(enc: &mut DescriptorEncoder<'_>, machines: &[std::sync::Arc<MachineMetrics>]) -> std::fmt::Result {
    for m in machines {
        let (Some(go), Some(norm)) = (&m.go, &m.go_id) else { continue };
        let d = go.interval();
        let txs = d[TXS];
        let avg = |sum: u64| if txs == 0 { 0.0 } else { sum as f64 / txs as f64 };
        let values: [f64; 15] = [
            m.schema_states.load(Relaxed) as f64,
            m.schema_relations.load(Relaxed) as f64,
            m.schema_refs.load(Relaxed) as f64,
            avg(d[1]),
            avg(d[2]),
            d[3] as f64,
            txs as f64,
            avg(d[4]),
            avg(d[5]),
            avg(d[6]),
            avg(d[7]),
            avg(d[8]),
            if d[TIMED] == 0 { 0.0 } else { d[9] as f64 / d[TIMED] as f64 / 1000.0 },
            avg(d[10]),
            avg(d[11]),
        ];
        for ((name, (_, help)), v) in go_names(norm).iter().zip(GO_METRICS).zip(values) {
            enc.encode_descriptor(name, help, None, MetricType::Gauge)?.encode_gauge(&v)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_report_differences() {
        let acc = GoAcc::default();
        let s = |handlers| TxSample {
            queue_len: 1,
            ticks: 2,
            exception: false,
            added: 1,
            removed: 0,
            touched: 0,
            steps: 0,
            handlers,
            nanos: Some(1500),
            active: 1,
            inactive: 2,
        };
        acc.record(&s(1));
        acc.record(&s(0));
        let d = acc.interval();
        assert_eq!((d[TXS], d[8], d[9], d[TIMED]), (2, 1, 3000, 2));
        acc.record(&s(2));
        let d = acc.interval();
        assert_eq!((d[TXS], d[8]), (1, 2));
        assert_eq!(acc.interval(), [0; N]);
    }

    #[test]
    fn names() {
        assert_eq!(go_names("worker_1")[6], "am_transitions_worker_1");
    }
}
