//! What a hook copies into the machine's span buffer: one small record per hook ([`Hook`]),
//! applied to the span tree later, off the machine's thread.

use super::*;

/// A range of a machine's index arena.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Idx {
    pub(super) off: u32,
    pub(super) len: u32,
}

impl Idx {
    pub(super) fn of(self, arena: &[u32]) -> &[u32] {
        arena.get(self.off as usize..(self.off + self.len) as usize).unwrap_or(&[])
    }
}

/// A transition span starts (transitions on).
#[derive(Debug)]
pub(crate) struct Start {
    pub(crate) tx: TxId,
    pub(crate) span: SpanId,
    pub(crate) at: SystemTime,
    pub(crate) kind: MutationKind,
    pub(crate) called: Idx,
    pub(crate) time_before: u64,
    pub(crate) raising: bool,
    /// The source transition's span.
    pub(crate) link: Option<(TraceId, SpanId)>,
    pub(crate) extra: Option<Box<StartExtra>>,
}

/// What few transitions carry: the `err` arg of one raising `Exception`, and mapped args.
#[derive(Debug)]
pub(crate) struct StartExtra {
    pub(crate) err: Option<String>,
    pub(crate) args: Vec<(String, String)>,
}

/// An accepted transition changed states (exits already exclude states still active).
#[derive(Debug)]
pub(crate) struct Finals {
    pub(crate) tx: TxId,
    pub(crate) at: SystemTime,
    pub(crate) kind: MutationKind,
    pub(crate) called: Idx,
    pub(crate) enters: Idx,
    pub(crate) exits: Idx,
    pub(crate) time_after: u64,
    pub(crate) auto: bool,
    pub(crate) steps: u32,
}

/// A transition ended (transitions on).
#[derive(Debug)]
pub(crate) struct End {
    pub(crate) tx: TxId,
    pub(crate) at: SystemTime,
    pub(crate) accepted: bool,
    pub(crate) auto: bool,
    pub(crate) time_after: u64,
    pub(crate) discard: bool,
    /// The error message when it activated `Exception`; the cancel reason when canceled.
    pub(crate) note: Option<Box<str>>,
}

/// One hook's record.
#[derive(Debug)]
pub(crate) enum Ev {
    Start(Start),
    Handler { tx: TxId, at: SystemTime, handler: Box<str>, binding: Box<str> },
    Finals(Finals),
    End(End),
    Schema(Arc<Schema>),
}

/// What the hooks of one machine keep: the record buffer, and the IDs a running
/// transition needs before its span exists.
#[derive(Debug)]
pub(crate) struct Hook {
    pub(super) evs: Vec<Ev>,
    pub(super) idx: Vec<u32>,
    pub(super) dirty: bool,
    pub(crate) disposed: bool,
    pub(crate) trace_id: TraceId,
    pub(crate) mach_span: SpanId,
    /// The running transition and its span ID.
    pub(crate) tx: Option<(TxId, SpanId)>,
    /// Recent transitions' span IDs, to link mutations to their source.
    pub(crate) recent: VecDeque<(TxId, SpanId)>,
    pub(super) ids: SpanIds,
}

/// What a push did.
pub(crate) enum Pushed {
    /// Stored; `true` when the machine must be queued for the span thread.
    Stored(bool),
    /// Stored, and the buffer is half full: wake the span thread now.
    Urgent,
    /// The buffer is full: the record was dropped.
    Dropped,
}

impl Hook {
    pub(crate) fn new(mach_sc: &SpanContext) -> Self {
        Hook {
            evs: Vec::new(),
            idx: Vec::new(),
            dirty: false,
            disposed: false,
            trace_id: mach_sc.trace_id(),
            mach_span: mach_sc.span_id(),
            tx: None,
            recent: VecDeque::new(),
            ids: SpanIds::new(),
        }
    }

    pub(crate) fn next_span_id(&mut self) -> SpanId {
        self.ids.next()
    }

    /// Whether one more record fits.
    pub(crate) fn has_room(&self, limit: usize) -> bool {
        self.evs.len() < limit
    }

    /// Copies state indices into the arena.
    pub(crate) fn idx(&mut self, states: impl IntoIterator<Item = StateIdx>) -> Idx {
        let off = self.idx.len();
        self.idx.extend(states.into_iter().map(|i| u32::try_from(i).unwrap_or(u32::MAX)));
        Idx { off: off as u32, len: (self.idx.len() - off) as u32 }
    }

    pub(crate) fn push(&mut self, ev: Ev, limit: usize) -> Pushed {
        if self.evs.len() >= limit {
            return Pushed::Dropped;
        }
        self.evs.push(ev);
        if self.evs.len() == limit / 2 {
            let first = !std::mem::replace(&mut self.dirty, true);
            return if first { Pushed::Stored(true) } else { Pushed::Urgent };
        }
        Pushed::Stored(!std::mem::replace(&mut self.dirty, true))
    }
}
