//! Message times: hooks store a raw clock reading, the sender turns it into Unix time.
//!
//! A raw reading is the CPU's time-stamp counter where it is invariant (x86-64 with
//! invariant TSC, AArch64: a few nanoseconds, no system call), else the OS monotonic clock
//! (through [`quanta`]). The sender converts a batch's readings against an anchor it takes
//! right then: the wall-clock time at the tracer's start plus the monotonic time since, and
//! the raw reading at that moment. A reading is converted from its distance to the anchor,
//! milliseconds at most, so a scale error in the counter's calibration cannot build up, and a
//! wall-clock step cannot put a message before an earlier one.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The tracer's clock. Creating the first one in a process calibrates the counter against
/// the monotonic clock (typically a few milliseconds).
#[derive(Debug)]
pub(crate) struct Clock {
    raw: quanta::Clock,
    /// A monotonic instant and the Unix nanoseconds it stands for.
    epoch: (Instant, u64),
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock { raw: quanta::Clock::new(), epoch: (Instant::now(), unix_nanos()) }
    }

    /// A raw reading: only the sender's [`Anchor`] makes sense of it.
    pub(crate) fn raw(&self) -> u64 {
        self.raw.raw()
    }

    /// Unix nanoseconds now, from the monotonic clock.
    fn wall_now(&self) -> u64 {
        let since = Instant::now().saturating_duration_since(self.epoch.0);
        self.epoch.1.saturating_add(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    /// An anchor for converting readings taken before now.
    pub(crate) fn anchor(&self) -> Anchor<'_> {
        Anchor { clock: self, raw: self.raw(), wall: self.wall_now() }
    }
}

/// A raw reading and the Unix time it was taken at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Anchor<'a> {
    clock: &'a Clock,
    raw: u64,
    wall: u64,
}

impl Anchor<'_> {
    /// Unix nanoseconds of a raw reading taken before the anchor (one taken on another core
    /// whose counter runs a little ahead counts as the anchor's time).
    pub(crate) fn wall(&self, raw: u64) -> u64 {
        self.wall.saturating_sub(self.clock.raw.delta_as_nanos(raw, self.raw))
    }
}

/// Unix nanoseconds now, from the wall clock.
pub(crate) fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn readings_convert_to_the_wall_clock_time_they_were_taken_at() {
        let c = Clock::new();
        let before = unix_nanos();
        let r1 = c.raw();
        std::thread::sleep(Duration::from_millis(20));
        let r2 = c.raw();
        std::thread::sleep(Duration::from_millis(5));
        let a = c.anchor();
        let after = unix_nanos();
        let (t1, t2) = (a.wall(r1), a.wall(r2));
        // the monotonic and the wall clock may drift apart by a little while the test runs
        let slack = 2_000_000;
        assert!(t1 + slack >= before && t1 <= after + slack, "{before} {t1} {after}");
        assert!(t2 > t1, "readings keep their order: {t1} {t2}");
        let gap = t2 - t1;
        assert!((19_000_000..200_000_000).contains(&gap), "20 ms sleep measured as {gap} ns");
        assert!(a.wall(a.raw) == a.wall, "the anchor's own reading is its time");
        assert!(a.wall(u64::MAX) == a.wall, "a reading after the anchor counts as the anchor");
    }
}
