//! Environment variables read by this crate. Each is listed in `docs/env.md`.

/// Grafana base URL (e.g. `http://localhost:3000`) for uploads and the sync tracer.
pub const AM_GRAFANA_URL: &str = "AM_GRAFANA_URL";
/// Grafana service-account token, sent as `Authorization: Bearer …`; never logged.
pub const AM_GRAFANA_TOKEN: &str = "AM_GRAFANA_TOKEN";
/// Fallback token name of the Go CLI (`am-gen grafana`), read after [`AM_GRAFANA_TOKEN`].
pub const GRAFANA_TOKEN: &str = "GRAFANA_TOKEN";
/// A CA certificate file (PEM) trusted besides the system's roots for uploads. Default:
/// `AM_TLS_CERTIFICATE`. Needs the `tls` feature.
pub const AM_GRAFANA_CERTIFICATE: &str = "AM_GRAFANA_CERTIFICATE";
/// A client certificate file (PEM) presented on uploads, with [`AM_GRAFANA_CLIENT_KEY`].
/// Default: `AM_TLS_CLIENT_CERTIFICATE`.
pub const AM_GRAFANA_CLIENT_CERTIFICATE: &str = "AM_GRAFANA_CLIENT_CERTIFICATE";
/// The client certificate's key file (PEM). Default: `AM_TLS_CLIENT_KEY`.
pub const AM_GRAFANA_CLIENT_KEY: &str = "AM_GRAFANA_CLIENT_KEY";

/// Grafana's TLS variables, then the shared `AM_TLS_*` ones.
#[cfg(feature = "upload")]
pub(crate) const TLS_VARS: [am_core::exporter::TlsVars; 2] = [
    am_core::exporter::TlsVars {
        certificate: AM_GRAFANA_CERTIFICATE,
        client_certificate: AM_GRAFANA_CLIENT_CERTIFICATE,
        client_key: AM_GRAFANA_CLIENT_KEY,
    },
    am_core::exporter::SHARED_VARS,
];

/// Checks the `AM_GRAFANA_*` values: a URL must be an http(s) URL and needs a token. Returns
/// the URL when one is set and on.
#[cfg(feature = "upload")]
pub(crate) fn check() -> Result<Option<String>, crate::Error> {
    use am_core::env::{EnvError, parse, parse_url, value};
    let url = parse(AM_GRAFANA_URL, |v| {
        let url = parse_url(v, None)?;
        if let Some(u) = &url {
            am_core::exporter::TlsSettings::default()
                .check_available(Some(u), "an https:// Grafana")
                .map_err(|e| e.to_string())?;
        }
        Ok(url)
    })?
    .flatten();
    am_core::exporter::TlsSettings::from_env(&TLS_VARS)?;
    if let Some(u) = &url
        && value(AM_GRAFANA_TOKEN).or_else(|| value(GRAFANA_TOKEN)).is_none()
    {
        return Err(EnvError::new(AM_GRAFANA_URL, u, format!("uploads also need {AM_GRAFANA_TOKEN}")).into());
    }
    Ok(url)
}
