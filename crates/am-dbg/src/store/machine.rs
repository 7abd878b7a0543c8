//! One machine as the debugger knows it: its schema, a bounded list of transitions (and
//! queued mutations), and what is derived from each entry once, when it arrives — whether it
//! raised `Exception`, changed no clock, called only health states, which queued entry it
//! executed — so filters and panes read flags instead of recomputing them every frame.

use std::collections::{HashMap, VecDeque};

use am_dbg_proto::{DbgMsgStruct, DbgMsgTx};

use super::stats::MachineStats;

/// A machine's identity in the debugger: stable while it is shown, never reused, so UI state
/// keyed by it survives other machines being removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MachineKey(pub u32);

/// Facts about one entry, computed at ingest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxMeta {
    flags: u8,
    /// Estimated bytes the entry holds (for `--max-mem`).
    pub bytes: u32,
    /// Queued entry: the absolute index of the transition that executed it; transition: of
    /// the queued entry it executed. `u64::MAX` when none.
    pub link: u64,
}

impl TxMeta {
    /// The transition activated `Exception` (the state was called and is active after it).
    pub const ERROR: u8 = 1;
    /// A transition whose clocks equal the previous transition's (nothing changed).
    pub const EMPTY: u8 = 2;
    /// Called only `Healthcheck` / `Heartbeat`.
    pub const HEALTH: u8 = 4;
    /// A queued entry whose transition arrived.
    pub const EXECUTED: u8 = 8;
    /// A handler timed out in it (its log or args say so).
    pub const TIMEOUT: u8 = 16;

    /// Whether a flag is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
    /// The other entry of a queued ↔ executed pair.
    pub fn linked(&self) -> Option<u64> {
        (self.link != u64::MAX).then_some(self.link)
    }
}

/// What pairs a queued mutation with the transition that ran it: the queue tick it was
/// queued for, or the token of a prepended one (as Go's `MutQueueTick` / `MutQueueToken`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum QueueKey {
    Tick(u64),
    Token(u64),
}

/// Pending queued entries kept at most; older ones never ran (the machine was disposed).
const MAX_PENDING: usize = 65_536;

/// One machine.
#[derive(Debug, Clone)]
pub struct MachineView {
    /// Its key.
    pub key: MachineKey,
    /// The schema last received.
    pub schema: DbgMsgStruct,
    /// Transitions and queued mutations, oldest first, at most the retention bound.
    pub txs: VecDeque<DbgMsgTx>,
    meta: VecDeque<TxMeta>,
    /// Entries dropped by retention (the oldest); entry `i` of `txs` is number
    /// `evicted + i` of the machine.
    pub evicted: u64,
    /// Transitions the client reported dropped.
    pub dropped: u64,
    /// Transitions that activated `Exception`.
    pub errors: u64,
    /// A live client's connection is open (recordings: false).
    pub connected: bool,
    /// Counters and histograms for the machines table and the warnings.
    pub stats: MachineStats,
    pub(super) conn: Option<u64>,
    pub(super) bytes: usize,
    exception: Option<usize>,
    health: Vec<usize>,
    last_tx: Option<u64>,
    pending: HashMap<QueueKey, u64>,
}

impl MachineView {
    pub(super) fn new(key: MachineKey, schema: DbgMsgStruct, conn: Option<u64>) -> Self {
        let mut m = MachineView {
            key,
            schema: DbgMsgStruct::default(),
            txs: VecDeque::new(),
            meta: VecDeque::new(),
            evicted: 0,
            dropped: 0,
            errors: 0,
            connected: conn.is_some(),
            stats: MachineStats::default(),
            conn,
            bytes: 0,
            exception: None,
            health: Vec::new(),
            last_tx: None,
            pending: HashMap::new(),
        };
        m.set_schema(schema);
        m
    }

    pub(super) fn set_schema(&mut self, schema: DbgMsgStruct) {
        let names = &schema.states_index;
        self.exception = names.iter().position(|s| s == am_core::EXCEPTION);
        self.health = names
            .iter()
            .enumerate()
            .filter(|(_, s)| *s == am_core::HEALTHCHECK || *s == am_core::HEARTBEAT)
            .map(|(i, _)| i)
            .collect();
        self.schema = schema;
    }

    /// The machine ID.
    pub fn id(&self) -> &str {
        &self.schema.id
    }

    /// The index of a state by name.
    pub fn state_index(&self, name: &str) -> Option<usize> {
        self.schema.states_index.iter().position(|s| s == name)
    }

    /// The index of `Exception`, when the schema has it.
    pub fn exception(&self) -> Option<usize> {
        self.exception
    }

    /// The called states' names of one of its transitions.
    pub fn called<'a>(&'a self, tx: &'a DbgMsgTx) -> impl Iterator<Item = &'a str> + 'a {
        tx.called_names(&self.schema.states_index)
    }

    /// Entries seen in all (kept and evicted).
    pub fn total(&self) -> u64 {
        self.evicted + self.txs.len() as u64
    }

    /// The entry with absolute number `abs` (0-based), if still kept.
    pub fn tx(&self, abs: u64) -> Option<&DbgMsgTx> {
        self.txs.get(usize::try_from(abs.checked_sub(self.evicted)?).ok()?)
    }

    /// The derived facts of entry `abs`.
    pub fn meta(&self, abs: u64) -> TxMeta {
        abs.checked_sub(self.evicted)
            .and_then(|i| self.meta.get(usize::try_from(i).ok()?))
            .copied()
            .unwrap_or(TxMeta { link: u64::MAX, ..TxMeta::default() })
    }

    /// The last transition (not a queued entry) before `abs`, for "the state before".
    pub fn prev_tx(&self, abs: u64) -> Option<&DbgMsgTx> {
        let end = usize::try_from(abs.checked_sub(self.evicted)?).ok()?;
        self.txs.range(..end.min(self.txs.len())).rev().find(|t| !t.is_queued)
    }

    /// Whether it raised `Exception`.
    pub fn is_error(&self, tx: &DbgMsgTx) -> bool {
        self.exception.is_some_and(|i| tx.clocks.get(i).is_some_and(|t| t % 2 == 1))
            && tx.called_states_idxs.iter().any(|&c| Some(c) == self.exception.map(|e| e as i64))
    }

    /// Takes one entry (already normalised); returns the bytes it holds.
    pub(super) fn push(&mut self, t: DbgMsgTx) -> usize {
        let abs = self.total();
        let mut meta = TxMeta { flags: 0, bytes: 0, link: u64::MAX };
        if self.is_error(&t) {
            meta.flags |= TxMeta::ERROR;
            self.errors += 1;
        }
        let called = &t.called_states_idxs;
        if !called.is_empty() && called.iter().all(|&c| self.health.iter().any(|&h| h as i64 == c)) {
            meta.flags |= TxMeta::HEALTH;
        }
        if timed_out(&t) {
            meta.flags |= TxMeta::TIMEOUT;
        }
        if t.is_queued {
            let key = match (t.mut_queue_token, t.mut_queue_tick) {
                (0, 0) => None,
                (0, tick) => Some(QueueKey::Tick(tick)),
                (token, _) => Some(QueueKey::Token(token)),
            };
            if let Some(k) = key {
                if self.pending.len() >= MAX_PENDING {
                    self.pending.clear();
                }
                self.pending.insert(k, abs);
            }
        } else {
            if self.last_tx.and_then(|p| self.tx(p)).is_some_and(|p| p.clocks == t.clocks) {
                meta.flags |= TxMeta::EMPTY;
            }
            self.last_tx = Some(abs);
            let key =
                if t.mut_queue_token > 0 { QueueKey::Token(t.mut_queue_token) } else { QueueKey::Tick(t.queue_tick) };
            if let Some(q) = self.pending.remove(&key)
                && let Some(qm) = q.checked_sub(self.evicted).and_then(|i| self.meta.get_mut(i as usize))
            {
                qm.flags |= TxMeta::EXECUTED;
                qm.link = abs;
                meta.link = q;
            }
        }
        self.stats.record(&t, abs, meta, self.exception);
        let bytes = size_of_tx(&t);
        meta.bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        self.bytes += bytes;
        self.txs.push_back(t);
        self.meta.push_back(meta);
        bytes
    }

    /// Drops the oldest entry; returns the bytes freed.
    pub(super) fn evict_one(&mut self) -> usize {
        self.txs.pop_front();
        let freed = self.meta.pop_front().map_or(0, |m| m.bytes as usize);
        self.evicted += 1;
        self.bytes -= freed.min(self.bytes);
        freed
    }

    /// Bytes its entries hold (estimated).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The schema's groups in display order, as `(name, state indexes)`.
    pub fn groups(&self) -> impl Iterator<Item = (&str, &[i64])> {
        let s = &self.schema;
        let ordered = s.groups_order.iter().filter_map(|n| s.groups.get(n).map(|g| (n.as_str(), g.as_slice())));
        let rest =
            s.groups.iter().filter(|(n, _)| !s.groups_order.contains(n)).map(|(n, g)| (n.as_str(), g.as_slice()));
        ordered.chain(rest)
    }
}

/// A handler timeout, as am-core (`handler timeout: …`) and Go (`… timeout …` in the error)
/// report it: in the transition's log or its `err` arg.
fn timed_out(t: &DbgMsgTx) -> bool {
    let hit = |s: &str| s.contains("timeout") && (s.contains("handler") || s.contains("[error"));
    t.log_entries.iter().any(|l| hit(&l.text)) || t.args.get("err").is_some_and(|e| hit(e))
}

/// What an entry holds on the heap and inline, roughly (strings and vectors by length).
fn size_of_tx(t: &DbgMsgTx) -> usize {
    let logs: usize = t.log_entries.iter().chain(&t.pre_log_entries).map(|l| l.text.len() + 32).sum();
    let steps: usize = t.steps.iter().map(|s| s.from_state.len() + s.to_state.len() + 80).sum();
    let args: usize = t.args.iter().map(|(k, v)| k.len() + v.len() + 64).sum();
    size_of::<DbgMsgTx>()
        + size_of::<TxMeta>()
        + t.id.len()
        + t.machine_id.len()
        + t.clocks.len() * 8
        + t.called_states_idxs.len() * 8
        + logs
        + steps
        + args
        + t.stack_trace.len()
        + t.trace_id.len()
}
