//! Recording lines. Transitions are the bulk of a recording, and `serde_json` spends most of
//! the recorder's time escaping the same 24 keys of every one; [`write_json`] writes a
//! transition by hand — the same bytes, without the key escaping and serializer state —
//! and leaves every other message to `serde_json`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::messages::{DbgMsg, DbgMsgTx};

/// Appends `msg` as one line of JSON (without the newline): byte for byte what
/// `serde_json::to_writer` writes, faster for transitions.
///
/// ```
/// use am_dbg_proto::{DbgMsg, DbgMsgTx, write_json};
/// let msg = DbgMsg::Tx(DbgMsgTx { machine_id: "m".into(), ..Default::default() });
/// let mut line = Vec::new();
/// write_json(&msg, &mut line);
/// assert_eq!(line, serde_json::to_vec(&msg)?);
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn write_json(msg: &DbgMsg, out: &mut Vec<u8>) {
    match msg {
        DbgMsg::Tx(t) => {
            out.extend_from_slice(b"{\"Tx\":");
            tx(t, out);
            out.push(b'}');
        }
        other => serde_value(other, out),
    }
}

/// `serde_json` for the rare parts. Writing these types into a `Vec` cannot fail (no I/O,
/// and every map key is a string).
fn serde_value<T: Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, v);
}

fn str(s: &str, out: &mut Vec<u8>) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_value(s, out);
    }
}

fn u64(n: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn i64(n: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn opt(n: Option<u64>, out: &mut Vec<u8>) {
    match n {
        Some(n) => u64(n, out),
        None => out.extend_from_slice(b"null"),
    }
}

fn bool(b: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

fn list<T>(items: &[T], out: &mut Vec<u8>, f: impl Fn(&T, &mut Vec<u8>)) {
    out.push(b'[');
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        f(v, out);
    }
    out.push(b']');
}

fn map(m: &BTreeMap<String, String>, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        str(k, out);
        out.push(b':');
        str(v, out);
    }
    out.push(b'}');
}

fn tx(t: &DbgMsgTx, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"MachineID\":");
    str(&t.machine_id, out);
    out.extend_from_slice(b",\"ID\":");
    str(&t.id, out);
    out.extend_from_slice(b",\"Clocks\":");
    list(&t.clocks, out, |n, o| u64(*n, o));
    out.extend_from_slice(b",\"QueueTick\":");
    u64(t.queue_tick, out);
    out.extend_from_slice(b",\"MutQueueToken\":");
    u64(t.mut_queue_token, out);
    out.extend_from_slice(b",\"MutQueueTick\":");
    u64(t.mut_queue_tick, out);
    out.extend_from_slice(b",\"Type\":");
    u64(u64::from(u8::from(t.mutation_type)), out);
    out.extend_from_slice(b",\"CalledStates\":");
    list(&t.called_states, out, |s, o| str(s, o));
    out.extend_from_slice(b",\"CalledStatesIdxs\":");
    list(&t.called_states_idxs, out, |n, o| i64(*n, o));
    out.extend_from_slice(b",\"Steps\":");
    list(&t.steps, out, serde_value);
    out.extend_from_slice(b",\"LogEntries\":");
    list(&t.log_entries, out, serde_value);
    out.extend_from_slice(b",\"PreLogEntries\":");
    list(&t.pre_log_entries, out, serde_value);
    out.extend_from_slice(b",\"Queue\":");
    i64(t.queue, out);
    out.extend_from_slice(b",\"Time\":");
    opt(t.time, out);
    out.extend_from_slice(b",\"IsAuto\":");
    bool(t.is_auto, out);
    out.extend_from_slice(b",\"Accepted\":");
    bool(t.accepted, out);
    out.extend_from_slice(b",\"IsCheck\":");
    bool(t.is_check, out);
    out.extend_from_slice(b",\"IsQueued\":");
    bool(t.is_queued, out);
    out.extend_from_slice(b",\"Args\":");
    map(&t.args, out);
    out.extend_from_slice(b",\"QueueDump\":");
    list(&t.queue_dump, out, |s, o| str(s, o));
    out.extend_from_slice(b",\"StackTrace\":");
    str(&t.stack_trace, out);
    out.extend_from_slice(b",\"Seq\":");
    u64(t.seq, out);
    out.extend_from_slice(b",\"DurationNs\":");
    opt(t.duration_ns, out);
    out.extend_from_slice(b",\"Source\":");
    match &t.source {
        Some(s) => serde_value(s, out),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"TraceId\":");
    str(&t.trace_id, out);
    out.push(b'}');
}
