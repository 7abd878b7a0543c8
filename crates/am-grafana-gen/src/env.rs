//! Environment variables read by this crate. Each is listed in `docs/env.md`.

/// Grafana base URL (e.g. `http://localhost:3000`) for uploads and the sync tracer.
pub const AM_GRAFANA_URL: &str = "AM_GRAFANA_URL";
/// Grafana service-account token, sent as `Authorization: Bearer …`; never logged.
pub const AM_GRAFANA_TOKEN: &str = "AM_GRAFANA_TOKEN";
/// Fallback token name of the Go CLI (`am-gen grafana`), read after [`AM_GRAFANA_TOKEN`].
pub const GRAFANA_TOKEN: &str = "GRAFANA_TOKEN";
