//! Environment variables read by this crate. Each is listed in `docs/env.md`.

/// Grafana base URL (e.g. `http://localhost:3000`) for uploads and the sync tracer.
pub const AM_GRAFANA_URL: &str = "AM_GRAFANA_URL";
/// Grafana service-account token, sent as `Authorization: Bearer …`; never logged.
pub const AM_GRAFANA_TOKEN: &str = "AM_GRAFANA_TOKEN";
/// Fallback token name of the Go CLI (`am-gen grafana`), read after [`AM_GRAFANA_TOKEN`].
pub const GRAFANA_TOKEN: &str = "GRAFANA_TOKEN";

/// Checks the `AM_GRAFANA_*` values: a URL must be an http(s) URL and needs a token. Returns
/// the URL when one is set and on.
#[cfg(feature = "upload")]
pub(crate) fn check() -> Result<Option<String>, crate::Error> {
    use am_core::env::{EnvError, parse, parse_url, value};
    let url = parse(AM_GRAFANA_URL, |v| parse_url(v, None))?.flatten();
    if let Some(u) = &url
        && value(AM_GRAFANA_TOKEN).or_else(|| value(GRAFANA_TOKEN)).is_none()
    {
        return Err(EnvError::new(AM_GRAFANA_URL, u, format!("uploads also need {AM_GRAFANA_TOKEN}")).into());
    }
    Ok(url)
}
