//! The tracer's bounded outbox and per-machine bookkeeping. Hooks copy a transition into a
//! compact [`TxRecord`] (borrowing nothing; clocks and called states go into the chunk's
//! flat arena, rare fields boxed in its side table) and push it here; the sender pops a whole chunk
//! at a time (constant time under the lock) and turns its records into wire messages off
//! the machine's thread, then hands the chunk back for reuse, so a busy stream allocates
//! nothing per transition on the machine's side.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use am_core::{LogEntry, Machine, MutationKind, Schema, Source, Step, TxIds};

use crate::clock::Anchor;
use crate::messages::{DbgLogEntry, DbgMsg, DbgMsgDropped, DbgMsgStruct, DbgMsgTx, DbgStep, StateDef, TxSource};

/// Chunks kept for reuse once sent.
const FREE_CHUNKS: usize = 4;

/// Where a record's numbers live in its chunk's arena: its [`Ticks`] (`NUMS` words), then
/// its clocks (unless `shared_clocks`), then the called states.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct At {
    off: u32,
    clocks: u16,
    called: u16,
    /// The clocks are not stored: they are the last ones stored for the same machine in
    /// this chunk (a queued mutation's are its machine's last known clocks, which its
    /// transitions store).
    shared_clocks: bool,
}

/// Words of [`Ticks`] in the arena.
const NUMS: usize = 5;

impl At {
    fn base(self) -> usize {
        self.off as usize
    }
    fn ticks(self, arena: &[u64]) -> Ticks {
        let n = |i: usize| arena.get(self.base() + i).copied().unwrap_or(0);
        Ticks {
            queue_tick: n(0),
            mut_queue_token: n(1),
            mut_queue_tick: n(2),
            time: Opt::from_raw(n(3)),
            duration_ns: Opt::from_raw(n(4)),
        }
    }
    fn clocks_from(self) -> usize {
        self.base() + NUMS
    }
    /// The stored clocks (empty when shared).
    fn clocks(self, arena: &[u64]) -> &[u64] {
        let (from, n) = (self.clocks_from(), if self.shared_clocks { 0 } else { self.clocks as usize });
        arena.get(from..from + n).unwrap_or(&[])
    }
    fn called(self, arena: &[u64]) -> &[u64] {
        let from = self.clocks_from() + if self.shared_clocks { 0 } else { self.clocks as usize };
        arena.get(from..from + self.called as usize).unwrap_or(&[])
    }
}

/// A record's numbers, kept in the chunk's arena rather than the record: the record stays
/// one cache line, and every line it writes crosses to the sender's core.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ticks {
    pub(crate) queue_tick: u64,
    pub(crate) mut_queue_token: u64,
    pub(crate) mut_queue_tick: u64,
    pub(crate) time: Opt,
    pub(crate) duration_ns: Opt,
}

/// An optional u64 in 8 bytes (records stay small: they cross to the sender's core).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Opt(Option<std::num::NonZeroU64>);

impl Opt {
    pub(crate) fn some(v: u64) -> Self {
        Opt(std::num::NonZeroU64::new(v.saturating_add(1)))
    }
    pub(crate) fn from(v: Option<u64>) -> Self {
        v.map_or(Opt(None), Opt::some)
    }
    pub(crate) fn get(self) -> Option<u64> {
        self.0.map(|v| v.get() - 1)
    }
    fn raw(self) -> u64 {
        self.0.map_or(0, |v| v.get())
    }
    fn from_raw(v: u64) -> Self {
        Opt(std::num::NonZeroU64::new(v))
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

/// The fields most transitions leave empty, boxed so the common record stays small.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    pub(crate) steps: Vec<Step>,
    pub(crate) log: Vec<LogEntry>,
    pub(crate) pre_log: Vec<LogEntry>,
    pub(crate) args: Vec<(String, String)>,
    pub(crate) source: Option<Source>,
    pub(crate) stack: String,
    /// The machine's own ID maker, when another live machine has the same ID and owns the
    /// slot (set by [`Outbox::push`]).
    pub(crate) tx_ids: Option<TxIds>,
}

impl Extra {
    /// `None` when every field is empty: no allocation for the common case.
    pub(crate) fn boxed(self) -> Option<Box<Extra>> {
        let empty = self.steps.is_empty()
            && self.log.is_empty()
            && self.pre_log.is_empty()
            && self.args.is_empty()
            && self.source.is_none()
            && self.stack.is_empty();
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
    pub(crate) at: At,
}

/// What the sender needs about a machine to convert its records.
#[derive(Debug)]
pub(crate) struct MachineMeta {
    pub(crate) id: Arc<str>,
    pub(crate) tx_ids: TxIds,
    pub(crate) schema: Arc<Schema>,
    /// `[<log prefix>] `, exactly as the machine starts its log lines.
    pub(crate) prefix: String,
    pub(crate) schema_msg: DbgMsgStruct,
}

impl MachineMeta {
    pub(crate) fn new(m: &Machine) -> Self {
        let schema = m.schema();
        MachineMeta {
            id: Arc::from(m.id()),
            tx_ids: m.tx_ids(),
            schema_msg: schema_msg(m, &schema),
            schema,
            prefix: format!("[{}] ", m.log_prefix()),
        }
    }

    /// Removes the machine's `[id] ` prefix only when the line really carries it (Go cut a
    /// fixed width).
    fn strip<'a>(&self, text: &'a str) -> &'a str {
        text.strip_prefix(self.prefix.as_str()).unwrap_or(text)
    }

    fn name(&self, i: Option<usize>) -> (String, i64) {
        match i {
            Some(i) => (self.schema.names().get(i).cloned().unwrap_or_default(), i as i64),
            None => (String::new(), -1),
        }
    }

    /// Converts a record, with its rare fields when it has them and its clocks (stored in
    /// the record's own arena span, or shared: `clocks`); `anchor` turns its raw clock
    /// reading into Unix time. Nothing is written to
    /// the record: the hooks reuse this memory, and a line the sender dirtied costs the
    /// machine's thread a transfer between cores.
    pub(crate) fn convert(
        &self,
        r: &TxRecord,
        x: Option<Box<Extra>>,
        arena: &[u64],
        clocks: &[u64],
        anchor: &Anchor<'_>,
    ) -> DbgMsgTx {
        let x = x.map(|b| *b).unwrap_or_default();
        let tx_ids = x.tx_ids.unwrap_or(self.tx_ids);
        let n = r.at.ticks(arena);
        let log = |v: Vec<LogEntry>| {
            v.into_iter().map(|e| DbgLogEntry { level: e.level as u8, text: self.strip(&e.text).to_string() }).collect()
        };
        let id = match r.id {
            RecId::Tx(seq) => tx_ids.id(seq).as_str().to_string(),
            RecId::Queued(0, n) => format!("-{n}"),
            RecId::Queued(last, n) => format!("{}-{n}", tx_ids.id(last)),
        };
        DbgMsgTx {
            machine_id: self.id.to_string(),
            id,
            clocks: clocks.to_vec(),
            queue_tick: n.queue_tick,
            mut_queue_token: n.mut_queue_token,
            mut_queue_tick: n.mut_queue_tick,
            mutation_type: r.kind.into(),
            called_states: Vec::new(),
            called_states_idxs: r.at.called(arena).iter().map(|&i| i as i64).collect(),
            steps: x
                .steps
                .iter()
                .map(|s| {
                    let (from_state, from_state_idx) = self.name(s.from);
                    let (to_state, to_state_idx) = self.name(s.to);
                    DbgStep {
                        step_type: s.kind as u8,
                        rel_type: s.relation.map_or(0, |r| r as u8),
                        is_final: s.is_final,
                        is_self: s.is_self,
                        is_enter: s.is_enter,
                        from_state,
                        to_state,
                        from_state_idx,
                        to_state_idx,
                    }
                })
                .collect(),
            log_entries: log(x.log),
            pre_log_entries: log(x.pre_log),
            queue: i64::from(r.queue),
            time: n.time.get().map(|raw| anchor.wall(raw)),
            is_auto: r.auto,
            accepted: r.accepted,
            is_check: r.check,
            is_queued: r.queued,
            args: x.args.into_iter().collect(),
            queue_dump: Vec::new(),
            stack_trace: x.stack,
            seq: r.seq,
            duration_ns: n.duration_ns.get(),
            source: x.source.map(|s| TxSource {
                machine_id: s.machine_id,
                tx_id: s.tx_id,
                machine_time: s.machine_time,
            }),
        }
    }
}

/// Builds the schema message of a machine.
pub(crate) fn schema_msg(m: &Machine, schema: &Schema) -> DbgMsgStruct {
    let names = schema.names();
    let states = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let s = schema.state(i);
            let def = StateDef {
                auto: s.auto,
                multi: s.multi,
                require: s.require.clone(),
                add: s.add.clone(),
                remove: s.remove.clone(),
                after: s.after.clone(),
                tags: s.tags.clone(),
            };
            (n.clone(), def)
        })
        .collect();
    let groups: BTreeMap<String, Vec<i64>> =
        schema.groups().iter().map(|(g, idx)| (g.clone(), idx.iter().map(|&i| i as i64).collect())).collect();
    DbgMsgStruct {
        id: m.id().to_string(),
        states_index: names.to_vec(),
        states,
        groups,
        groups_order: schema.groups().iter().map(|(g, _)| g.clone()).collect(),
        parent: m.parent_id().unwrap_or_default().to_string(),
        tags: m.tags().to_vec(),
    }
}

/// Per-machine state of the tracer.
#[derive(Debug)]
pub(crate) struct MachineEntry {
    pub(crate) id: Arc<str>,
    /// The machine instance ([`Machine::instance`]) the slot belongs to.
    instance: u64,
    pub(crate) meta: Arc<MachineMeta>,
    seq: u64,
    /// The sequence number of the machine's last transition (0: none yet).
    last_tx: u64,
    queued_n: u32,
    last_clocks: Vec<u64>,
    /// The generation of the chunk `last_clocks` were last stored in (0: none): a queued
    /// record in that chunk shares them instead of storing a copy.
    clocks_in: u64,
    pending: usize,
    schema_pending: bool,
    disposed: bool,
    dropped: u64,
    dropped_first: u64,
    dropped_last: u64,
}

impl MachineEntry {
    fn note_drop(&mut self, seq: u64) {
        self.note_range(seq, seq, 1);
    }
    fn note_range(&mut self, first: u64, last: u64, count: u64) {
        if self.dropped == 0 {
            self.dropped_first = first;
            self.dropped_last = last;
        } else {
            self.dropped_first = self.dropped_first.min(first);
            self.dropped_last = self.dropped_last.max(last);
        }
        self.dropped += count;
    }
}

#[derive(Debug, Clone, Copy)]
#[allow(clippy::large_enum_variant)] // transitions are the common case
enum Record {
    Tx(TxRecord),
    /// A machine's schema, by slot.
    Schema(u32),
    /// Dropped or superseded in place.
    Gone,
}

/// A run of records and the arena their clocks and called states live in. No record before
/// `scan` is a transition (where the next overflow drop looks); `live` counts the records
/// not gone. A chunk with nothing live leaves the queue at once. `tally` counts the live
/// records per machine, so taking a chunk costs one step per machine under the lock, not
/// one per record.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    recs: Vec<Record>,
    arena: Vec<u64>,
    /// The rare fields of the records that have them (taken when converted or dropped).
    extras: Vec<Option<Box<Extra>>>,
    scan: usize,
    live: usize,
    tally: Vec<Tally>,
    /// Tells this chunk from the ones before it (see `MachineEntry::clocks_in`).
    generation: u64,
}

/// A machine's live records in a chunk.
#[derive(Debug, Clone, Copy)]
struct Tally {
    slot: u32,
    txs: u32,
    schemas: u32,
}

impl Chunk {
    fn tally(&mut self, slot: u32) -> &mut Tally {
        let i = match self.tally.iter().rposition(|t| t.slot == slot) {
            Some(i) => i,
            None => {
                self.tally.push(Tally { slot, txs: 0, schemas: 0 });
                self.tally.len() - 1
            }
        };
        &mut self.tally[i]
    }

    fn clear(&mut self) {
        self.recs.clear();
        self.arena.clear();
        self.extras.clear();
        self.tally.clear();
        self.scan = 0;
        self.live = 0;
    }
}

/// One chunk popped for a batch, with what converting it needs.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub(crate) notices: Vec<DbgMsgDropped>,
    chunk: Chunk,
    metas: Vec<(u32, Arc<MachineMeta>)>,
}

impl Taken {
    /// Drops the records and machine references (call it outside the outbox lock, before
    /// [`Outbox::done`], so the lock is not held while they are freed).
    pub(crate) fn clear(&mut self) {
        self.chunk.clear();
        self.metas.clear();
        self.notices.clear();
    }

    /// Nothing to send.
    pub(crate) fn is_empty(&self) -> bool {
        self.notices.is_empty() && self.chunk.live == 0
    }

    fn meta<'a>(metas: &'a [(u32, Arc<MachineMeta>)], slot: u32, hint: &mut usize) -> Option<&'a Arc<MachineMeta>> {
        if let Some((s, m)) = metas.get(*hint)
            && *s == slot
        {
            return Some(m);
        }
        let i = metas.iter().position(|(s, _)| *s == slot)?;
        *hint = i;
        Some(&metas[i].1)
    }

    /// Appends the wire messages (drop notices first); returns how many are transition
    /// messages. Rare fields are moved out of the chunk.
    pub(crate) fn write_messages(&mut self, out: &mut Vec<DbgMsg>, anchor: &Anchor<'_>) -> u64 {
        out.extend(self.notices.iter().cloned().map(DbgMsg::Dropped));
        let Chunk { recs, arena, extras, .. } = &mut self.chunk;
        let (recs, arena) = (&*recs, &*arena);
        // per machine, the clocks it last stored in this chunk (for records that share them)
        let mut last: Vec<(u32, &[u64])> = Vec::new();
        let mut hint = 0;
        let mut n = 0;
        for r in recs {
            let rec = match r {
                Record::Tx(rec) => rec,
                Record::Schema(slot) => {
                    if let Some(meta) = Self::meta(&self.metas, *slot, &mut hint) {
                        out.push(DbgMsg::Schema(meta.schema_msg.clone()));
                    }
                    continue;
                }
                Record::Gone => continue,
            };
            let clocks = if rec.at.shared_clocks {
                last.iter().find(|(s, _)| *s == rec.slot).map_or(&[][..], |(_, c)| *c)
            } else {
                let c = rec.at.clocks(arena);
                match last.iter_mut().find(|(s, _)| *s == rec.slot) {
                    Some(l) => l.1 = c,
                    None => last.push((rec.slot, c)),
                }
                c
            };
            if rec.dropped {
                continue;
            }
            let Some(meta) = Self::meta(&self.metas, rec.slot, &mut hint) else { continue };
            let x = match rec.extra {
                0 => None,
                i => extras.get_mut(i as usize - 1).and_then(Option::take),
            };
            out.push(DbgMsg::Tx(meta.convert(rec, x, arena, clocks, anchor)));
            n += 1;
        }
        n
    }
}

/// The bounded queue between the hooks and the sender: chunks of at most `chunk_cap`
/// records (one batch each), a free-list of sent chunks, and the machine table (slots, plus
/// an ID index consulted only when a hook's machine is not the last one seen).
#[derive(Debug)]
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
    /// At most `capacity` transition records wait; a batch is at most `chunk_cap` records.
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

    /// Appends a record (slot, seq, queued IDs and arena spans are filled here): `clocks`
    /// for a transition, `None` for a queued mutation (the machine's last known clocks).
    /// Drops the oldest transition record when over capacity.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push(
        &mut self,
        m: &Machine,
        hint: u32,
        mut rec: TxRecord,
        extra: Option<Box<Extra>>,
        n: Ticks,
        clocks: Option<&[u64]>,
        called: &[usize],
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
        rec.at = At {
            off: u32::try_from(chunk.arena.len()).unwrap_or(u32::MAX),
            clocks: u16::try_from(clocks.len()).unwrap_or(u16::MAX),
            called: u16::try_from(called.len()).unwrap_or(u16::MAX),
            shared_clocks,
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

    /// A batch that was taken but could not be delivered: its transition messages count as
    /// dropped and the drop notices that went with it are reported again.
    pub(crate) fn fail(&mut self, t: &Taken) {
        for n in &t.notices {
            if let Some(&s) = self.index.get(n.machine_id.as_str())
                && let Some(e) = self.entry(s)
            {
                e.note_range(n.first_seq, n.last_seq, n.count);
            }
        }
        let mut hint = 0;
        for r in &t.chunk.recs {
            if let Record::Tx(rec) = r
                && !rec.dropped
                && let Some(meta) = Taken::meta(&t.metas, rec.slot, &mut hint)
                && let Some(&s) = self.index.get(&meta.id)
                && let Some(e) = self.entry(s)
            {
                e.note_drop(rec.seq);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use am_core::Machine;

    fn rec(id: RecId) -> TxRecord {
        let queued = matches!(id, RecId::Queued(..));
        TxRecord {
            id,
            seq: 0,
            queue: 0,
            kind: MutationKind::Add,
            auto: false,
            accepted: true,
            check: false,
            queued,
            dropped: false,
            extra: 0,
            slot: 0,
            at: At::default(),
        }
    }

    fn machine(id: &str) -> Machine {
        let schema = Schema::builder().states(["A", "B"]).build().unwrap_or_else(|e| panic!("{e}"));
        Machine::builder(schema).id(id).build()
    }

    fn drain(o: &mut Outbox) -> Vec<DbgMsg> {
        let clock = Clock::new();
        let mut out = Vec::new();
        loop {
            let mut t = o.take();
            if t.is_empty() && o.is_empty() {
                return out;
            }
            t.write_messages(&mut out, &clock.anchor());
            o.done(t);
        }
    }

    #[test]
    fn overflow_drops_oldest_across_chunks_and_stays_bounded() {
        let m = machine("m");
        let mut o = Outbox::new(5, 3);
        let mut dropped = 0;
        for i in 0..1000u64 {
            let p = o.push(&m, u32::MAX, rec(RecId::Tx(i + 1)), None, Ticks::default(), Some(&[i, i + 1]), &[0]);
            dropped += p.dropped;
            assert!(o.len() <= 5);
            // the schema chunk, at most two full chunks and the tail
            assert!(o.chunks.len() <= 4, "chunks pile up: {}", o.chunks.len());
        }
        assert_eq!(dropped, 995);
        let msgs = drain(&mut o);
        assert!(matches!(&msgs[0], DbgMsg::Dropped(d) if d.count == 995 && d.first_seq == 1 && d.last_seq == 995));
        assert!(matches!(&msgs[1], DbgMsg::Schema(s) if s.id == "m"));
        let txs: Vec<&DbgMsgTx> = msgs
            .iter()
            .filter_map(|m| match m {
                DbgMsg::Tx(t) => Some(t),
                _ => None,
            })
            .collect();
        assert_eq!(txs.iter().map(|t| t.seq).collect::<Vec<_>>(), [996, 997, 998, 999, 1000]);
        assert_eq!(txs[4].clocks, [999, 1000]);
        assert_eq!(txs[4].called_states_idxs, [0]);
        assert!(o.is_empty());
        assert_eq!(o.len(), 0);
    }

    #[test]
    fn queued_records_carry_last_clocks_and_derived_ids() {
        // before any transition: zero clocks (the schema has `Exception` too)
        let (a, b) = (machine("a"), machine("b"));
        let mut o = Outbox::new(100, 4);
        let id = a.tx_ids().id(3);
        o.push(&a, u32::MAX, rec(RecId::Queued(0, 0)), None, Ticks::default(), None, &[1]);
        o.push(&a, u32::MAX, rec(RecId::Tx(3)), None, Ticks::default(), Some(&[3, 4]), &[1]);
        o.push(&b, u32::MAX, rec(RecId::Queued(0, 0)), None, Ticks::default(), None, &[0, 1]);
        o.push(&a, u32::MAX, rec(RecId::Queued(0, 0)), None, Ticks::default(), None, &[0]);
        o.push(&a, u32::MAX, rec(RecId::Queued(0, 0)), None, Ticks::default(), None, &[]);
        let msgs = drain(&mut o);
        let txs: Vec<&DbgMsgTx> = msgs
            .iter()
            .filter_map(|m| match m {
                DbgMsg::Tx(t) => Some(t),
                _ => None,
            })
            .collect();
        let got: Vec<(&str, u64, &str, &[u64])> =
            txs.iter().map(|t| (t.machine_id.as_str(), t.seq, t.id.as_str(), &t.clocks[..])).collect();
        let after = format!("{}-0", id.as_str());
        let after2 = format!("{}-1", id.as_str());
        assert_eq!(
            got,
            [
                ("a", 1, "-0", &[0u64, 0, 0][..]),
                ("a", 2, id.as_str(), &[3, 4][..]),
                ("b", 1, "-0", &[0, 0, 0][..]),
                ("a", 3, after.as_str(), &[3, 4][..]),
                ("a", 4, after2.as_str(), &[3, 4][..]),
            ]
        );
        assert_eq!(txs[2].called_states_idxs, [0, 1]);
        // both schemas went first, each before its machine's first message
        let schema_at = |id: &str| msgs.iter().position(|m| matches!(m, DbgMsg::Schema(s) if s.id == id));
        assert!(schema_at("a") < msgs.iter().position(|m| matches!(m, DbgMsg::Tx(_))));
        assert!(schema_at("b").is_some());
    }

    #[test]
    fn queued_records_share_clocks_even_with_their_source_dropped() {
        let m = machine("m");
        // at most 3 transition messages, 4 records a chunk
        let mut o = Outbox::new(3, 4);
        let (id1, id2) = (1, 2);
        let mut dropped = 0;
        for (r, clocks) in [
            (rec(RecId::Tx(id1)), Some(&[1u64, 0][..])),
            (rec(RecId::Queued(0, 0)), None),
            (rec(RecId::Queued(0, 0)), None),
            (rec(RecId::Tx(id2)), Some(&[2, 0][..])),
            (rec(RecId::Queued(0, 0)), None),
        ] {
            dropped += o.push(&m, u32::MAX, r, None, Ticks::default(), clocks, &[0]).dropped;
        }
        assert_eq!(dropped, 2);
        let msgs = drain(&mut o);
        assert!(matches!(&msgs[0], DbgMsg::Dropped(d) if d.count == 2 && d.first_seq == 1 && d.last_seq == 2));
        let got: Vec<(u64, bool, Vec<u64>)> = msgs
            .iter()
            .filter_map(|m| match m {
                DbgMsg::Tx(t) => Some((t.seq, t.is_queued, t.clocks.clone())),
                _ => None,
            })
            .collect();
        // the first queued message shares the clocks of the dropped transition before it
        assert_eq!(got, [(3, true, vec![1, 0]), (4, false, vec![2, 0]), (5, true, vec![2, 0])]);

        // the first record of a machine in a new chunk stores its own copy
        let mut o = Outbox::new(3, 4);
        o.push(&m, u32::MAX, rec(RecId::Tx(id1)), None, Ticks::default(), Some(&[7, 1]), &[0]);
        for _ in 0..6 {
            o.push(&m, u32::MAX, rec(RecId::Queued(0, 0)), None, Ticks::default(), None, &[1]);
        }
        let clocks: Vec<(u64, Vec<u64>)> = drain(&mut o)
            .iter()
            .filter_map(|m| match m {
                DbgMsg::Tx(t) => Some((t.seq, t.clocks.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(clocks, [(5, vec![7, 1]), (6, vec![7, 1]), (7, vec![7, 1])]);
    }

    #[test]
    fn disposed_machine_is_forgotten_once_sent_and_slot_reused() {
        let mut o = Outbox::new(100, 8);
        let a = machine("a");
        o.push(&a, u32::MAX, rec(RecId::Tx(1)), None, Ticks::default(), Some(&[1, 0]), &[0]);
        o.dispose("a");
        assert_eq!(o.machines(), 1, "kept while its records wait");
        let clock = Clock::new();
        let mut t = o.take();
        assert_eq!(o.machines(), 0, "forgotten once taken");
        let b = machine("b");
        o.push(&b, u32::MAX, rec(RecId::Tx(1)), None, Ticks::default(), Some(&[0, 1]), &[1]);
        let mut out = Vec::new();
        t.write_messages(&mut out, &clock.anchor());
        assert!(matches!(&out[1], DbgMsg::Tx(t) if t.machine_id == "a"), "{out:?}");
        o.done(t);
        let msgs = drain(&mut o);
        assert!(matches!(&msgs[1], DbgMsg::Tx(t) if t.machine_id == "b" && t.seq == 1));
    }

    /// The transition messages' sequence numbers and IDs.
    fn seqs_and_ids(msgs: Vec<DbgMsg>) -> Vec<(u64, String)> {
        msgs.into_iter()
            .filter_map(|m| match m {
                DbgMsg::Tx(t) => Some((t.seq, t.id)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_machine_built_again_keeps_the_ids_of_the_disposed_ones_records() {
        let mut o = Outbox::new(100, 8);
        let old = machine("m");
        o.push(&old, u32::MAX, rec(RecId::Tx(1)), None, Ticks::default(), Some(&[1, 0]), &[0]);
        o.push(&old, u32::MAX, rec(RecId::Queued(0, 0)), None, Ticks::default(), None, &[0]);
        o.dispose("m");
        // the same ID, a new instance, while the old one's records wait
        let new = machine("m");
        o.register(&new);
        o.push(&new, u32::MAX, rec(RecId::Queued(0, 0)), None, Ticks::default(), None, &[1]);
        o.push(&new, u32::MAX, rec(RecId::Tx(1)), None, Ticks::default(), Some(&[1, 1]), &[1]);
        assert_eq!(o.machines(), 1);
        let txs = seqs_and_ids(drain(&mut o));
        let (old1, new1) = (old.tx_ids().id(1).to_string(), new.tx_ids().id(1).to_string());
        assert_ne!(old1, new1);
        // the sequence carries on; queued IDs start over with the new instance
        assert_eq!(txs, [(1, old1.clone()), (2, format!("{old1}-0")), (3, "-0".to_string()), (4, new1)]);
        assert_eq!(o.machines(), 1, "the new instance stays");
        // the old slot is gone, the new one is found by instance and by ID
        o.push(&new, u32::MAX, rec(RecId::Tx(2)), None, Ticks::default(), Some(&[2, 1]), &[1]);
        o.dispose("m");
        assert_eq!(drain(&mut o).len(), 1);
        assert_eq!(o.machines(), 0);
    }

    #[test]
    fn two_live_machines_with_one_id_share_a_stream_with_their_own_tx_ids() {
        let mut o = Outbox::new(100, 8);
        let (a, b) = (machine("m"), machine("m"));
        o.register(&a);
        o.register(&b);
        o.push(&a, u32::MAX, rec(RecId::Tx(1)), None, Ticks::default(), Some(&[1, 0]), &[0]);
        o.push(&b, u32::MAX, rec(RecId::Tx(1)), None, Ticks::default(), Some(&[1, 0]), &[0]);
        o.push(&a, u32::MAX, rec(RecId::Tx(2)), None, Ticks::default(), Some(&[2, 0]), &[0]);
        let txs = seqs_and_ids(drain(&mut o));
        let id = |m: &Machine, seq: u64| m.tx_ids().id(seq).to_string();
        assert_eq!(txs, [(1, id(&a, 1)), (2, id(&b, 1)), (3, id(&a, 2))]);
        assert_eq!(o.machines(), 1);
    }

    #[test]
    fn a_record_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Record>(), 64);
        assert_eq!(std::mem::align_of::<Record>(), 64);
    }
}
