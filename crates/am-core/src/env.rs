//! Environment variables read by `am-core`, and the rules every crate uses to read `AM_*`
//! variables. Each name is listed in `docs/env.md`.

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
/// Shorthand for steps, args and checks together.
pub const AM_LOG_FULL: &str = "AM_LOG_FULL";
/// Replaces the host name wherever telemetry needs one (e.g. the Prometheus `instance`).
pub const AM_HOSTNAME: &str = "AM_HOSTNAME";
/// The service name: Prometheus job, Loki `service_name`, OTel `service.name`, dashboard
/// source. Env-activated exporters (but the debugger) stay off without it.
pub const AM_SERVICE: &str = "AM_SERVICE";
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
    !v.is_empty() && !["0", "false", "off", "no"].iter().any(|f| v.eq_ignore_ascii_case(f))
}

/// A variable's value when it is set and non-empty.
pub fn value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
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
