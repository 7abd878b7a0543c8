//! A span exporter writing one JSON object per span to a file, with OTLP JSON field names
//! (`traceId`, `spanId`, `parentSpanId`, `name`, `startTimeUnixNano`, `attributes`,
//! `events`, `links`, `status`), so the demo needs no collector.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::{KeyValue, trace::Status};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use serde_json::{Value, json};

/// Writes spans as JSON lines.
#[derive(Debug)]
pub struct JsonLinesExporter {
    out: Mutex<BufWriter<File>>,
}

impl JsonLinesExporter {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(JsonLinesExporter { out: Mutex::new(BufWriter::new(File::create(path)?)) })
    }
}

fn nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0).to_string()
}

fn attrs(kvs: &[KeyValue]) -> Value {
    kvs.iter().map(|kv| json!({"key": kv.key.as_str(), "value": {"stringValue": kv.value.to_string()}})).collect()
}

fn span_json(s: &SpanData) -> Value {
    let status = match &s.status {
        Status::Error { description } => json!({"code": 2, "message": description.to_string()}),
        Status::Ok => json!({"code": 1}),
        Status::Unset => json!({}),
    };
    json!({
        "traceId": s.span_context.trace_id().to_string(),
        "spanId": s.span_context.span_id().to_string(),
        "parentSpanId": if s.parent_span_id == opentelemetry::trace::SpanId::INVALID { String::new() } else { s.parent_span_id.to_string() },
        "name": s.name.as_ref(),
        "startTimeUnixNano": nanos(s.start_time),
        "endTimeUnixNano": nanos(s.end_time),
        "attributes": attrs(&s.attributes),
        "events": s.events.iter().map(|e| json!({"name": e.name.as_ref(), "timeUnixNano": nanos(e.timestamp), "attributes": attrs(&e.attributes)})).collect::<Vec<_>>(),
        "links": s.links.iter().map(|l| json!({"traceId": l.span_context.trace_id().to_string(), "spanId": l.span_context.span_id().to_string()})).collect::<Vec<_>>(),
        "status": status,
    })
}

impl SpanExporter for JsonLinesExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut out = self.out.lock().map_err(|_| OTelSdkError::InternalFailure("poisoned".into()))?;
        for s in &batch {
            writeln!(out, "{}", span_json(s)).map_err(|e| OTelSdkError::InternalFailure(e.to_string()))?;
        }
        out.flush().map_err(|e| OTelSdkError::InternalFailure(e.to_string()))
    }
}
