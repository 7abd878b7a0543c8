//! Value rules shared by every crate that reads `AM_*` (and the `OTEL_*` the exporters
//! honour): one error shape ([`EnvError`]) naming the variable, and one parser per kind of
//! value — switches, listen addresses, URLs, durations, counts, hex IDs, log levels. Each
//! parser takes the value alone (`Result<_, String>` with the reason), so it can be tested and
//! fuzzed without touching the process environment; [`parse`] reads a variable through one.

use std::fmt;
use std::time::Duration;

/// A variable whose value cannot be used: what a `bind_env` or `from_env` returns instead of
/// guessing. Secrets (names ending in `PASSWORD`, `TOKEN`, `KEY` or `SECRET`) never show their
/// value, and URLs never show credentials.
///
/// ```
/// let e = am_core::env::EnvError::new("AM_PROM_PUSH_INTERVAL", "soon", "expected a duration");
/// assert_eq!(e.to_string(), r#"AM_PROM_PUSH_INTERVAL="soon": expected a duration"#);
/// let e = am_core::env::EnvError::new("AM_LOKI_PASSWORD", "hunter2", "no AM_LOKI_USERNAME");
/// assert!(!e.to_string().contains("hunter2"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvError {
    /// The variable.
    pub name: String,
    /// Its value as read (redacted for secrets and credentials).
    pub value: String,
    /// Why it cannot be used, and what would be right.
    pub reason: String,
}

impl EnvError {
    /// An error about `name=value`.
    pub fn new(name: impl Into<String>, value: &str, reason: impl Into<String>) -> EnvError {
        let name = name.into();
        let value = if is_secret(&name) { "***".to_string() } else { redact_url(value) };
        EnvError { name, value, reason: reason.into() }
    }
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: {}", self.name, self.value, self.reason)
    }
}

impl std::error::Error for EnvError {}

fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["PASSWORD", "TOKEN", "KEY", "SECRET"].iter().any(|s| n.ends_with(s))
}

/// Reads `name` and parses its value with `f`: `Ok(None)` when unset or blank, an
/// [`EnvError`] naming the variable when `f` refuses the value.
///
/// ```
/// use am_core::env::{parse, parse_count};
/// // unset: nothing to parse
/// assert_eq!(parse("AM_SURELY_UNSET_VARIABLE", |v| parse_count(v, 1)), Ok(None));
/// ```
pub fn parse<T>(name: &str, f: impl FnOnce(&str) -> Result<T, String>) -> Result<Option<T>, EnvError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => f(v.trim()).map(Some).map_err(|reason| EnvError::new(name, &v, reason)),
        Ok(_) => Ok(None),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(EnvError::new(name, &v.to_string_lossy(), "not valid UTF-8")),
    }
}

/// Words that switch a variable off (any case): `0`, `false`, `off`, `no`.
pub const OFF_WORDS: [&str; 4] = ["0", "false", "off", "no"];
/// Words that switch an address variable on at its default address (any case): `1`, `true`,
/// `on`, `yes`.
pub const ON_WORDS: [&str; 4] = ["1", "true", "on", "yes"];

fn is_word(v: &str, words: &[&str]) -> bool {
    words.iter().any(|w| v.eq_ignore_ascii_case(w))
}

/// A listen or connect address variable (`AM_PROM_ADDR`, `AM_DBG_ADDR`): an
/// [off word](OFF_WORDS) → `None`; an [on word](ON_WORDS) → `default`; `:PORT` →
/// `127.0.0.1:PORT`; otherwise `host:port` (IPv6 as `[::1]:port`), with a port in 0..=65535.
/// No name resolution happens here.
///
/// ```
/// use am_core::env::parse_host_port;
/// let d = "127.0.0.1:9464";
/// assert_eq!(parse_host_port("on", d).unwrap().as_deref(), Some(d));
/// assert_eq!(parse_host_port(":7000", d).unwrap().as_deref(), Some("127.0.0.1:7000"));
/// assert_eq!(parse_host_port("[::1]:80", d).unwrap().as_deref(), Some("[::1]:80"));
/// assert_eq!(parse_host_port("off", d).unwrap(), None);
/// assert!(parse_host_port("localhost", d).is_err());
/// assert!(parse_host_port("host:99999", d).is_err());
/// assert!(parse_host_port("http://host:80", d).unwrap_err().contains("drop the scheme \"http\""));
/// ```
pub fn parse_host_port(v: &str, default: &str) -> Result<Option<String>, String> {
    let v = v.trim();
    if v.is_empty() || is_word(v, &OFF_WORDS) {
        return Ok(None);
    }
    if is_word(v, &ON_WORDS) {
        return Ok(Some(default.to_string()));
    }
    let full = if v.starts_with(':') { format!("127.0.0.1{v}") } else { v.to_string() };
    check_host_port(&full)?;
    Ok(Some(full))
}

/// `host:port` with a non-empty host (bracketed for IPv6) and a numeric port.
fn check_host_port(s: &str) -> Result<(), String> {
    if let Some((scheme, _)) = s.split_once("://") {
        return Err(format!("expected host:port, not a URL: drop the scheme {scheme:?} (e.g. 127.0.0.1:9464, :9464)"));
    }
    let (host, port) = s.rsplit_once(':').ok_or("expected host:port, :port, or on/off")?;
    if host.is_empty() {
        return Err("expected host:port: the host is empty".into());
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err("an IPv6 host goes in brackets, e.g. [::1]:port".into());
    }
    if host.chars().any(|c| c.is_whitespace() || c == '/' || c == '@') {
        return Err("expected host:port: the host has a space, '/' or '@'".into());
    }
    port.parse::<u16>().map_err(|_| format!("the port {port:?} is not a number in 0..=65535"))?;
    Ok(())
}

/// A base URL variable (`AM_LOKI_ADDR`, `AM_PROM_PUSH_URL`, `AM_GRAFANA_URL`,
/// `OTEL_EXPORTER_OTLP_ENDPOINT`): an [off word](OFF_WORDS) → `None`; an
/// [on word](ON_WORDS) → `default` (an error when there is none); without a scheme `http://`
/// is prepended. The scheme must be `http` or `https`, the host non-empty, the port numeric;
/// a trailing `/` is dropped. Credentials are kept (callers that refuse them say so).
///
/// ```
/// use am_core::env::parse_url;
/// assert_eq!(parse_url("localhost:3100", None).unwrap().as_deref(), Some("http://localhost:3100"));
/// assert_eq!(parse_url("on", Some("http://localhost:3100")).unwrap().as_deref(), Some("http://localhost:3100"));
/// assert_eq!(parse_url("https://x.example/p/", None).unwrap().as_deref(), Some("https://x.example/p"));
/// assert_eq!(parse_url("off", None).unwrap(), None);
/// assert!(parse_url("not a url", None).is_err());
/// assert!(parse_url("ftp://x", None).is_err());
/// assert!(parse_url("http://", None).is_err());
/// ```
pub fn parse_url(v: &str, default: Option<&str>) -> Result<Option<String>, String> {
    let v = v.trim();
    if v.is_empty() || is_word(v, &OFF_WORDS) {
        return Ok(None);
    }
    if is_word(v, &ON_WORDS) {
        return default.map(|d| Some(d.to_string())).ok_or_else(|| "needs a URL, e.g. http://host:port".into());
    }
    let full = if v.contains("://") { v.to_string() } else { format!("http://{v}") };
    let (scheme, rest) = full.split_once("://").unwrap_or(("", &full));
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!("the scheme must be http or https, not {scheme:?}"));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest[..end].rsplit_once('@').map_or(&rest[..end], |(_, host)| host);
    if authority.is_empty() {
        return Err("no host".into());
    }
    if authority.chars().any(char::is_whitespace) {
        return Err("the host has a space".into());
    }
    match authority.rsplit_once(':') {
        // a bracketed IPv6 host without a port ends in `]`
        Some((host, port)) if !port.ends_with(']') => {
            if host.is_empty() {
                return Err("no host".into());
            }
            port.parse::<u16>().map_err(|_| format!("the port {port:?} is not a number in 0..=65535"))?;
        }
        _ => {}
    }
    // trailing slashes go, and what they hid at the end (so parsing the result again gives it back)
    Ok(Some(full.trim_end_matches(|c: char| c == '/' || c.is_whitespace()).to_string()))
}

/// The URL with its credentials replaced by `***`: the user info of the authority
/// (`user:password@`), and anything else of the `name:secret@` shape (a mistyped URL can
/// leave credentials outside the authority). What goes into logs and errors.
///
/// ```
/// use am_core::env::redact_url;
/// assert_eq!(redact_url("https://u:p@host:1/x"), "https://***@host:1/x");
/// assert_eq!(redact_url("u:p@host/a@b"), "***@host/a@b");
/// assert_eq!(redact_url("http://?u:p@host"), "http://?***@host");
/// assert_eq!(redact_url("http://gw/metrics/job@base64/Zm9v"), "http://gw/metrics/job@base64/Zm9v");
/// assert_eq!(redact_url("http://host"), "http://host");
/// ```
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let mut out = String::with_capacity(url.len());
    if let Some(s) = scheme {
        out.push_str(s);
        out.push_str("://");
    }
    match authority.rsplit_once('@') {
        Some((_, host)) => {
            out.push_str("***@");
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    // outside the authority, a `name:secret@` run goes too
    let mut from = 0;
    for (at, _) in tail.match_indices('@') {
        let start = tail[..at].rfind(['/', '?', '#', '&', '=', '@']).map_or(0, |i| i + 1).max(from);
        if tail[start..at].contains(':') {
            out.push_str(&tail[from..start]);
            out.push_str("***");
            from = at;
        }
    }
    out.push_str(&tail[from..]);
    out
}

/// A duration: `250ms`, `15s`, `2m`, `1h`, or plain (fractional) seconds; above zero.
///
/// ```
/// use std::time::Duration;
/// use am_core::env::parse_duration;
/// assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
/// assert!(parse_duration("soon").is_err());
/// assert!(parse_duration("0s").is_err());
/// ```
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    let bad = || format!("expected a duration above zero such as 500ms, 15s, 2m or 1h, not {v:?}");
    let split = v.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    if !(secs.is_finite() && secs > 0.0 && secs < 1e9) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A whole number of at least `min`.
///
/// ```
/// assert_eq!(am_core::env::parse_count("8", 1), Ok(8));
/// assert!(am_core::env::parse_count("0", 1).is_err());
/// assert!(am_core::env::parse_count("many", 1).is_err());
/// ```
pub fn parse_count(v: &str, min: u64) -> Result<u64, String> {
    match v.trim().parse::<u64>() {
        Ok(n) if n >= min => Ok(n),
        Ok(n) => Err(format!("{n} is too small: at least {min}")),
        Err(_) => Err(format!("expected a whole number of at least {min}")),
    }
}

/// `len` bytes as `2 * len` hex digits (either case), not all zero: trace and span IDs.
///
/// ```
/// assert_eq!(am_core::env::parse_hex_id("00f067aa0ba902b7", 8).unwrap().len(), 8);
/// assert!(am_core::env::parse_hex_id("zz", 8).is_err());
/// assert!(am_core::env::parse_hex_id("0000000000000000", 8).is_err());
/// ```
pub fn parse_hex_id(v: &str, len: usize) -> Result<Vec<u8>, String> {
    let v = v.trim();
    if v.len() != 2 * len || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("expected {} hex digits", 2 * len));
    }
    let bytes: Vec<u8> = (0..len)
        .map(|i| u8::from_str_radix(&v[2 * i..2 * i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    if bytes.iter().all(|b| *b == 0) {
        return Err("an all-zero ID is invalid".into());
    }
    Ok(bytes)
}

/// A machine log level (`AM_LOG`): `0`–`5`, or the level's name (`nothing`, `external`,
/// `changes`, `ops`, `decisions`, `everything`; any case).
///
/// ```
/// use am_core::{LogLevel, env::parse_log_level};
/// assert_eq!(parse_log_level("2"), Ok(LogLevel::Changes));
/// assert_eq!(parse_log_level("Ops"), Ok(LogLevel::Ops));
/// assert!(parse_log_level("banana").is_err());
/// assert!(parse_log_level("9").is_err());
/// ```
pub fn parse_log_level(v: &str) -> Result<crate::LogLevel, String> {
    use crate::LogLevel;
    let v = v.trim();
    if let Ok(n) = v.parse::<u8>() {
        return if n <= 5 { Ok(LogLevel::from_u8(n)) } else { Err(format!("{n} is above the highest level, 5")) };
    }
    (0..=5u8)
        .map(LogLevel::from_u8)
        .find(|l| l.as_str().eq_ignore_ascii_case(v))
        .ok_or_else(|| "expected 0-5 or nothing, external, changes, ops, decisions, everything".into())
}

/// A comma-separated list, items trimmed, empty items dropped.
///
/// ```
/// assert_eq!(am_core::env::parse_list(" a, b,,c "), vec!["a", "b", "c"]);
/// ```
pub fn parse_list(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// A list of state names ([`parse_list`]) that must name at least one: `",,,"` is a
/// mistake, not "no states".
///
/// ```
/// use am_core::env::parse_names;
/// assert_eq!(parse_names("Ready, Busy").unwrap(), vec!["Ready", "Busy"]);
/// assert!(parse_names(",,,").is_err());
/// ```
pub fn parse_names(v: &str) -> Result<Vec<String>, String> {
    let names = parse_list(v);
    if names.is_empty() {
        return Err("names no state: expected a comma-separated list such as Ready,Busy".into());
    }
    Ok(names)
}

/// A note for a binding's report when the list variable `name` names states machine `m`
/// lacks (a typo shows up at bind time, not as a missing series or span later).
pub fn unknown_states_note(name: &str, m: &crate::Machine) -> Option<String> {
    let listed = parse_list(&crate::env::value(name)?);
    let schema = m.schema();
    let unknown: Vec<&str> = listed.iter().map(String::as_str).filter(|s| schema.index(s).is_err()).collect();
    (!unknown.is_empty())
        .then(|| format!("{name} names {}, which machine `{}` does not have", unknown.join(", "), m.id()))
}

#[cfg(test)]
mod fuzz {
    use super::*;

    /// A value made of pieces that steer the parsers into their branches, and random text.
    fn value(u: &mut am_testkit::arbitrary::Unstructured<'_>) -> am_testkit::arbitrary::Result<String> {
        const PIECES: &[&str] = &[
            "http://",
            "https://",
            "ftp://",
            "://",
            "localhost",
            "127.0.0.1",
            "[::1]",
            "::1",
            ":",
            "@",
            "/",
            "?",
            "#",
            "9464",
            "65536",
            "0",
            "1",
            "on",
            "off",
            "ms",
            "s",
            "m",
            "h",
            ".",
            "-",
            " ",
            "user:pw@",
            "é",
            "\u{0}",
        ];
        let mut s = String::new();
        for _ in 0..u.int_in_range(0..=8)? {
            if u.ratio(3, 4)? {
                s.push_str(u.choose(PIECES)?);
            } else {
                s.push_str(u.arbitrary::<&str>()?);
            }
        }
        Ok(s)
    }

    #[test]
    fn urls_are_stable_when_parsed_again() {
        // found by fuzz_env_values: a space before the trailing slash stayed at the end
        assert_eq!(parse_url("https://us# /", None), Ok(Some("https://us#".into())));
        assert_eq!(parse_url("http://h:1/a/ / ", None), Ok(Some("http://h:1/a".into())));
    }

    #[test]
    fn fuzz_env_values() {
        am_testkit::fuzz("am-core env values", |u| {
            let v = value(u)?;
            if let Ok(Some(a)) = parse_host_port(&v, "127.0.0.1:1") {
                assert_eq!(parse_host_port(&a, "127.0.0.1:1"), Ok(Some(a.clone())), "{v:?} → {a:?} is not stable");
            }
            if let Ok(Some(url)) = parse_url(&v, None) {
                assert_eq!(parse_url(&url, None), Ok(Some(url.clone())), "{v:?} → {url:?} is not stable");
                let scheme = url.split("://").next().unwrap_or_default().to_ascii_lowercase();
                assert!(scheme == "http" || scheme == "https", "{url:?}");
            }
            if let Ok(d) = parse_duration(&v) {
                assert!(!d.is_zero(), "{v:?}");
            }
            let _ = (parse_count(&v, 1), parse_hex_id(&v, 8), parse_log_level(&v), parse_list(&v));
            // credentials in the authority never survive redaction, whatever the host is
            let host: String = v.chars().filter(|c| !"/?#@".contains(*c)).collect();
            for url in [format!("http://user:S3CRET@{host}/{v}"), format!("user:S3CRET@{host}")] {
                let redacted = redact_url(&url);
                assert!(!redacted.contains("S3CRET") || v.contains("S3CRET"), "{url:?} → {redacted:?}");
            }
            let e = EnvError::new("AM_X_PASSWORD", &v, "r").to_string();
            assert!(v.is_empty() || !e.contains(&v) || "AM_X_PASSWORD=\"***\": r".contains(&v), "{e:?}");
            Ok(())
        });
    }
}
