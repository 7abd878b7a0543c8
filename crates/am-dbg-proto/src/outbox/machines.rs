//! The outbox's machine table: per-machine bookkeeping ([`MachineEntry`]: slot, sequence
//! numbers, last clocks, drop ranges) and what the sender needs to convert a machine's records
//! into wire messages ([`MachineMeta`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use am_core::{Machine, Schema, TxIds};

use crate::clock::Anchor;
use crate::messages::{DbgLogEntry, DbgMsgStruct, DbgMsgTx, DbgStep, StateDef, TxSource};

use super::record::*;
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
    pub(super) fn strip<'a>(&self, text: &'a str) -> &'a str {
        text.strip_prefix(self.prefix.as_str()).unwrap_or(text)
    }

    pub(super) fn name(&self, i: Option<usize>) -> (String, i64) {
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
        text: &str,
        clocks: &[u64],
        anchor: &Anchor<'_>,
    ) -> DbgMsgTx {
        let x = x.map(|b| *b).unwrap_or_default();
        let tx_ids = x.tx_ids.unwrap_or(self.tx_ids);
        let n = r.at.ticks(arena);
        let log = |pre: bool| {
            r.at.logs(arena)
                .filter(|w| w.pre() == pre)
                .map(|w| DbgLogEntry { level: w.level(), text: self.strip(w.text(text)).to_string() })
                .collect()
        };
        let id = match r.id {
            RecId::Tx(seq) => tx_ids.id(seq).as_str().to_string(),
            RecId::Queued(0, n) => format!("-{n}"),
            RecId::Queued(last, n) => format!("{}-{n}", tx_ids.id(last)),
        };
        let trace_id = r.at.trace(arena).map(|t| am_core::TraceIdHex(&t.trace_id).to_string()).unwrap_or_default();
        DbgMsgTx {
            trace_id,
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
            log_entries: log(false),
            pre_log_entries: log(true),
            queue: i64::from(r.queue),
            time: n.time.get().map(|raw| anchor.wall(raw)),
            is_auto: r.auto,
            accepted: r.accepted,
            is_check: r.check,
            is_queued: r.queued,
            args: x.args.into_iter().collect(),
            queue_dump: Vec::new(),
            stack_trace: x.stack.as_ref().map(crate::stack::caller_frames).unwrap_or_default(),
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
    pub(super) instance: u64,
    pub(crate) meta: Arc<MachineMeta>,
    pub(super) seq: u64,
    /// The sequence number of the machine's last transition (0: none yet).
    pub(super) last_tx: u64,
    pub(super) queued_n: u32,
    pub(super) last_clocks: Vec<u64>,
    /// The generation of the chunk `last_clocks` were last stored in (0: none): a queued
    /// record in that chunk shares them instead of storing a copy.
    pub(super) clocks_in: u64,
    pub(super) pending: usize,
    pub(super) schema_pending: bool,
    pub(super) disposed: bool,
    pub(super) dropped: u64,
    pub(super) dropped_first: u64,
    pub(super) dropped_last: u64,
}

impl MachineEntry {
    pub(super) fn note_drop(&mut self, seq: u64) {
        self.note_range(seq, seq, 1);
    }
    pub(super) fn note_range(&mut self, first: u64, last: u64, count: u64) {
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
