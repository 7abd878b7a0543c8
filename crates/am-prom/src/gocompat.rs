//! The Go-compatible series: the 15 label-less gauges `am_<metric>_<normalised id>` of the
//! Go exporter, with its help texts, computed by its rules except where its numbers are
//! wrong (the table "Go-compatible mode: what differs" in `docs/go-compat.md` lists each
//! metric, Go's computation, ours and why).
//!
//! As in Go, the transition values are synced once per interval ([`GoSeries::sync`]: before
//! each push, or by a timer when nothing pushes) and every reader — scrapes, pushes, any
//! number of scrapers — sees the last synced interval; reading never resets anything. A
//! disposed (or dropped) machine's gauges read 0 at once, are exported as 0 through the
//! next sync (so a push carries the zeros, as Go's do), and are removed at the sync after.

use am_core::exporter::Unpoison;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

#[cfg(feature = "push")]
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use crate::hist::bump;

/// The Go metric suffixes (`am_core::conventions::prom::go::METRICS`, checked by a test),
/// in the Go exporter's order, with the Go exporter's help texts (a Pushgateway holding a
/// Go and a Rust group of one family then sees one help text).
pub(crate) const GO_METRICS: [(&str, &str); 15] = [
    ("states", "Number of registered states"),
    ("relations", "Number of relations for all states"),
    ("ref_states", "Number of states referenced by relations"),
    ("queue_size", "Average queue size"),
    ("tx_ticks", "Average transition machine time taken (ticks)"),
    ("exceptions", "Number of transitions with Exception active"),
    ("transitions", "Number of transitions"),
    ("states_added", "Average amount of states added"),
    ("states_removed", "Average amount of states removed"),
    ("states_touched", "Average amount of states touched"),
    ("steps", "Average amount of steps per transition"),
    ("handlers", "Average amount of executed handlers per tx"),
    ("tx_time", "Average transition human time taken (μs)"),
    ("states_active", "Average amount of active states"),
    ("states_inactive", "Average amount of inactive states"),
];

/// The Go metric names of a normalised ID.
pub(crate) fn go_names(norm: &str) -> [String; 15] {
    GO_METRICS.map(|(m, _)| am_core::conventions::prom::go::name(m, norm))
}

/// One accepted transition, as the Go series need it.
#[derive(Debug, Default, Clone)]
pub(crate) struct TxSample {
    pub(crate) queue_len: u64,
    pub(crate) ticks: u64,
    /// `Exception` is among the target states (active after the transition).
    pub(crate) exception: bool,
    /// States activated (Multi re-activations included), when the mutation adds or sets.
    pub(crate) added: Option<u64>,
    /// States deactivated, when the mutation removes or sets.
    pub(crate) removed: Option<u64>,
    pub(crate) touched: u64,
    pub(crate) steps: u64,
    pub(crate) handlers: u64,
    /// Wall time, when this transition was timed.
    pub(crate) nanos: Option<u64>,
    /// Active and inactive states before the transition.
    pub(crate) active: u64,
    pub(crate) inactive: u64,
}

// Slots of the running totals.
const TXS: usize = 0;
const QUEUE: usize = 1;
const TICKS: usize = 2;
const EXCEPTIONS: usize = 3;
const ADDED: usize = 4;
const ADDED_TXS: usize = 5;
const REMOVED: usize = 6;
const REMOVED_TXS: usize = 7;
const TOUCHED: usize = 8;
const STEPS: usize = 9;
const HANDLERS: usize = 10;
const NANOS: usize = 11;
const TIMED: usize = 12;
const ACTIVE: usize = 13;
const INACTIVE: usize = 14;
const N: usize = 15;

/// One machine's Go series: running totals written by its hooks (single writer), the
/// interval values of the last sync, and its schema gauges.
#[derive(Debug)]
pub(crate) struct GoSet {
    norm: Box<str>,
    totals: [AtomicU64; N],
    /// The totals at the last sync.
    seen: Mutex<[u64; N]>,
    /// The transition gauges (index into [`GO_METRICS`]) of the last synced interval.
    synced: Mutex<[f64; 15]>,
    /// `states`, `relations`, `ref_states`: set at bind and on schema changes.
    schema: [AtomicU64; 3],
    machine: am_core::WeakMachine,
    /// Disposed and reported as 0 by a sync; the next sync removes it.
    closed: AtomicBool,
}

impl GoSet {
    #[inline]
    pub(crate) fn record(&self, s: &TxSample) {
        let mut vals = [0u64; N];
        vals[TXS] = 1;
        vals[QUEUE] = s.queue_len;
        vals[TICKS] = s.ticks;
        vals[EXCEPTIONS] = u64::from(s.exception);
        if let Some(n) = s.added {
            (vals[ADDED], vals[ADDED_TXS]) = (n, 1);
        }
        if let Some(n) = s.removed {
            (vals[REMOVED], vals[REMOVED_TXS]) = (n, 1);
        }
        vals[TOUCHED] = s.touched;
        vals[STEPS] = s.steps;
        vals[HANDLERS] = s.handlers;
        if let Some(ns) = s.nanos {
            (vals[NANOS], vals[TIMED]) = (ns, 1);
        }
        vals[ACTIVE] = s.active;
        vals[INACTIVE] = s.inactive;
        for (a, v) in self.totals.iter().zip(vals) {
            if v != 0 {
                bump(a, v);
            }
        }
    }

    pub(crate) fn set_schema(&self, states: u64, relations: u64, refs: u64) {
        for (a, v) in self.schema.iter().zip([states, relations, refs]) {
            a.store(v, Relaxed);
        }
    }

    fn alive(&self) -> bool {
        !self.closed.load(Relaxed) && self.machine.upgrade().is_some_and(|m| !m.is_disposed())
    }

    /// Totals since the previous sync.
    fn interval(&self) -> [u64; N] {
        let now: [u64; N] = std::array::from_fn(|i| self.totals[i].load(Relaxed));
        let mut seen = self.seen.lock().unpoison();
        let delta = std::array::from_fn(|i| now[i].wrapping_sub(seen[i]));
        *seen = now;
        delta
    }

    /// Ends the interval: its values become what every reader sees.
    fn sync(&self) {
        let d = self.interval();
        let avg = |sum: usize, count: usize| if d[count] == 0 { 0.0 } else { d[sum] as f64 / d[count] as f64 };
        let mut v = [0.0; 15];
        v[3] = avg(QUEUE, TXS);
        v[4] = avg(TICKS, TXS);
        v[5] = d[EXCEPTIONS] as f64;
        v[6] = d[TXS] as f64;
        v[7] = avg(ADDED, ADDED_TXS);
        v[8] = avg(REMOVED, REMOVED_TXS);
        v[9] = avg(TOUCHED, TXS);
        v[10] = avg(STEPS, TXS);
        v[11] = avg(HANDLERS, TXS);
        v[12] = avg(NANOS, TIMED) / 1000.0;
        v[13] = avg(ACTIVE, TXS);
        v[14] = avg(INACTIVE, TXS);
        *self.synced.lock().unpoison() = v;
    }

    /// The 15 values exported now: 0 for a disposed machine.
    fn values(&self) -> [f64; 15] {
        if !self.alive() {
            return [0.0; 15];
        }
        let mut v = *self.synced.lock().unpoison();
        for (slot, a) in v.iter_mut().zip(&self.schema) {
            *slot = a.load(Relaxed) as f64;
        }
        v
    }
}

/// Every Go set of one tracer, by normalised ID.
#[derive(Debug, Default)]
pub(crate) struct GoSeries {
    sets: Mutex<BTreeMap<Box<str>, Arc<GoSet>>>,
}

impl GoSeries {
    /// A new set for a machine; it replaces a disposed machine's set of the same name (the
    /// tracer refuses a live one, see `Shared::check_go_names`).
    pub(crate) fn add(&self, norm: &str, m: &am_core::Machine) -> Arc<GoSet> {
        let set = Arc::new(GoSet {
            norm: norm.into(),
            totals: Default::default(),
            seen: Mutex::default(),
            synced: Mutex::new([0.0; 15]),
            schema: Default::default(),
            machine: m.downgrade(),
            closed: AtomicBool::new(false),
        });
        self.sets.lock().unpoison().insert(norm.into(), set.clone());
        set
    }

    /// Ends the interval of every set (Go's `Sync`): its averages and counts become what
    /// scrapes and pushes read until the next sync. Removes the sets of machines disposed
    /// before the previous sync.
    pub(crate) fn sync(&self) {
        let mut sets = self.sets.lock().unpoison();
        sets.retain(|_, s| !s.closed.load(Relaxed));
        for s in sets.values() {
            if s.alive() {
                s.sync();
            } else {
                s.closed.store(true, Relaxed);
            }
        }
    }

    /// Encodes the 15 Go gauges of every set, by normalised ID.
    pub(crate) fn encode(&self, enc: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
        let sets: Vec<Arc<GoSet>> = self.sets.lock().unpoison().values().cloned().collect();
        for s in sets {
            for ((name, (_, help)), v) in go_names(&s.norm).iter().zip(GO_METRICS).zip(s.values()) {
                enc.encode_descriptor(name, help, None, MetricType::Gauge)?.encode_gauge(&v)?;
            }
        }
        Ok(())
    }
}

/// Syncs every `every` until the tracer stops (the timer when nothing pushes, or when the
/// Go interval is set apart from the pushes).
#[cfg(any(feature = "server", feature = "push"))]
pub(crate) async fn sync_every(
    series: Arc<GoSeries>,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<crate::background::Phase>,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = crate::background::stopped(&mut stop) => break,
            _ = tick.tick() => series.sync(),
        }
    }
}

impl crate::PromTracer {
    /// Ends the Go-compatible gauges' interval now (Go's `Metrics.Sync`): their averages
    /// and counts since the previous sync become what every scrape and push reads until
    /// the next one. The tracer does this itself once per
    /// [`go_interval`](crate::PromTracerBuilder::go_interval) (or before each push); call
    /// it with `go_interval(Duration::ZERO)`, or to sync at moments of your own. A no-op
    /// without [`go_compat`](crate::PromTracerBuilder::go_compat).
    pub fn go_sync(&self) {
        self.0.shared.rules.go_series.sync();
    }
}

/// The Go gauges alone: what a Go-compatible push sends (Go's push body).
#[cfg(feature = "push")]
#[derive(Debug, Clone)]
pub(crate) struct GoCollector(pub(crate) Arc<GoSeries>);

#[cfg(feature = "push")]
impl Collector for GoCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
        self.0.encode(&mut enc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_go_metrics_are_the_shared_ones() {
        assert_eq!(GO_METRICS.map(|(m, _)| m), am_core::conventions::prom::go::METRICS);
    }

    #[test]
    fn names() {
        assert_eq!(go_names("worker_1")[6], "am_transitions_worker_1");
    }

    #[test]
    fn a_sync_ends_the_interval_and_reading_changes_nothing() {
        let m = am_core::Machine::new(am_core::Schema::builder().states(["A"]).build().unwrap());
        let series = GoSeries::default();
        let set = series.add("m", &m);
        let s = |handlers, added| TxSample {
            queue_len: 1,
            ticks: 2,
            added,
            handlers,
            nanos: Some(1500),
            active: 1,
            inactive: 2,
            ..TxSample::default()
        };
        set.record(&s(1, Some(1)));
        set.record(&s(0, None));
        assert_eq!(set.values()[6], 0.0, "nothing before the first sync");
        series.sync();
        let v = set.values();
        // transitions, handlers, states_added (1 over the 1 adding transition), tx_time µs
        assert_eq!((v[6], v[11], v[7], v[12]), (2.0, 0.5, 1.0, 1.5));
        assert_eq!(set.values(), v, "reading does not consume the interval");
        set.record(&s(2, None));
        series.sync();
        assert_eq!((set.values()[6], set.values()[11], set.values()[7]), (1.0, 2.0, 0.0));
        series.sync();
        assert_eq!(set.values()[6], 0.0);
        // disposed: 0 at once, kept through one sync, removed at the next
        m.dispose();
        assert_eq!(set.values(), [0.0; 15]);
        series.sync();
        assert_eq!(series.sets.lock().unpoison().len(), 1);
        series.sync();
        assert!(series.sets.lock().unpoison().is_empty());
    }
}
