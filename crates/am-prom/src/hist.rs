//! A histogram of atomics, written by one thread at a time (a machine's hooks never run
//! concurrently) and read at collection time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Adds `n` to a counter that only one thread at a time writes: a plain load and store,
/// cheaper than a locked read-modify-write. Readers see some recent value.
#[inline]
pub(crate) fn bump(a: &AtomicU64, n: u64) {
    a.store(a.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Default buckets of `am_transition_duration_seconds`, in seconds: transitions take
/// microseconds unless a handler does real work.
pub const DEFAULT_DURATION_BUCKETS: [f64; 14] =
    [1e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.25, 1.0];

/// Buckets of the count histograms (ticks, steps, handlers per transition).
pub(crate) const COUNT_BUCKETS: [u64; 9] = [0, 1, 2, 3, 5, 8, 16, 32, 64];

/// Upper bounds in the histogram's raw unit (nanoseconds or counts), and the factor that
/// turns a raw value into the exposed one.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    bounds: Arc<[u64]>,
    /// The bounds as exposed (`le`), exactly as configured.
    exposed: Arc<[f64]>,
    scale: f64,
}

impl Layout {
    #[cfg(test)]
    pub(crate) fn counts() -> Self {
        Layout { bounds: COUNT_BUCKETS.into(), exposed: COUNT_BUCKETS.map(|b| b as f64).into(), scale: 1.0 }
    }
    /// Bounds in seconds, kept as whole nanoseconds.
    pub(crate) fn seconds(bounds: &[f64]) -> Self {
        let mut secs = bounds.to_vec();
        secs.sort_by(f64::total_cmp);
        secs.dedup_by_key(|s| (*s * 1e9).round() as u64);
        let ns: Vec<u64> = secs.iter().map(|s| (s * 1e9).round() as u64).collect();
        Layout { bounds: ns.into(), exposed: secs.into(), scale: 1e-9 }
    }
}

/// Cumulative histogram state: one counter per bucket (the last is `+Inf`) and the sum.
#[derive(Debug)]
pub(crate) struct Hist {
    layout: Layout,
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
}

/// What a histogram holds at one moment, as the encoder wants it.
pub(crate) struct HistSnapshot {
    pub(crate) sum: f64,
    pub(crate) count: u64,
    pub(crate) buckets: Vec<(f64, u64)>,
}

impl Hist {
    pub(crate) fn new(layout: &Layout) -> Self {
        let buckets = (0..=layout.bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Hist { layout: layout.clone(), buckets, sum: AtomicU64::new(0) }
    }

    /// Records one value (single writer, see [`bump`]).
    #[inline]
    pub(crate) fn observe(&self, v: u64) {
        let b = &self.layout.bounds;
        let i = b.iter().position(|&ub| v <= ub).unwrap_or(b.len());
        bump(&self.buckets[i], 1);
        bump(&self.sum, v);
    }

    /// Per-bucket (not cumulative) counts with their upper bounds; the encoder accumulates.
    pub(crate) fn snapshot(&self) -> HistSnapshot {
        let scale = self.layout.scale;
        let mut buckets = Vec::with_capacity(self.buckets.len());
        let mut count = 0;
        for (i, c) in self.buckets.iter().enumerate() {
            let c = c.load(Relaxed);
            count += c;
            let ub = self.layout.exposed.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((ub, c));
        }
        HistSnapshot { sum: self.sum.load(Relaxed) as f64 * scale, count, buckets }
    }
}

/// A histogram of small counts with the fixed [`COUNT_BUCKETS`], stored inline (no
/// pointer to follow on the hot path). Zeros, the common value, are not stored: the
/// reader derives them from the number of observations it knows from elsewhere.
#[derive(Debug, Default)]
pub(crate) struct CountHist {
    buckets: [AtomicU64; COUNT_BUCKETS.len() + 1],
    sum: AtomicU64,
}

/// Bucket index of each value up to the last bound.
const COUNT_INDEX: [u8; 65] = {
    let mut t = [0u8; 65];
    let mut v = 0;
    while v < 65 {
        let mut i = 0;
        while COUNT_BUCKETS[i] < v as u64 {
            i += 1;
        }
        t[v] = i as u8;
        v += 1;
    }
    t
};

impl CountHist {
    /// Records one value (single writer, see [`bump`]).
    #[inline]
    pub(crate) fn observe(&self, v: u64) {
        if v == 0 {
            return;
        }
        let i = COUNT_INDEX.get(v as usize).map_or(COUNT_BUCKETS.len(), |&i| usize::from(i));
        bump(&self.buckets[i], 1);
        bump(&self.sum, v);
    }

    /// The histogram of `total` observations (those not stored were zeros).
    pub(crate) fn snapshot(&self, total: u64) -> HistSnapshot {
        let sum = self.sum.load(Relaxed) as f64;
        let mut stored: Vec<u64> = self.buckets.iter().map(|c| c.load(Relaxed)).collect();
        let nonzero: u64 = stored.iter().sum();
        let count = total.max(nonzero);
        stored[0] += count - nonzero;
        let buckets = stored
            .into_iter()
            .enumerate()
            .map(|(i, c)| (COUNT_BUCKETS.get(i).map_or(f64::INFINITY, |&b| b as f64), c))
            .collect();
        HistSnapshot { sum, count, buckets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_inclusive_upper_bounds() {
        let h = Hist::new(&Layout::counts());
        let c = CountHist::default();
        for v in [0, 1, 1, 4, 5, 100] {
            h.observe(v);
            c.observe(v);
        }
        let s = h.snapshot();
        let cs = c.snapshot(6);
        assert_eq!((cs.sum, cs.count, &cs.buckets), (s.sum, s.count, &s.buckets));
        assert_eq!(s.count, 6);
        assert_eq!(s.sum, 111.0);
        let get = |ub: f64| s.buckets.iter().find(|b| b.0 == ub).map(|b| b.1);
        assert_eq!(get(0.0), Some(1));
        assert_eq!(get(1.0), Some(2));
        assert_eq!(get(5.0), Some(2)); // 4 and 5
        assert_eq!(get(f64::INFINITY), Some(1));
    }

    #[test]
    fn seconds_layout_scales() {
        let h = Hist::new(&Layout::seconds(&[1e-3, 1e-6]));
        h.observe(500); // 0.5 µs
        h.observe(2_000_000); // 2 ms
        let s = h.snapshot();
        assert_eq!(s.buckets[0], (1e-6, 1));
        assert_eq!(s.buckets[1], (1e-3, 0));
        assert_eq!(s.buckets[2], (f64::INFINITY, 1));
        assert!((s.sum - 0.0020005).abs() < 1e-12);
    }
}
