//! The borrowed wire form of a chunk: a [`Batch`](crate::messages::Batch) serialised
//! straight from the chunk's records, arena and rare fields, byte for byte what serialising
//! the converted messages gives, without making them — no `String` per ID, machine, state
//! name or log line, no `Vec` per clock list.

use serde::ser::{Serialize, SerializeSeq, SerializeStruct, Serializer};

use crate::clock::Anchor;
use crate::messages::{DbgMsgDropped, DbgMsgStruct, MutationType};

use super::chunk::{Chunk, Taken, Walked, walk};
use super::machines::MachineMeta;
use super::record::*;

/// One message of a batch, borrowed.
enum MsgRef<'a> {
    Schema(&'a DbgMsgStruct),
    Tx(TxRef<'a>),
    Dropped(&'a DbgMsgDropped),
}

/// What a transition message is made of, found while the batch is listed; its IDs and its
/// stack are written out when it is serialised ([`TxWire`]).
#[derive(Clone, Copy)]
struct TxRef<'a> {
    meta: &'a MachineMeta,
    rec: &'a TxRecord,
    x: Option<&'a Extra>,
    arena: &'a [u64],
    text: &'a str,
    clocks: &'a [u64],
    anchor: &'a Anchor<'a>,
}

impl Serialize for MsgRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // the variants of `DbgMsg`, by index and name
        match self {
            MsgRef::Schema(m) => s.serialize_newtype_variant("DbgMsg", 0, "Schema", m),
            MsgRef::Tx(t) => {
                let wire = tx_wire(t, t.anchor);
                s.serialize_newtype_variant("DbgMsg", 1, "Tx", &wire)
            }
            MsgRef::Dropped(d) => s.serialize_newtype_variant("DbgMsg", 2, "Dropped", d),
        }
    }
}

/// A short string on the stack: a transition ID, a queued mutation's `<id>-<n>`, a trace ID
/// in hex.
struct Inline {
    buf: [u8; 48],
    len: usize,
}

impl Inline {
    fn new() -> Self {
        Inline { buf: [0; 48], len: 0 }
    }
    fn push(&mut self, b: &[u8]) {
        let n = b.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
    }
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// A transition or queued mutation, as [`DbgMsgTx`] serialises.
struct TxWire<'a> {
    meta: &'a MachineMeta,
    /// The rare fields, when it has them.
    x: Option<&'a Extra>,
    /// Its caller's stack (stack traces on): resolved here, the rare slow part.
    stack: String,
    machine_id: &'a str,
    id: Inline,
    clocks: &'a [u64],
    n: TxNumbers,
    kind: MutationType,
    called: &'a [u64],
    queue: i64,
    time: Option<u64>,
    rec: &'a TxRecord,
    arena: &'a [u64],
    text: &'a str,
    trace_id: Inline,
}

/// Called state indexes, stored as `u64` in the arena and sent as `i64`.
struct Idxs<'a>(&'a [u64]);

impl Serialize for Idxs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for &i in self.0 {
            seq.serialize_element(&(i as i64))?;
        }
        seq.end()
    }
}

/// A step, its states by name and index, as [`DbgStep`](crate::DbgStep) serialises.
struct StepWire<'a>(&'a am_core::Step, &'a MachineMeta);

impl Serialize for StepWire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (st, names) = (self.0, self.1.schema.names());
        let name = |i: Option<usize>| i.and_then(|i| names.get(i)).map_or("", String::as_str);
        let idx = |i: Option<usize>| i.map_or(-1, |i| i as i64);
        let mut w = s.serialize_struct("DbgStep", 9)?;
        w.serialize_field("Type", &(st.kind as u8))?;
        w.serialize_field("RelType", &st.relation.map_or(0, |r| r as u8))?;
        w.serialize_field("IsFinal", &st.is_final)?;
        w.serialize_field("IsSelf", &st.is_self)?;
        w.serialize_field("IsEnter", &st.is_enter)?;
        w.serialize_field("FromState", name(st.from))?;
        w.serialize_field("ToState", name(st.to))?;
        w.serialize_field("FromStateIdx", &idx(st.from))?;
        w.serialize_field("ToStateIdx", &idx(st.to))?;
        w.end()
    }
}

/// Steps of a record.
struct Steps<'a>(&'a [am_core::Step], &'a MachineMeta);

impl Serialize for Steps<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for st in self.0 {
            seq.serialize_element(&StepWire(st, self.1))?;
        }
        seq.end()
    }
}

/// A record's log lines before the transition (`pre`) or its own, the machine's `[id] `
/// prefix cut, as [`DbgLogEntry`](crate::DbgLogEntry) serialises.
struct Logs<'a> {
    rec: &'a TxRecord,
    arena: &'a [u64],
    text: &'a str,
    meta: &'a MachineMeta,
    pre: bool,
}

impl Serialize for Logs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Line<'a>(u8, &'a str);
        impl Serialize for Line<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut w = s.serialize_struct("DbgLogEntry", 2)?;
                w.serialize_field("Level", &self.0)?;
                w.serialize_field("Text", self.1)?;
                w.end()
            }
        }
        let lines = || self.rec.at.logs(self.arena).filter(|w| w.pre() == self.pre);
        let mut seq = s.serialize_seq(Some(lines().count()))?;
        for w in lines() {
            seq.serialize_element(&Line(w.level(), self.meta.strip(w.text(self.text))))?;
        }
        seq.end()
    }
}

/// Args as the `BTreeMap` of [`DbgMsgTx::args`] serialises: by key, the last of equal keys.
struct ArgMap<'a>(&'a [(String, String)]);

impl Serialize for ArgMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut v: Vec<(&str, &str)> = self.0.iter().rev().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        // stable: of equal keys the last one given comes first, and is kept
        v.sort_by(|a, b| a.0.cmp(b.0));
        v.dedup_by(|later, first| later.0 == first.0);
        let mut m = s.serialize_map(Some(v.len()))?;
        for (k, val) in v {
            m.serialize_entry(k, val)?;
        }
        m.end()
    }
}

/// A mutation's source, as [`TxSource`](crate::TxSource) serialises.
struct SourceWire<'a>(&'a am_core::Source);

impl Serialize for SourceWire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut w = s.serialize_struct("TxSource", 3)?;
        w.serialize_field("MachineID", &self.0.machine_id)?;
        w.serialize_field("TxID", &self.0.tx_id)?;
        w.serialize_field("MachineTime", &self.0.machine_time)?;
        w.end()
    }
}

impl Serialize for TxWire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const NO_STRINGS: &[String] = &[];
        const NO_STEPS: &[am_core::Step] = &[];
        const NO_ARGS: &[(String, String)] = &[];
        let (r, meta) = (self.rec, self.meta);
        let x = self.x;
        // `DbgMsgTx`'s fields, in order, under their wire names
        let mut st = s.serialize_struct("DbgMsgTx", 25)?;
        st.serialize_field("MachineID", self.machine_id)?;
        st.serialize_field("ID", self.id.as_str())?;
        st.serialize_field("Clocks", self.clocks)?;
        st.serialize_field("QueueTick", &self.n.queue_tick)?;
        st.serialize_field("MutQueueToken", &self.n.mut_queue_token)?;
        st.serialize_field("MutQueueTick", &self.n.mut_queue_tick)?;
        st.serialize_field("Type", &self.kind)?;
        st.serialize_field("CalledStates", NO_STRINGS)?;
        st.serialize_field("CalledStatesIdxs", &Idxs(self.called))?;
        st.serialize_field("Steps", &Steps(x.map_or(NO_STEPS, |x| &x.steps), meta))?;
        let logs = |pre| Logs { rec: r, arena: self.arena, text: self.text, meta, pre };
        st.serialize_field("LogEntries", &logs(false))?;
        st.serialize_field("PreLogEntries", &logs(true))?;
        st.serialize_field("Queue", &self.queue)?;
        st.serialize_field("Time", &self.time)?;
        st.serialize_field("IsAuto", &r.auto)?;
        st.serialize_field("Accepted", &r.accepted)?;
        st.serialize_field("IsCheck", &r.check)?;
        st.serialize_field("IsQueued", &r.queued)?;
        st.serialize_field("Args", &ArgMap(x.map_or(NO_ARGS, |x| &x.args)))?;
        st.serialize_field("QueueDump", NO_STRINGS)?;
        st.serialize_field("StackTrace", self.stack.as_str())?;
        st.serialize_field("Seq", &r.seq)?;
        st.serialize_field("DurationNs", &self.n.duration_ns.get())?;
        st.serialize_field("Source", &x.and_then(|x| x.source.as_ref()).map(SourceWire))?;
        st.serialize_field("TraceId", self.trace_id.as_str())?;
        st.end()
    }
}

/// The messages of a batch, as `Batch { messages }` serialises.
struct BatchWire<'a>(&'a [MsgRef<'a>]);

impl Serialize for BatchWire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Messages<'a>(&'a [MsgRef<'a>]);
        impl Serialize for Messages<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.0.len()))?;
                for m in self.0 {
                    seq.serialize_element(m)?;
                }
                seq.end()
            }
        }
        let mut st = s.serialize_struct("Batch", 1)?;
        st.serialize_field("messages", &Messages(self.0))?;
        st.end()
    }
}

fn tx_wire<'a>(t: &TxRef<'a>, anchor: &Anchor<'_>) -> TxWire<'a> {
    let TxRef { meta, rec: r, x, arena, text, clocks, .. } = *t;
    let n = r.at.ticks(arena);
    let tx_ids = x.and_then(|x| x.tx_ids).unwrap_or(meta.tx_ids);
    let mut id = Inline::new();
    match r.id {
        RecId::Tx(seq) => id.push(tx_ids.id(seq).as_str().as_bytes()),
        RecId::Queued(last, k) => {
            if last != 0 {
                id.push(tx_ids.id(last).as_str().as_bytes());
            }
            id.push(b"-");
            id.push(itoa::Buffer::new().format(k).as_bytes());
        }
    }
    let mut trace_id = Inline::new();
    if let Some(t) = r.at.trace(arena) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in t.trace_id {
            trace_id.push(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    TxWire {
        meta,
        x,
        stack: x.and_then(|x| x.stack.as_ref()).map(crate::stack::caller_frames).unwrap_or_default(),
        machine_id: &meta.id,
        id,
        clocks,
        n,
        kind: r.kind.into(),
        called: r.at.called(arena),
        queue: i64::from(r.queue),
        time: n.time.get().map(|raw| anchor.wall(raw)),
        rec: r,
        arena,
        text,
        trace_id,
    }
}

impl Taken {
    /// The batch as the encoded push carries it ([`EncodedBatch`](crate::EncodedBatch)):
    /// serialised from the chunk in place (see the module docs); returns the encoding and
    /// how many transition messages it holds.
    pub(crate) fn encode<'a>(&'a self, anchor: &'a Anchor<'a>) -> Result<(Vec<u8>, u64), crate::Error> {
        let Chunk { recs, arena, extras, text, .. } = &self.chunk;
        let mut msgs: Vec<MsgRef<'_>> = Vec::with_capacity(self.notices.len() + recs.len());
        msgs.extend(self.notices.iter().map(MsgRef::Dropped));
        let mut n = 0;
        walk(recs, arena, &self.metas, |item| match item {
            Walked::Schema(meta) => msgs.push(MsgRef::Schema(&meta.schema_msg)),
            Walked::Tx { meta, rec, clocks } => {
                let x = match rec.extra {
                    0 => None,
                    i => extras.get(i as usize - 1).and_then(Option::as_deref),
                };
                msgs.push(MsgRef::Tx(TxRef { meta, rec, x, arena, text, clocks, anchor }));
                n += 1;
            }
        });
        // a transition message is some 60 bytes without rare fields
        Ok((crate::service::bincode_bytes(&BatchWire(&msgs), 64 + msgs.len() * 80)?, n))
    }
}
