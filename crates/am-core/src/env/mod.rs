//! Environment variables read by `am-core`, and the rules every crate uses to read `AM_*`
//! variables: the switch rule ([`is_on`]), one parser per kind of value ([`parse_host_port`],
//! [`parse_url`], [`parse_duration`], …) with one error shape ([`EnvError`]), the service
//! name ([`service`]) and the host name ([`hostname`]). Each name is listed in `docs/env.md`.

mod value;

pub use value::{
    EnvError, OFF_WORDS, ON_WORDS, parse, parse_count, parse_duration, parse_hex_id, parse_host_port, parse_list,
    parse_log_level, parse_names, parse_url, redact_url, unknown_states_note,
};

/// Machine log level, `0`–`5` (see [`LogLevel`](crate::LogLevel)). Default `0`.
pub const AM_LOG: &str = "AM_LOG";
/// Non-empty: debugging mode — handler timeout raised to 10 minutes and handler panics are
/// not turned into `Exception` but re-raised.
pub const AM_DEBUG: &str = "AM_DEBUG";
/// Non-empty: the process is a test runner; telemetry binders stay off and the default
/// handler timeout is 1 s.
pub const AM_TEST_RUNNER: &str = "AM_TEST_RUNNER";
/// Record transition steps (relation decisions), as if `log_steps(true)` was set.
pub const AM_LOG_STEPS: &str = "AM_LOG_STEPS";
/// Include mutation args in log lines.
pub const AM_LOG_ARGS: &str = "AM_LOG_ARGS";
/// Log (and record steps of) check transitions (`can_add`/`can_remove`).
pub const AM_LOG_CHECKS: &str = "AM_LOG_CHECKS";
/// Every semantic-log switch together, as Go's: steps, args, checks, waits
/// ([`AM_LOG_WHEN`]) and state contexts ([`AM_LOG_STATE_CTX`]). (Go's list also names its
/// graph and queued switches, which do nothing in Go; see the Go variables in `docs/env.md`.)
pub const AM_LOG_FULL: &str = "AM_LOG_FULL";
/// Log waits at level Ops, as Go's subscriptions do: `[when:new] A B` when one is made
/// (`when`, `when_not`, `when_time`, `when_args`, `when_query`, `when_queue`), and
/// `[when:match] A B` when a transition completes it. Also on with [`AM_LOG_FULL`].
pub const AM_LOG_WHEN: &str = "AM_LOG_WHEN";
/// Log state contexts at level Ops, as Go does: `[ctx:new] S` when
/// [`state_ctx`](crate::Machine::state_ctx) makes one, `[ctx:match] S` when a transition
/// cancels it. Also on with [`AM_LOG_FULL`].
pub const AM_LOG_STATE_CTX: &str = "AM_LOG_STATE_CTX";
/// Print machine log entries to stdout, one line each (as Go's machines print theirs), with
/// [`LogPrinter`](crate::LogPrinter); `am_telemetry::bind_env` binds it (inherited by
/// submachines).
pub const AM_LOG_PRINT: &str = "AM_LOG_PRINT";
/// Also append each machine's log entries to `<normalised machine ID>.log` in the working
/// directory (Go's "machine ID as the name"), with [`LogPrinter`](crate::LogPrinter).
pub const AM_LOG_FILE: &str = "AM_LOG_FILE";
/// Add `Healthcheck` every 30 s (or every the duration given: `AM_HEALTHCHECK=5s`) to every
/// machine whose schema has it
/// ([`HealthcheckTicker`](crate::HealthcheckTicker), bound by `am_telemetry::bind_env`,
/// inherited), so that lines logged between transitions travel with a transition and
/// heartbeat-based liveness (`/healthz`) sees an idle machine alive.
pub const AM_HEALTHCHECK: &str = "AM_HEALTHCHECK";
/// Replaces the host name wherever telemetry needs one (e.g. the Prometheus `instance`).
pub const AM_HOSTNAME: &str = "AM_HOSTNAME";
/// The service name: Prometheus job, Loki `service_name`, OTel `service.name`, dashboard
/// source. Without it [`service`] falls back to `OTEL_SERVICE_NAME`, then the executable's
/// name.
pub const AM_SERVICE: &str = "AM_SERVICE";
/// OpenTelemetry's service name variable, used for the service when `AM_SERVICE` is unset.
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// Non-empty: inheriting exporters also cover machines tagged `rpc-*` or `relay`.
pub const AM_RPC_DBG: &str = "AM_RPC_DBG";

/// Reads a switch variable: set and non-empty enables it (as in the Go version), except the
/// values `0`, `false`, `off` and `no` (any case), which disable it (a deliberate deviation).
///
/// ```
/// assert!(!am_core::env::is_on("AM_SURELY_UNSET_VARIABLE"));
/// assert!(am_core::env::switch_value("1"));
/// assert!(!am_core::env::switch_value("off"));
/// ```
pub fn is_on(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| switch_value(&v))
}

/// The value rule of [`is_on`], for values that did not come from the process env.
pub fn switch_value(v: &str) -> bool {
    let v = v.trim();
    !v.is_empty() && !OFF_WORDS.iter().any(|f| v.eq_ignore_ascii_case(f))
}

/// A variable's value when it is set and non-empty.
pub fn value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Whether the process is a test runner ([`AM_TEST_RUNNER`] on, by the switch rule):
/// env-activated exporters stay off.
pub fn is_test_runner() -> bool {
    is_on(AM_TEST_RUNNER)
}

/// Where a [`Service`] name came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceSource {
    /// [`AM_SERVICE`].
    AmService,
    /// [`OTEL_SERVICE_NAME`].
    OtelServiceName,
    /// The executable's file name (as OpenTelemetry SDKs default to `unknown_service:<exe>`).
    Executable,
    /// Nothing to go by: `unknown_service`.
    Unknown,
}

/// The service telemetry is exported as, and where the name came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// The name, as set (exporters normalise it where their backend needs to).
    pub name: String,
    /// Where it came from.
    pub source: ServiceSource,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.source {
            ServiceSource::AmService => write!(f, "{} ({AM_SERVICE})", self.name),
            ServiceSource::OtelServiceName => write!(f, "{} ({OTEL_SERVICE_NAME})", self.name),
            ServiceSource::Executable => write!(f, "{} (the executable's name; set {AM_SERVICE} to choose)", self.name),
            ServiceSource::Unknown => write!(f, "{} (set {AM_SERVICE})", self.name),
        }
    }
}

/// The service name every exporter uses: [`AM_SERVICE`], else [`OTEL_SERVICE_NAME`], else the
/// executable's file name, else `unknown_service`.
///
/// ```
/// let s = am_core::env::service();
/// assert!(!s.name.is_empty());
/// ```
pub fn service() -> Service {
    if let Some(name) = value(AM_SERVICE) {
        return Service { name: name.trim().to_string(), source: ServiceSource::AmService };
    }
    if let Some(name) = value(OTEL_SERVICE_NAME) {
        return Service { name: name.trim().to_string(), source: ServiceSource::OtelServiceName };
    }
    let exe = std::env::current_exe().ok().and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()));
    match exe.filter(|e| !e.is_empty()) {
        Some(name) => Service { name, source: ServiceSource::Executable },
        None => Service { name: "unknown_service".into(), source: ServiceSource::Unknown },
    }
}

/// The host name wherever telemetry needs one: [`AM_HOSTNAME`], else the system's (Linux
/// `/proc/sys/kernel/hostname`, `/etc/hostname`, `$HOSTNAME`, `%COMPUTERNAME%`), else
/// `localhost`.
///
/// ```
/// assert!(!am_core::env::hostname().is_empty());
/// ```
pub fn hostname() -> String {
    value(AM_HOSTNAME)
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Checks the values of am-core's own variables ([`AM_LOG`]); a machine built with a bad
/// one falls back to the default, so a binder reports it with this.
pub fn check() -> Result<(), EnvError> {
    parse(AM_LOG, parse_log_level).map(|_| ())
}

/// Whether waits are logged ([`AM_LOG_WHEN`] or [`AM_LOG_FULL`]).
pub(crate) fn log_when() -> bool {
    is_on(AM_LOG_WHEN) || is_on(AM_LOG_FULL)
}

/// Whether state contexts are logged ([`AM_LOG_STATE_CTX`] or [`AM_LOG_FULL`]).
pub(crate) fn log_state_ctx() -> bool {
    is_on(AM_LOG_STATE_CTX) || is_on(AM_LOG_FULL)
}

/// Normalises an ID for use inside metric names, jobs and label values: lower-case, then
/// every run of characters outside `[a-z0-9_]` becomes one `_`.
///
/// ```
/// assert_eq!(am_core::env::normalize_id("My-Mach.1"), "my_mach_1");
/// assert_eq!(am_core::env::normalize_id("a--b"), "a_b");
/// ```
pub fn normalize_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    let mut in_run = false;
    for c in id.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out
}

/// True for machines that inheriting exporters skip unless [`AM_RPC_DBG`] is on: those
/// tagged `rpc-*` or `relay`.
pub fn is_rpc_machine(tags: &[String]) -> bool {
    !is_on(AM_RPC_DBG) && tags.iter().any(|t| t.starts_with("rpc-") || t == "relay")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_rules() {
        for v in ["1", "true", "yes", "anything"] {
            assert!(switch_value(v), "{v}");
        }
        for v in ["", " ", "0", "false", "FALSE", "off", "No"] {
            assert!(!switch_value(v), "{v}");
        }
    }

    #[test]
    fn normalize() {
        assert_eq!(normalize_id("Worker-1"), "worker_1");
        assert_eq!(normalize_id("a.b"), normalize_id("a-b"));
        assert_eq!(normalize_id("x__y"), "x__y");
    }
}
