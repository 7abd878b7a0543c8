//! What a hook copies out of a transition: the one-cache-line [`TxRecord`], its numbers and
//! clocks in the chunk's arena ([`ArenaSpan`], [`TxNumbers`]), and the rare fields boxed
//! apart ([`Extra`]).

use am_core::{MutationKind, Source, Step, TxIds};

/// Where a record's numbers live in its chunk's arena: its [`TxNumbers`] (`NUMS` words), then
/// its clocks (unless `shared_clocks`), then the called states.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ArenaSpan {
    pub(super) off: u32,
    pub(super) clocks: u32,
    pub(super) called: u32,
    /// The clocks are not stored: they are the last ones stored for the same machine in
    /// this chunk (a queued mutation's are its machine's last known clocks, which its
    /// transitions store).
    pub(super) shared_clocks: bool,
    /// Three words after the called states hold the machine's trace context.
    pub(super) trace: bool,
    /// Log lines ([`LogWord`]s) after those, their texts in the chunk's `text`.
    pub(super) logs: u16,
}

/// Words of [`TxNumbers`] in the arena.
pub(super) const NUMS: usize = 5;

impl ArenaSpan {
    pub(super) fn base(self) -> usize {
        self.off as usize
    }
    pub(super) fn ticks(self, arena: &[u64]) -> TxNumbers {
        let n = |i: usize| arena.get(self.base() + i).copied().unwrap_or(0);
        TxNumbers {
            queue_tick: n(0),
            mut_queue_token: n(1),
            mut_queue_tick: n(2),
            time: OptU64::from_raw(n(3)),
            duration_ns: OptU64::from_raw(n(4)),
            trace: None,
        }
    }
    pub(super) fn clocks_from(self) -> usize {
        self.base() + NUMS
    }
    /// The stored clocks (empty when shared).
    pub(super) fn clocks(self, arena: &[u64]) -> &[u64] {
        let (from, n) = (self.clocks_from(), if self.shared_clocks { 0 } else { self.clocks as usize });
        arena.get(from..from + n).unwrap_or(&[])
    }
    pub(super) fn called(self, arena: &[u64]) -> &[u64] {
        let from = self.clocks_from() + if self.shared_clocks { 0 } else { self.clocks as usize };
        arena.get(from..from + self.called as usize).unwrap_or(&[])
    }
    fn trace_from(self) -> usize {
        self.clocks_from() + if self.shared_clocks { 0 } else { self.clocks as usize } + self.called as usize
    }
    /// The trace context stored after the called states, if any.
    pub(super) fn trace(self, arena: &[u64]) -> Option<am_core::TraceContext> {
        if !self.trace {
            return None;
        }
        let from = self.trace_from();
        let w = arena.get(from..from + 3)?;
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&w[0].to_be_bytes());
        trace_id[8..].copy_from_slice(&w[1].to_be_bytes());
        Some(am_core::TraceContext { trace_id, span_id: w[2].to_be_bytes() })
    }
    /// The log lines stored last, pre-transition lines and the transition's own mixed in
    /// their order ([`LogWord::pre`] tells them apart).
    pub(super) fn logs(self, arena: &[u64]) -> impl Iterator<Item = LogWord> + '_ {
        let from = self.trace_from() + if self.trace { 3 } else { 0 };
        arena.get(from..from + self.logs as usize).unwrap_or(&[]).iter().map(|&w| LogWord(w))
    }
}

/// A log line of a record in one arena word: where its text is in the chunk's `text`
/// (offset 32 bits, length 24), its level (4 bits) and whether it was logged before the
/// transition (1 bit). The hook copies the text into the chunk's reused buffer: no `String`
/// per line made on the machine's thread and freed on the sender's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LogWord(pub(super) u64);

impl LogWord {
    /// Longer lines are cut (at a character boundary) to this many bytes.
    pub(super) const MAX_LEN: usize = (1 << 24) - 1;

    /// `None` when the text would start beyond what 32 bits address.
    pub(super) fn new(start: usize, len: usize, level: am_core::LogLevel, pre: bool) -> Option<Self> {
        let start = u32::try_from(start).ok()?;
        let len = len.min(Self::MAX_LEN) as u64;
        Some(LogWord(u64::from(start) | len << 32 | (level as u64 & 0xf) << 56 | u64::from(pre) << 60))
    }
    pub(crate) fn text(self, text: &str) -> &str {
        let start = (self.0 & 0xffff_ffff) as usize;
        let len = ((self.0 >> 32) & 0xff_ffff) as usize;
        text.get(start..start + len).unwrap_or_default()
    }
    pub(crate) fn level(self) -> u8 {
        ((self.0 >> 56) & 0xf) as u8
    }
    pub(crate) fn pre(self) -> bool {
        self.0 >> 60 & 1 == 1
    }
}

/// A record's numbers, kept in the chunk's arena rather than the record: the record stays
/// one cache line, and every line it writes crosses to the sender's core.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TxNumbers {
    pub(crate) queue_tick: u64,
    pub(crate) mut_queue_token: u64,
    pub(crate) mut_queue_tick: u64,
    pub(crate) time: OptU64,
    pub(crate) duration_ns: OptU64,
    /// Stored only when set (three arena words), so machines without tracing pay nothing.
    pub(crate) trace: Option<am_core::TraceContext>,
}

/// An optional u64 in 8 bytes (records stay small: they cross to the sender's core).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct OptU64(Option<std::num::NonZeroU64>);

impl OptU64 {
    pub(crate) fn some(v: u64) -> Self {
        OptU64(std::num::NonZeroU64::new(v.saturating_add(1)))
    }
    pub(crate) fn from(v: Option<u64>) -> Self {
        v.map_or(OptU64(None), OptU64::some)
    }
    pub(crate) fn get(self) -> Option<u64> {
        self.0.map(|v| v.get() - 1)
    }
    pub(super) fn raw(self) -> u64 {
        self.0.map_or(0, |v| v.get())
    }
    pub(super) fn from_raw(v: u64) -> Self {
        OptU64(std::num::NonZeroU64::new(v))
    }
}

/// Which ID a record gets: a transition's own, or `<last tx>-<n>` for a queued mutation.
/// Transitions are kept by their sequence number ([`Transition::seq`](am_core::Transition::seq),
/// 0 for none); the sender makes the ID with the machine's [`TxIds`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum RecId {
    Tx(u64),
    Queued(u64, u32),
}

/// The fields most transitions leave empty, boxed so the common record stays small (log
/// lines, which every logged transition has, live in the chunk: [`LogWord`]).
#[derive(Debug, Default)]
pub(crate) struct Extra {
    pub(crate) steps: Vec<Step>,
    pub(crate) args: Vec<(String, String)>,
    pub(crate) source: Option<Source>,
    /// The queued mutation's caller, captured unresolved (resolving symbols is the slow
    /// part: the sender does it).
    pub(crate) stack: Option<std::backtrace::Backtrace>,
    /// The machine's own ID maker, when another live machine has the same ID and owns the
    /// slot (set by [`Outbox::push`]).
    pub(crate) tx_ids: Option<TxIds>,
}

impl Extra {
    /// `None` when every field is empty: no allocation for the common case.
    pub(crate) fn boxed(self) -> Option<Box<Extra>> {
        let empty = self.steps.is_empty() && self.args.is_empty() && self.source.is_none() && self.stack.is_none();
        (!empty).then(|| Box::new(self))
    }
}

/// What the hooks copy out of a transition or queued mutation. `slot`, `seq`, the queued
/// ID, the arena spans and `extra` are filled by [`Outbox::push`]. Plain data (no drop
/// glue): clearing a sent chunk does not read its records back.
#[derive(Clone, Copy, Debug)]
#[repr(align(64))]
pub(crate) struct TxRecord {
    pub(crate) id: RecId,
    pub(crate) seq: u64,
    pub(crate) queue: u32,
    pub(crate) kind: MutationKind,
    pub(crate) auto: bool,
    pub(crate) accepted: bool,
    pub(crate) check: bool,
    pub(crate) queued: bool,
    /// Dropped on overflow (the record stays: later records may share its clocks).
    pub(crate) dropped: bool,
    /// The rare fields: 1 + their index in the chunk's `extras`, 0 for none.
    pub(crate) extra: u32,
    pub(crate) slot: u32,
    pub(crate) at: ArenaSpan,
}
