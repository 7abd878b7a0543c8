//! Environment variables read by `am-otel`. Each is listed in the workspace's `docs/env.md`.
//! Builder calls win over these, which win over the defaults.
//!
//! Switches follow [`am_core::env::is_on`]: set and non-empty enables, except `0`, `false`,
//! `off` and `no`.

/// Switch: [`bind_env`](crate::bind_env) binds the tracer to root machines (needs
/// `AM_SERVICE` or `OTEL_SERVICE_NAME`).
pub const AM_OTEL_TRACE: &str = "AM_OTEL_TRACE";
/// Switch: one span per transition (otherwise states only).
pub const AM_OTEL_TRACE_TXS: &str = "AM_OTEL_TRACE_TXS";
/// Switch: the machine's mapped args as `args.<name>` attributes of transition spans.
pub const AM_OTEL_TRACE_ARGS: &str = "AM_OTEL_TRACE_ARGS";
/// Switch: no transition spans for auto transitions (their state changes are still traced).
pub const AM_OTEL_TRACE_NOAUTO: &str = "AM_OTEL_TRACE_NOAUTO";
/// Switch: no transition spans for canceled transitions (new name; Go traces them).
pub const AM_OTEL_TRACE_SKIP_CANCELED: &str = "AM_OTEL_TRACE_SKIP_CANCELED";
/// Switch: no transition spans for accepted transitions that changed no state (new name).
pub const AM_OTEL_TRACE_SKIP_EMPTY: &str = "AM_OTEL_TRACE_SKIP_EMPTY";
/// Switch: trace `Healthcheck` / `Heartbeat` transitions and states (new name; Go option
/// `IncludeHealth`).
pub const AM_OTEL_TRACE_HEALTH: &str = "AM_OTEL_TRACE_HEALTH";
/// Comma list of `State` or `machId:State` to trace; empty means all.
pub const AM_OTEL_TRACE_ALLOW_STATES: &str = "AM_OTEL_TRACE_ALLOW_STATES";
/// One regex matched against `machId:State`, deciding states the allow list does not name.
pub const AM_OTEL_TRACE_ALLOW_STATES_RE: &str = "AM_OTEL_TRACE_ALLOW_STATES_RE";
/// Comma list of `State` or `machId:State` never to trace; skip wins over allow.
pub const AM_OTEL_TRACE_SKIP_STATES: &str = "AM_OTEL_TRACE_SKIP_STATES";
/// One regex against `machId:State`, also matched against the bare machine ID to skip
/// whole machines; when set, the allow rules are not consulted (Go semantics).
pub const AM_OTEL_TRACE_SKIP_STATES_RE: &str = "AM_OTEL_TRACE_SKIP_STATES_RE";
/// Trace ID (32 hex) of a parent trace to join, with [`AM_OTEL_SPAN_ID`].
pub const AM_OTEL_TRACE_ID: &str = "AM_OTEL_TRACE_ID";
/// Span ID (16 hex) of the parent span to join, with [`AM_OTEL_TRACE_ID`].
pub const AM_OTEL_SPAN_ID: &str = "AM_OTEL_SPAN_ID";
/// W3C `traceparent` value (`00-<trace>-<span>-<flags>`) of a parent span to join; read
/// when the `AM_OTEL_*_ID` pair is absent or invalid.
pub const TRACEPARENT: &str = "TRACEPARENT";
/// Switch: [`bind_env`](crate::bind_env) also exports the machine's log entries as OTel
/// log records (new name).
pub const AM_OTEL_LOG: &str = "AM_OTEL_LOG";
/// Switch (feature `metrics`): [`bind_env`](crate::bind_env) also exports machine metrics
/// over OTLP (new name).
pub const AM_OTEL_METRICS: &str = "AM_OTEL_METRICS";

/// Standard OTel service name, used when `AM_SERVICE` is unset (am-core's, see
/// [`am_core::env::service`]).
pub use am_core::env::OTEL_SERVICE_NAME;
/// Standard OTLP endpoint (for HTTP a base URL to which `/v1/<signal>` is appended).
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Standard OTLP endpoint of traces only, used as is.
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// Standard OTLP endpoint of logs only, used as is.
pub const OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT";
/// Standard OTLP endpoint of metrics only, used as is.
pub const OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
/// Standard OTLP export timeout, in milliseconds (SDK default 10,000).
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// Standard OTLP protocol: `grpc`, `http/protobuf` or `http/json` (each needs its cargo
/// feature: `grpc`, `http`, `http-json`).
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// Standard OTLP headers, `key=value` pairs separated by commas (values URL-decoded), sent
/// with every export: auth for hosted collectors (`authorization=Bearer%20…`). Read by the
/// OpenTelemetry SDK, as are the per-signal `OTEL_EXPORTER_OTLP_{TRACES,LOGS,METRICS}_HEADERS`.
pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// Standard OTLP TLS: a CA certificate file (PEM) to trust besides the system's roots.
/// Per signal: `OTEL_EXPORTER_OTLP_{TRACES,LOGS,METRICS}_CERTIFICATE`. Needs the `tls`
/// feature, as does an `https://` endpoint.
pub const OTEL_EXPORTER_OTLP_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
/// Standard OTLP mutual TLS: the client certificate file (PEM), with
/// [`OTEL_EXPORTER_OTLP_CLIENT_KEY`]; per signal as above.
pub const OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
/// Standard OTLP mutual TLS: the client certificate's key file (PEM); per signal as above.
pub const OTEL_EXPORTER_OTLP_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_CLIENT_KEY";

/// The TLS variables of one signal (`traces`, `logs`, `metrics`), then the generic ones.
pub(crate) fn tls_vars(signal: &str) -> [am_core::exporter::TlsVars; 2] {
    use am_core::exporter::TlsVars;
    let per_signal = match signal {
        "traces" => TlsVars {
            certificate: "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            client_certificate: "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            client_key: "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
        },
        "logs" => TlsVars {
            certificate: "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
            client_certificate: "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE",
            client_key: "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY",
        },
        _ => TlsVars {
            certificate: "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
            client_certificate: "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE",
            client_key: "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
        },
    };
    let generic = TlsVars {
        certificate: OTEL_EXPORTER_OTLP_CERTIFICATE,
        client_certificate: OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
        client_key: OTEL_EXPORTER_OTLP_CLIENT_KEY,
    };
    [per_signal, generic]
}

/// The endpoint variable of one signal, used as is (HTTP: the full URL).
#[cfg_attr(not(any(feature = "grpc", feature = "http", feature = "http-json")), allow(dead_code))]
pub(crate) fn signal_endpoint_var(signal: &str) -> &'static str {
    match signal {
        "traces" => OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
        "logs" => OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
        _ => OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    }
}

/// An OTLP endpoint as the transports take it: an absolute `http://` or `https://` URL
/// with a host (the SDK parses it as a URI and fails every export otherwise, so a value
/// without a scheme is refused here, where the variable can be named).
///
/// ```
/// use am_otel::env::parse_endpoint;
/// assert_eq!(parse_endpoint("https://otel.example.com:4317/").unwrap(), "https://otel.example.com:4317");
/// assert!(parse_endpoint("not-a-url").unwrap_err().contains("http://"));
/// assert!(parse_endpoint("localhost:4317").is_err());
/// assert!(parse_endpoint("grpc://x:4317").is_err());
/// ```
pub fn parse_endpoint(v: &str) -> Result<String, String> {
    let t = v.trim();
    let scheme_ok = ["http://", "https://"].iter().any(|s| t.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s)));
    if !scheme_ok {
        return Err("expected an absolute URL starting with http:// or https://, such as http://localhost:4317 \
                    (gRPC) or http://localhost:4318 (HTTP)"
            .into());
    }
    am_core::env::parse_url(t, None)?.ok_or_else(|| "expected a URL, not a switch word".into())
}

/// Standard batch span processor delay (ms); Go-parity default 100 when unset.
pub const OTEL_BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
/// Standard batch size; Go-parity default 50 when unset.
pub const OTEL_BSP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
/// Standard queue size (spans); SDK default 2,048.
pub const OTEL_BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";

/// Checks every `AM_OTEL_*` and `OTEL_*` value am-otel or the OpenTelemetry SDK reads, so
/// a bad one is an error naming it at bind time, not a silent default (the SDK falls back
/// on its own) or a stream of failed exports.
pub fn check() -> Result<(), crate::Error> {
    use am_core::env::{EnvError, parse, parse_count, parse_hex_id, value};
    for name in [
        OTEL_EXPORTER_OTLP_ENDPOINT,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    ] {
        parse(name, |v| {
            let url = parse_endpoint(v)?;
            am_core::exporter::TlsSettings::default()
                .check_available(Some(&url), "an https:// endpoint")
                .map_err(|e| e.to_string())
        })?;
    }
    for signal in ["traces", "logs", "metrics"] {
        am_core::exporter::TlsSettings::from_env(&tls_vars(signal)).map_err(crate::Error::Tls)?;
    }
    parse(OTEL_EXPORTER_OTLP_PROTOCOL, |v| crate::Protocol::parse(v).map_err(|e| e.to_string()))?;
    parse(OTEL_EXPORTER_OTLP_TIMEOUT, |v| parse_count(v, 1))?;
    parse(OTEL_BSP_SCHEDULE_DELAY, |v| parse_count(v, 0))?;
    parse(OTEL_BSP_MAX_EXPORT_BATCH_SIZE, |v| parse_count(v, 1))?;
    parse(OTEL_BSP_MAX_QUEUE_SIZE, |v| parse_count(v, 1))?;
    let trace = parse(AM_OTEL_TRACE_ID, |v| parse_hex_id(v, 16))?;
    let span = parse(AM_OTEL_SPAN_ID, |v| parse_hex_id(v, 8))?;
    match (trace, span) {
        (Some(_), None) => {
            let v = value(AM_OTEL_TRACE_ID).unwrap_or_default();
            return Err(
                EnvError::new(AM_OTEL_TRACE_ID, &v, format!("joining a trace also needs {AM_OTEL_SPAN_ID}")).into()
            );
        }
        (None, Some(_)) => {
            let v = value(AM_OTEL_SPAN_ID).unwrap_or_default();
            return Err(
                EnvError::new(AM_OTEL_SPAN_ID, &v, format!("joining a trace also needs {AM_OTEL_TRACE_ID}")).into()
            );
        }
        _ => {}
    }
    parse(TRACEPARENT, |v| {
        crate::parse_traceparent(v).map(drop).ok_or_else(|| "expected 00-<32 hex>-<16 hex>-<2 hex flags>".into())
    })?;
    crate::StateFilter::from_env()?;
    Ok(())
}
