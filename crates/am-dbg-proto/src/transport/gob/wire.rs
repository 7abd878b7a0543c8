//! The Go `am-dbg` message types as gob sees them: Go's field names, Go's integer kinds, and
//! the conversions to and from the native messages ([`crate::DbgMsgStruct`],
//! [`crate::DbgMsgTx`]). gob matches fields by name, so the fields Rust never sends (`Time`
//! on the live stream, `Data`, `QueueDump`, `CalledStates`) are either absent or optional,
//! and a Go `am-dbg` of another version still decodes what is sent.

use std::collections::BTreeMap;

use gobwire::{GoTime, Gob, Interface, Value, Zone};

use crate::messages::{DbgLogEntry, DbgMsgStruct, DbgMsgTx, DbgStep, MutationType, StateDef};

/// net/rpc's request header.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
pub(crate) struct Request {
    #[gob(name = "ServiceMethod")]
    pub(crate) service_method: String,
    #[gob(name = "Seq")]
    pub(crate) seq: u64,
}

/// net/rpc's response header; `error` is empty on success.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
pub(crate) struct Response {
    #[gob(name = "ServiceMethod")]
    pub(crate) service_method: String,
    #[gob(name = "Seq")]
    pub(crate) seq: u64,
    #[gob(name = "Error")]
    pub(crate) error: String,
}

/// The name the Go server registers its receiver under, and its two methods.
pub(crate) const METHOD_SCHEMA: &str = "RPCServer.DbgMsgSchema";
pub(crate) const METHOD_TX: &str = "RPCServer.DbgMsgTx";

/// Go `am.State`.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
pub(crate) struct GoState {
    #[gob(name = "Auto")]
    pub(crate) auto: bool,
    #[gob(name = "Multi")]
    pub(crate) multi: bool,
    #[gob(name = "Require")]
    pub(crate) require: Vec<String>,
    #[gob(name = "Add")]
    pub(crate) add: Vec<String>,
    #[gob(name = "Remove")]
    pub(crate) remove: Vec<String>,
    #[gob(name = "After")]
    pub(crate) after: Vec<String>,
    #[gob(name = "Tags")]
    pub(crate) tags: Vec<String>,
}

/// Go `dbg.DbgMsgStruct`.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
pub(crate) struct GoMsgStruct {
    #[gob(name = "ID")]
    pub(crate) id: String,
    #[gob(name = "StatesIndex")]
    pub(crate) states_index: Vec<String>,
    #[gob(name = "States")]
    pub(crate) states: BTreeMap<String, GoState>,
    #[gob(name = "Groups")]
    pub(crate) groups: BTreeMap<String, Vec<i64>>,
    #[gob(name = "GroupsOrder")]
    pub(crate) groups_order: Vec<String>,
    #[gob(name = "Parent")]
    pub(crate) parent: String,
    #[gob(name = "Tags")]
    pub(crate) tags: Vec<String>,
}

/// Go `am.Step`.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
pub(crate) struct GoStep {
    #[gob(name = "Type")]
    pub(crate) step_type: i64,
    #[gob(name = "RelType")]
    pub(crate) rel_type: i64,
    #[gob(name = "IsFinal")]
    pub(crate) is_final: bool,
    #[gob(name = "IsSelf")]
    pub(crate) is_self: bool,
    #[gob(name = "IsEnter")]
    pub(crate) is_enter: bool,
    #[gob(name = "FromState")]
    pub(crate) from_state: String,
    #[gob(name = "FromStateIdx")]
    pub(crate) from_state_idx: i64,
    #[gob(name = "ToState")]
    pub(crate) to_state: String,
    #[gob(name = "ToStateIdx")]
    pub(crate) to_state_idx: i64,
    /// Deprecated in Go: where old versions kept a relation step's relation (an
    /// `am.Relation`); never sent.
    #[gob(name = "Data")]
    pub(crate) data: Option<Interface>,
}

impl GoStep {
    /// The relation, as Go's debugger reads it: when `Data` is set (old Go versions), it
    /// replaces `RelType` — with its value when it holds an `am.Relation`, else 0 (Go:
    /// `step.RelType, _ = step.Data.(am.Relation)`).
    fn relation(&self) -> i64 {
        match &self.data {
            None => self.rel_type,
            Some(d) if d.name.ends_with(".Relation") => match d.value {
                Value::Int(n) => n,
                Value::Uint(n) => i64::try_from(n).unwrap_or(0),
                _ => 0,
            },
            Some(_) => 0,
        }
    }
}

/// Go `am.LogEntry`.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
pub(crate) struct GoLogEntry {
    #[gob(name = "Level")]
    pub(crate) level: i64,
    #[gob(name = "Text")]
    pub(crate) text: String,
}

/// Go `dbg.DbgMsgTx`.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
pub(crate) struct GoMsgTx {
    #[gob(name = "MachineID")]
    pub(crate) machine_id: String,
    #[gob(name = "ID")]
    pub(crate) id: String,
    #[gob(name = "Clocks")]
    pub(crate) clocks: Vec<u64>,
    #[gob(name = "QueueTick")]
    pub(crate) queue_tick: u64,
    #[gob(name = "MutQueueToken")]
    pub(crate) mut_queue_token: u64,
    #[gob(name = "MutQueueTick")]
    pub(crate) mut_queue_tick: u64,
    #[gob(name = "Type")]
    pub(crate) mutation_type: i64,
    #[gob(name = "CalledStates")]
    pub(crate) called_states: Vec<String>,
    #[gob(name = "CalledStatesIdxs")]
    pub(crate) called_states_idxs: Vec<i64>,
    #[gob(name = "Steps")]
    pub(crate) steps: Vec<GoStep>,
    #[gob(name = "LogEntries")]
    pub(crate) log_entries: Vec<GoLogEntry>,
    #[gob(name = "PreLogEntries")]
    pub(crate) pre_log_entries: Vec<GoLogEntry>,
    #[gob(name = "Queue")]
    pub(crate) queue: i64,
    /// Not sent live (the Go server stamps its receive time); recordings carry it.
    #[gob(name = "Time")]
    pub(crate) time: Option<GoTime>,
    #[gob(name = "IsAuto")]
    pub(crate) is_auto: bool,
    #[gob(name = "Accepted")]
    pub(crate) accepted: bool,
    #[gob(name = "IsCheck")]
    pub(crate) is_check: bool,
    #[gob(name = "IsQueued")]
    pub(crate) is_queued: bool,
    #[gob(name = "Args")]
    pub(crate) args: BTreeMap<String, String>,
    #[gob(name = "QueueDump")]
    pub(crate) queue_dump: Vec<String>,
    #[gob(name = "StackTrace")]
    pub(crate) stack_trace: String,
}

/// One machine of a Go recording (`server.Exportable`); a `.gob.br` file is a list of them.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
pub(crate) struct Exportable {
    #[gob(name = "MsgStruct")]
    pub(crate) msg_struct: Option<GoMsgStruct>,
    #[gob(name = "MsgTxs")]
    pub(crate) msg_txs: Vec<GoMsgTx>,
    #[gob(name = "Version")]
    pub(crate) version: String,
}

impl From<&DbgMsgStruct> for GoMsgStruct {
    fn from(s: &DbgMsgStruct) -> Self {
        GoMsgStruct {
            id: s.id.clone(),
            states_index: s.states_index.clone(),
            states: s
                .states
                .iter()
                .map(|(k, d)| {
                    let st = GoState {
                        auto: d.auto,
                        multi: d.multi,
                        require: d.require.clone(),
                        add: d.add.clone(),
                        remove: d.remove.clone(),
                        after: d.after.clone(),
                        tags: d.tags.clone(),
                    };
                    (k.clone(), st)
                })
                .collect(),
            groups: s.groups.clone(),
            groups_order: s.groups_order.clone(),
            parent: s.parent.clone(),
            tags: s.tags.clone(),
        }
    }
}

impl From<GoMsgStruct> for DbgMsgStruct {
    fn from(s: GoMsgStruct) -> Self {
        DbgMsgStruct {
            id: s.id,
            states_index: s.states_index,
            states: s
                .states
                .into_iter()
                .map(|(k, d)| {
                    let st = StateDef {
                        auto: d.auto,
                        multi: d.multi,
                        require: d.require,
                        add: d.add,
                        remove: d.remove,
                        after: d.after,
                        tags: d.tags,
                    };
                    (k, st)
                })
                .collect(),
            groups: s.groups,
            groups_order: s.groups_order,
            parent: s.parent,
            tags: s.tags,
        }
    }
}

fn go_log(l: &DbgLogEntry) -> GoLogEntry {
    GoLogEntry { level: i64::from(l.level), text: l.text.clone() }
}

fn native_log(l: GoLogEntry) -> DbgLogEntry {
    DbgLogEntry { level: u8::try_from(l.level.clamp(0, 5)).unwrap_or(0), text: l.text }
}

/// Unix nanoseconds as a Go `time.Time` in UTC.
pub(crate) fn go_time(unix_nanos: u64) -> GoTime {
    let secs = i64::try_from(unix_nanos / 1_000_000_000).unwrap_or(i64::MAX);
    let nsec = i32::try_from(unix_nanos % 1_000_000_000).unwrap_or(0);
    GoTime::from_unix(secs, nsec, Zone::Utc)
}

/// A Go `time.Time` as Unix nanoseconds (`None` before 1970).
pub(crate) fn unix_nanos(t: &GoTime) -> Option<u64> {
    let secs = u64::try_from(t.unix()).ok()?;
    let nsec = u64::try_from(t.nsec).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nsec)
}

impl GoMsgTx {
    /// The Go message for a native one; `with_time` puts the native receive/send time in
    /// `Time` (recordings; the live stream leaves it to the server).
    pub(crate) fn from_native(t: &DbgMsgTx, with_time: bool) -> Self {
        GoMsgTx {
            machine_id: t.machine_id.clone(),
            id: t.id.clone(),
            clocks: t.clocks.clone(),
            queue_tick: t.queue_tick,
            mut_queue_token: t.mut_queue_token,
            mut_queue_tick: t.mut_queue_tick,
            mutation_type: i64::from(u8::from(t.mutation_type)),
            called_states: Vec::new(),
            called_states_idxs: t.called_states_idxs.clone(),
            steps: t
                .steps
                .iter()
                .map(|s| GoStep {
                    step_type: i64::from(s.step_type),
                    rel_type: i64::from(s.rel_type),
                    is_final: s.is_final,
                    is_self: s.is_self,
                    is_enter: s.is_enter,
                    from_state: s.from_state.clone(),
                    from_state_idx: s.from_state_idx,
                    to_state: s.to_state.clone(),
                    to_state_idx: s.to_state_idx,
                    data: None,
                })
                .collect(),
            log_entries: t.log_entries.iter().map(go_log).collect(),
            pre_log_entries: t.pre_log_entries.iter().map(go_log).collect(),
            queue: t.queue,
            time: if with_time { t.time.map(go_time) } else { None },
            is_auto: t.is_auto,
            accepted: t.accepted,
            is_check: t.is_check,
            is_queued: t.is_queued,
            args: t.args.clone(),
            queue_dump: Vec::new(),
            stack_trace: t.stack_trace.clone(),
        }
    }

    /// The native message; Go has no sequence numbers (0), durations or sources. Old
    /// messages' called states by name stay names until [`DbgMsgTx::normalize`] (which needs
    /// the machine's states) turns them into indexes.
    pub(crate) fn into_native(self) -> DbgMsgTx {
        DbgMsgTx {
            machine_id: self.machine_id,
            id: self.id,
            clocks: self.clocks,
            queue_tick: self.queue_tick,
            mut_queue_token: self.mut_queue_token,
            mut_queue_tick: self.mut_queue_tick,
            mutation_type: u8::try_from(self.mutation_type)
                .ok()
                .and_then(|n| MutationType::try_from(n).ok())
                .unwrap_or_default(),
            called_states: self.called_states,
            called_states_idxs: self.called_states_idxs,
            steps: self
                .steps
                .into_iter()
                .map(|s| DbgStep {
                    step_type: u8::try_from(s.step_type & 0xff).unwrap_or(0),
                    rel_type: u8::try_from(s.relation() & 0xff).unwrap_or(0),
                    is_final: s.is_final,
                    is_self: s.is_self,
                    is_enter: s.is_enter,
                    from_state: s.from_state,
                    to_state: s.to_state,
                    from_state_idx: s.from_state_idx,
                    to_state_idx: s.to_state_idx,
                })
                .collect(),
            log_entries: self.log_entries.into_iter().map(native_log).collect(),
            pre_log_entries: self.pre_log_entries.into_iter().map(native_log).collect(),
            queue: self.queue,
            time: self.time.as_ref().and_then(unix_nanos),
            is_auto: self.is_auto,
            accepted: self.accepted,
            is_check: self.is_check,
            is_queued: self.is_queued,
            args: self.args,
            queue_dump: self.queue_dump,
            stack_trace: self.stack_trace,
            ..DbgMsgTx::default()
        }
    }
}
