//! The data of one transition and the borrowed view tracers and handlers read.

use std::fmt;
use std::time::Instant;

use crate::log::LogEntry;
use crate::machine::Machine;
use crate::mutation::{Args, Mutation, MutationKind};
use crate::schema::{Schema, StateIdx};
use crate::steps::Step;

/// Why a transition was canceled.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum CancelReason {
    /// Relations rejected these called states.
    Relations(Vec<StateIdx>),
    /// A negotiation handler returned false.
    Handler(String),
    /// A handler panicked.
    Panic(String),
    /// A handler returned after the handler timeout.
    Timeout(String),
    /// The machine was disposing, or its queue was full.
    Admission,
}

/// A transition ID: 16 lower-case hex characters, unique per machine.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct TxId([u8; 16]);

impl TxId {
    pub(crate) fn new(seed: u64, seq: u64) -> Self {
        // splitmix64 of seed+seq: unique per machine, cheap, and looks random
        let mut z = seed.wrapping_add(seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&hex8((z >> 32) as u32));
        out[8..].copy_from_slice(&hex8(z as u32));
        TxId(out)
    }
    /// The ID as a string slice.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Makes one machine's transition IDs from their sequence numbers
/// ([`Transition::seq`]); see [`Machine::tx_ids`](crate::Machine::tx_ids).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TxIds(pub(crate) u64);

impl TxIds {
    /// The ID of the machine's transition number `seq`: `tx.id()` for the transition whose
    /// `tx.seq()` is `seq`.
    pub fn id(self, seq: u64) -> TxId {
        TxId::new(self.0, seq)
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxId({})", self.as_str())
    }
}

/// `x` as 8 lower-case hex digits, most significant first, without a loop: each nibble is
/// spread to its own byte, then all eight become ASCII at once (tracers ask for a
/// transition's ID on every transition).
fn hex8(x: u32) -> [u8; 8] {
    let mut v = u64::from(x);
    v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
    v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
    v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    // 0x01 in every byte whose nibble is 10 or more
    let letters = ((v + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    (v + 0x3030_3030_3030_3030 + letters * (b'a' - b'0' - 10) as u64).to_be_bytes()
}

/// The runner's working data for one transition; reused between transitions.
pub(crate) struct TxData {
    pub(crate) seq: u64,
    pub(crate) mutation: Mutation,
    pub(crate) before: Vec<u64>,
    pub(crate) after: Vec<u64>,
    pub(crate) states_before: Vec<StateIdx>,
    pub(crate) target: Vec<StateIdx>,
    pub(crate) enters: Vec<StateIdx>,
    pub(crate) exits: Vec<StateIdx>,
    pub(crate) accepted: bool,
    pub(crate) health: bool,
    pub(crate) completed: bool,
    pub(crate) cancel: Option<CancelReason>,
    pub(crate) steps: Vec<Step>,
    pub(crate) log: Vec<LogEntry>,
    pub(crate) pre_log: Vec<LogEntry>,
    pub(crate) queue_len: usize,
    pub(crate) queue_tick: u64,
    pub(crate) started_at: Option<Instant>,
    /// When the previous handler of this transition returned: the next one's start when only
    /// am-core's own bookkeeping ran in between (one clock read per handler instead of two).
    /// Cleared where the runner may wait (tracers, logging, a contended lock in `apply`).
    pub(crate) handler_clock: Option<Instant>,
    pub(crate) ended_at: Option<Instant>,
    /// The runner's cached dispatch: every hook of this transition goes through it.
    pub(crate) dispatch: crate::dispatch::Dispatch,
    /// Sums of `before` and `after`, kept as they change.
    pub(crate) before_sum: u64,
    pub(crate) after_sum: u64,
    /// Indexes where `after` (and the machine's clocks) may differ from `before` since the
    /// clocks were last synced: what the next sync patches (cost follows what changes).
    pub(crate) touched: Vec<StateIdx>,
}

impl TxData {
    pub(crate) fn new(mutation: Mutation) -> Self {
        TxData {
            seq: 0,
            mutation,
            before: Vec::new(),
            after: Vec::new(),
            states_before: Vec::new(),
            target: Vec::new(),
            enters: Vec::new(),
            exits: Vec::new(),
            accepted: false,
            health: false,
            completed: false,
            cancel: None,
            steps: Vec::new(),
            log: Vec::new(),
            pre_log: Vec::new(),
            queue_len: 0,
            queue_tick: 0,
            started_at: None,
            handler_clock: None,
            ended_at: None,
            dispatch: crate::dispatch::Dispatch::default(),
            before_sum: 0,
            after_sum: 0,
            touched: Vec::new(),
        }
    }

    /// Makes `before` and `after` the machine's clocks `time`: a full copy when `full` (or
    /// the length changed), else the indexes touched since the last sync.
    pub(crate) fn sync_clocks(&mut self, time: &[u64], full: bool) {
        if full || self.before.len() != time.len() {
            self.before.clear();
            self.before.extend_from_slice(time);
            self.after.clone_from(&self.before);
            self.before_sum = time.iter().sum();
        } else {
            for k in 0..self.touched.len() {
                let i = self.touched[k];
                let v = time[i];
                self.before_sum = self.before_sum - self.before[i] + v;
                self.before[i] = v;
                self.after[i] = v;
            }
        }
        self.after_sum = self.before_sum;
        self.touched.clear();
    }

    /// Sets `after[i]`, keeping its sum and remembering the index.
    #[inline]
    pub(crate) fn set_after(&mut self, i: StateIdx, v: u64) {
        self.after_sum = self.after_sum - self.after[i] + v;
        self.after[i] = v;
        self.touched.push(i);
    }

    /// `after` back to `before` (a transition that changed nothing), at the touched indexes.
    pub(crate) fn reset_after(&mut self) {
        for k in 0..self.touched.len() {
            let i = self.touched[k];
            self.after[i] = self.before[i];
        }
        self.after_sum = self.before_sum;
    }
}

/// A borrowed, read-only view of a transition, passed to tracer hooks and handlers.
/// Nothing is cloned to build it; copy what you need.
#[derive(Clone, Copy)]
pub struct Transition<'a> {
    pub(crate) machine: &'a Machine,
    pub(crate) schema: &'a Schema,
    pub(crate) data: &'a TxData,
    pub(crate) tx_ids: TxIds,
}

impl fmt::Debug for Transition<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transition")
            .field("id", &self.id())
            .field("machine", &self.machine_id())
            .field("kind", &self.kind())
            .field("called", &self.called_names().collect::<Vec<_>>())
            .field("accepted", &self.accepted())
            .finish()
    }
}

impl<'a> Transition<'a> {
    /// The transition ID.
    pub fn id(&self) -> TxId {
        self.tx_ids.id(self.data.seq)
    }
    /// A per-machine sequence number (1, 2, …) of transitions run.
    pub fn seq(&self) -> u64 {
        self.data.seq
    }
    /// The machine running it.
    pub fn machine(&self) -> &'a Machine {
        self.machine
    }
    /// Its ID.
    pub fn machine_id(&self) -> &'a str {
        self.machine.id()
    }
    /// The parent machine's ID.
    pub fn parent_id(&self) -> Option<&'a str> {
        self.machine.parent_id()
    }
    /// The machine's tags.
    pub fn machine_tags(&self) -> &'a [String] {
        self.machine.tags()
    }
    /// The schema in force.
    pub fn schema(&self) -> &'a Schema {
        self.schema
    }
    /// The name of a state index.
    pub fn state_name(&self, i: StateIdx) -> &'a str {
        self.schema.name(i)
    }
    /// The mutation.
    pub fn mutation(&self) -> &'a Mutation {
        &self.data.mutation
    }
    /// Add, Remove or Set.
    pub fn kind(&self) -> MutationKind {
        self.data.mutation.kind
    }
    /// Called state indexes.
    pub fn called(&self) -> &'a [StateIdx] {
        self.data.mutation.called()
    }
    /// Called state names.
    pub fn called_names(&self) -> impl Iterator<Item = &'a str> + 'a {
        let s = self.schema;
        self.data.mutation.called().iter().map(move |&i| s.name(i))
    }
    /// The args.
    pub fn args(&self) -> Option<&'a Args> {
        self.data.mutation.args()
    }
    /// An auto transition.
    pub fn is_auto(&self) -> bool {
        self.data.mutation.auto
    }
    /// A dry run.
    pub fn is_check(&self) -> bool {
        self.data.mutation.check
    }
    /// A health transition (an Add calling only `Healthcheck` or `Heartbeat`).
    pub fn is_health(&self) -> bool {
        self.data.health
    }
    /// Active states before, canonical order.
    pub fn states_before(&self) -> &'a [StateIdx] {
        &self.data.states_before
    }
    /// Target states, canonical order (auto negotiation may shrink it).
    pub fn target(&self) -> &'a [StateIdx] {
        &self.data.target
    }
    /// States being activated (including re-entered Multi states).
    pub fn enters(&self) -> &'a [StateIdx] {
        &self.data.enters
    }
    /// States being deactivated.
    pub fn exits(&self) -> &'a [StateIdx] {
        &self.data.exits
    }
    /// Ticks before, schema index order.
    pub fn time_before(&self) -> &'a [u64] {
        &self.data.before
    }
    /// Ticks after: a prediction at init, actual from `transition_finals`, final (after any
    /// rollback) at `transition_end`; equals `time_before` for a canceled transition.
    pub fn time_after(&self) -> &'a [u64] {
        &self.data.after
    }
    /// Sum of `time_before`.
    pub fn machine_time_before(&self) -> u64 {
        self.data.before_sum
    }
    /// Sum of `time_after`.
    pub fn machine_time_after(&self) -> u64 {
        self.data.after_sum
    }
    /// Accepted so far (final at `transition_end`).
    pub fn accepted(&self) -> bool {
        self.data.accepted
    }
    /// Finished (set at `transition_end`).
    pub fn is_completed(&self) -> bool {
        self.data.completed
    }
    /// Why it was canceled, if it was.
    pub fn cancel_reason(&self) -> Option<&'a CancelReason> {
        self.data.cancel.as_ref()
    }
    /// Steps; empty unless steps are enabled.
    pub fn steps(&self) -> &'a [Step] {
        &self.data.steps
    }
    /// Log entries recorded during the transition: the machine's own, and what its handlers
    /// logged and queued (`[queue:…]`) up to the end of its last final handler, in order
    /// (complete at `transition_end`; see the semantics page, *Logging*).
    pub fn log_entries(&self) -> &'a [LogEntry] {
        &self.data.log
    }
    /// Log entries recorded since the previous transition (filled at end).
    pub fn pre_log_entries(&self) -> &'a [LogEntry] {
        &self.data.pre_log
    }
    /// At end: mutations still queued.
    pub fn queue_len(&self) -> usize {
        self.data.queue_len
    }
    /// The machine's queue tick during this transition.
    pub fn queue_tick(&self) -> u64 {
        self.data.queue_tick
    }
    /// When `transition_init` was reached; recorded only when a bound tracer asks for timing
    /// ([`Tracer::wants_timing`](crate::Tracer::wants_timing)).
    pub fn started_at(&self) -> Option<Instant> {
        self.data.started_at
    }
    /// When the transition ended; see [`started_at`](Self::started_at).
    pub fn ended_at(&self) -> Option<Instant> {
        self.data.ended_at
    }
    /// `ended_at - started_at`, when both were recorded.
    pub fn duration(&self) -> Option<std::time::Duration> {
        Some(self.data.ended_at?.duration_since(self.data.started_at?))
    }
    /// Whether state `i` is active before the transition.
    pub fn was_active(&self, i: StateIdx) -> bool {
        self.data.before.get(i).is_some_and(|t| t % 2 == 1)
    }
    /// Whether state `i` is active according to `time_after`.
    pub fn is_active_after(&self, i: StateIdx) -> bool {
        self.data.after.get(i).is_some_and(|t| t % 2 == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_ids_are_zero_padded_lower_hex() {
        let mut z = 0x0123_4567_89ab_cdefu64;
        for seq in 0..10_000u64 {
            for v in [z, 0, u64::MAX, 0xa, 0x9000_0000_0000_000f] {
                let hi: [u8; 8] = hex8((v >> 32) as u32);
                let lo: [u8; 8] = hex8(v as u32);
                assert_eq!([hi, lo].concat(), format!("{v:016x}").into_bytes(), "{v:#x}");
            }
            z = z.rotate_left(7) ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        let id = TxId::new(7, 3);
        assert_eq!(id.as_str().len(), 16);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }
}
