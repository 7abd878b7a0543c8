//! `.gob.br` recordings, the Go `am-dbg`'s export format (`--import-data`): a brotli stream of
//! one gob value, the list of machines, each its schema, its transitions and a version
//! string. Written from and read into the native message list, so a recording of ours opens
//! in the Go debugger and a Go export can be summarised and replayed here.

use std::collections::HashMap;
use std::io::{Read, Write};

use gobwire::{Decoder, Encoder, Progress, parse_length_prefix};

use super::wire::{Exportable, GoMsgStruct, GoMsgTx};
use crate::error::Error;
use crate::messages::DbgMsg;

/// The `Version` written into each machine of a `.gob.br` recording.
pub const GOB_BR_VERSION: &str = concat!("am-dbg-proto ", env!("CARGO_PKG_VERSION"));

/// What [`write_gob_br`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GobBrStats {
    /// Machines in the file.
    pub machines: usize,
    /// Transitions and queued mutations in the file.
    pub txs: usize,
    /// Transitions left out: their machine had no schema before them.
    pub without_schema: usize,
}

/// Writes messages (a native recording, see [`read_recording`](crate::read_recording)) as a
/// `.gob.br` recording the Go `am-dbg --import-data` opens: machines in the order their
/// schemas first appear, each with its last schema and its transitions in order, each
/// transition with its time (Go's debugger needs one; a message without a time gets the
/// one before it). Drop notices have no Go form and are left out.
///
/// ```
/// use am_dbg_proto::{DbgMsg, DbgMsgStruct, DbgMsgTx, read_gob_br, write_gob_br};
/// let schema = DbgMsgStruct { id: "m".into(), states_index: vec!["A".into()], ..Default::default() };
/// let tx = DbgMsgTx { machine_id: "m".into(), id: "t1".into(), clocks: vec![1], time: Some(5), seq: 1, ..Default::default() };
/// let mut file = Vec::new();
/// let stats = write_gob_br(&[DbgMsg::Schema(schema.clone()), DbgMsg::Tx(tx.clone())], &mut file)?;
/// assert_eq!((stats.machines, stats.txs), (1, 1));
/// assert_eq!(read_gob_br(&file[..])?, [DbgMsg::Schema(schema), DbgMsg::Tx(tx)]);
/// # Ok::<(), am_dbg_proto::Error>(())
/// ```
pub fn write_gob_br(messages: &[DbgMsg], out: impl Write) -> Result<GobBrStats, Error> {
    let mut order: Vec<Exportable> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut stats = GobBrStats::default();
    let mut last_time = 0;
    for msg in messages {
        match msg {
            DbgMsg::Schema(s) => {
                let i = *index.entry(s.id.as_str()).or_insert_with(|| {
                    order.push(Exportable { version: GOB_BR_VERSION.into(), ..Default::default() });
                    order.len() - 1
                });
                order[i].msg_struct = Some(GoMsgStruct::from(s));
            }
            DbgMsg::Tx(t) => {
                let Some(&i) = index.get(t.machine_id.as_str()) else {
                    stats.without_schema += 1;
                    continue;
                };
                let mut go = GoMsgTx::from_native(t, true);
                last_time = t.time.unwrap_or(last_time);
                if go.time.is_none() {
                    go.time = Some(super::wire::go_time(last_time));
                }
                order[i].msg_txs.push(go);
                stats.txs += 1;
            }
            DbgMsg::Dropped(_) => {}
        }
    }
    stats.machines = order.len();
    let gob = Encoder::new().encode(&order).map_err(|e| Error::Decode(format!("gob encode: {e}")))?;
    let mut w = brotli::CompressorWriter::new(out, 1 << 16, 9, 22);
    w.write_all(&gob).map_err(|e| Error::io("write .gob.br", e))?;
    w.flush().map_err(|e| Error::io("write .gob.br", e))?;
    Ok(stats)
}

/// Reads a `.gob.br` recording (the Go `am-dbg`'s export, or [`write_gob_br`]'s) as native
/// messages: per machine its schema, then its transitions. Go has no sequence numbers: they
/// are numbered here per machine from 1, so summaries and replays work as for our own. Old
/// Go recordings are read as Go's debugger reads them ([`DbgMsgTx::normalize`]; the
/// relation of an old relation step from its `Data`).
///
/// [`DbgMsgTx::normalize`]: crate::DbgMsgTx::normalize
pub fn read_gob_br(input: impl Read) -> Result<Vec<DbgMsg>, Error> {
    let mut gob = Vec::new();
    brotli::Decompressor::new(input, 1 << 16)
        .read_to_end(&mut gob)
        .map_err(|e| Error::Decode(format!("not a brotli stream: {e}")))?;
    let mut decoder = Decoder::new();
    let mut rest = &gob[..];
    let machines: Vec<Exportable> = loop {
        let bad = |e: &dyn std::fmt::Display| Error::Decode(format!("not a Go am-dbg recording: {e}"));
        let (width, len) = parse_length_prefix(rest).map_err(|e| bad(&e))?.ok_or_else(|| bad(&"ends early"))?;
        let body = rest.get(width..width + len).ok_or_else(|| bad(&"ends early"))?;
        rest = &rest[width + len..];
        if decoder.push_message(body).map_err(|e| bad(&e))? == Progress::Ready {
            break decoder.decode().map_err(|e| bad(&e))?;
        }
    };
    let mut out = Vec::new();
    for m in machines {
        let Some(schema) = m.msg_struct else { continue };
        let states = schema.states_index.clone();
        out.push(DbgMsg::Schema(schema.into()));
        for (n, tx) in m.msg_txs.into_iter().enumerate() {
            let mut t = tx.into_native();
            t.normalize(&states);
            t.seq = n as u64 + 1;
            out.push(DbgMsg::Tx(t));
        }
    }
    Ok(out)
}
