//! The debugger address, parsed once: default, `AM_DBG_ADDR` and its shortcuts, the
//! transport it picks.

use std::fmt;

use crate::error::Error;

/// `host:port` of a debugger server to stream to. `1` means [`DEFAULT_ADDR`]; `:PORT`
/// means `127.0.0.1:PORT`; `0`, `false`, `off`, `no` or empty mean off. Ignored when
/// `AM_TEST_RUNNER` is on. Without a scheme the tracer speaks the native protocol and, with
/// the feature `go`, switches to the Go `am-dbg`'s own protocol (logged once) when the peer
/// turns out to speak only that, so `AM_DBG_ADDR=1` works against either debugger. A
/// `gob://` prefix (`gob://1`, `gob://host:port`) picks the Go protocol from the start;
/// `ws://host:port[/path]` the same over WebSocket (`ws://1` is `ws://127.0.0.1:6832/dbg.ws`,
/// the Go server's HTTP port).
pub const AM_DBG_ADDR: &str = "AM_DBG_ADDR";

/// The default server address (Go: `localhost:6831`; loopback IPv4 here, as Go dials IPv4).
pub const DEFAULT_ADDR: &str = "127.0.0.1:6831";

/// The address prefix that picks the Go protocol over WebSocket.
pub const WS_SCHEME: &str = "ws://";
/// The address prefix that picks the Go `am-dbg` protocol.
pub const GOB_SCHEME: &str = "gob://";
/// The Go `am-dbg`'s WebSocket address (its HTTP port, the TCP port + 1).
const DEFAULT_WS_ADDR: &str = "127.0.0.1:6832";
/// The Go `am-dbg`'s WebSocket path (also where `am-dbg record` and the TUI accept
/// WebSocket clients).
pub(crate) const DEFAULT_WS_PATH: &str = "/dbg.ws";

/// Which protocol an address picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// `host:port`: this crate's own protocol (tarpc); with the feature `go`, the Go protocol
    /// once the peer turns out to speak only that.
    Native,
    /// `gob://host:port`: net/rpc with gob, as the Go `am-dbg` (feature `go`).
    Gob,
    /// `ws://host:port/path`: the same over WebSocket (feature `go`).
    Ws,
}

/// A debugger address, parsed once ([`DbgAddr::parse`]): the transport, `host:port`, and
/// the path (WebSocket only). [`Display`](fmt::Display) gives the canonical form, which
/// parses to the same address.
///
/// ```
/// use am_dbg_proto::{DbgAddr, TransportKind};
/// let a = DbgAddr::parse("ws://1").unwrap().unwrap();
/// assert_eq!((a.kind(), a.authority(), a.path()), (TransportKind::Ws, "127.0.0.1:6832", "/dbg.ws"));
/// assert_eq!(a.to_string(), "ws://127.0.0.1:6832/dbg.ws");
/// assert_eq!(DbgAddr::parse("gob://:7000").unwrap().unwrap().to_string(), "gob://127.0.0.1:7000");
/// assert_eq!(DbgAddr::parse("1").unwrap().unwrap().kind(), TransportKind::Native);
/// assert!(DbgAddr::parse("off").unwrap().is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DbgAddr {
    kind: TransportKind,
    authority: String,
    path: String,
}

impl DbgAddr {
    /// Parses an address by the rule of every address variable
    /// ([`am_core::env::parse_host_port`]) plus the schemes: `None` when the value means
    /// "off", an error (naming `AM_DBG_ADDR`) when it is no address or needs a feature that
    /// is off.
    pub fn parse(value: &str) -> Result<Option<DbgAddr>, Error> {
        let env_err = |reason: String| Error::Env(am_core::env::EnvError::new(AM_DBG_ADDR, value, reason));
        let trimmed = value.trim();
        let (kind, rest) = if let Some(rest) = trimmed.strip_prefix(WS_SCHEME) {
            (TransportKind::Ws, rest)
        } else if let Some(rest) = trimmed.strip_prefix(GOB_SCHEME) {
            (TransportKind::Gob, rest)
        } else if let Some((other, _)) = trimmed.split_once("://") {
            return Err(env_err(format!(
                "unknown scheme {other:?}: use host:port (native), gob://host:port or ws://host:port/path (the Go am-dbg)"
            )));
        } else {
            (TransportKind::Native, value)
        };
        if kind != TransportKind::Native && !cfg!(feature = "go") {
            let scheme = if kind == TransportKind::Ws { WS_SCHEME } else { GOB_SCHEME };
            return Err(env_err(format!("the Go protocol ({scheme}) needs am-dbg-proto's feature `go`")));
        }
        let (authority, path, default) = match kind {
            TransportKind::Ws => {
                let (a, p) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                (a, if p.is_empty() { DEFAULT_WS_PATH } else { p }, DEFAULT_WS_ADDR)
            }
            _ => (rest, "", DEFAULT_ADDR),
        };
        Ok(am_core::env::parse_host_port(authority, default).map_err(env_err)?.map(|authority| DbgAddr {
            kind,
            authority,
            path: path.to_string(),
        }))
    }

    /// Like [`parse`](Self::parse), for a value that must be an address (a builder's, or a
    /// command line's): "off" is an error too.
    pub fn parse_required(value: &str) -> Result<DbgAddr, Error> {
        let bad = |reason: String| Error::Address { addr: value.to_string(), reason };
        match Self::parse(value) {
            Ok(Some(a)) => Ok(a),
            Ok(None) => Err(bad("expected host:port, not a switch".into())),
            Err(Error::Env(e)) => Err(bad(e.reason)),
            Err(e) => Err(e),
        }
    }

    /// The transport the address picks.
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// `host:port`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The WebSocket path (`/dbg.ws` unless given); empty for other transports.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether it is the Go `am-dbg`'s protocol from the start (`gob://`, `ws://`).
    pub fn is_go(&self) -> bool {
        self.kind != TransportKind::Native
    }
}

impl fmt::Display for DbgAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TransportKind::Native => write!(f, "{}", self.authority),
            TransportKind::Gob => write!(f, "{GOB_SCHEME}{}", self.authority),
            TransportKind::Ws => write!(f, "{WS_SCHEME}{}{}", self.authority, self.path),
        }
    }
}

/// Expands an `AM_DBG_ADDR` value ([`DbgAddr::parse`], in its canonical form): `None` when
/// it means "off", an error (naming `AM_DBG_ADDR`) when it is no address.
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
    Ok(DbgAddr::parse(value)?.map(|a| a.to_string()))
}

/// The address from the environment: `AM_DBG_ADDR` expanded, `None` when unset or off. Does
/// not look at `AM_TEST_RUNNER` (the shared gate of [`bind_env`](crate::bind_env) does).
pub fn env_addr() -> Result<Option<String>, Error> {
    Ok(env_dbg_addr()?.map(|a| a.to_string()))
}

/// [`env_addr`], parsed.
pub(crate) fn env_dbg_addr() -> Result<Option<DbgAddr>, Error> {
    match am_core::env::value(AM_DBG_ADDR) {
        Some(v) => DbgAddr::parse(&v),
        None => Ok(None),
    }
}
