//! The tracer's bounded outbox and per-machine bookkeeping. Hooks copy a transition into a
//! compact [`TxRecord`] (borrowing nothing; clocks and called states go into the chunk's
//! flat arena, rare fields boxed in its side table) and push it here; the sender pops a whole chunk
//! at a time (constant time under the lock) and turns its records into wire messages off
//! the machine's thread, then hands the chunk back for reuse, so a busy stream allocates
//! nothing per transition on the machine's side.
//!
//! - [`record`] — what a hook copies ([`TxRecord`] and its arena spans),
//! - [`machines`] — the machine table and record → message conversion,
//! - [`chunk`] — chunks of records and what the sender takes,
//! - [`wire`] — a taken chunk serialised as a batch in place (the encoded push),
//! - this module: the bounded queue itself ([`Outbox`]: push, overflow, take).

mod chunk;
mod machines;
mod record;
#[cfg(test)]
mod tests;
mod wire;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use am_core::Machine;

use crate::messages::{DbgMsg, DbgMsgDropped};

pub(crate) use chunk::Taken;
use chunk::{Chunk, Record, Tally};
pub(crate) use machines::{MachineEntry, MachineMeta};
pub(crate) use record::{ArenaSpan, Extra, LogWord, OptU64, RecId, TxNumbers, TxRecord};

/// A transition's log lines, as [`Outbox::push_logged`] copies them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Logged<'a> {
    /// Lines logged before the transition began ([`Transition::pre_log_entries`](am_core::Transition::pre_log_entries)).
    pub(crate) pre: &'a [am_core::LogEntry],
    /// The transition's own lines.
    pub(crate) log: &'a [am_core::LogEntry],
}

/// Chunks kept for reuse once sent: a burst of 16 batches (16,384 records at the default
/// batch size, ~2.5 MB) comes back without fresh pages. With 4, a burst of 8,000 logged
/// transitions freed 12 chunks, and the hooks grew new ones into fresh pages: a page fault
/// on the machine's thread every ~40 transitions.
const FREE_CHUNKS: usize = 16;

#[derive(Debug)]
/// The bounded queue between the hooks and the sender: chunks of at most `chunk_cap`
/// records (one batch each), a free-list of sent chunks, and the machine table (slots, plus
/// an ID index consulted only when a hook's machine is not the last one seen).
pub(crate) struct Outbox {
    chunks: VecDeque<Chunk>,
    free: Vec<Chunk>,
    chunk_cap: usize,
    /// Transition records waiting.
    txs: usize,
    /// Transition records ever accepted (a plain count under the lock: an atomic here
    /// would share a cache line with the sender's counters).
    enqueued: u64,
    /// Records waiting, schemas included.
    live: usize,
    capacity: usize,
    slots: Vec<Option<MachineEntry>>,
    free_slots: Vec<u32>,
    /// Slots by machine ID: for registering, disposing, and a hook whose slot hint is stale.
    index: HashMap<Arc<str>, u32>,
    last: u32,
    /// The last chunk generation handed out.
    generation: u64,
}

/// What a push did, for the caller's counters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pushed {
    pub(crate) dropped: u64,
    pub(crate) was_empty: bool,
}

impl Outbox {
    /// ArenaSpan most `capacity` transition records wait; a batch is at most `chunk_cap` records.
    pub(crate) fn new(capacity: usize, chunk_cap: usize) -> Self {
        Outbox {
            chunks: VecDeque::new(),
            free: Vec::new(),
            chunk_cap: chunk_cap.max(1),
            txs: 0,
            enqueued: 0,
            live: 0,
            capacity: capacity.max(1),
            slots: Vec::new(),
            free_slots: Vec::new(),
            index: HashMap::default(),
            last: u32::MAX,
            generation: 0,
        }
    }

    /// Transition records waiting.
    pub(crate) fn len(&self) -> usize {
        self.txs
    }

    /// Transition records accepted so far.
    pub(crate) fn enqueued(&self) -> u64 {
        self.enqueued
    }

    /// Whether anything (schemas included) waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Known machines.
    pub(crate) fn machines(&self) -> usize {
        self.index.len()
    }

    fn entry(&mut self, slot: u32) -> Option<&mut MachineEntry> {
        self.slots.get_mut(slot as usize).and_then(Option::as_mut)
    }

    /// The machine's slot: `hint` (the slot the machine's tracer got when it attached) or
    /// the last one seen when it is the same machine instance (one compare each), else looked
    /// up by ID, else registered.
    fn slot_of(&mut self, m: &Machine, hint: u32) -> u32 {
        let instance = m.instance();
        for s in [hint, self.last] {
            if let Some(Some(e)) = self.slots.get(s as usize)
                && e.instance == instance
            {
                return s;
            }
        }
        // another live instance with the same ID shares the slot (as the debugger shows it);
        // a new one after a disposed one is registered
        let found = self.index.get(m.id()).copied().filter(|&s| {
            let e = self.slots.get(s as usize).and_then(Option::as_ref);
            e.is_some_and(|e| e.instance == instance || !e.disposed)
        });
        let slot = match found {
            Some(s) => s,
            None => self.register(m).1,
        };
        self.last = slot;
        slot
    }

    /// Makes sure the last chunk has room, reusing a sent chunk when there is one.
    fn ensure_tail(&mut self) {
        if self.chunks.back().is_none_or(|c| c.recs.len() >= self.chunk_cap) {
            let mut c = self.free.pop().unwrap_or_default();
            self.generation += 1;
            c.generation = self.generation;
            self.chunks.push_back(c);
        }
    }

    fn push_schema(&mut self, slot: u32) {
        self.ensure_tail();
        if let Some(c) = self.chunks.back_mut() {
            c.recs.push(Record::Schema(slot));
            c.live += 1;
            c.tally(slot).schemas += 1;
            self.live += 1;
        }
    }

    /// Registers a machine (or re-registers it with a new schema) and queues its schema.
    /// Returns whether the outbox was empty, and the machine's slot.
    ///
    /// A new instance of a disposed machine whose records still wait gets a slot of its own
    /// (carrying the sequence on): the waiting records keep the meta that makes their IDs.
    pub(crate) fn register(&mut self, m: &Machine) -> (bool, u32) {
        let meta = Arc::new(MachineMeta::new(m));
        let was_empty = self.live == 0;
        let instance = m.instance();
        let mut seq = 0;
        if let Some(&slot) = self.index.get(m.id())
            && let Some(e) = self.entry(slot)
        {
            if e.instance != instance && e.disposed && e.pending > 0 {
                seq = e.seq;
            } else {
                if e.instance != instance {
                    e.instance = instance;
                    e.last_tx = 0;
                    e.queued_n = 0;
                    e.clocks_in = 0;
                    e.last_clocks.clear();
                    e.last_clocks.resize(meta.schema.len(), 0);
                }
                e.meta = meta;
                e.disposed = false;
                if !e.schema_pending {
                    e.schema_pending = true;
                    self.push_schema(slot);
                }
                return (was_empty, slot);
            }
        }
        let id = meta.id.clone();
        let entry = MachineEntry {
            id: id.clone(),
            instance,
            last_clocks: vec![0; meta.schema.len()],
            meta,
            seq,
            last_tx: 0,
            queued_n: 0,
            clocks_in: 0,
            pending: 0,
            schema_pending: true,
            disposed: false,
            dropped: 0,
            dropped_first: 0,
            dropped_last: 0,
        };
        let slot = match self.free_slots.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(entry);
                s
            }
            None => {
                self.slots.push(Some(entry));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(id, slot);
        self.push_schema(slot);
        (was_empty, slot)
    }

    fn forget(&mut self, slot: u32) {
        if let Some(e) = self.slots.get_mut(slot as usize).and_then(Option::take) {
            // a newer instance may own the ID by now
            if self.index.get(&e.id) == Some(&slot) {
                self.index.remove(&e.id);
            }
            self.free_slots.push(slot);
            if self.last == slot {
                self.last = u32::MAX;
            }
        }
    }

    /// Marks a machine disposed; forgotten once its records are out.
    pub(crate) fn dispose(&mut self, id: &str) {
        let Some(&slot) = self.index.get(id) else { return };
        if let Some(e) = self.entry(slot) {
            e.disposed = true;
            if e.pending == 0 && !e.schema_pending {
                self.forget(slot);
            }
        }
    }

    /// Appends a record without log lines: see [`push_logged`](Self::push_logged).
    #[cfg(test)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push(
        &mut self,
        m: &Machine,
        hint: u32,
        rec: TxRecord,
        extra: Option<Box<Extra>>,
        n: TxNumbers,
        clocks: Option<&[u64]>,
        called: &[usize],
    ) -> Pushed {
        self.push_logged(m, hint, rec, extra, n, clocks, called, Logged::default())
    }

    /// Appends a record (slot, seq, queued IDs and arena spans are filled here): `clocks`
    /// for a transition, `None` for a queued mutation (the machine's last known clocks);
    /// its log lines' texts are copied into the chunk. Drops the oldest transition record
    /// when over capacity.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_logged(
        &mut self,
        m: &Machine,
        hint: u32,
        mut rec: TxRecord,
        extra: Option<Box<Extra>>,
        n: TxNumbers,
        clocks: Option<&[u64]>,
        called: &[usize],
        logged: Logged<'_>,
    ) -> Pushed {
        let was_empty = self.live == 0;
        let slot = self.slot_of(m, hint);
        self.ensure_tail();
        let (Some(chunk), Some(Some(e))) = (self.chunks.back_mut(), self.slots.get_mut(slot as usize)) else {
            return Pushed { dropped: 0, was_empty };
        };
        // another live machine under the slot's ID: its records carry their own ID maker
        let extra = if e.instance == m.instance() {
            extra
        } else {
            let mut x = extra.unwrap_or_default();
            x.tx_ids = Some(m.tx_ids());
            Some(x)
        };
        e.seq += 1;
        rec.seq = e.seq;
        self.enqueued += 1;
        rec.slot = slot;
        match rec.id {
            RecId::Tx(seq) => {
                e.last_tx = seq;
                e.queued_n = 0;
                if let Some(c) = clocks {
                    e.last_clocks.clear();
                    e.last_clocks.extend_from_slice(c);
                }
            }
            RecId::Queued(..) => {
                rec.id = RecId::Queued(e.last_tx, e.queued_n);
                e.queued_n = e.queued_n.saturating_add(1);
            }
        }
        // a queued record shares the clocks its machine last stored in this chunk
        let shared_clocks = clocks.is_none() && e.clocks_in == chunk.generation;
        let clocks = clocks.unwrap_or(&e.last_clocks);
        rec.at = ArenaSpan {
            off: u32::try_from(chunk.arena.len()).unwrap_or(u32::MAX),
            clocks: u32::try_from(clocks.len()).unwrap_or(u32::MAX),
            called: u32::try_from(called.len()).unwrap_or(u32::MAX),
            shared_clocks,
            trace: n.trace.is_some(),
            logs: 0,
        };
        chunk.arena.extend_from_slice(&[
            n.queue_tick,
            n.mut_queue_token,
            n.mut_queue_tick,
            n.time.raw(),
            n.duration_ns.raw(),
        ]);
        if !shared_clocks {
            chunk.arena.extend_from_slice(&clocks[..rec.at.clocks as usize]);
            e.clocks_in = chunk.generation;
        }
        chunk.arena.extend(called[..rec.at.called as usize].iter().map(|&i| i as u64));
        if let Some(t) = n.trace {
            let word = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap_or_default());
            chunk.arena.extend_from_slice(&[
                word(&t.trace_id[..8]),
                word(&t.trace_id[8..]),
                u64::from_be_bytes(t.span_id),
            ]);
        }
        let lines = logged.pre.iter().map(|l| (l, true)).chain(logged.log.iter().map(|l| (l, false)));
        for (l, pre) in lines.take(usize::from(u16::MAX)) {
            let mut len = l.text.len().min(LogWord::MAX_LEN);
            while !l.text.is_char_boundary(len) {
                len -= 1;
            }
            let Some(w) = LogWord::new(chunk.text.len(), len, l.level, pre) else { break };
            chunk.text.push_str(&l.text[..len]);
            chunk.arena.push(w.0);
            rec.at.logs += 1;
        }
        e.pending += 1;
        if let Some(x) = extra {
            chunk.extras.push(Some(x));
            rec.extra = u32::try_from(chunk.extras.len()).unwrap_or(0);
        }
        chunk.recs.push(Record::Tx(rec));
        chunk.live += 1;
        chunk.tally(slot).txs += 1;
        self.txs += 1;
        self.live += 1;
        let mut dropped = 0;
        while self.txs > self.capacity && self.drop_oldest() {
            dropped += 1;
        }
        Pushed { dropped, was_empty }
    }

    /// Drops the oldest transition record (schemas stay); false when there is none.
    fn drop_oldest(&mut self) -> bool {
        let mut found = None;
        for (i, c) in self.chunks.iter_mut().enumerate() {
            let from = c.scan;
            let pos = c.recs.get(from..).and_then(|r| r.iter().position(|r| matches!(r, Record::Tx(t) if !t.dropped)));
            match pos {
                Some(p) => {
                    let p = from + p;
                    c.scan = p + 1;
                    if let Record::Tx(r) = &mut c.recs[p] {
                        // its arena span stays: later records may share its clocks
                        r.dropped = true;
                        let r = *r;
                        if r.extra > 0
                            && let Some(x) = c.extras.get_mut(r.extra as usize - 1)
                        {
                            *x = None;
                        }
                        c.live -= 1;
                        let t = c.tally(r.slot);
                        t.txs = t.txs.saturating_sub(1);
                        found = Some((i, c.live == 0, r.slot, r.seq));
                    }
                    break;
                }
                None => c.scan = c.recs.len(),
            }
        }
        let Some((i, empty, slot, seq)) = found else { return false };
        if empty && let Some(c) = self.chunks.remove(i) {
            self.recycle(c);
        }
        self.txs -= 1;
        self.live -= 1;
        self.settle(slot, Some(seq));
        true
    }

    /// Takes a sent chunk back for reuse. A chunk that never held anything (what an empty
    /// [`take`](Self::take) hands out) is not kept: reusing it would make the hooks grow a
    /// chunk from nothing again, a reallocation per push.
    pub(crate) fn recycle(&mut self, mut c: Chunk) {
        if self.free.len() < FREE_CHUNKS && c.recs.capacity() > 0 {
            c.clear();
            self.free.push(c);
        }
    }

    /// Gives back the chunk of a batch that was sent.
    pub(crate) fn done(&mut self, t: Taken) {
        self.recycle(t.chunk);
    }

    /// One record of a machine left the outbox: sent (`drop_seq` None) or dropped.
    fn settle(&mut self, slot: u32, drop_seq: Option<u64>) {
        if let Some(e) = self.entry(slot) {
            e.pending = e.pending.saturating_sub(1);
            if let Some(seq) = drop_seq {
                e.note_drop(seq);
            }
            if e.disposed && e.pending == 0 && !e.schema_pending && e.dropped == 0 {
                self.forget(slot);
            }
        }
    }

    /// A batch that was taken but not all delivered: the transition messages after the
    /// first `arrived.txs` count as dropped, and the drop notices among the messages that did
    /// not arrive are reported again (notices go first in a batch).
    pub(crate) fn fail(&mut self, t: &Taken, arrived: crate::transport::Arrived) {
        for n in t.notices.iter().skip(arrived.msgs) {
            if let Some(&s) = self.index.get(n.machine_id.as_str())
                && let Some(e) = self.entry(s)
            {
                e.note_range(n.first_seq, n.last_seq, n.count);
            }
        }
        let mut hint = 0;
        let mut delivered = arrived.txs;
        for r in &t.chunk.recs {
            // the records that became messages (as `Taken::write_messages` makes them)
            if let Record::Tx(rec) = r
                && !rec.dropped
                && let Some(meta) = Taken::meta(&t.metas, rec.slot, &mut hint)
            {
                if delivered > 0 {
                    delivered -= 1;
                    continue;
                }
                if let Some(&s) = self.index.get(&meta.id)
                    && let Some(e) = self.entry(s)
                {
                    e.note_drop(rec.seq);
                }
            }
        }
    }

    /// After (re)connecting: every known schema goes first; queued schema records are
    /// superseded (schemas only grow, so the latest one covers older transitions).
    pub(crate) fn take_schemas(&mut self) -> Vec<DbgMsg> {
        for c in self.chunks.iter_mut() {
            let mut gone = Vec::new();
            for r in c.recs.iter_mut() {
                if let Record::Schema(slot) = *r {
                    *r = Record::Gone;
                    gone.push(slot);
                }
            }
            for slot in gone {
                c.live -= 1;
                self.live -= 1;
                let t = c.tally(slot);
                t.schemas = t.schemas.saturating_sub(1);
            }
        }
        let mut i = 0;
        while i < self.chunks.len() {
            match self.chunks.get(i).is_some_and(|c| c.live == 0) {
                true => {
                    if let Some(c) = self.chunks.remove(i) {
                        self.recycle(c);
                    }
                }
                false => i += 1,
            }
        }
        let mut out: Vec<_> = self
            .slots
            .iter_mut()
            .flatten()
            .map(|e| {
                e.schema_pending = false;
                e.meta.clone()
            })
            .collect();
        // parents before children, then by ID: stable and readable
        out.sort_by(|a, b| {
            let depth = |m: &MachineMeta| !m.schema_msg.parent.is_empty();
            (depth(a), &a.schema_msg.id).cmp(&(depth(b), &b.schema_msg.id))
        });
        out.into_iter().map(|m| DbgMsg::Schema(m.schema_msg.clone())).collect()
    }

    /// Pops the oldest chunk (at most one batch), preceded by drop notices.
    pub(crate) fn take(&mut self) -> Taken {
        let mut t = Taken::default();
        let mut forget = Vec::new();
        for (slot, e) in self.slots.iter_mut().enumerate() {
            let Some(e) = e else { continue };
            if e.dropped > 0 {
                t.notices.push(DbgMsgDropped {
                    machine_id: e.id.to_string(),
                    count: e.dropped,
                    first_seq: e.dropped_first,
                    last_seq: e.dropped_last,
                });
                e.dropped = 0;
                if e.disposed && e.pending == 0 && !e.schema_pending {
                    forget.push(slot as u32);
                }
            }
        }
        t.notices.sort_by(|a, b| a.machine_id.cmp(&b.machine_id));
        if let Some(chunk) = self.chunks.pop_front() {
            for &Tally { slot, txs, schemas } in &chunk.tally {
                self.live -= (txs + schemas) as usize;
                self.txs -= txs as usize;
                // a machine without an entry has no meta: `write_messages` skips its records
                let Some(e) = self.entry(slot) else { continue };
                if txs + schemas > 0 {
                    t.metas.push((slot, e.meta.clone()));
                }
                e.pending = e.pending.saturating_sub(txs as usize);
                if schemas > 0 {
                    e.schema_pending = false;
                }
                if e.disposed && e.pending == 0 && !e.schema_pending && e.dropped == 0 {
                    forget.push(slot);
                }
            }
            t.chunk = chunk;
        }
        for slot in forget {
            self.forget(slot);
        }
        t
    }
}
