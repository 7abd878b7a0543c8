//! Per-machine metric state: atomics written from the machine's hooks, read at collection.

use am_core::exporter::Unpoison;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use am_core::{Machine, Schema, StateIdx, Transition};

use crate::gocompat::{GoSeries, GoSet, TxSample};
use crate::hist::{CountHist, Hist, Layout, bump};

/// What decides which series a machine gets; fixed when the tracer is built.
#[derive(Debug, Clone)]
pub(crate) struct SeriesRules {
    /// States that may get an `am_state_active` series (`None`: any non-Multi state).
    pub(crate) allow: Option<Arc<HashSet<String>>>,
    /// Hard cap of `am_state_active` series per machine.
    pub(crate) max_states: usize,
    pub(crate) duration: Layout,
    /// Durations are measured on transitions whose sequence number has these bits clear
    /// (every 2^k-th); 0 measures every transition.
    pub(crate) timing_mask: u64,
    /// The time origin of the stored start instants.
    pub(crate) epoch: Instant,
    pub(crate) go_compat: bool,
    /// The Go-compatible series of every machine (empty unless `go_compat`).
    pub(crate) go_series: Arc<GoSeries>,
}

/// Which states are active (one bit per schema state), and which of them are exported as
/// `am_state_active` series. Rebuilt when the schema grows.
#[derive(Debug)]
pub(crate) struct StateTrack {
    pub(crate) exception: StateIdx,
    active: Box<[AtomicU64]>,
    /// `(index, name)` of the states with a series.
    pub(crate) tracked: Box<[(StateIdx, Box<str>)]>,
    /// States that passed the allow-list but hit the cap.
    pub(crate) refused: usize,
}

impl StateTrack {
    pub(crate) fn new(schema: &Schema, time: &[u64], rules: &SeriesRules) -> Self {
        let words = schema.len().div_ceil(64).max(1);
        let active: Box<[AtomicU64]> = (0..words).map(|_| AtomicU64::new(0)).collect();
        for (i, t) in time.iter().enumerate() {
            if t % 2 == 1 {
                active[i / 64].fetch_or(1 << (i % 64), Relaxed);
            }
        }
        let mut tracked = Vec::new();
        let mut refused = 0;
        for (i, name) in schema.names().iter().enumerate() {
            // Multi states (Exception among them) never become labels
            if schema.is_multi(i) || rules.allow.as_ref().is_some_and(|a| !a.contains(name)) {
                continue;
            }
            if tracked.len() < rules.max_states {
                tracked.push((i, name.as_str().into()));
            } else {
                refused += 1;
            }
        }
        StateTrack { exception: schema.exception(), active, tracked: tracked.into(), refused }
    }

    #[inline]
    fn set(&self, i: StateIdx, on: bool) {
        if let Some(w) = self.active.get(i / 64) {
            let bit = 1u64 << (i % 64);
            let v = w.load(Relaxed);
            w.store(if on { v | bit } else { v & !bit }, Relaxed);
        }
    }

    pub(crate) fn is_active(&self, i: StateIdx) -> bool {
        self.active.get(i / 64).is_some_and(|w| w.load(Relaxed) & (1 << (i % 64)) != 0)
    }

    pub(crate) fn active_count(&self) -> u64 {
        self.active.iter().map(|w| u64::from(w.load(Relaxed).count_ones())).sum()
    }
}

/// Every labelled metric of one machine.
#[derive(Debug)]
pub(crate) struct MachineMetrics {
    pub(crate) id: Box<str>,
    /// The machine instance (`Machine::instance`) the series are of.
    pub(crate) instance: u64,
    pub(crate) parent_id: Box<str>,
    /// The normalised ID when Go-compatible series are exported for this machine.
    pub(crate) go_id: Option<Box<str>>,
    pub(crate) accepted: AtomicU64,
    pub(crate) canceled: AtomicU64,
    pub(crate) exceptions: AtomicU64,
    pub(crate) added: AtomicU64,
    pub(crate) removed: AtomicU64,
    pub(crate) duration: Hist,
    pub(crate) ticks: CountHist,
    pub(crate) steps: CountHist,
    pub(crate) handlers: CountHist,
    pub(crate) queue_len: AtomicU64,
    pub(crate) schema_states: AtomicU64,
    pub(crate) schema_relations: AtomicU64,
    pub(crate) schema_refs: AtomicU64,
    /// Handler calls seen so far in the running transition.
    handlers_in_tx: AtomicU64,
    /// Sequence number and start (ns since `epoch`) of the transition being timed.
    timed_seq: AtomicU64,
    timed_start: AtomicU64,
    timing_mask: u64,
    epoch: Instant,
    pub(crate) track: RwLock<Arc<StateTrack>>,
    pub(crate) go: Option<Arc<GoSet>>,
    /// The machine, for health probes (never kept alive by them).
    pub(crate) machine: am_core::WeakMachine,
}

impl MachineMetrics {
    pub(crate) fn new(m: &Machine, rules: &SeriesRules, go_id: Option<Box<str>>) -> (Self, Arc<StateTrack>) {
        let schema = m.schema();
        let track = Arc::new(StateTrack::new(&schema, &m.time(), rules));
        let go = go_id.as_ref().map(|norm| rules.go_series.add(norm, m));
        let mm = MachineMetrics {
            id: m.id().into(),
            instance: m.instance(),
            parent_id: m.parent_id().unwrap_or_default().into(),
            go_id,
            accepted: AtomicU64::new(0),
            canceled: AtomicU64::new(0),
            exceptions: AtomicU64::new(0),
            added: AtomicU64::new(0),
            removed: AtomicU64::new(0),
            duration: Hist::new(&rules.duration),
            ticks: CountHist::default(),
            steps: CountHist::default(),
            handlers: CountHist::default(),
            queue_len: AtomicU64::new(m.queue_len() as u64),
            schema_states: AtomicU64::new(0),
            schema_relations: AtomicU64::new(0),
            schema_refs: AtomicU64::new(0),
            handlers_in_tx: AtomicU64::new(0),
            timed_seq: AtomicU64::new(0),
            timed_start: AtomicU64::new(0),
            timing_mask: rules.timing_mask,
            epoch: rules.epoch,
            track: RwLock::new(track.clone()),
            go,
            machine: m.downgrade(),
        };
        mm.set_schema(&schema);
        (mm, track)
    }

    pub(crate) fn set_schema(&self, schema: &Schema) {
        let (lists, refs) = schema.relation_counts();
        self.schema_states.store(schema.len() as u64, Relaxed);
        self.schema_relations.store(lists as u64, Relaxed);
        self.schema_refs.store(refs as u64, Relaxed);
        if let Some(go) = &self.go {
            go.set_schema(schema.len() as u64, lists as u64, refs as u64);
        }
    }

    /// The state track the collector reads.
    pub(crate) fn track(&self) -> Arc<StateTrack> {
        self.track.read().unpoison().clone()
    }

    /// Replaces the state track after a schema change; returns it for the hot path.
    pub(crate) fn retrack(&self, m: &Machine, rules: &SeriesRules) -> (Arc<StateTrack>, usize) {
        let schema = m.schema();
        self.set_schema(&schema);
        let t = Arc::new(StateTrack::new(&schema, &m.time(), rules));
        let old = std::mem::replace(&mut *self.track.write().unpoison(), t.clone());
        let newly_refused = t.refused.saturating_sub(old.refused);
        (t, newly_refused)
    }

    /// Transitions recorded (the count of the count histograms).
    pub(crate) fn observed(&self) -> u64 {
        self.accepted.load(Relaxed) + self.canceled.load(Relaxed)
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Starts the clock of a transition that is timed.
    #[inline]
    pub(crate) fn transition_init(&self, tx: &Transition<'_>) {
        let seq = tx.seq();
        if seq & self.timing_mask == 0 {
            self.timed_start.store(self.now_ns(), Relaxed);
            self.timed_seq.store(seq, Relaxed);
        }
    }

    #[inline]
    pub(crate) fn handler_end(&self) {
        bump(&self.handlers_in_tx, 1);
    }

    /// Records a finished transition. Atomics only: no lock, no allocation.
    pub(crate) fn transition_end(&self, track: &StateTrack, tx: &Transition<'_>) {
        let handlers = self.handlers_in_tx.load(Relaxed);
        if handlers != 0 {
            self.handlers_in_tx.store(0, Relaxed);
        }
        if tx.is_check() {
            return;
        }
        let queue_len = tx.queue_len() as u64;
        self.queue_len.store(queue_len, Relaxed);
        let seq = tx.seq();
        let nanos = if seq & self.timing_mask == 0 && self.timed_seq.load(Relaxed) == seq {
            let ns = self.now_ns().saturating_sub(self.timed_start.load(Relaxed));
            self.duration.observe(ns);
            Some(ns)
        } else {
            None
        };
        let steps = tx.steps();
        self.steps.observe(steps.len() as u64);
        self.handlers.observe(handlers);
        if !tx.accepted() {
            bump(&self.canceled, 1);
            self.ticks.observe(0);
            return;
        }
        bump(&self.accepted, 1);
        let (before, after) = (tx.time_before(), tx.time_after());
        let (mut ticks, mut added, mut removed, mut exception) = (0u64, 0u64, 0u64, false);
        // Only entered and exited states change their clocks; `time_after` is final here,
        // so a state rolled back by a failing final handler shows as inactive.
        for &i in tx.enters().iter().chain(tx.exits()) {
            let (b, a) = (before.get(i).copied().unwrap_or(0), after.get(i).copied().unwrap_or(0));
            ticks += a.saturating_sub(b);
            let on = a % 2 == 1;
            track.set(i, on);
            if a != b {
                if on {
                    added += 1;
                    exception |= i == track.exception;
                } else {
                    removed += 1;
                }
            }
        }
        if added != 0 {
            bump(&self.added, added);
        }
        if removed != 0 {
            bump(&self.removed, removed);
        }
        if exception {
            bump(&self.exceptions, 1);
        }
        self.ticks.observe(ticks);
        if let Some(go) = &self.go {
            go.record(&go_sample(tx, track, queue_len, ticks, added, removed, handlers, nanos));
        }
    }
}

/// An accepted transition by the Go exporter's rules, except that floats, every queue
/// sample, no history in the first `ticks` and handler calls are ours (`gocompat`).
#[allow(clippy::too_many_arguments)]
fn go_sample(
    tx: &Transition<'_>,
    track: &StateTrack,
    queue_len: u64,
    ticks: u64,
    added: u64,
    removed: u64,
    handlers: u64,
    nanos: Option<u64>,
) -> TxSample {
    use am_core::MutationKind::{Add, Remove, Set};
    let steps = tx.steps();
    let before = tx.time_before();
    // Go counts the states before the transition
    let active = before.iter().filter(|t| *t % 2 == 1).count() as u64;
    let kind = tx.kind();
    TxSample {
        queue_len,
        ticks,
        // Go: every accepted transition whose target states hold Exception
        exception: tx.target().contains(&track.exception),
        // Go: added for add and set mutations, removed for remove and set mutations
        added: matches!(kind, Add | Set).then_some(added),
        removed: matches!(kind, Remove | Set).then_some(removed),
        touched: if steps.is_empty() { 0 } else { touched_states(tx) },
        steps: steps.len() as u64,
        handlers,
        nanos,
        active,
        inactive: before.len() as u64 - active,
    }
}

/// Distinct states named as source or target of a step (the Go `states_touched`).
fn touched_states(tx: &Transition<'_>) -> u64 {
    let mut seen = [0u64; 16]; // exact up to 1,024 states; beyond that, repeats count again
    let mut n = 0;
    for s in tx.steps() {
        for i in [s.from, s.to].into_iter().flatten() {
            match seen.get_mut(i / 64) {
                Some(w) if *w & (1 << (i % 64)) != 0 => {}
                Some(w) => {
                    *w |= 1 << (i % 64);
                    n += 1;
                }
                None => n += 1,
            }
        }
    }
    n
}
