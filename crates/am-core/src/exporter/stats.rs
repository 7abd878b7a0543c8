//! Every exporter's own health in one shape, in one process-wide list: an exporter
//! registers its counters when it is built ([`register_stats`]), and whoever exports health
//! (am-prom's collector) reads them all ([`exporter_stats`]) without depending on the
//! exporter crates. Entries go away with the exporter (they are held weakly).

use std::sync::{Arc, Mutex, Weak};

use super::Unpoison;

/// An exporter's counters, in the shape every exporter can fill.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExporterStats {
    /// Items the exporter accepted from machines (for pushes and uploads: attempted), so
    /// that `produced = sent + dropped + failed + queued`.
    pub produced: u64,
    /// Items delivered (spans, log entries, messages, pushes, uploads).
    pub sent: u64,
    /// Items dropped before delivery (a full buffer, a batch that failed for good).
    pub dropped: u64,
    /// Items whose delivery failed for good (in failed batches, pushes, uploads).
    pub failed: u64,
    /// Items waiting now, queued or in flight.
    pub queued: u64,
    /// Whether the exporter holds a connection, for those that keep one.
    pub connected: Option<bool>,
    /// Unix time of the last successful delivery, in milliseconds (`None` before the first).
    pub last_success_ms: Option<u64>,
}

impl ExporterStats {
    /// The [`Delivery`](crate::Delivery) these counts make, counted in `unit`.
    pub fn delivery(&self, unit: &'static str, in_time: bool) -> crate::Delivery {
        crate::Delivery {
            unit,
            produced: self.produced,
            sent: self.sent,
            dropped: self.dropped,
            failed: self.failed,
            pending: self.queued,
            in_time,
        }
    }

    fn add(&mut self, o: &ExporterStats) {
        self.produced += o.produced;
        self.sent += o.sent;
        self.dropped += o.dropped;
        self.failed += o.failed;
        self.queued += o.queued;
        self.last_success_ms = self.last_success_ms.max(o.last_success_ms);
        self.connected = match (self.connected, o.connected) {
            (Some(a), Some(b)) => Some(a && b),
            (a, b) => a.or(b),
        };
    }
}

/// Unix time now in milliseconds, for [`ExporterStats::last_success_ms`].
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A stored [`unix_ms`] reading as an option (0: never).
pub fn last_ms(v: u64) -> Option<u64> {
    (v > 0).then_some(v)
}

/// Something that reports [`ExporterStats`] (an exporter's shared state).
pub trait StatsSource: Send + Sync {
    /// The counters now.
    fn exporter_stats(&self) -> ExporterStats;
}

type Entry = (&'static str, Weak<dyn StatsSource>);

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// Registers an exporter's counters under its name (`otel`, `loki`, `dbg`, `prom`,
/// `grafana`); several instances of one exporter are summed. Held weakly: the entry goes
/// when the exporter's last `Arc` does.
pub fn register_stats<S: StatsSource + 'static>(exporter: &'static str, source: &Arc<S>) {
    let weak: Weak<dyn StatsSource> = Arc::downgrade(source) as _;
    let mut r = REGISTRY.lock().unpoison();
    r.retain(|(_, s)| s.strong_count() > 0);
    r.push((exporter, weak));
}

/// Every live exporter's counters, summed per exporter name, sorted by name.
///
/// ```
/// use std::sync::Arc;
/// use am_core::exporter::{ExporterStats, StatsSource, exporter_stats, register_stats};
/// struct Mine;
/// impl StatsSource for Mine {
///     fn exporter_stats(&self) -> ExporterStats {
///         ExporterStats { sent: 3, dropped: 1, ..ExporterStats::default() }
///     }
/// }
/// let mine = Arc::new(Mine);
/// register_stats("doc-example", &mine);
/// let got = exporter_stats().into_iter().find(|(n, _)| *n == "doc-example").map(|(_, s)| s);
/// assert_eq!(got.map(|s| (s.sent, s.dropped)), Some((3, 1)));
/// drop(mine);
/// assert!(exporter_stats().iter().all(|(n, _)| *n != "doc-example"));
/// ```
pub fn exporter_stats() -> Vec<(&'static str, ExporterStats)> {
    let live: Vec<(&'static str, std::sync::Arc<dyn StatsSource>)> = {
        let mut r = REGISTRY.lock().unpoison();
        r.retain(|(_, s)| s.strong_count() > 0);
        r.iter().filter_map(|(n, s)| s.upgrade().map(|s| (*n, s))).collect()
    };
    // read outside the lock: a source may take its own locks
    let mut out: Vec<(&'static str, ExporterStats)> = Vec::new();
    for (name, s) in live {
        let st = s.exporter_stats();
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, acc)) => acc.add(&st),
            None => out.push((name, st)),
        }
    }
    out.sort_by_key(|(n, _)| *n);
    out
}
