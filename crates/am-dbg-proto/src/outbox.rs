//! The tracer's bounded outbox and per-machine bookkeeping. Hooks copy a transition into a
//! compact [`TxRecord`] (borrowing nothing) and push it here; the sender pops batches and
//! turns records into wire messages off the machine's thread.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use am_core::{LogEntry, Machine, MutationKind, Schema, Source, Step, TxId};

use crate::messages::{DbgLogEntry, DbgMsg, DbgMsgDropped, DbgMsgStruct, DbgMsgTx, DbgStep, StateDef, TxSource};

/// Called state indexes stored inline for up to four states.
#[derive(Clone, Debug)]
pub(crate) struct Called {
    len: u8,
    inline: [u32; 4],
    heap: Vec<usize>,
}

impl Called {
    pub(crate) fn from_slice(s: &[usize]) -> Self {
        if s.len() <= 4 {
            let mut inline = [0; 4];
            for (d, &v) in inline.iter_mut().zip(s) {
                *d = v as u32;
            }
            Called { len: s.len() as u8, inline, heap: Vec::new() }
        } else {
            Called { len: u8::MAX, inline: [0; 4], heap: s.to_vec() }
        }
    }
    fn to_wire(&self) -> Vec<i64> {
        if self.len == u8::MAX {
            self.heap.iter().map(|&i| i as i64).collect()
        } else {
            self.inline[..self.len as usize].iter().map(|&i| i64::from(i)).collect()
        }
    }
}

/// Which ID a record gets: a transition's own, or `<last tx>-<n>` for a queued mutation.
#[derive(Clone, Debug)]
pub(crate) enum RecId {
    Tx(TxId),
    Queued(Option<TxId>, u64),
}

/// What the hooks copy out of a transition or queued mutation.
#[derive(Clone, Debug)]
pub(crate) struct TxRecord {
    pub(crate) machine: Arc<str>,
    pub(crate) seq: u64,
    pub(crate) id: RecId,
    pub(crate) clocks: Arc<[u64]>,
    pub(crate) queue_tick: u64,
    pub(crate) mut_queue_token: u64,
    pub(crate) mut_queue_tick: u64,
    pub(crate) kind: MutationKind,
    pub(crate) called: Called,
    pub(crate) steps: Vec<Step>,
    pub(crate) log: Vec<LogEntry>,
    pub(crate) pre_log: Vec<LogEntry>,
    pub(crate) queue: usize,
    pub(crate) time: Option<u64>,
    pub(crate) duration_ns: Option<u64>,
    pub(crate) auto: bool,
    pub(crate) accepted: bool,
    pub(crate) check: bool,
    pub(crate) queued: bool,
    pub(crate) args: Vec<(String, String)>,
    pub(crate) source: Option<Source>,
    pub(crate) stack: String,
}

/// What the sender needs about a machine to convert its records.
#[derive(Debug)]
pub(crate) struct MachineMeta {
    pub(crate) schema: Arc<Schema>,
    pub(crate) prefixes: [String; 2],
    pub(crate) schema_msg: DbgMsgStruct,
}

impl MachineMeta {
    pub(crate) fn new(m: &Machine) -> Self {
        let schema = m.schema();
        let id = m.id();
        let short: String = id.chars().take(5).collect();
        MachineMeta {
            schema_msg: schema_msg(m, &schema),
            schema,
            prefixes: [format!("[{short}] "), format!("[{id}] ")],
        }
    }

    /// Removes the `[id] ` prefix only when the line really carries it (Go cut a fixed width).
    fn strip<'a>(&self, text: &'a str) -> &'a str {
        self.prefixes.iter().find_map(|p| text.strip_prefix(p.as_str())).unwrap_or(text)
    }

    fn name(&self, i: Option<usize>) -> (String, i64) {
        match i {
            Some(i) => (self.schema.names().get(i).cloned().unwrap_or_default(), i as i64),
            None => (String::new(), -1),
        }
    }

    pub(crate) fn convert(&self, r: TxRecord) -> DbgMsgTx {
        let log = |v: Vec<LogEntry>| {
            v.into_iter().map(|e| DbgLogEntry { level: e.level as u8, text: self.strip(&e.text).to_string() }).collect()
        };
        let id = match r.id {
            RecId::Tx(id) => id.as_str().to_string(),
            RecId::Queued(last, n) => format!("{}-{n}", last.as_ref().map(TxId::as_str).unwrap_or("")),
        };
        DbgMsgTx {
            machine_id: r.machine.to_string(),
            id,
            clocks: r.clocks.to_vec(),
            queue_tick: r.queue_tick,
            mut_queue_token: r.mut_queue_token,
            mut_queue_tick: r.mut_queue_tick,
            mutation_type: r.kind.into(),
            called_states: Vec::new(),
            called_states_idxs: r.called.to_wire(),
            steps: r
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
            log_entries: log(r.log),
            pre_log_entries: log(r.pre_log),
            queue: r.queue as i64,
            time: r.time,
            is_auto: r.auto,
            accepted: r.accepted,
            is_check: r.check,
            is_queued: r.queued,
            args: r.args.into_iter().collect(),
            queue_dump: Vec::new(),
            stack_trace: r.stack,
            seq: r.seq,
            duration_ns: r.duration_ns,
            source: r.source.map(|s| TxSource {
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

/// A small multiply-rotate hasher (FxHash-like) for the machine table: machine IDs are short
/// strings looked up once per message, where SipHash costs more than the rest of the lookup.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Per-machine state of the tracer.
#[derive(Debug)]
pub(crate) struct MachineEntry {
    pub(crate) id: Arc<str>,
    pub(crate) meta: Arc<MachineMeta>,
    seq: u64,
    last_tx: Option<TxId>,
    queued_n: u64,
    last_clocks: Arc<[u64]>,
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

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // transitions are the common case
pub(crate) enum Record {
    Tx(TxRecord),
    Schema(Arc<str>),
}

/// Records popped for one batch, paired with what converting them needs.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub(crate) notices: Vec<DbgMsgDropped>,
    pub(crate) items: Vec<(Arc<MachineMeta>, Option<TxRecord>)>,
}

impl Taken {
    /// Converts into wire messages; returns `(machine, seq)` of every transition message.
    pub(crate) fn into_messages(self, out: &mut Vec<DbgMsg>, seqs: &mut Vec<(Arc<str>, u64)>) {
        out.extend(self.notices.into_iter().map(DbgMsg::Dropped));
        for (meta, rec) in self.items {
            match rec {
                Some(r) => {
                    seqs.push((r.machine.clone(), r.seq));
                    out.push(DbgMsg::Tx(meta.convert(r)));
                }
                None => out.push(DbgMsg::Schema(meta.schema_msg.clone())),
            }
        }
    }
}

/// The bounded queue between the hooks and the sender.
#[derive(Debug)]
pub(crate) struct Outbox {
    records: VecDeque<Record>,
    txs: usize,
    capacity: usize,
    machines: HashMap<Arc<str>, MachineEntry, BuildHasherDefault<IdHasher>>,
}

/// What a push did, for the caller's counters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pushed {
    pub(crate) dropped: u64,
    pub(crate) was_empty: bool,
}

impl Outbox {
    pub(crate) fn new(capacity: usize) -> Self {
        Outbox { records: VecDeque::new(), txs: 0, capacity: capacity.max(1), machines: HashMap::default() }
    }

    /// Transition records waiting.
    pub(crate) fn len(&self) -> usize {
        self.txs
    }

    /// Whether anything (schemas included) waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Known machines.
    pub(crate) fn machines(&self) -> usize {
        self.machines.len()
    }

    fn entry_mut(&mut self, m: &Machine) -> &mut MachineEntry {
        if !self.machines.contains_key(m.id()) {
            self.register(m);
        }
        // registered just above
        self.machines.get_mut(m.id()).expect("registered")
    }

    /// Registers a machine (or re-registers it with a new schema) and queues its schema.
    pub(crate) fn register(&mut self, m: &Machine) -> bool {
        let meta = Arc::new(MachineMeta::new(m));
        let was_empty = self.records.is_empty();
        let id: Arc<str> = Arc::from(m.id());
        match self.machines.get_mut(m.id()) {
            Some(e) => {
                e.meta = meta;
                e.disposed = false;
                if !e.schema_pending {
                    e.schema_pending = true;
                    self.records.push_back(Record::Schema(e.id.clone()));
                }
            }
            None => {
                let n = meta.schema.len();
                self.machines.insert(
                    id.clone(),
                    MachineEntry {
                        id: id.clone(),
                        meta,
                        seq: 0,
                        last_tx: None,
                        queued_n: 0,
                        last_clocks: vec![0; n].into(),
                        pending: 0,
                        schema_pending: true,
                        disposed: false,
                        dropped: 0,
                        dropped_first: 0,
                        dropped_last: 0,
                    },
                );
                self.records.push_back(Record::Schema(id));
            }
        }
        was_empty
    }

    /// Marks a machine disposed; forgotten once its records are out.
    pub(crate) fn dispose(&mut self, id: &str) {
        if let Some(e) = self.machines.get_mut(id) {
            e.disposed = true;
            if e.pending == 0 && !e.schema_pending {
                self.machines.remove(id);
            }
        }
    }

    /// Appends a record (seq and queued IDs are filled here); drops the oldest transition
    /// record when over capacity.
    pub(crate) fn push(&mut self, m: &Machine, mut rec: TxRecord) -> Pushed {
        let was_empty = self.records.is_empty();
        let e = self.entry_mut(m);
        e.seq += 1;
        rec.seq = e.seq;
        rec.machine = e.id.clone();
        match rec.id {
            RecId::Tx(id) => {
                e.last_tx = Some(id);
                e.queued_n = 0;
                e.last_clocks = rec.clocks.clone();
            }
            RecId::Queued(..) => {
                rec.id = RecId::Queued(e.last_tx, e.queued_n);
                e.queued_n += 1;
                rec.clocks = e.last_clocks.clone();
            }
        }
        e.pending += 1;
        self.records.push_back(Record::Tx(rec));
        self.txs += 1;
        let mut dropped = 0;
        while self.txs > self.capacity {
            let Some(pos) = self.records.iter().position(|r| matches!(r, Record::Tx(_))) else { break };
            if let Some(Record::Tx(old)) = self.records.remove(pos) {
                self.txs -= 1;
                dropped += 1;
                self.settle(&old.machine, Some(old.seq));
            }
        }
        Pushed { dropped, was_empty }
    }

    /// One record of `machine` left the outbox: sent (`drop_seq` None) or dropped.
    fn settle(&mut self, machine: &str, drop_seq: Option<u64>) {
        if let Some(e) = self.machines.get_mut(machine) {
            e.pending = e.pending.saturating_sub(1);
            if let Some(seq) = drop_seq {
                e.note_drop(seq);
            }
            if e.disposed && e.pending == 0 && !e.schema_pending && e.dropped == 0 {
                self.machines.remove(machine);
            }
        }
    }

    /// Messages that were taken but could not be delivered count as dropped; drop notices
    /// that went with them are reported again.
    pub(crate) fn fail(&mut self, seqs: &[(Arc<str>, u64)], notices: &[DbgMsgDropped]) {
        for n in notices {
            if let Some(e) = self.machines.get_mut(n.machine_id.as_str()) {
                e.note_range(n.first_seq, n.last_seq, n.count);
            }
        }
        for (m, seq) in seqs {
            if let Some(e) = self.machines.get_mut(&**m) {
                e.note_drop(*seq);
            }
        }
    }

    /// After (re)connecting: every known schema goes first; queued schema records are
    /// superseded (schemas only grow, so the latest one covers older transitions).
    pub(crate) fn take_schemas(&mut self) -> Vec<DbgMsg> {
        self.records.retain(|r| matches!(r, Record::Tx(_)));
        let mut out: Vec<_> = self
            .machines
            .values_mut()
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

    /// Pops up to `max` records, preceded by drop notices.
    pub(crate) fn take(&mut self, max: usize) -> Taken {
        let mut t = Taken::default();
        let mut forget = Vec::new();
        for e in self.machines.values_mut() {
            if e.dropped > 0 {
                t.notices.push(DbgMsgDropped {
                    machine_id: e.id.to_string(),
                    count: e.dropped,
                    first_seq: e.dropped_first,
                    last_seq: e.dropped_last,
                });
                e.dropped = 0;
                if e.disposed && e.pending == 0 && !e.schema_pending {
                    forget.push(e.id.clone());
                }
            }
        }
        t.notices.sort_by(|a, b| a.machine_id.cmp(&b.machine_id));
        while t.items.len() < max {
            let Some(r) = self.records.pop_front() else { break };
            match r {
                Record::Schema(id) => {
                    if let Some(e) = self.machines.get_mut(&id) {
                        e.schema_pending = false;
                        t.items.push((e.meta.clone(), None));
                        if e.disposed && e.pending == 0 {
                            forget.push(id);
                        }
                    }
                }
                Record::Tx(rec) => {
                    self.txs -= 1;
                    let machine = rec.machine.clone();
                    if let Some(e) = self.machines.get(&machine) {
                        t.items.push((e.meta.clone(), Some(rec)));
                    }
                    self.settle(&machine, None);
                }
            }
        }
        for id in forget {
            self.machines.remove(&id);
        }
        t
    }
}
