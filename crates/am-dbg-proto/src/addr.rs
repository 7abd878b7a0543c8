//! The debugger address: default, `AM_DBG_ADDR` and its shortcuts.

use crate::error::Error;

/// `host:port` of a debugger server to stream to. `1` means [`DEFAULT_ADDR`]; `:PORT`
/// means `127.0.0.1:PORT`; `0`, `false`, `off`, `no` or empty mean off. Ignored when
/// `AM_TEST_RUNNER` is on.
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
/// let e = expand_addr("dbg.local").unwrap_err().to_string();
/// assert!(e.starts_with("AM_DBG_ADDR=\"dbg.local\""), "{e}");
/// ```
pub fn expand_addr(value: &str) -> Result<Option<String>, Error> {
    am_core::env::parse_host_port(value, DEFAULT_ADDR)
        .map_err(|reason| Error::Env(am_core::env::EnvError::new(AM_DBG_ADDR, value, reason)))
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
    match am_core::env::parse_host_port(addr, DEFAULT_ADDR) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Error::Address { addr: addr.to_string(), reason: "expected host:port, not a switch".into() }),
        Err(reason) => Err(Error::Address { addr: addr.to_string(), reason }),
    }
}
