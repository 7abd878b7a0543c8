//! Environment variables read by `am-prom`, each listed in `docs/env.md`. Precedence:
//! builder call > env variable > default. `AM_SERVICE`, `AM_HOSTNAME`, `AM_RPC_DBG` and
//! `AM_TEST_RUNNER` are am-core's ([`am_core::env`]).
//!
//! [`PromTracer::builder`](crate::PromTracer::builder) reads every setting below except the
//! two that start something ([`AM_PROM_ADDR`], [`AM_PROM_PUSH_URL`]); those are read by
//! [`bind_env`](crate::bind_env) and [`PromTracerBuilder::from_env`](crate::PromTracerBuilder::from_env).

use std::net::SocketAddr;
use std::time::Duration;

use am_core::env::{switch_value, value};

use crate::error::Error;

/// Address of the scrape endpoint (`GET /metrics`). Off unless set. `1` (or `true`/`yes`/
/// `on`) means [`DEFAULT_ADDR`], `:PORT` means `127.0.0.1:PORT`, `0`/`false`/`off`/`no`
/// mean off, anything else is `host:port`.
pub const AM_PROM_ADDR: &str = "AM_PROM_ADDR";
/// Pushgateway base URL, e.g. `http://localhost:9091` (`http://` is prepended when there is
/// no scheme). Pushing also needs `AM_SERVICE` (the job).
pub const AM_PROM_PUSH_URL: &str = "AM_PROM_PUSH_URL";
/// Push interval: `15s`, `500ms`, `2m`, or plain seconds. Default 15 s.
pub const AM_PROM_PUSH_INTERVAL: &str = "AM_PROM_PUSH_INTERVAL";
/// Switch: also export the Go exporter's label-less `am_<metric>_<id>` gauges.
pub const AM_PROM_GO_COMPAT: &str = "AM_PROM_GO_COMPAT";
/// Comma-separated allow-list of states that get an `am_state_active` series. Default:
/// every state that is not Multi (up to the cap).
pub const AM_PROM_STATES: &str = "AM_PROM_STATES";
/// Cap of `am_state_active` series per machine. Default 64.
pub const AM_PROM_MAX_STATES: &str = "AM_PROM_MAX_STATES";
/// Cap of machines one tracer exports. Default 1,000.
pub const AM_PROM_MAX_MACHINES: &str = "AM_PROM_MAX_MACHINES";

/// Time one transition in this many (rounded up to a power of two; `1`: every one).
/// Default 8.
pub const AM_PROM_TIMING_EVERY: &str = "AM_PROM_TIMING_EVERY";

/// The scrape address `AM_PROM_ADDR=1` means.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

/// The scrape address a value means; `None` when it switches the endpoint off.
pub fn parse_addr(v: &str) -> Result<Option<SocketAddr>, Error> {
    let v = v.trim();
    if !switch_value(v) {
        return Ok(None);
    }
    let full = if ["1", "true", "yes", "on"].iter().any(|s| v.eq_ignore_ascii_case(s)) {
        DEFAULT_ADDR.to_string()
    } else if v.starts_with(':') {
        format!("127.0.0.1{v}")
    } else {
        v.to_string()
    };
    use std::net::ToSocketAddrs;
    let invalid = |reason: String| Error::Invalid { name: AM_PROM_ADDR, value: v.into(), reason };
    full.to_socket_addrs()
        .map_err(|e| invalid(e.to_string()))?
        .next()
        .map(Some)
        .ok_or_else(|| invalid("resolves to no address".into()))
}

/// A duration: `250ms`, `15s`, `2m`, `1h`, or plain (fractional) seconds.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(am_prom::env::parse_duration("500ms"), Some(Duration::from_millis(500)));
/// assert_eq!(am_prom::env::parse_duration("2m"), Some(Duration::from_secs(120)));
/// assert_eq!(am_prom::env::parse_duration("1.5"), Some(Duration::from_millis(1500)));
/// assert_eq!(am_prom::env::parse_duration("soon"), None);
/// ```
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let split = v.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Reads a variable through a parser; an unparsable value is an error.
pub(crate) fn parsed<T>(name: &'static str, parse: impl FnOnce(&str) -> Option<T>) -> Result<Option<T>, Error> {
    match value(name) {
        None => Ok(None),
        Some(v) => parse(&v).map(Some).ok_or_else(|| Error::Invalid { name, value: v, reason: "cannot parse".into() }),
    }
}

/// The host name for the `instance` grouping label: `AM_HOSTNAME`, else the system's.
pub(crate) fn hostname() -> String {
    value(am_core::env::AM_HOSTNAME)
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_addr("1").unwrap(), Some(DEFAULT_ADDR.parse().unwrap()));
        assert_eq!(parse_addr(":9999").unwrap(), Some("127.0.0.1:9999".parse().unwrap()));
        assert_eq!(parse_addr("0.0.0.0:80").unwrap(), Some("0.0.0.0:80".parse().unwrap()));
        assert_eq!(parse_addr("off").unwrap(), None);
        assert!(parse_addr("nohost").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s"), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("0"), None);
        assert_eq!(parse_duration("3x"), None);
    }
}
