//! Lints over machines, as tokio-console's warnings: each check is a value with a summary
//! and a per-machine test, registered in [`lints`]; the warnings pane lists what they find,
//! and each finding names the machine and, where one is to blame, the entry to jump to.

use super::machine::{MachineKey, MachineView};

/// A queue this long, grown over this many queued entries with no transition between,
/// is "growing without transitions".
pub const QUEUE_GROWTH: (i64, u32) = (10, 20);
/// `Exception` active longer than this (seconds) is reported.
pub const EXCEPTION_SECS: u64 = 10;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The machine.
    pub machine: MachineKey,
    /// The entry to jump to, if one is to blame.
    pub tx: Option<u64>,
    /// What the lint is about (its summary).
    pub kind: &'static str,
    /// The finding, in a line.
    pub text: String,
}

/// One check over a machine.
pub trait Warn: std::fmt::Debug + Send + Sync {
    /// A short name for what it finds.
    fn summary(&self) -> &'static str;
    /// The finding for one machine at `now` (Unix ns of the newest entry, or the wall
    /// clock when live).
    fn check(&self, m: &MachineView, now_ns: u64) -> Option<(Option<u64>, String)>;
}

#[derive(Debug)]
struct QueueGrowth;
impl Warn for QueueGrowth {
    fn summary(&self) -> &'static str {
        "queue grows"
    }
    fn check(&self, m: &MachineView, _: u64) -> Option<(Option<u64>, String)> {
        let s = &m.stats;
        (s.queue >= QUEUE_GROWTH.0 && s.queued_run >= QUEUE_GROWTH.1 && s.queue > s.queued_run_from).then(|| {
            let at = m.total().checked_sub(1);
            (
                at,
                format!("queue {} → {} over {} mutations, no transition ran", s.queued_run_from, s.queue, s.queued_run),
            )
        })
    }
}

#[derive(Debug)]
struct LongException;
impl Warn for LongException {
    fn summary(&self) -> &'static str {
        "Exception stays"
    }
    fn check(&self, m: &MachineView, now: u64) -> Option<(Option<u64>, String)> {
        let (since, abs) = m.stats.exception_since?;
        let secs = now.saturating_sub(since) / 1_000_000_000;
        (since > 0 && secs >= EXCEPTION_SECS).then(|| (Some(abs), format!("Exception active for {secs}s")))
    }
}

#[derive(Debug)]
struct Timeouts;
impl Warn for Timeouts {
    fn summary(&self) -> &'static str {
        "handler timeouts"
    }
    fn check(&self, m: &MachineView, _: u64) -> Option<(Option<u64>, String)> {
        let s = &m.stats;
        (s.timeouts > 0).then(|| (s.last_timeout, format!("{} handler timeout(s)", s.timeouts)))
    }
}

#[derive(Debug)]
struct Losses;
impl Warn for Losses {
    fn summary(&self) -> &'static str {
        "lost messages"
    }
    fn check(&self, m: &MachineView, _: u64) -> Option<(Option<u64>, String)> {
        let (d, g) = (m.dropped, m.stats.seq_gaps);
        (d + g > 0).then(|| (None, format!("{d} dropped by the client, {g} missing in sequence")))
    }
}

#[derive(Debug)]
struct Reconnects;
impl Warn for Reconnects {
    fn summary(&self) -> &'static str {
        "reconnects"
    }
    fn check(&self, m: &MachineView, _: u64) -> Option<(Option<u64>, String)> {
        let n = m.stats.reconnects;
        (n > 0).then(|| (None, format!("reconnected {n} time(s)")))
    }
}

/// Every lint, in display order.
pub fn lints() -> Vec<Box<dyn Warn>> {
    vec![Box::new(QueueGrowth), Box::new(LongException), Box::new(Timeouts), Box::new(Losses), Box::new(Reconnects)]
}

/// Runs the lints over machines.
pub fn check<'a>(
    lints: &[Box<dyn Warn>],
    machines: impl IntoIterator<Item = &'a MachineView>,
    now: u64,
) -> Vec<Warning> {
    let mut out = Vec::new();
    for m in machines {
        for l in lints {
            if let Some((tx, text)) = l.check(m, now) {
                out.push(Warning { machine: m.key, tx, kind: l.summary(), text });
            }
        }
    }
    out
}
