//! Turns a batch of records into a push request body, grouping records by label set into
//! streams (in first-seen order; entries keep their queue order within a stream). The
//! protobuf body is written straight from the records into a buffer the sender keeps (no
//! message objects, no copy of a line but into the body); `proto` has the same messages
//! as prost types, which the tests decode it with.

use std::collections::HashMap;
use std::sync::Arc;

use am_core::{SpanIdHex, TraceIdHex};

use crate::queue::{META_SPAN_ID, META_STATES, META_TRACE_ID, META_TX_ID, Record};

/// The wire format of a push.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum PushFormat {
    /// `application/x-protobuf`: a snappy block-compressed `logproto.PushRequest`, the
    /// format Loki's own clients send (default).
    #[default]
    Protobuf,
    /// `application/json`: `{"streams":[{"stream":{…},"values":[["<ns>","<line>",{…}]]}]}`.
    Json,
}

impl PushFormat {
    /// The `Content-Type` header of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            PushFormat::Protobuf => "application/x-protobuf",
            PushFormat::Json => "application/json",
        }
    }
    /// `protobuf` or `json`, as `AM_LOKI_FORMAT` spells it.
    pub fn name(self) -> &'static str {
        match self {
            PushFormat::Protobuf => "protobuf",
            PushFormat::Json => "json",
        }
    }
    /// Parses `protobuf` (or `proto`) and `json`, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "protobuf" | "proto" => Some(PushFormat::Protobuf),
            "json" => Some(PushFormat::Json),
            _ => None,
        }
    }
}

/// Reused from batch to batch by the sender: no allocation per entry or per stream.
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    /// Group of each stream, by the address of its shared label set.
    index: HashMap<usize, usize>,
    /// Per stream: its records, in queue order.
    groups: Vec<Vec<u32>>,
    /// Encoded size of each record's entry.
    sizes: Vec<usize>,
    /// The uncompressed protobuf body.
    raw: Vec<u8>,
}

impl Encoder {
    /// Encodes a batch in `format`; fails only when the body cannot be built (a batch far
    /// beyond any configurable size).
    pub(crate) fn encode(&mut self, format: PushFormat, batch: &[Record]) -> Result<Vec<u8>, String> {
        match format {
            PushFormat::Protobuf => self.protobuf(batch),
            PushFormat::Json => encode_json(batch),
        }
    }

    /// Groups record indexes by stream, in first-seen order; returns how many groups.
    fn group(&mut self, batch: &[Record]) -> usize {
        self.index.clear();
        let mut n = 0;
        for (i, r) in batch.iter().enumerate() {
            let mut created = false;
            let g = *self.index.entry(Arc::as_ptr(&r.stream) as usize).or_insert_with(|| {
                created = true;
                n += 1;
                n - 1
            });
            if created {
                // a group an earlier batch used is started afresh
                match self.groups.get_mut(g) {
                    Some(old) => old.clear(),
                    None => self.groups.push(Vec::new()),
                }
            }
            self.groups[g].push(i as u32);
        }
        n
    }

    /// `logproto.PushRequest`, written straight from the records, then snappy-compressed.
    fn protobuf(&mut self, batch: &[Record]) -> Result<Vec<u8>, String> {
        let streams = self.group(batch);
        self.sizes.clear();
        self.sizes.extend(batch.iter().map(entry_len));
        let raw = &mut self.raw;
        raw.clear();
        for g in &self.groups[..streams] {
            let labels = &batch[g[0] as usize].stream.selector;
            let entries: usize = g.iter().map(|&i| pb::field_len(self.sizes[i as usize])).sum();
            let stream_len = pb::field_len(labels.len()) + entries;
            // PushRequest.streams (1): StreamAdapter { labels (1), entries (2) }
            pb::key_len(raw, 1, stream_len);
            pb::bytes(raw, 1, labels.as_bytes());
            for &i in g {
                let r = &batch[i as usize];
                pb::key_len(raw, 2, self.sizes[i as usize]);
                write_entry(raw, r);
            }
        }
        let mut out = vec![0; snap::raw::max_compress_len(raw.len())];
        let n = snap::raw::Encoder::new().compress(raw, &mut out).map_err(|e| e.to_string())?;
        out.truncate(n);
        // a big batch once does not keep its buffer for good
        if raw.capacity() > 4 << 20 {
            *raw = Vec::new();
        }
        Ok(out)
    }
}

/// Protobuf wire writing, just what a push needs (fields below 16).
mod pb {
    pub(super) fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    pub(super) fn varint_len(v: u64) -> usize {
        (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
    }
    /// A length-delimited field's size: key, length, body.
    pub(super) fn field_len(body: usize) -> usize {
        1 + varint_len(body as u64) + body
    }
    /// A length-delimited field's key and length.
    pub(super) fn key_len(out: &mut Vec<u8>, field: u8, len: usize) {
        out.push(field << 3 | 2);
        varint(out, len as u64);
    }
    pub(super) fn bytes(out: &mut Vec<u8>, field: u8, b: &[u8]) {
        key_len(out, field, b.len());
        out.extend_from_slice(b);
    }
    /// A varint field, left out when zero (as prost does).
    pub(super) fn uint(out: &mut Vec<u8>, field: u8, v: u64) {
        if v != 0 {
            out.push(field << 3);
            varint(out, v);
        }
    }
    pub(super) fn uint_len(v: u64) -> usize {
        if v == 0 { 0 } else { 1 + varint_len(v) }
    }
}

/// `google.protobuf.Timestamp` of a record: seconds, nanos (non-negative times).
fn timestamp(ts_ns: i64) -> (u64, u64) {
    let ts = ts_ns.max(0) as u64;
    (ts / 1_000_000_000, ts % 1_000_000_000)
}

/// The structured metadata of a record, as (name, value length, value writer).
fn meta_pairs(r: &Record) -> impl Iterator<Item = (&'static str, Meta<'_>)> {
    let tx = r.tx_id.as_ref().map(|t| (META_TX_ID, Meta::Str(t.as_str())));
    let trace = r.trace.as_ref().map(|t| (META_TRACE_ID, Meta::Hex(&t.trace_id[..])));
    let span = r.trace.as_ref().map(|t| (META_SPAN_ID, Meta::Hex(&t.span_id[..])));
    let states = r.states.as_deref().map(|s| (META_STATES, Meta::Str(s)));
    tx.into_iter().chain(trace).chain(span).chain(states)
}

enum Meta<'a> {
    Str(&'a str),
    Hex(&'a [u8]),
}

impl Meta<'_> {
    fn len(&self) -> usize {
        match self {
            Meta::Str(s) => s.len(),
            Meta::Hex(b) => b.len() * 2,
        }
    }
}

fn pair_len(name: &str, value: &Meta<'_>) -> usize {
    // prost leaves empty strings out
    let v = value.len();
    pb::field_len(name.len()) + if v == 0 { 0 } else { pb::field_len(v) }
}

/// The size of a record's `EntryAdapter`.
fn entry_len(r: &Record) -> usize {
    let (s, n) = timestamp(r.ts_ns);
    let ts = pb::uint_len(s) + pb::uint_len(n);
    let line = r.level.as_str().len() + 2 + r.text.len();
    pb::field_len(ts) + pb::field_len(line) + meta_pairs(r).map(|(k, v)| pb::field_len(pair_len(k, &v))).sum::<usize>()
}

/// `EntryAdapter { timestamp (1), line (2), structured_metadata (3) }`.
fn write_entry(out: &mut Vec<u8>, r: &Record) {
    let (s, n) = timestamp(r.ts_ns);
    pb::key_len(out, 1, pb::uint_len(s) + pb::uint_len(n));
    pb::uint(out, 1, s);
    pb::uint(out, 2, n);
    let level = r.level.as_str();
    pb::key_len(out, 2, level.len() + 2 + r.text.len());
    out.extend_from_slice(level.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(r.text.as_bytes());
    for (k, v) in meta_pairs(r) {
        pb::key_len(out, 3, pair_len(k, &v));
        pb::bytes(out, 1, k.as_bytes());
        if v.len() > 0 {
            pb::key_len(out, 2, v.len());
            match v {
                Meta::Str(s) => out.extend_from_slice(s.as_bytes()),
                Meta::Hex(b) => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    for &x in b {
                        out.push(HEX[usize::from(x >> 4)]);
                        out.push(HEX[usize::from(x & 15)]);
                    }
                }
            }
        }
    }
}

/// The record's structured metadata as strings (the JSON body).
fn metadata(r: &Record) -> Vec<(&'static str, String)> {
    let mut m = Vec::new();
    if let Some(tx) = &r.tx_id {
        m.push((META_TX_ID, tx.as_str().to_string()));
    }
    if let Some(t) = &r.trace {
        m.push((META_TRACE_ID, TraceIdHex(&t.trace_id).to_string()));
        m.push((META_SPAN_ID, SpanIdHex(&t.span_id).to_string()));
    }
    if let Some(s) = &r.states {
        m.push((META_STATES, s.clone()));
    }
    m
}

fn encode_json(batch: &[Record]) -> Result<Vec<u8>, String> {
    use serde_json::{Map, Value};
    let mut enc = Encoder::default();
    let n = enc.group(batch);
    let streams: Vec<Value> = enc.groups[..n]
        .iter()
        .map(|idx| {
            let labels: Map<String, Value> = batch[idx[0] as usize]
                .stream
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
                .collect();
            let values: Vec<Value> = idx
                .iter()
                .map(|&i| {
                    let r = &batch[i as usize];
                    let line = format!("{}: {}", r.level.as_str(), r.text);
                    let mut v = vec![Value::String(r.ts_ns.to_string()), Value::String(line)];
                    let meta = metadata(r);
                    if !meta.is_empty() {
                        v.push(Value::Object(
                            meta.into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect(),
                        ));
                    }
                    Value::Array(v)
                })
                .collect();
            serde_json::json!({ "stream": labels, "values": values })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "streams": streams })).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp};
    use crate::queue::{LokiLevel, NewRecord, Queue, TxIdBuf};
    use prost::Message;

    fn batch() -> Vec<Record> {
        let mut q = Queue::new("svc".into(), 100, 10);
        let trace = am_core::TraceContext { trace_id: [0xab; 16], span_id: [1, 2, 3, 4, 5, 6, 7, 8] };
        let long = "x".repeat(300);
        let lines = [
            ("m1", LokiLevel::Info, "[state] +A", Some("0123456789abcdef"), None, None),
            ("m2", LokiLevel::Error, "[error] boom", None, Some(trace), Some("A B")),
            ("m1", LokiLevel::Info, long.as_str(), None, Some(trace), Some("")),
            ("m1", LokiLevel::Debug, "", Some("fedcba9876543210"), None, None),
        ];
        for (i, (m, level, text, tx, trace, states)) in lines.into_iter().enumerate() {
            let s = q.machine_streams(m).unwrap();
            let ts_ns = 1_700_000_000_123_456_789 + i as i64 * 1_000_000_000;
            let r = NewRecord {
                level,
                ts_ns,
                text: text.to_string(),
                tx_id: tx.map(TxIdBuf::new),
                trace,
                states: states.map(String::from),
            };
            q.push_to(&s, r);
        }
        let mut out = Vec::new();
        q.take(10, usize::MAX, &mut out);
        out
    }

    /// What the prost messages make of the same records.
    fn expected(batch: &[Record]) -> PushRequest {
        let mut streams: Vec<StreamAdapter> = Vec::new();
        for r in batch {
            let entry = EntryAdapter {
                timestamp: Some(Timestamp::from_unix_nanos(r.ts_ns)),
                line: format!("{}: {}", r.level.as_str(), r.text),
                structured_metadata: metadata(r)
                    .into_iter()
                    .map(|(name, value)| LabelPairAdapter { name: name.into(), value })
                    .collect(),
            };
            match streams.iter_mut().find(|s| s.labels == r.stream.selector) {
                Some(s) => s.entries.push(entry),
                None => {
                    streams.push(StreamAdapter { labels: r.stream.selector.clone(), entries: vec![entry], hash: 0 })
                }
            }
        }
        PushRequest { streams }
    }

    #[test]
    fn protobuf_body_is_what_prost_writes() {
        let batch = batch();
        let mut enc = Encoder::default();
        for _ in 0..2 {
            // twice: buffers and groups reused from the first batch
            let body = enc.encode(PushFormat::Protobuf, &batch).unwrap();
            let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
            let want = expected(&batch);
            assert_eq!(PushRequest::decode(raw.as_slice()).unwrap(), want);
            assert_eq!(raw, want.encode_to_vec(), "byte for byte");
        }
        let one = enc.encode(PushFormat::Protobuf, &batch[1..2]).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&one).unwrap();
        assert_eq!(PushRequest::decode(raw.as_slice()).unwrap(), expected(&batch[1..2]));
    }

    #[test]
    fn varint_lengths() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::from(u32::MAX), u64::MAX] {
            let mut b = Vec::new();
            pb::varint(&mut b, v);
            assert_eq!(b.len(), pb::varint_len(v), "{v}");
        }
    }
}
