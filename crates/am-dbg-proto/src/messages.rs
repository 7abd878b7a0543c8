//! The protocol's message types: plain serde structs mapping one to one onto the Go
//! debugger messages (`DbgMsgStruct`, `DbgMsgTx`), plus what the Rust protocol adds
//! (handshake, batches, per-machine sequence numbers, drop notices).
//!
//! Serde names are the Go field names, so a JSON recording reads like the Go types. No field
//! is skipped conditionally: bincode is not self-describing, so every field is always on the
//! wire.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks; the handshake refuses any other.
pub const PROTOCOL_VERSION: u32 = 2;

/// A machine's schema (Go `DbgMsgStruct`); sent on connect, on reconnect and on every
/// schema change, always before the machine's transitions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbgMsgStruct {
    /// Machine ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// State names in index order; every index in other messages refers to this list.
    #[serde(rename = "StatesIndex")]
    pub states_index: Vec<String>,
    /// The schema: state name → definition.
    #[serde(rename = "States")]
    pub states: BTreeMap<String, StateDef>,
    /// Named state groups, as indexes into `states_index`.
    #[serde(rename = "Groups")]
    pub groups: BTreeMap<String, Vec<i64>>,
    /// Group display order (`self` marks the machine's own group in Go).
    #[serde(rename = "GroupsOrder")]
    pub groups_order: Vec<String>,
    /// Parent machine ID, or empty.
    #[serde(rename = "Parent")]
    pub parent: String,
    /// Machine tags.
    #[serde(rename = "Tags")]
    pub tags: Vec<String>,
}

/// One state's definition (Go `am.State`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDef {
    /// Activates itself after state changes.
    #[serde(rename = "Auto")]
    pub auto: bool,
    /// Re-activates when added while active.
    #[serde(rename = "Multi")]
    pub multi: bool,
    /// Only active while these are.
    #[serde(rename = "Require")]
    pub require: Vec<String>,
    /// Activating this activates these.
    #[serde(rename = "Add")]
    pub add: Vec<String>,
    /// Blocks these.
    #[serde(rename = "Remove")]
    pub remove: Vec<String>,
    /// Ordered after these.
    #[serde(rename = "After")]
    pub after: Vec<String>,
    /// Free-form labels.
    #[serde(rename = "Tags")]
    pub tags: Vec<String>,
}

/// Mutation type with the Go wire values (0 add, 1 remove, 2 set); serialised as that
/// number.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum MutationType {
    /// `add` (0)
    #[default]
    Add,
    /// `remove` (1)
    Remove,
    /// `set` (2)
    Set,
}

impl From<MutationType> for u8 {
    fn from(t: MutationType) -> u8 {
        match t {
            MutationType::Add => 0,
            MutationType::Remove => 1,
            MutationType::Set => 2,
        }
    }
}

impl TryFrom<u8> for MutationType {
    type Error = String;
    fn try_from(n: u8) -> Result<Self, String> {
        match n {
            0 => Ok(MutationType::Add),
            1 => Ok(MutationType::Remove),
            2 => Ok(MutationType::Set),
            n => Err(format!("unknown mutation type {n}")),
        }
    }
}

impl From<am_core::MutationKind> for MutationType {
    fn from(k: am_core::MutationKind) -> Self {
        match k {
            am_core::MutationKind::Add => MutationType::Add,
            am_core::MutationKind::Remove => MutationType::Remove,
            am_core::MutationKind::Set => MutationType::Set,
        }
    }
}

/// A transition, or a queued mutation (`is_queued`), of one machine (Go `DbgMsgTx`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbgMsgTx {
    /// Machine ID.
    #[serde(rename = "MachineID")]
    pub machine_id: String,
    /// Transition ID; for a queued mutation `<last tx ID>-<n>` (n from 0 since that tx).
    #[serde(rename = "ID")]
    pub id: String,
    /// Clocks after the transition (equal to before when canceled); for a queued mutation
    /// the last known clocks.
    #[serde(rename = "Clocks")]
    pub clocks: Vec<u64>,
    /// The machine's queue tick.
    #[serde(rename = "QueueTick")]
    pub queue_tick: u64,
    /// The mutation's token (prepended mutations only).
    #[serde(rename = "MutQueueToken")]
    pub mut_queue_token: u64,
    /// Queued mutations: the tick at which it will run; 0 for transitions.
    #[serde(rename = "MutQueueTick")]
    pub mut_queue_tick: u64,
    /// Add, remove or set.
    #[serde(rename = "Type")]
    pub mutation_type: MutationType,
    /// Called state names: deprecated in Go and never sent by us, but what old Go recordings
    /// carry instead of `called_states_idxs` ([`normalize`](Self::normalize) reads them).
    #[serde(rename = "CalledStates")]
    pub called_states: Vec<String>,
    /// Indexes of the called states.
    #[serde(rename = "CalledStatesIdxs")]
    pub called_states_idxs: Vec<i64>,
    /// Steps (empty without step logging).
    #[serde(rename = "Steps")]
    pub steps: Vec<DbgStep>,
    /// Lines logged during the transition, `[id] ` prefix removed.
    #[serde(rename = "LogEntries")]
    pub log_entries: Vec<DbgLogEntry>,
    /// Lines logged since the previous transition, `[id] ` prefix removed.
    #[serde(rename = "PreLogEntries")]
    pub pre_log_entries: Vec<DbgLogEntry>,
    /// Queue length at transition end; for a queued mutation, when queued.
    #[serde(rename = "Queue")]
    pub queue: i64,
    /// Wall-clock time at transition end (or when queued), Unix nanoseconds. Go leaves it
    /// for the server to stamp; Rust clients send it (`None` when timing is off).
    #[serde(rename = "Time")]
    pub time: Option<u64>,
    /// An auto transition.
    #[serde(rename = "IsAuto")]
    pub is_auto: bool,
    /// Accepted (always true for queued mutations).
    #[serde(rename = "Accepted")]
    pub accepted: bool,
    /// A check (`can_add` / `can_remove`) rather than a mutation.
    #[serde(rename = "IsCheck")]
    pub is_check: bool,
    /// A queued mutation rather than a transition.
    #[serde(rename = "IsQueued")]
    pub is_queued: bool,
    /// Mapped args (arg logging only), plus `err` when the mutation carries an error.
    #[serde(rename = "Args")]
    pub args: BTreeMap<String, String>,
    /// Queue dump; Go fills it only when debugging the library; kept for compatibility.
    #[serde(rename = "QueueDump")]
    pub queue_dump: Vec<String>,
    /// Queued mutations: the caller's stack trace, when stack traces are on.
    #[serde(rename = "StackTrace")]
    pub stack_trace: String,
    // ---- Rust protocol additions ----
    /// Per-machine sequence number (1, 2, …) over transitions and queued mutations; a gap
    /// not covered by a [`DbgMsgDropped`] notice means loss.
    #[serde(rename = "Seq")]
    pub seq: u64,
    /// Transition duration in nanoseconds, when timing is on (0 for queued mutations).
    #[serde(rename = "DurationNs")]
    pub duration_ns: Option<u64>,
    /// The mutation that caused this one (`ev_*` mutations), when known.
    #[serde(rename = "Source")]
    pub source: Option<TxSource>,
    /// The W3C trace ID (32 hex characters) of the machine's span when the transition ended,
    /// when a tracing exporter (am-otel) set one; empty otherwise. Lets a debugger user jump
    /// to the trace.
    #[serde(rename = "TraceId", default)]
    pub trace_id: String,
}

impl DbgMsgTx {
    /// Reads the deprecated fields of old Go recordings and clients as Go's debugger does,
    /// given the machine's state names: called states by name when no indexes came (then
    /// the names are dropped, as Go keeps only indexes); a step's states by index when it
    /// has no names (Go's `Step.GetFromState`), its indexes from its names when it has them.
    /// The relation of an old step (kept in Go's deprecated `Step.Data`) is read when the
    /// Go message is decoded.
    ///
    /// ```
    /// use am_dbg_proto::{DbgMsgTx, DbgStep};
    /// let states = ["A".to_string(), "B".to_string()];
    /// let mut t = DbgMsgTx { called_states: vec!["B".into()], ..Default::default() };
    /// t.steps.push(DbgStep { step_type: 1, from_state: "B".into(), to_state: "A".into(), ..Default::default() });
    /// t.normalize(&states);
    /// assert_eq!(t.called_states_idxs, [1]);
    /// assert!(t.called_states.is_empty());
    /// assert_eq!((t.steps[0].from_state_idx, t.steps[0].to_state_idx), (1, 0));
    /// assert_eq!(t.called_names(&states).collect::<Vec<_>>(), ["B"]);
    /// ```
    pub fn normalize(&mut self, states: &[String]) {
        if self.called_states_idxs.is_empty() && !self.called_states.is_empty() {
            let pos = |n: &String| states.iter().position(|s| s == n).map_or(-1, |i| i as i64);
            self.called_states_idxs = self.called_states.iter().map(pos).collect();
            self.called_states.clear();
        }
        let pos = |n: &str| if n.is_empty() { -1 } else { states.iter().position(|s| s == n).map_or(-1, |i| i as i64) };
        let name = |i: i64| usize::try_from(i).ok().and_then(|i| states.get(i)).cloned().unwrap_or_default();
        for st in &mut self.steps {
            if st.from_state.is_empty() && st.to_state.is_empty() {
                st.from_state = name(st.from_state_idx);
                st.to_state = name(st.to_state_idx);
            } else {
                st.from_state_idx = pos(&st.from_state);
                st.to_state_idx = pos(&st.to_state);
            }
        }
    }

    /// The called states' names: by index, else (old Go messages not normalised) as named.
    pub fn called_names<'a>(&'a self, states: &'a [String]) -> impl Iterator<Item = &'a str> + 'a {
        let by_idx = self
            .called_states_idxs
            .iter()
            .map(|&i| usize::try_from(i).ok().and_then(|i| states.get(i)).map_or("?", String::as_str));
        let by_name = self.called_states.iter().map(String::as_str);
        let named = self.called_states_idxs.is_empty();
        by_idx.filter(move |_| !named).chain(by_name.filter(move |_| named))
    }
}

/// The transition that caused a mutation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxSource {
    /// Machine of the causing transition.
    #[serde(rename = "MachineID")]
    pub machine_id: String,
    /// ID of the causing transition.
    #[serde(rename = "TxID")]
    pub tx_id: String,
    /// Machine time before the causing transition.
    #[serde(rename = "MachineTime")]
    pub machine_time: u64,
}

/// One step of a transition (Go `Step`). Go's deprecated interface field `Data` (where old
/// Go versions kept a relation step's relation) has no Rust counterpart: it is read into
/// `rel_type` when a Go message is decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbgStep {
    /// Bit flags: relation 1, handler 2, activate 4, deactivate 8, deactivate-passive 16,
    /// called 32, cancel 64.
    #[serde(rename = "Type")]
    pub step_type: u8,
    /// Relation: after 0, add 1, require 2, remove 3.
    #[serde(rename = "RelType")]
    pub rel_type: u8,
    /// A final handler.
    #[serde(rename = "IsFinal")]
    pub is_final: bool,
    /// A self handler.
    #[serde(rename = "IsSelf")]
    pub is_self: bool,
    /// An enter-side handler.
    #[serde(rename = "IsEnter")]
    pub is_enter: bool,
    /// Source state name, or empty.
    #[serde(rename = "FromState")]
    pub from_state: String,
    /// Target state name, or empty.
    #[serde(rename = "ToState")]
    pub to_state: String,
    /// Source state index, -1 when none (Go leaves it 0; Rust fills it).
    #[serde(rename = "FromStateIdx")]
    pub from_state_idx: i64,
    /// Target state index, -1 when none.
    #[serde(rename = "ToStateIdx")]
    pub to_state_idx: i64,
}

impl DbgStep {
    /// The step's kind as am-core names it; `None` for a value no version sent. Each step
    /// carries one flag; were there more, cancel and requested would win, then the lowest.
    ///
    /// ```
    /// use am_core::{Relation, StepKind};
    /// let s = am_dbg_proto::DbgStep { step_type: 1, rel_type: 2, ..Default::default() };
    /// assert_eq!((s.kind(), s.relation()), (Some(StepKind::Relation), Some(Relation::Require)));
    /// ```
    pub fn kind(&self) -> Option<am_core::StepKind> {
        use am_core::StepKind::*;
        [Cancel, Requested, Relation, Handler, Activate, Deactivate, DeactivatePassive]
            .into_iter()
            .find(|k| self.step_type & (*k as u8) != 0)
    }

    /// A relation step's relation; `None` for other steps.
    pub fn relation(&self) -> Option<am_core::Relation> {
        use am_core::Relation::*;
        if self.kind() != Some(am_core::StepKind::Relation) {
            return None;
        }
        [After, Add, Require, Remove].into_iter().find(|r| *r as u8 == self.rel_type)
    }
}

/// One log line (Go `LogEntry`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbgLogEntry {
    /// Level 0–5.
    #[serde(rename = "Level")]
    pub level: u8,
    /// Text without the `[id] ` prefix.
    #[serde(rename = "Text")]
    pub text: String,
}

/// `count` messages of a machine, with sequence numbers within `first_seq..=last_seq`,
/// were dropped (outbox overflow or a failed send); sent before the machine's next
/// messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbgMsgDropped {
    /// Machine ID.
    #[serde(rename = "MachineID")]
    pub machine_id: String,
    /// How many were dropped.
    #[serde(rename = "Count")]
    pub count: u64,
    /// Lowest dropped sequence number.
    #[serde(rename = "FirstSeq")]
    pub first_seq: u64,
    /// Highest dropped sequence number.
    #[serde(rename = "LastSeq")]
    pub last_seq: u64,
}

/// One protocol message; also one line of an `am-dbg record` file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // transitions are the common case; boxing costs an allocation each
pub enum DbgMsg {
    /// A schema.
    Schema(DbgMsgStruct),
    /// A transition or queued mutation.
    Tx(DbgMsgTx),
    /// A drop notice.
    Dropped(DbgMsgDropped),
}

impl DbgMsg {
    /// The machine the message is about.
    pub fn machine_id(&self) -> &str {
        match self {
            DbgMsg::Schema(s) => &s.id,
            DbgMsg::Tx(t) => &t.machine_id,
            DbgMsg::Dropped(d) => &d.machine_id,
        }
    }
}

/// Messages sent in one call, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The messages.
    pub messages: Vec<DbgMsg>,
}

/// Who is connecting.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientIdentity {
    /// A display name (builder, else the executable's name).
    pub name: String,
    /// Host name (`AM_HOSTNAME`, else `HOSTNAME`, else empty).
    pub host: String,
    /// Process ID.
    pub pid: u32,
    /// Random per tracer; tells a reconnecting client from a new one.
    pub session: u64,
    /// The crate version of the client library.
    pub library: String,
}

/// The handshake: must be the first call on a connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the client.
    pub protocol: u32,
    /// The client.
    pub client: ClientIdentity,
}

/// The server's handshake answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The server's protocol version.
    pub protocol: u32,
    /// A display name of the server.
    pub server: String,
}

/// Why the server refused a call; it closes the connection after answering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// The handshake carried another protocol version.
    #[error("protocol version {client} not supported (server speaks {server})")]
    VersionMismatch {
        /// The client's version.
        client: u32,
        /// The server's version.
        server: u32,
    },
    /// A batch arrived before the handshake.
    #[error("batch before handshake")]
    NoHandshake,
    /// A second handshake on one connection.
    #[error("second handshake on one connection")]
    DuplicateHello,
    /// An encoded batch that does not decode as a batch.
    #[error("malformed encoded batch: {0}")]
    Malformed(String),
}
