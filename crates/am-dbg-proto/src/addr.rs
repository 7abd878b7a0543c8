//! The debugger address: default, `AM_DBG_ADDR` and its shortcuts.

use crate::error::Error;

/// `host:port` of a debugger server to stream to. `1` means [`DEFAULT_ADDR`]; `:PORT`
/// means `127.0.0.1:PORT`; `0`, `false`, `off`, `no` or empty mean off. Ignored when
/// `AM_TEST_RUNNER` is on.
pub const AM_DBG_ADDR: &str = "AM_DBG_ADDR";

/// The default server address (Go: `localhost:6831`; loopback IPv4 here, as Go dials IPv4).
pub const DEFAULT_ADDR: &str = "127.0.0.1:6831";

/// Expands an `AM_DBG_ADDR` value: `None` when it means "off".
///
/// ```
/// use am_dbg_proto::expand_addr;
/// assert_eq!(expand_addr("1").as_deref(), Some("127.0.0.1:6831"));
/// assert_eq!(expand_addr(":7000").as_deref(), Some("127.0.0.1:7000"));
/// assert_eq!(expand_addr("dbg.local:6831").as_deref(), Some("dbg.local:6831"));
/// assert_eq!(expand_addr("off"), None);
/// assert_eq!(expand_addr(""), None);
/// ```
pub fn expand_addr(value: &str) -> Option<String> {
    let v = value.trim();
    if !am_core::env::switch_value(v) {
        return None;
    }
    if v == "1" || v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes") {
        return Some(DEFAULT_ADDR.to_string());
    }
    if let Some(port) = v.strip_prefix(':') {
        return Some(format!("127.0.0.1:{port}"));
    }
    Some(v.to_string())
}

/// The address from the environment, when the debugger is enabled there: `AM_TEST_RUNNER`
/// off and `AM_DBG_ADDR` set to something that is not "off".
pub fn env_addr() -> Option<String> {
    if am_core::env::value(am_core::env::AM_TEST_RUNNER).is_some() {
        return None;
    }
    am_core::env::value(AM_DBG_ADDR).and_then(|v| expand_addr(&v))
}

/// Checks that an address has the `host:port` form with a numeric port.
pub(crate) fn validate(addr: &str) -> Result<(), Error> {
    let bad = |reason: &str| Error::Address { addr: addr.to_string(), reason: reason.to_string() };
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| bad("expected host:port"))?;
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    port.parse::<u16>().map_err(|_| bad("port is not a number in 0..=65535"))?;
    Ok(())
}
