//! Per-machine counters for the machines table, the warnings and the histograms: activity
//! in time (rate over the last seconds, last activity), queue length and transition duration
//! histograms, sequence gaps, reconnects, how long `Exception` has been active, and how many
//! mutations were queued since a transition last ran.

use am_dbg_proto::DbgMsgTx;

use super::machine::TxMeta;

/// Seconds the rate is averaged over.
pub const RATE_WINDOW_S: u64 = 10;
const RING: usize = 16;
const NS: u64 = 1_000_000_000;

/// Transitions per second of entry time, in one-second buckets.
#[derive(Debug, Clone, Default)]
pub struct Rate {
    buckets: [u32; RING],
    head: u64,
}

impl Rate {
    fn add(&mut self, sec: u64) {
        if sec > self.head {
            for s in (self.head + 1..=sec).take(RING) {
                self.buckets[(s % RING as u64) as usize] = 0;
            }
            self.head = sec;
        }
        if self.head - sec < RING as u64 {
            self.buckets[(sec % RING as u64) as usize] += 1;
        }
    }

    /// Transitions per second over the [`RATE_WINDOW_S`] seconds before `now_ns`.
    pub fn per_sec(&self, now_ns: u64) -> f64 {
        let now = now_ns / NS;
        let from = now.saturating_sub(RATE_WINDOW_S - 1);
        let n: u64 = (from..=now.min(self.head))
            .filter(|s| self.head - s < RING as u64)
            .map(|s| u64::from(self.buckets[(s % RING as u64) as usize]))
            .sum();
        n as f64 / RATE_WINDOW_S as f64
    }
}

/// A histogram with power-of-two buckets (bucket `b` holds values in `[2^(b-1), 2^b)`).
#[derive(Debug, Clone)]
pub struct Hist {
    /// Counts per bucket.
    pub buckets: [u64; 64],
    /// Values recorded.
    pub count: u64,
    /// The largest value.
    pub max: u64,
}

impl Default for Hist {
    fn default() -> Self {
        Hist { buckets: [0; 64], count: 0, max: 0 }
    }
}

impl Hist {
    /// Records one value.
    pub fn record(&mut self, v: u64) {
        self.buckets[(64 - v.leading_zeros()).min(63) as usize] += 1;
        self.count += 1;
        self.max = self.max.max(v);
    }

    /// The value below which `q` (0–1) of the recorded values are: the bucket's upper bound.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let want = ((self.count as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want {
                return if b == 0 { 0 } else { (1u64 << (b - 1)).saturating_mul(2) - 1 }.min(self.max);
            }
        }
        self.max
    }

    /// The non-empty bucket range, for drawing.
    pub fn span(&self) -> std::ops::RangeInclusive<usize> {
        let lo = self.buckets.iter().position(|&n| n > 0).unwrap_or(0);
        let hi = self.buckets.iter().rposition(|&n| n > 0).unwrap_or(0);
        lo..=hi
    }
}

/// Counters of one machine.
#[derive(Debug, Clone, Default)]
pub struct MachineStats {
    /// Transitions (not queued entries) received.
    pub transitions: u64,
    /// Time of the latest entry, Unix ns.
    pub last_time: Option<u64>,
    /// Transitions per second by entry time.
    pub rate: Rate,
    /// Queue length after the latest entry.
    pub queue: i64,
    /// Queue lengths at transition end.
    pub queue_hist: Hist,
    /// Transition durations (ns), when the client sends them.
    pub duration_hist: Hist,
    /// Sequence numbers that never arrived and no drop notice covered.
    pub seq_gaps: u64,
    /// The connection was opened again after the first.
    pub reconnects: u32,
    /// `Exception` active since this entry time (ns) and entry.
    pub exception_since: Option<(u64, u64)>,
    /// Queued entries since a transition last ran, and the queue length when that run began.
    pub queued_run: u32,
    /// Queue length when the current run of queued entries began.
    pub queued_run_from: i64,
    /// Handler timeouts seen, and the latest one's entry.
    pub timeouts: u64,
    /// The latest timeout's entry.
    pub last_timeout: Option<u64>,
    last_seq: u64,
    drop_credit: u64,
}

impl MachineStats {
    pub(super) fn record(&mut self, t: &DbgMsgTx, abs: u64, meta: TxMeta, exception: Option<usize>) {
        let error = meta.has(TxMeta::ERROR);
        if t.seq > 0 {
            if self.last_seq > 0 && t.seq > self.last_seq + 1 {
                let missing = t.seq - self.last_seq - 1;
                let covered = self.drop_credit.min(missing);
                self.drop_credit -= covered;
                self.seq_gaps += missing - covered;
            }
            self.last_seq = self.last_seq.max(t.seq);
        }
        if let Some(time) = t.time {
            self.last_time = Some(self.last_time.map_or(time, |l| l.max(time)));
        }
        self.queue = t.queue;
        if t.is_queued {
            if self.queued_run == 0 {
                self.queued_run_from = t.queue;
            }
            self.queued_run += 1;
            return;
        }
        self.queued_run = 0;
        self.transitions += 1;
        if let Some(time) = t.time {
            self.rate.add(time / NS);
        }
        self.queue_hist.record(t.queue.max(0) as u64);
        if let Some(d) = t.duration_ns {
            self.duration_hist.record(d);
        }
        let exc_active = exception.is_some_and(|i| t.clocks.get(i).is_some_and(|c| c % 2 == 1));
        match (exc_active, self.exception_since) {
            (false, _) => self.exception_since = None,
            (true, None) if error || t.time.is_some() => self.exception_since = Some((t.time.unwrap_or(0), abs)),
            _ => {}
        }
        if meta.has(TxMeta::TIMEOUT) {
            self.timeouts += 1;
            self.last_timeout = Some(abs);
        }
    }

    pub(super) fn dropped(&mut self, count: u64) {
        self.drop_credit += count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_counts_the_last_seconds_only() {
        let mut r = Rate::default();
        for s in 0..20u64 {
            for _ in 0..5 {
                r.add(s);
            }
        }
        assert_eq!(r.per_sec(19 * NS), 5.0);
        assert_eq!(r.per_sec(40 * NS), 0.0, "nothing in the last 10 s");
    }

    #[test]
    fn hist_quantiles_are_bucket_bounds() {
        let mut h = Hist::default();
        for v in [1, 2, 3, 100, 1000] {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), 3);
        assert_eq!(h.quantile(1.0), 1000);
        assert_eq!(h.span(), 1..=10);
    }
}
