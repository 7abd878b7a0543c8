//! Go's log and health switches, which `bind_env` binds beside the exporters.

use std::sync::Arc;

use am_core::{HealthcheckTicker, LogPrinter, Machine};

/// Go's log and health switches (`MachDebugEnv` reads them in Go): `AM_LOG_PRINT` /
/// `AM_LOG_FILE` bind a [`LogPrinter`](am_core::LogPrinter), `AM_HEALTHCHECK` a
/// [`HealthcheckTicker`](am_core::HealthcheckTicker); both are inherited by submachines, and
/// skipped as the exporters are (submachines, `AM_TEST_RUNNER`).
pub(crate) fn bind(machine: &Machine) {
    if am_core::env_gate(machine).is_err() {
        return;
    }
    let has = |id: &str| machine.tracers().iter().any(|t| t.id() == id);
    if let Some(p) = LogPrinter::from_env().filter(|_| !has("am-log-print")) {
        machine.bind_tracer(Arc::new(p));
    }
    if let Some(h) = HealthcheckTicker::from_env().filter(|_| !has("am-healthcheck")) {
        machine.bind_tracer(Arc::new(h));
    }
}
