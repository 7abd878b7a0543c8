//! Environment variables read by `am-prom`, each listed in `docs/env.md`. Precedence:
//! builder call > env variable > default. `AM_SERVICE`, `AM_HOSTNAME`, `AM_RPC_DBG` and
//! `AM_TEST_RUNNER` are am-core's ([`am_core::env`]).
//!
//! [`PromTracer::builder`](crate::PromTracer::builder) reads every setting below except the
//! two that start something ([`AM_PROM_ADDR`], [`AM_PROM_PUSH_URL`]); those are read by
//! [`bind_env`](crate::bind_env) and [`PromTracerBuilder::from_env`](crate::PromTracerBuilder::from_env).

use std::net::SocketAddr;

use am_core::env::{EnvError, parse, parse_count, parse_duration, parse_host_port, parse_url, value};

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
/// A CA certificate file (PEM) the pusher trusts besides the system's roots. Default:
/// `AM_TLS_CERTIFICATE`. Needs the `tls` feature.
pub const AM_PROM_PUSH_CERTIFICATE: &str = "AM_PROM_PUSH_CERTIFICATE";
/// A client certificate file (PEM) the pusher presents, with
/// [`AM_PROM_PUSH_CLIENT_KEY`]. Default: `AM_TLS_CLIENT_CERTIFICATE`.
pub const AM_PROM_PUSH_CLIENT_CERTIFICATE: &str = "AM_PROM_PUSH_CLIENT_CERTIFICATE";
/// The client certificate's key file (PEM). Default: `AM_TLS_CLIENT_KEY`.
pub const AM_PROM_PUSH_CLIENT_KEY: &str = "AM_PROM_PUSH_CLIENT_KEY";

/// The pusher's TLS variables, then the shared `AM_TLS_*` ones.
pub(crate) const TLS_VARS: [am_core::exporter::TlsVars; 2] = [
    am_core::exporter::TlsVars {
        certificate: AM_PROM_PUSH_CERTIFICATE,
        client_certificate: AM_PROM_PUSH_CLIENT_CERTIFICATE,
        client_key: AM_PROM_PUSH_CLIENT_KEY,
    },
    am_core::exporter::SHARED_VARS,
];
/// Switch: also export the Go exporter's label-less `am_<metric>_<id>` gauges, and push as
/// Go does (job only, the Go gauges alone).
pub const AM_PROM_GO_COMPAT: &str = "AM_PROM_GO_COMPAT";
/// The `instance` grouping key of pushes: a name, `1`/`on` (the host name: `AM_HOSTNAME`,
/// else the system's) or `0`/`off` (group by job only). Default: the host name, or off in
/// Go-compatible mode (Go groups by job only).
pub const AM_PROM_PUSH_INSTANCE: &str = "AM_PROM_PUSH_INSTANCE";
/// Go-compatible mode: the interval the Go gauges cover, synced once per interval for
/// every reader (`15s`, `1m`). Default: each push (the push interval), else 15 s.
pub const AM_PROM_GO_INTERVAL: &str = "AM_PROM_GO_INTERVAL";
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

/// Liveness: a machine with `Heartbeat`/`Healthcheck` must tick one within this duration
/// (`30s`, `2m`; default 60 s).
pub const AM_HEALTH_HEARTBEAT: &str = "AM_HEALTH_HEARTBEAT";
/// Liveness: a non-empty queue must move within this duration (default 60 s).
pub const AM_HEALTH_STUCK: &str = "AM_HEALTH_STUCK";
/// Shutdown: how long `/readyz` answers 503 before the exporters flush (`5s`; default 0),
/// so that endpoints stop routing to the pod before anything closes. Pair it with the pod's
/// `terminationGracePeriodSeconds` (longer than this plus the flush deadline).
pub const AM_HEALTH_DRAIN: &str = "AM_HEALTH_DRAIN";

/// The scrape address `AM_PROM_ADDR=1` (or `on`, `true`, `yes`) means.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

/// The Pushgateway `AM_PROM_PUSH_URL=1` (or `on`, `true`, `yes`) means.
pub const DEFAULT_PUSH_URL: &str = "http://127.0.0.1:9091";

/// The scrape address an `AM_PROM_ADDR` value means (the rule of
/// [`am_core::env::parse_host_port`], then resolved); `None` when it switches the endpoint
/// off.
///
/// ```
/// use am_prom::env::parse_addr;
/// assert_eq!(parse_addr(":9999").unwrap(), Some("127.0.0.1:9999".parse().unwrap()));
/// assert_eq!(parse_addr("off").unwrap(), None);
/// let e = parse_addr("nohost").unwrap_err().to_string();
/// assert!(e.starts_with("AM_PROM_ADDR=\"nohost\""), "{e}");
/// ```
pub fn parse_addr(v: &str) -> Result<Option<SocketAddr>, Error> {
    resolve(AM_PROM_ADDR, v)
}

/// [`parse_addr`] for a value named `name` (a variable, or a builder setting).
pub(crate) fn resolve(name: &str, v: &str) -> Result<Option<SocketAddr>, Error> {
    let invalid = |reason: String| Error::Env(EnvError::new(name, v, reason));
    let Some(full) = parse_host_port(v, DEFAULT_ADDR).map_err(invalid)? else { return Ok(None) };
    use std::net::ToSocketAddrs;
    full.to_socket_addrs()
        .map_err(|e| invalid(e.to_string()))?
        .next()
        .map(Some)
        .ok_or_else(|| invalid("resolves to no address".into()))
}

/// The `AM_PROM_ADDR` and `AM_PROM_PUSH_URL` values, parsed: what [`bind_env`](crate::bind_env)
/// starts.
pub(crate) fn activation() -> Result<(Option<SocketAddr>, Option<String>), Error> {
    let listen = match value(AM_PROM_ADDR) {
        Some(v) => parse_addr(&v)?,
        None => None,
    };
    let push = parse(AM_PROM_PUSH_URL, |v| {
        let url = parse_url(v, Some(DEFAULT_PUSH_URL))?;
        if let Some(u) = &url {
            am_core::exporter::TlsSettings::default()
                .check_available(Some(u), "an https:// Pushgateway")
                .map_err(|e| e.to_string())?;
        }
        Ok(url)
    })?
    .flatten();
    Ok((listen, push))
}

/// Checks every `AM_PROM_*` value, whether or not the setting is used now (a shared tracer
/// may already run, a push interval may wait for a push URL): a bad value is an error at
/// bind time rather than a surprise later.
pub fn check() -> Result<(), Error> {
    activation()?;
    parse(AM_PROM_PUSH_INTERVAL, parse_duration)?;
    push_instance()?;
    parse(AM_PROM_GO_INTERVAL, parse_duration)?;
    parse(AM_PROM_TIMING_EVERY, |v| parse_count(v, 1))?;
    parse(AM_PROM_MAX_STATES, |v| parse_count(v, 0))?;
    parse(AM_PROM_STATES, am_core::env::parse_names)?;
    parse(AM_PROM_MAX_MACHINES, |v| parse_count(v, 1))?;
    parse(AM_HEALTH_HEARTBEAT, parse_duration)?;
    parse(AM_HEALTH_STUCK, parse_duration)?;
    parse(AM_HEALTH_DRAIN, parse_duration)?;
    am_core::exporter::TlsSettings::from_env(&TLS_VARS)?;
    Ok(())
}

/// [`AM_PROM_PUSH_INSTANCE`]: `None` unset, `Some(None)` off, `Some(Some(name))`.
pub(crate) fn push_instance() -> Result<Option<Option<String>>, Error> {
    Ok(parse(AM_PROM_PUSH_INSTANCE, |v| {
        Ok(if am_core::env::OFF_WORDS.iter().any(|w| v.eq_ignore_ascii_case(w)) {
            None
        } else if am_core::env::ON_WORDS.iter().any(|w| v.eq_ignore_ascii_case(w)) {
            Some(am_core::env::hostname())
        } else {
            Some(v.to_string())
        })
    })?)
}

/// A note when [`AM_PROM_STATES`] names states the machine does not have.
pub(crate) fn states_note(m: &am_core::Machine) -> Option<String> {
    am_core::env::unknown_states_note(AM_PROM_STATES, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_addr("1").unwrap(), Some(DEFAULT_ADDR.parse().unwrap()));
        assert_eq!(parse_addr("on").unwrap(), Some(DEFAULT_ADDR.parse().unwrap()));
        assert_eq!(parse_addr(":9999").unwrap(), Some("127.0.0.1:9999".parse().unwrap()));
        assert_eq!(parse_addr("0.0.0.0:80").unwrap(), Some("0.0.0.0:80".parse().unwrap()));
        assert_eq!(parse_addr("off").unwrap(), None);
        assert!(parse_addr("nohost").is_err());
    }
}
