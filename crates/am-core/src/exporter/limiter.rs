//! The warning limiter: one log line per interval for a failing backend.

use std::sync::Mutex;

use super::Unpoison;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Lets a repeated warning (a backend down, a queue full) through at most once per interval,
/// counting the ones it held back, so a failing backend costs a log line per interval rather
/// than one per batch.
///
/// ```
/// use std::time::Duration;
/// let limit = am_core::exporter::LogLimiter::new(Duration::from_secs(10));
/// assert_eq!(limit.allow(), Some(0)); // the first one goes through
/// assert_eq!(limit.allow(), None); // held back
/// assert_eq!(limit.allow(), None);
/// assert_eq!(limit.held(), 2);
/// ```
#[derive(Debug)]
pub struct LogLimiter {
    last: Mutex<Option<Instant>>,
    held: AtomicU64,
    interval: Duration,
}

impl LogLimiter {
    /// The interval exporters use unless they have a reason for another.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

    /// A limiter letting one warning through per `interval`.
    pub fn new(interval: Duration) -> Self {
        LogLimiter { last: Mutex::new(None), held: AtomicU64::new(0), interval }
    }

    /// `Some(held_back)` when a warning may be logged now — with how many were held back since
    /// the last one that was — or `None` when this one is held back.
    pub fn allow(&self) -> Option<u64> {
        let mut last = self.last.lock().unpoison();
        if last.is_some_and(|t| t.elapsed() < self.interval) {
            self.held.fetch_add(1, Relaxed);
            return None;
        }
        *last = Some(Instant::now());
        Some(self.held.swap(0, Relaxed))
    }

    /// Warnings held back since the last one let through.
    pub fn held(&self) -> u64 {
        self.held.load(Relaxed)
    }
}

impl Default for LogLimiter {
    fn default() -> Self {
        Self::new(Self::DEFAULT_INTERVAL)
    }
}
