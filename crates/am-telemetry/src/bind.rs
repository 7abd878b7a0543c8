//! Binding exporters from the environment.

use std::fmt;
use std::time::Duration;

use am_core::Machine;

/// An exporter failed to start from its env configuration.
#[derive(Debug)]
pub struct Error {
    /// The exporter (`dbg`, `prom`, …).
    pub exporter: &'static str,
    /// What went wrong.
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} exporter: {}", self.exporter, self.source)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// An `AM_*` variable that is set, but whose exporter was not compiled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredVar {
    /// The variable.
    pub var: &'static str,
    /// The cargo feature of `am-telemetry` that would read it.
    pub feature: &'static str,
}

impl fmt::Display for IgnoredVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is set but ignored: am-telemetry was built without feature `{}`", self.var, self.feature)
    }
}

/// Activation variables of every exporter, by feature. Kept as strings so they can be
/// checked when the exporter is not compiled in; a test compares them with the
/// exporters' own constants.
pub(crate) const ACTIVATION: &[(&str, &[&str])] = &[
    ("dbg", &["AM_DBG_ADDR"]),
    ("prom", &["AM_PROM_PUSH_URL", "AM_PROM_ADDR"]),
    ("otel", &["AM_OTEL_TRACE", "AM_OTEL_LOG"]),
    ("loki", &["AM_LOKI_ADDR"]),
    ("grafana", &["AM_GRAFANA_URL"]),
];

#[allow(clippy::match_like_matches_macro)] // one arm per exporter feature, more to come
fn compiled(feature: &str) -> bool {
    match feature {
        "dbg" => cfg!(feature = "dbg"),
        "loki" => cfg!(feature = "loki"),
        "grafana" => cfg!(feature = "grafana"),
        "prom" => cfg!(feature = "prom"),
        "otel" => cfg!(feature = "otel"),
        _ => false,
    }
}

/// One bound exporter: flushes and stops on shutdown.
trait Exporter: Send {
    fn shutdown(&mut self, deadline: Duration);
}

#[cfg(feature = "loki")]
impl Exporter for am_loki::LokiGuard {
    fn shutdown(&mut self, _deadline: Duration) {
        // the tracer's own shutdown deadline applies (`shutdown_timeout`)
        self.tracer().shutdown();
    }
}

#[cfg(feature = "grafana")]
impl Exporter for std::sync::Arc<am_grafana_gen::GrafanaTracer> {
    fn shutdown(&mut self, deadline: Duration) {
        self.flush(deadline);
    }
}

#[cfg(feature = "prom")]
impl Exporter for am_prom::PromGuard {
    fn shutdown(&mut self, _deadline: Duration) {
        // final push, within the tracer's own `shutdown_timeout`
        self.tracer().shutdown();
    }
}

#[cfg(feature = "otel")]
impl Exporter for am_otel::OtelTracer {
    fn shutdown(&mut self, deadline: Duration) {
        // ends open spans; the env pipeline itself flushes when its last root is disposed
        am_otel::OtelTracer::shutdown(self, deadline);
    }
}

#[cfg(feature = "dbg")]
impl Exporter for am_dbg_proto::DbgTracer {
    fn shutdown(&mut self, deadline: Duration) {
        self.flush(deadline);
    }
}

/// The exporters [`bind_env`] bound. Dropping it flushes and shuts them down (at most
/// [`Telemetry::SHUTDOWN_DEADLINE`] each).
pub struct Telemetry {
    bound: Vec<&'static str>,
    ignored: Vec<IgnoredVar>,
    exporters: Vec<Box<dyn Exporter>>,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry").field("bound", &self.bound).field("ignored", &self.ignored).finish()
    }
}

impl Telemetry {
    /// How long shutdown waits for each exporter to flush.
    pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(2);

    /// Names of the exporters bound (`dbg`, `prom`, `otel`, `loki`, `grafana`).
    pub fn bound(&self) -> &[&'static str] {
        &self.bound
    }
    /// Variables that are set but whose exporter is not compiled in.
    pub fn ignored(&self) -> &[IgnoredVar] {
        &self.ignored
    }
    /// Flushes and shuts every exporter down now.
    pub fn shutdown(mut self) {
        self.stop();
    }
    fn stop(&mut self) {
        for e in &mut self.exporters {
            e.shutdown(Self::SHUTDOWN_DEADLINE);
        }
        self.exporters.clear();
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Variables set (per `lookup`) for exporters that are not compiled in.
fn ignored_vars(lookup: impl Fn(&str) -> Option<String>) -> Vec<IgnoredVar> {
    let mut out = Vec::new();
    for (feature, vars) in ACTIVATION.iter().filter(|(f, _)| !compiled(f)) {
        for var in vars.iter().filter(|v| lookup(v).is_some_and(|x| !x.trim().is_empty())) {
            out.push(IgnoredVar { var, feature });
        }
    }
    out
}

/// Binds every compiled-in exporter that its `AM_*` variable switches on. Variables set for
/// exporters that are not compiled in are listed in [`Telemetry::ignored`] and logged as
/// `tracing` warnings.
pub fn bind_env(machine: &Machine) -> Result<Telemetry, Error> {
    #[allow(unused_mut)] // no exporter feature: nothing is bound
    let mut t =
        Telemetry { bound: Vec::new(), ignored: ignored_vars(|v| std::env::var(v).ok()), exporters: Vec::new() };
    for i in &t.ignored {
        tracing::warn!("{i}");
    }
    #[cfg(feature = "dbg")]
    if let Some(tracer) = am_dbg_proto::bind_env(machine).map_err(|e| Error { exporter: "dbg", source: Box::new(e) })? {
        t.bound.push("dbg");
        t.exporters.push(Box::new(tracer));
    }
    #[cfg(feature = "loki")]
    if let Some(guard) = am_loki::bind_env(machine).map_err(|e| Error { exporter: "loki", source: Box::new(e) })? {
        t.bound.push("loki");
        t.exporters.push(Box::new(guard));
    }
    #[cfg(feature = "grafana")]
    if let Some(g) =
        am_grafana_gen::bind_env(machine).map_err(|e| Error { exporter: "grafana", source: Box::new(e) })?
    {
        t.bound.push("grafana");
        t.exporters.push(Box::new(g));
    }
    #[cfg(feature = "prom")]
    if let Some(g) = am_prom::bind_env(machine).map_err(|e| Error { exporter: "prom", source: Box::new(e) })? {
        t.bound.push("prom");
        t.exporters.push(Box::new(g));
    }
    #[cfg(feature = "otel")]
    if let Some(o) = am_otel::bind_env(machine).map_err(|e| Error { exporter: "otel", source: Box::new(e) })? {
        t.bound.push("otel");
        t.exporters.push(Box::new(o));
    }
    let _ = machine;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_variables_are_reported() {
        let env = |v: &str| match v {
            "AM_DBG_ADDR" | "AM_PROM_PUSH_URL" => Some("1".to_string()),
            "AM_LOKI_ADDR" => Some(" ".to_string()),
            _ => None,
        };
        let ignored = ignored_vars(env);
        assert_eq!(ignored.contains(&IgnoredVar { var: "AM_PROM_PUSH_URL", feature: "prom" }), !cfg!(feature = "prom"));
        assert!(!ignored.iter().any(|i| i.var == "AM_LOKI_ADDR"), "empty values are unset");
        assert_eq!(ignored.iter().any(|i| i.var == "AM_DBG_ADDR"), !cfg!(feature = "dbg"));
        assert_eq!(
            IgnoredVar { var: "AM_PROM_PUSH_URL", feature: "prom" }.to_string(),
            "AM_PROM_PUSH_URL is set but ignored: am-telemetry was built without feature `prom`"
        );
    }

    #[cfg(feature = "dbg")]
    #[test]
    fn activation_names_match_the_exporters() {
        assert!(ACTIVATION.iter().any(|(f, v)| *f == "dbg" && v.contains(&am_dbg_proto::AM_DBG_ADDR)));
    }

    #[cfg(feature = "grafana")]
    #[test]
    fn grafana_activation_name_matches() {
        assert!(ACTIVATION.iter().any(|(f, v)| *f == "grafana" && v.contains(&am_grafana_gen::env::AM_GRAFANA_URL)));
    }

    #[cfg(feature = "prom")]
    #[test]
    fn prom_activation_names_match() {
        let prom = ACTIVATION.iter().find(|(f, _)| *f == "prom").map(|(_, v)| *v).unwrap_or_default();
        assert!(prom.contains(&am_prom::env::AM_PROM_ADDR) && prom.contains(&am_prom::env::AM_PROM_PUSH_URL));
    }

    #[cfg(feature = "otel")]
    #[test]
    fn otel_activation_name_matches() {
        assert!(ACTIVATION.iter().any(|(f, v)| *f == "otel" && v.contains(&am_otel::env::AM_OTEL_TRACE)));
    }

    #[cfg(feature = "loki")]
    #[test]
    fn loki_activation_name_matches() {
        assert!(ACTIVATION.iter().any(|(f, v)| *f == "loki" && v.contains(&am_loki::env::AM_LOKI_ADDR)));
    }
}
