//! Turns a batch of records into a push request body, grouping records by label set into
//! streams (in first-seen order; entries keep their queue order within a stream).

use std::collections::HashMap;

use am_core::{SpanIdHex, TraceIdHex};
use prost::Message;

use crate::proto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp};
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

/// Indexes of records grouped by stream, in first-seen order.
fn group(batch: &[Record]) -> Vec<Vec<usize>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, r) in batch.iter().enumerate() {
        let g = *index.entry(r.stream.selector.as_str()).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    groups
}

/// The record's structured metadata; moves its strings out.
fn metadata(r: &mut Record) -> Vec<(&'static str, String)> {
    let mut m = Vec::new();
    if let Some(tx) = &r.tx_id {
        m.push((META_TX_ID, tx.as_str().to_string()));
    }
    if let Some(t) = &r.trace {
        m.push((META_TRACE_ID, TraceIdHex(&t.trace_id).to_string()));
        m.push((META_SPAN_ID, SpanIdHex(&t.span_id).to_string()));
    }
    if let Some(s) = r.states.take() {
        m.push((META_STATES, s));
    }
    m
}

/// Encodes a batch in `format`, moving the lines out of the records; fails only when the
/// body cannot be built (a batch far beyond any configurable size).
pub(crate) fn encode(format: PushFormat, batch: &mut [Record]) -> Result<Vec<u8>, String> {
    match format {
        PushFormat::Protobuf => encode_protobuf(batch),
        PushFormat::Json => encode_json(batch),
    }
}

fn encode_protobuf(batch: &mut [Record]) -> Result<Vec<u8>, String> {
    let streams = group(batch)
        .into_iter()
        .map(|idx| StreamAdapter {
            labels: batch[idx[0]].stream.selector.clone(),
            entries: idx
                .into_iter()
                .map(|i| {
                    let r = &mut batch[i];
                    EntryAdapter {
                        timestamp: Some(Timestamp::from_unix_nanos(r.ts_ns)),
                        line: std::mem::take(&mut r.line),
                        structured_metadata: metadata(r)
                            .into_iter()
                            .map(|(name, value)| LabelPairAdapter { name: name.to_string(), value })
                            .collect(),
                    }
                })
                .collect(),
            hash: 0,
        })
        .collect();
    let raw = PushRequest { streams }.encode_to_vec();
    snap::raw::Encoder::new().compress_vec(&raw).map_err(|e| e.to_string())
}

fn encode_json(batch: &mut [Record]) -> Result<Vec<u8>, String> {
    use serde_json::{Map, Value};
    let streams: Vec<Value> = group(batch)
        .into_iter()
        .map(|idx| {
            let labels: Map<String, Value> =
                batch[idx[0]].stream.labels.iter().map(|(k, v)| (k.to_string(), Value::String(v.clone()))).collect();
            let values: Vec<Value> = idx
                .into_iter()
                .map(|i| {
                    let r = &mut batch[i];
                    let mut v = vec![Value::String(r.ts_ns.to_string()), Value::String(std::mem::take(&mut r.line))];
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
