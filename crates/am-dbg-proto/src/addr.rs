//! The debugger address: default, `AM_DBG_ADDR` and its shortcuts.

use crate::error::Error;

/// `host:port` of a debugger server to stream to. `1` means [`DEFAULT_ADDR`]; `:PORT`
/// means `127.0.0.1:PORT`; `0`, `false`, `off`, `no` or empty mean off. Ignored when
/// `AM_TEST_RUNNER` is on. A `gob://` prefix (`gob://1`, `gob://host:port`) picks the Go
/// `am-dbg` protocol (feature `go`) instead of the native one; `ws://host:port[/path]` the
/// same over WebSocket (`ws://1` is `ws://127.0.0.1:6832/dbg.ws`, the Go server's HTTP
/// port).
pub const AM_DBG_ADDR: &str = "AM_DBG_ADDR";

/// The default server address (Go: `localhost:6831`; loopback IPv4 here, as Go dials IPv4).
pub const DEFAULT_ADDR: &str = "127.0.0.1:6831";

/// Expands an `AM_DBG_ADDR` value by the rule of every address variable
/// ([`am_core::env::parse_host_port`]): `None` when it means "off", an error (naming
/// `AM_DBG_ADDR`) when it is no address.
///
/// ```
/// use am_dbg_proto::expand_addr;
/// assert_eq!(expand_addr("1").unwrap().as_deref(), Some("127.0.0.1:6831"));
/// assert_eq!(expand_addr("on").unwrap().as_deref(), Some("127.0.0.1:6831"));
/// assert_eq!(expand_addr(":7000").unwrap().as_deref(), Some("127.0.0.1:7000"));
/// assert_eq!(expand_addr("dbg.local:6831").unwrap().as_deref(), Some("dbg.local:6831"));
/// assert_eq!(expand_addr("off").unwrap(), None);
/// assert_eq!(expand_addr("gob://1").unwrap().as_deref(), Some("gob://127.0.0.1:6831"));
/// assert_eq!(expand_addr("ws://1").unwrap().as_deref(), Some("ws://127.0.0.1:6832/dbg.ws"));
/// assert_eq!(expand_addr("ws://dbg:7000/x").unwrap().as_deref(), Some("ws://dbg:7000/x"));
/// let e = expand_addr("dbg.local").unwrap_err().to_string();
/// assert!(e.starts_with("AM_DBG_ADDR=\"dbg.local\""), "{e}");
/// let e = expand_addr("ftp://x:1").unwrap_err().to_string();
/// assert!(e.contains("unknown scheme \"ftp\""), "{e}");
/// ```
pub fn expand_addr(value: &str) -> Result<Option<String>, Error> {
    let env_err = |reason: String| Error::Env(am_core::env::EnvError::new(AM_DBG_ADDR, value, reason));
    let trimmed = value.trim();
    if let Some(rest) = trimmed.strip_prefix(WS_SCHEME) {
        if !cfg!(feature = "go") {
            return Err(env_err("the Go protocol (ws://) needs am-dbg-proto's feature `go`".into()));
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { DEFAULT_WS_PATH } else { path };
        return Ok(am_core::env::parse_host_port(authority, DEFAULT_WS_ADDR)
            .map_err(env_err)?
            .map(|a| format!("{WS_SCHEME}{a}{path}")));
    }
    let (scheme, rest) = match trimmed.strip_prefix(GOB_SCHEME) {
        Some(rest) => (GOB_SCHEME, rest),
        None => ("", value),
    };
    if scheme.is_empty()
        && let Some((other, _)) = trimmed.split_once("://")
    {
        return Err(env_err(format!(
            "unknown scheme {other:?}: use host:port (native), gob://host:port or ws://host:port/path (the Go am-dbg)"
        )));
    }
    if !scheme.is_empty() && !cfg!(feature = "go") {
        return Err(env_err("the Go protocol (gob://) needs am-dbg-proto's feature `go`".into()));
    }
    Ok(am_core::env::parse_host_port(rest, DEFAULT_ADDR).map_err(env_err)?.map(|a| format!("{scheme}{a}")))
}

/// The address prefix that picks the Go protocol over WebSocket.
pub const WS_SCHEME: &str = "ws://";
/// The Go `am-dbg`'s WebSocket address (its HTTP port, the TCP port + 1).
const DEFAULT_WS_ADDR: &str = "127.0.0.1:6832";
/// The Go `am-dbg`'s WebSocket path.
const DEFAULT_WS_PATH: &str = "/dbg.ws";

/// The address prefix that picks the Go `am-dbg` protocol.
pub const GOB_SCHEME: &str = "gob://";

/// Which protocol a tracer speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// tarpc (this crate's own protocol).
    Native,
    /// net/rpc with gob, as the Go `am-dbg` (feature `go`).
    Go,
    /// The same over WebSocket (feature `go`); the address keeps its path.
    GoWs,
}

/// The transport an address picks, and the address without its scheme.
pub(crate) fn split(addr: &str) -> (Transport, &str) {
    if let Some(rest) = addr.strip_prefix(WS_SCHEME) {
        return (Transport::GoWs, rest);
    }
    match addr.strip_prefix(GOB_SCHEME) {
        Some(rest) => (Transport::Go, rest),
        None => (Transport::Native, addr),
    }
}

/// The address from the environment: `AM_DBG_ADDR` expanded, `None` when unset or off. Does
/// not look at `AM_TEST_RUNNER` (the shared gate of [`bind_env`](crate::bind_env) does).
pub fn env_addr() -> Result<Option<String>, Error> {
    match am_core::env::value(AM_DBG_ADDR) {
        Some(v) => expand_addr(&v),
        None => Ok(None),
    }
}

/// Checks that an address has the `host:port` form with a numeric port.
pub(crate) fn validate(addr: &str) -> Result<(), Error> {
    let (transport, addr) = split(addr);
    if transport != Transport::Native && !cfg!(feature = "go") {
        let reason = "the Go protocol (gob://, ws://) needs am-dbg-proto's feature `go`".into();
        return Err(Error::Address { addr: addr.to_string(), reason });
    }
    // ws://host:port/path: the authority is checked, the path kept
    let addr = if transport == Transport::GoWs { addr.split('/').next().unwrap_or(addr) } else { addr };
    match am_core::env::parse_host_port(addr, DEFAULT_ADDR) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Error::Address { addr: addr.to_string(), reason: "expected host:port, not a switch".into() }),
        Err(reason) => Err(Error::Address { addr: addr.to_string(), reason }),
    }
}
