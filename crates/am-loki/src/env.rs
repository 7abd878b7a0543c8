//! Environment variables read by `am-loki`, each listed in `docs/env.md`. Precedence:
//! builder call > env variable > default.

/// Loki base address, e.g. `localhost:3100` (`http://` is prepended when no scheme is
/// given). [`bind_env`](crate::bind_env) stays off without it (and without `AM_SERVICE`).
pub const AM_LOKI_ADDR: &str = "AM_LOKI_ADDR";
/// Tenant sent as the `X-Scope-OrgID` header (multi-tenant Loki). Default: none.
pub const AM_LOKI_TENANT: &str = "AM_LOKI_TENANT";
/// User name for HTTP basic auth (hosted Loki); used with [`AM_LOKI_PASSWORD`].
pub const AM_LOKI_USERNAME: &str = "AM_LOKI_USERNAME";
/// Password (or API key) for HTTP basic auth; used with [`AM_LOKI_USERNAME`].
pub const AM_LOKI_PASSWORD: &str = "AM_LOKI_PASSWORD";
/// Bearer token sent as `Authorization: Bearer …`; ignored when basic auth is configured.
pub const AM_LOKI_TOKEN: &str = "AM_LOKI_TOKEN";
/// Push format: `protobuf` (default: snappy-compressed protobuf, as Loki's own clients
/// send) or `json`.
pub const AM_LOKI_FORMAT: &str = "AM_LOKI_FORMAT";
/// A CA certificate file (PEM) to trust besides the system's roots (Loki behind a private
/// CA). Default: `AM_TLS_CERTIFICATE`, else none. Needs the `tls` feature.
pub const AM_LOKI_CERTIFICATE: &str = "AM_LOKI_CERTIFICATE";
/// A client certificate file (PEM) for mutual TLS, with [`AM_LOKI_CLIENT_KEY`]. Default:
/// `AM_TLS_CLIENT_CERTIFICATE`.
pub const AM_LOKI_CLIENT_CERTIFICATE: &str = "AM_LOKI_CLIENT_CERTIFICATE";
/// The client certificate's key file (PEM). Default: `AM_TLS_CLIENT_KEY`.
pub const AM_LOKI_CLIENT_KEY: &str = "AM_LOKI_CLIENT_KEY";

/// Loki's TLS variables, then the shared `AM_TLS_*` ones.
pub(crate) const TLS_VARS: [am_core::exporter::TlsVars; 2] = [
    am_core::exporter::TlsVars {
        certificate: AM_LOKI_CERTIFICATE,
        client_certificate: AM_LOKI_CLIENT_CERTIFICATE,
        client_key: AM_LOKI_CLIENT_KEY,
    },
    am_core::exporter::SHARED_VARS,
];

/// Checks every `AM_LOKI_*` value: an address `base_url` accepts, a known format, a header-
/// safe tenant, and basic auth either whole (user and password) or absent. Returns the
/// address when one is set and on.
pub(crate) fn check() -> Result<Option<String>, crate::Error> {
    use am_core::env::{EnvError, parse, parse_url, value};
    let addr = parse(AM_LOKI_ADDR, |v| {
        let url = parse_url(v, Some(crate::DEFAULT_ADDR))?;
        if let Some(u) = &url {
            base_url(u).map_err(|e| match e {
                crate::Error::InvalidAddr { reason, .. } => reason,
                other => other.to_string(),
            })?;
            if let Err(e) = am_core::exporter::TlsSettings::default().check_available(Some(u), "an https:// address") {
                return Err(e.to_string());
            }
        }
        Ok(url)
    })?
    .flatten();
    am_core::exporter::TlsSettings::from_env(&TLS_VARS)?;
    parse(AM_LOKI_FORMAT, |v| {
        crate::PushFormat::parse(v).ok_or_else(|| format!("{v:?} is neither `protobuf` nor `json`"))
    })?;
    parse(AM_LOKI_TENANT, |v| {
        reqwest::header::HeaderValue::from_str(v).map(drop).map_err(|_| "not a valid header value".to_string())
    })?;
    match (value(AM_LOKI_USERNAME), value(AM_LOKI_PASSWORD)) {
        (Some(u), None) => {
            return Err(EnvError::new(AM_LOKI_USERNAME, &u, format!("basic auth also needs {AM_LOKI_PASSWORD}")).into());
        }
        (None, Some(p)) => {
            return Err(EnvError::new(AM_LOKI_PASSWORD, &p, format!("basic auth also needs {AM_LOKI_USERNAME}")).into());
        }
        _ => {}
    }
    Ok(addr)
}

/// Turns an address into the push URL's base: prepends `http://` when there is no scheme,
/// accepts only `http` and `https`, refuses user info (credentials belong in
/// [`basic_auth`](crate::LokiTracerBuilder::basic_auth), where they are kept out of logs),
/// and drops a trailing `/`.
pub(crate) fn base_url(addr: &str) -> Result<reqwest::Url, crate::Error> {
    let addr = addr.trim();
    let with_scheme = if addr.contains("://") { addr.to_string() } else { format!("http://{addr}") };
    let invalid = |reason: &str| crate::Error::InvalidAddr {
        addr: am_core::env::redact_url(&with_scheme),
        reason: reason.into(),
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials in the address are not accepted; use basic_auth or bearer_token"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a query or fragment is not accepted"));
    }
    Ok(url)
}

/// The push URL under a base URL.
pub(crate) fn push_url(base: &reqwest::Url) -> String {
    format!("{}/loki/api/v1/push", base.as_str().trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let u = base_url("localhost:3100").unwrap();
        assert_eq!(push_url(&u), "http://localhost:3100/loki/api/v1/push");
        let u = base_url("https://logs.example.com/prefix/").unwrap();
        assert_eq!(push_url(&u), "https://logs.example.com/prefix/loki/api/v1/push");
        assert!(base_url("ftp://x:1").is_err());
        assert!(base_url("http://").is_err());
    }

    #[test]
    fn credentials_in_addr_are_refused_and_redacted() {
        let e = base_url("http://user:hunter2@loki:3100").unwrap_err().to_string();
        assert!(!e.contains("hunter2") && !e.contains("user:"), "{e}");
        assert!(e.contains("***@loki:3100"), "{e}");
        let e = base_url("user:hunter2@loki:3100").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }

    /// Any address parses or fails, never panics, and an error never shows a password.
    #[test]
    fn fuzz_addresses() {
        am_testkit::fuzz("Loki addresses", |u| {
            let (a, b): (&str, &str) = (u.arbitrary()?, u.arbitrary()?);
            for addr in [a.to_string(), format!("http://{a}:S3CRET@{b}"), format!("{a}:S3CRET@{b}")] {
                match base_url(&addr) {
                    Ok(url) => assert!(push_url(&url).ends_with("/loki/api/v1/push")),
                    Err(e) => assert!(
                        !e.to_string().contains("S3CRET") || a.contains("S3CRET") || b.contains("S3CRET"),
                        "{addr:?}: {e}"
                    ),
                }
            }
            Ok(())
        });
    }
}
