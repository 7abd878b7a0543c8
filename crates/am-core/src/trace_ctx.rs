//! The trace context of a machine's current span, shared between exporters through the
//! machine: a tracing exporter (am-otel) sets it, a log exporter (am-loki) reads it, and
//! neither depends on the other.

use std::fmt;

/// W3C trace context IDs of the span a machine is currently in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceContext {
    /// 16-byte trace ID.
    pub trace_id: [u8; 16],
    /// 8-byte span ID.
    pub span_id: [u8; 8],
}

fn hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

/// Lower-case hex of a trace ID (32 chars).
#[derive(Debug)]
pub struct TraceIdHex<'a>(pub &'a [u8; 16]);
impl fmt::Display for TraceIdHex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(self.0, f)
    }
}

/// Lower-case hex of a span ID (16 chars).
#[derive(Debug)]
pub struct SpanIdHex<'a>(pub &'a [u8; 8]);
impl fmt::Display for SpanIdHex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(self.0, f)
    }
}

impl TraceContext {
    /// The trace ID as 32 hex characters.
    pub fn trace_id_hex(&self) -> String {
        TraceIdHex(&self.trace_id).to_string()
    }
    /// The span ID as 16 hex characters.
    pub fn span_id_hex(&self) -> String {
        SpanIdHex(&self.span_id).to_string()
    }
}
