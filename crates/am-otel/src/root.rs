//! Root trace sharing between processes: `AM_OTEL_TRACE_ID` / `AM_OTEL_SPAN_ID` (as Go) and
//! the W3C `TRACEPARENT` env carrier.
//!
//! Go writes the IDs into its own environment; a Rust 2024 crate cannot do that safely, so
//! [`child_env`] returns the variables to pass to `std::process::Command::envs` instead.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

use crate::env;

/// A remote parent span context from IDs in hex; `None` when either is invalid or zero.
///
/// ```
/// let sc = am_otel::remote_parent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7").unwrap();
/// assert!(sc.is_remote() && sc.is_sampled());
/// assert!(am_otel::remote_parent("xyz", "00f067aa0ba902b7").is_none());
/// ```
pub fn remote_parent(trace_id: &str, span_id: &str) -> Option<SpanContext> {
    let (t, s) = (trace_id.trim(), span_id.trim());
    if t.len() != 32 || s.len() != 16 {
        return None;
    }
    let trace = TraceId::from_hex(t).ok()?;
    let span = SpanId::from_hex(s).ok()?;
    let sc = SpanContext::new(trace, span, TraceFlags::SAMPLED, true, TraceState::default());
    sc.is_valid().then_some(sc)
}

/// A remote, sampled parent from a machine's trace context (e.g. the span of the request a
/// machine was made for, `MachineBuilder::trace_parent`).
pub(crate) fn remote_of(c: &am_core::TraceContext) -> SpanContext {
    let (t, s) = (TraceId::from_bytes(c.trace_id), SpanId::from_bytes(c.span_id));
    SpanContext::new(t, s, TraceFlags::SAMPLED, true, TraceState::default())
}

/// Parses a W3C `traceparent` value (`00-<32 hex>-<16 hex>-<2 hex flags>`).
///
/// ```
/// let sc = am_otel::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
/// assert!(am_otel::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7").is_none());
/// ```
pub fn parse_traceparent(v: &str) -> Option<SpanContext> {
    let mut parts = v.trim().split('-');
    let (ver, t, s, f) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if ver.len() != 2 || ver == "ff" || f.len() != 2 || (ver == "00" && parts.next().is_some()) {
        return None;
    }
    u8::from_str_radix(ver, 16).ok()?;
    let flags = u8::from_str_radix(f, 16).ok()?;
    let sc = remote_parent(t, s)?;
    Some(SpanContext::new(sc.trace_id(), sc.span_id(), TraceFlags::new(flags), true, TraceState::default()))
}

/// The parent to join from the process env: the `AM_OTEL_TRACE_ID` / `AM_OTEL_SPAN_ID`
/// pair when both are valid, else `TRACEPARENT`, else `None`.
pub fn env_parent() -> Option<SpanContext> {
    let pair = am_core::env::value(env::AM_OTEL_TRACE_ID)
        .zip(am_core::env::value(env::AM_OTEL_SPAN_ID))
        .and_then(|(t, s)| remote_parent(&t, &s));
    pair.or_else(|| am_core::env::value(env::TRACEPARENT).and_then(|v| parse_traceparent(&v)))
}

/// The variables a child process needs to join the trace of span `sc`: the Go pair
/// (`AM_OTEL_TRACE_ID`, `AM_OTEL_SPAN_ID`) and `TRACEPARENT`. Empty for an invalid context.
///
/// ```
/// let sc = am_otel::remote_parent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7").unwrap();
/// let vars = am_otel::child_env(&sc);
/// assert_eq!(vars[2], ("TRACEPARENT", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string()));
/// // std::process::Command::new("worker").envs(vars);
/// ```
pub fn child_env(sc: &SpanContext) -> Vec<(&'static str, String)> {
    if !sc.is_valid() {
        return Vec::new();
    }
    let (t, s) = (sc.trace_id().to_string(), sc.span_id().to_string());
    let tp = format!("00-{t}-{s}-{:02x}", sc.trace_flags().to_u8());
    vec![(env::AM_OTEL_TRACE_ID, t), (env::AM_OTEL_SPAN_ID, s), (env::TRACEPARENT, tp)]
}
