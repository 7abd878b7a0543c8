//! Binding exporters from the environment, and the report of what happened.

use std::fmt;
use std::time::{Duration, Instant};

use am_core::env::Service;
use am_core::{Binding, Delivery, ExporterGuard, Machine, Skip};

/// An exporter `am-telemetry` can bind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Exporter {
    /// The live debugger (`am-dbg-proto`), feature `dbg`.
    Dbg,
    /// Prometheus metrics (`am-prom`), feature `prom`.
    Prom,
    /// OpenTelemetry traces and logs (`am-otel`), feature `otel`.
    Otel,
    /// Machine logs to Loki (`am-loki`), feature `loki`.
    Loki,
    /// Grafana dashboards (`am-grafana-gen`), feature `grafana`.
    Grafana,
}

impl Exporter {
    /// Every exporter, in the order [`bind_env`] binds them.
    pub const ALL: [Exporter; 5] = [Exporter::Dbg, Exporter::Loki, Exporter::Grafana, Exporter::Prom, Exporter::Otel];

    /// Its short name, which is also its cargo feature: `dbg`, `prom`, `otel`, `loki`,
    /// `grafana`.
    pub fn name(self) -> &'static str {
        match self {
            Exporter::Dbg => "dbg",
            Exporter::Prom => "prom",
            Exporter::Otel => "otel",
            Exporter::Loki => "loki",
            Exporter::Grafana => "grafana",
        }
    }

    /// The variables that switch it on. Kept as strings so they can be checked when the
    /// exporter is not compiled in; a test compares them with the exporters' own constants.
    /// `AM_OTEL_LOG` and `AM_OTEL_METRICS` are not among them: they add logs and metrics to
    /// the OTel exporter, which `AM_OTEL_TRACE` switches on (set alone, the report says so).
    pub fn activation(self) -> &'static [&'static str] {
        match self {
            Exporter::Dbg => &["AM_DBG_ADDR"],
            Exporter::Prom => &["AM_PROM_ADDR", "AM_PROM_PUSH_URL"],
            Exporter::Otel => &["AM_OTEL_TRACE"],
            Exporter::Loki => &["AM_LOKI_ADDR"],
            Exporter::Grafana => &["AM_GRAFANA_URL"],
        }
    }

    /// Variables that add to it once it is on (ignored, and reported, without it).
    fn additions(self) -> &'static [&'static str] {
        match self {
            Exporter::Otel => &[OTEL_ADDITIONS[0].0, OTEL_ADDITIONS[1].0],
            _ => &[],
        }
    }

    /// Whether this build of `am-telemetry` has it.
    pub fn compiled(self) -> bool {
        match self {
            Exporter::Dbg => cfg!(feature = "dbg"),
            Exporter::Prom => cfg!(feature = "prom"),
            Exporter::Otel => cfg!(feature = "otel"),
            Exporter::Loki => cfg!(feature = "loki"),
            Exporter::Grafana => cfg!(feature = "grafana"),
        }
    }
}

/// What `AM_OTEL_LOG` and `AM_OTEL_METRICS` add to the OTel exporter, and the
/// `am-telemetry` feature each needs.
const OTEL_ADDITIONS: [(&str, &str, bool); 2] = [
    ("AM_OTEL_LOG", "otel", cfg!(feature = "otel")),
    ("AM_OTEL_METRICS", "otel-metrics", cfg!(feature = "otel-metrics")),
];

impl fmt::Display for Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An exporter failed to start from its env configuration: a variable with an unusable
/// value (named in the source), an address it cannot listen on, a transport not compiled in.
/// `Display` names the exporter, [`source`](std::error::Error::source) says why; `Debug`
/// prints the whole chain on one line (what `main` returning `Err` shows).
pub struct Error {
    /// The exporter; `None` for am-core's own variables (`AM_LOG`).
    pub exporter: Option<Exporter>,
    /// What went wrong.
    pub source: Box<dyn std::error::Error + Send + Sync>,
    /// The `am-telemetry` feature that would fix it, when a missing feature is the cause.
    pub feature: Option<&'static str>,
}

impl Error {
    fn new(exporter: Exporter, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        let feature = feature_hint(exporter, &source.to_string());
        Error { exporter: Some(exporter), source: Box::new(source), feature }
    }
}

/// The `am-telemetry` feature an exporter error asks for, by the exporter's own feature name.
fn feature_hint(exporter: Exporter, msg: &str) -> Option<&'static str> {
    match exporter {
        Exporter::Otel if msg.contains("`http-json`") => Some("otel-http-json"),
        Exporter::Otel if msg.contains("`http`") => Some("otel-http"),
        Exporter::Otel if msg.contains("`grpc`") => Some("otel"),
        _ if msg.contains("feature `tls`") => Some("tls"),
        Exporter::Prom if msg.contains("`push`") => Some("prom-push"),
        Exporter::Prom if msg.contains("`server`") => Some("prom"),
        _ => None,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.exporter {
            Some(e) => write!(f, "the {e} exporter cannot start")?,
            None => write!(f, "a machine setting in the environment is invalid")?,
        }
        if let Some(feat) = self.feature {
            write!(f, " (enable am-telemetry's feature `{feat}`)")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", am_core::ErrorChain(self))
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// An `AM_*` variable that is set, but whose exporter (or the part of it that reads the
/// variable) was not compiled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredVar {
    /// The variable.
    pub var: &'static str,
    /// The exporter that would read it.
    pub exporter: Exporter,
    /// The `am-telemetry` feature that would read it.
    pub feature: &'static str,
}

impl fmt::Display for IgnoredVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is set but ignored: am-telemetry was built without feature `{}`", self.var, self.feature)
    }
}

/// What [`bind_env`] did for one machine, in one place: the service, what it bound, what it
/// skipped and why, what it ignored, and what deserves a look. `Display` prints it for
/// people (one line per item); every item is also logged through `tracing` (target
/// `am_telemetry`) when bound.
#[derive(Clone, Debug)]
pub struct Report {
    /// The machine's ID.
    pub machine: String,
    /// The service the exporters report as, and where its name came from.
    pub service: Service,
    /// Exporters bound.
    pub bound: Vec<Exporter>,
    /// Where each bound exporter delivers (address or URL, the real port for `:0`).
    pub destinations: Vec<(Exporter, String)>,
    /// Exporters compiled in but not bound, and why.
    pub skipped: Vec<(Exporter, Skip)>,
    /// Variables set for exporters that are not compiled in.
    pub ignored: Vec<IgnoredVar>,
    /// Things worth a look about a binding (e.g. a list naming states the machine lacks),
    /// and about the setup (e.g. `AM_LOG` set with nothing that prints machine logs).
    pub notes: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "am-telemetry: machine `{}`, service {}", self.machine, self.service)?;
        let names: Vec<&str> = self.bound.iter().map(|e| e.name()).collect();
        writeln!(f, "  bound:   {}", if names.is_empty() { "nothing".to_string() } else { names.join(", ") })?;
        for (e, to) in self.destinations.iter().filter(|(_, to)| !to.is_empty()) {
            writeln!(f, "    {e} → {to}")?;
        }
        for (e, why) in &self.skipped {
            writeln!(f, "  skipped: {e}: {why}")?;
        }
        for i in &self.ignored {
            writeln!(f, "  ignored: {i}")?;
        }
        for n in &self.notes {
            writeln!(f, "  note:    {n}")?;
        }
        Ok(())
    }
}

/// The exporters [`bind_env`] bound to one root machine, and the [`Report`] of it. Each
/// exporter bound from the env is shared by every root machine of the process; this holds
/// one share of each. [`shutdown`](Telemetry::shutdown) — or dropping it — ends this
/// machine's telemetry: everything it produced is flushed (at most
/// [`Telemetry::SHUTDOWN_DEADLINE`] for all exporters together), and an exporter no other
/// machine holds stops.
#[must_use = "dropping Telemetry flushes and releases the exporters at once"]
pub struct Telemetry {
    report: Report,
    guards: Vec<(Exporter, Box<dyn ExporterGuard>)>,
    #[cfg(feature = "prom")]
    prom: Option<am_prom::PromTracer>,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry").field("report", &self.report).finish_non_exhaustive()
    }
}

impl Telemetry {
    /// How long shutdown (or drop) waits, for every exporter together.
    pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(2);

    /// What was bound, skipped and ignored, and why.
    pub fn report(&self) -> &Report {
        &self.report
    }
    /// The exporters bound.
    pub fn bound(&self) -> &[Exporter] {
        &self.report.bound
    }
    /// Variables that are set but whose exporter is not compiled in.
    pub fn ignored(&self) -> &[IgnoredVar] {
        &self.report.ignored
    }
    /// The Prometheus tracer, when prom is bound: its verdicts
    /// ([`readiness`](am_prom::PromTracer::readiness), [`liveness`](am_prom::PromTracer::liveness))
    /// and endpoint answers ([`answer`](am_prom::PromTracer::answer)) for a server of your own.
    #[cfg(feature = "prom")]
    pub fn prom(&self) -> Option<&am_prom::PromTracer> {
        self.prom.as_ref()
    }
    /// `/metrics`, `/healthz` and `/readyz` for the app's own axum server, answered as the
    /// built-in endpoint answers them (503 on `/readyz` once shutdown begins); `None` when
    /// prom is not bound. Bind with [`bind_env_with`] and [`BindOptions::app_server`] so that
    /// prom binds without a listener of its own.
    ///
    /// ```
    /// use am_telemetry::{BindOptions, am_core::{Machine, Schema}};
    /// let m = Machine::builder(Schema::builder().states(["Ready"]).build()?).id("api").build();
    /// let telemetry = am_telemetry::bind_env_with(&m, &BindOptions::default().app_server())?;
    /// let app: axum::Router = axum::Router::new().merge(telemetry.router().expect("prom is bound"));
    /// # let _ = app;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "axum")]
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Option<axum::Router<S>> {
        self.prom.as_ref().map(am_prom::PromTracer::router)
    }
    /// Sends what every bound exporter holds now, within `timeout` for all of them, and
    /// reports what each delivered ([`DeliveryReport::complete`] when everything arrived).
    pub fn flush(&self, timeout: Duration) -> DeliveryReport {
        let until = Instant::now() + timeout;
        let exporters = self.guards.iter().map(|(e, g)| (*e, g.flush(until.saturating_duration_since(Instant::now()))));
        DeliveryReport { exporters: exporters.collect() }
    }
    /// Shuts this machine's telemetry down within [`SHUTDOWN_DEADLINE`](Self::SHUTDOWN_DEADLINE)
    /// and reports what each exporter delivered (print it: it is the last word on what
    /// reached the backends). See [`shutdown_within`](Self::shutdown_within) for the order.
    pub fn shutdown(self) -> DeliveryReport {
        self.shutdown_within(Self::SHUTDOWN_DEADLINE)
    }
    /// [`shutdown`](Self::shutdown) with a deadline of your own, for all exporters together.
    ///
    /// The order, for rollouts that wait for readiness to drop: first every exporter
    /// drains (prom's `/readyz` answers 503 while `/metrics` and `/healthz` keep serving),
    /// held for `AM_HEALTH_DRAIN` (not part of `timeout`); then the exporters flush and stop
    /// within `timeout`; the scrape server closes last, so the final scrape sees the final
    /// counts and a probe never meets a refused connection before the process ends.
    pub fn shutdown_within(mut self, timeout: Duration) -> DeliveryReport {
        self.stop(timeout)
    }
    /// The start of a graceful stop, for an app that stops its own server first: `/readyz`
    /// answers 503 from now on (wherever it is served) while everything else keeps working.
    /// Returns how long to hold that before stopping anything (`AM_HEALTH_DRAIN`, what is
    /// left of it); [`shutdown`](Self::shutdown) later does not hold again.
    pub fn drain(&self) -> Duration {
        self.guards.iter().map(|(_, g)| g.drain()).max().unwrap_or_default()
    }
    fn stop(&mut self, timeout: Duration) -> DeliveryReport {
        let hold = self.drain();
        if !hold.is_zero() {
            tracing::info!(target: "am_telemetry", "draining for {hold:?} before the exporters flush");
            // a fixed hold, not a poll: endpoints need this long to stop routing here
            std::thread::sleep(hold);
        }
        let until = Instant::now() + timeout;
        // prom last: its endpoint answers probes and the last scrape while the rest flushes
        self.guards.sort_by_key(|(e, _)| *e == Exporter::Prom);
        let mut report = DeliveryReport { exporters: Vec::new() };
        for (e, g) in self.guards.drain(..) {
            let d = g.shutdown(until.saturating_duration_since(Instant::now()));
            if !d.in_time {
                tracing::warn!(target: "am_telemetry", exporter = e.name(), "shutdown deadline passed before the exporter finished: {d}");
            } else if !d.complete() {
                tracing::warn!(target: "am_telemetry", exporter = e.name(), "not everything was delivered: {d}");
            }
            report.exporters.push((e, d));
        }
        report
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if !self.guards.is_empty() {
            self.stop(Self::SHUTDOWN_DEADLINE);
        }
    }
}

/// What each bound exporter delivered, from [`Telemetry::flush`] and
/// [`Telemetry::shutdown`]: per exporter, what it was given and what became of it (sent,
/// dropped, failed, still pending), so `produced = sent + dropped + failed + pending`.
/// What "sent" means per exporter is in [`Delivery`]'s docs and the repository's
/// `docs/env.md`. `Display` prints one line per exporter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Each exporter and its delivery, in shutdown order.
    pub exporters: Vec<(Exporter, Delivery)>,
}

impl DeliveryReport {
    /// Every exporter delivered everything, in time.
    pub fn complete(&self) -> bool {
        self.exporters.iter().all(|(_, d)| d.complete())
    }
    /// One exporter's delivery, when it was bound.
    pub fn get(&self, exporter: Exporter) -> Option<&Delivery> {
        self.exporters.iter().find(|(e, _)| *e == exporter).map(|(_, d)| d)
    }
}

impl fmt::Display for DeliveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "am-telemetry: delivered{}", if self.complete() { "" } else { " (not everything)" })?;
        for (e, d) in &self.exporters {
            writeln!(f, "  {:<8} {d}", format!("{e}:"))?;
        }
        Ok(())
    }
}

/// Variables set (per `lookup`) for exporters that are not compiled in.
fn ignored_vars(lookup: impl Fn(&str) -> Option<String>) -> Vec<IgnoredVar> {
    let set = |v: &str| lookup(v).is_some_and(|x| !x.trim().is_empty());
    let mut out = Vec::new();
    for exporter in Exporter::ALL.into_iter().filter(|e| !e.compiled()) {
        let vars = exporter.activation().iter().chain(exporter.additions());
        for var in vars.filter(|v| set(v)) {
            out.push(IgnoredVar { var, exporter, feature: exporter.name() });
        }
    }
    // parts of a compiled exporter that have a feature of their own
    if Exporter::Otel.compiled() {
        for (var, feature, _) in OTEL_ADDITIONS.iter().filter(|(v, _, on)| !on && set(v)) {
            out.push(IgnoredVar { var, exporter: Exporter::Otel, feature });
        }
    }
    out
}

/// Notes about the setup as a whole.
fn setup_notes(report: &Report) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(level) = am_core::env::parse(am_core::env::AM_LOG, am_core::env::parse_log_level).ok().flatten()
        && level != am_core::LogLevel::Nothing
        && !cfg!(feature = "log")
        && am_core::LogPrinter::from_env().is_none()
        && !report.bound.iter().any(|e| matches!(e, Exporter::Otel | Exporter::Loki | Exporter::Dbg))
    {
        notes.push(format!(
            "{}={} but nothing shows machine logs: set AM_LOG_PRINT=1 (stdout), enable am-telemetry's feature \
             `log` (machine logs as `tracing` events, with a subscriber installed), or bind otel \
             (AM_OTEL_LOG), loki or dbg",
            am_core::env::AM_LOG,
            level.as_str()
        ));
    }
    // logs and metrics ride on the OTel exporter: set alone, they switch nothing on
    if report.skipped.iter().any(|(e, s)| *e == Exporter::Otel && matches!(s, Skip::Off { .. })) {
        let on: Vec<&str> = OTEL_ADDITIONS
            .iter()
            .map(|(v, ..)| *v)
            .filter(|v| am_core::env::is_on(v) && !report.ignored.iter().any(|i| i.var == *v))
            .collect();
        if !on.is_empty() {
            notes.push(format!(
                "{} set, but the OTel exporter starts only with AM_OTEL_TRACE (they add to it): set AM_OTEL_TRACE=1 too",
                on.join(" and ")
            ));
        }
    }
    if report.bound.is_empty()
        && report.ignored.is_empty()
        && report.skipped.iter().all(|(_, s)| matches!(s, Skip::Off { .. }))
    {
        let vars: Vec<&str> =
            Exporter::ALL.iter().filter(|e| e.compiled()).flat_map(|e| e.activation().iter().copied()).collect();
        if !vars.is_empty() {
            notes.push(format!("no exporter is switched on: set one of {}", vars.join(", ")));
        }
    }
    notes
}

/// Binds every compiled-in exporter its variables switch on to a root machine, and reports
/// what it did ([`Telemetry::report`]): bound, skipped and why (a variable unset, a
/// submachine — bind its root, later submachines inherit —, `AM_TEST_RUNNER`), variables
/// set for exporters not compiled in, and notes. An unusable value of any variable an
/// exporter reads is an [`Error`] naming it. am-core's own variables (`AM_LOG`) are checked
/// too. Go's `AM_LOG_PRINT` / `AM_LOG_FILE` (machine logs to stdout, or to a file per
/// machine) and `AM_HEALTHCHECK` (`Healthcheck` every 30 s) bind am-core's
/// [`LogPrinter`](am_core::LogPrinter) and [`HealthcheckTicker`](am_core::HealthcheckTicker)
/// to the machine, inherited by its submachines.
///
/// ```
/// use am_telemetry::am_core::{Machine, Schema};
/// let m = Machine::new(Schema::builder().states(["A"]).build()?);
/// let telemetry = am_telemetry::bind_env(&m)?;
/// print!("{}", telemetry.report());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn bind_env(machine: &Machine) -> Result<Telemetry, Error> {
    bind_env_with(machine, &BindOptions::default())
}

/// What [`bind_env_with`] does beyond what the environment says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BindOptions {
    /// The app serves `/metrics` and the probes on its own server
    /// ([`Telemetry::router`], or [`Telemetry::prom`] for another framework): prom binds even
    /// without `AM_PROM_ADDR` / `AM_PROM_PUSH_URL`, and listens of its own only when
    /// `AM_PROM_ADDR` says so.
    pub app_server: bool,
}

impl BindOptions {
    /// Sets [`app_server`](Self::app_server).
    pub fn app_server(mut self) -> Self {
        self.app_server = true;
        self
    }
}

/// [`bind_env`] with [`BindOptions`].
pub fn bind_env_with(machine: &Machine, options: &BindOptions) -> Result<Telemetry, Error> {
    am_core::env::check().map_err(|e| Error { exporter: None, source: Box::new(e), feature: None })?;
    let mut t = Telemetry {
        report: Report {
            machine: machine.id().to_string(),
            service: am_core::env::service(),
            bound: Vec::new(),
            destinations: Vec::new(),
            skipped: Vec::new(),
            ignored: ignored_vars(|v| std::env::var(v).ok()),
            notes: Vec::new(),
        },
        guards: Vec::new(),
        #[cfg(feature = "prom")]
        prom: None,
    };
    let _ = options; // without prom nothing reads it
    #[cfg(feature = "dbg")]
    t.take(Exporter::Dbg, boxed(Exporter::Dbg, am_dbg_proto::bind_env(machine))?);
    #[cfg(feature = "loki")]
    t.take(Exporter::Loki, boxed(Exporter::Loki, am_loki::bind_env(machine))?);
    #[cfg(feature = "grafana")]
    t.take(Exporter::Grafana, boxed(Exporter::Grafana, am_grafana_gen::bind_env(machine))?);
    #[cfg(feature = "prom")]
    {
        let bound =
            if options.app_server { am_prom::bind_env_for_app_server(machine) } else { am_prom::bind_env(machine) };
        if let Ok(am_core::Binding::Bound { guard, .. }) = &bound {
            t.prom = Some(guard.tracer().clone());
        }
        t.take(Exporter::Prom, boxed(Exporter::Prom, bound)?);
    }
    #[cfg(feature = "otel")]
    t.take(Exporter::Otel, boxed(Exporter::Otel, am_otel::bind_env(machine))?);
    crate::switches::bind(machine);
    let notes = setup_notes(&t.report);
    t.report.notes.extend(notes);
    log(&t.report);
    Ok(t)
}

impl Telemetry {
    /// Files one exporter's binding into the report (and keeps its guard).
    #[allow(dead_code)] // no exporter feature
    fn take(&mut self, e: Exporter, b: Binding<Box<dyn ExporterGuard>>) {
        match b {
            Binding::Bound { guard, notes } => {
                self.report.bound.push(e);
                self.report.destinations.push((e, guard.destination()));
                self.report.notes.extend(notes.into_iter().map(|n| format!("{e}: {n}")));
                self.guards.push((e, guard));
            }
            Binding::Skipped(why) => self.report.skipped.push((e, why)),
        }
    }
}

/// An exporter's binding with its guard boxed and its error wrapped.
#[allow(dead_code)] // no exporter feature
fn boxed<G: ExporterGuard + 'static, E: std::error::Error + Send + Sync + 'static>(
    exporter: Exporter,
    r: Result<Binding<G>, E>,
) -> Result<Binding<Box<dyn ExporterGuard>>, Error> {
    match r {
        Ok(Binding::Bound { guard, notes }) => Ok(Binding::Bound { guard: Box::new(guard), notes }),
        Ok(Binding::Skipped(s)) => Ok(Binding::Skipped(s)),
        Err(e) => Err(Error::new(exporter, e)),
    }
}

fn log(r: &Report) {
    for e in &r.bound {
        tracing::info!(target: "am_telemetry", machine = %r.machine, exporter = e.name(), "bound");
    }
    for (e, why) in &r.skipped {
        tracing::debug!(target: "am_telemetry", machine = %r.machine, exporter = e.name(), "skipped: {why}");
    }
    for i in &r.ignored {
        tracing::warn!(target: "am_telemetry", "{i}");
    }
    for n in &r.notes {
        tracing::warn!(target: "am_telemetry", machine = %r.machine, "{n}");
    }
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
        let prom = IgnoredVar { var: "AM_PROM_PUSH_URL", exporter: Exporter::Prom, feature: "prom" };
        assert_eq!(ignored.contains(&prom), !cfg!(feature = "prom"));
        assert!(!ignored.iter().any(|i| i.var == "AM_LOKI_ADDR"), "empty values are unset");
        assert_eq!(ignored.iter().any(|i| i.var == "AM_DBG_ADDR"), !cfg!(feature = "dbg"));
        assert_eq!(
            prom.to_string(),
            "AM_PROM_PUSH_URL is set but ignored: am-telemetry was built without feature `prom`"
        );
    }

    #[test]
    fn activation_names_match_the_exporters() {
        #[cfg(feature = "dbg")]
        assert_eq!(Exporter::Dbg.activation(), [am_dbg_proto::AM_DBG_ADDR]);
        #[cfg(feature = "grafana")]
        assert_eq!(Exporter::Grafana.activation(), [am_grafana_gen::env::AM_GRAFANA_URL]);
        #[cfg(feature = "prom")]
        assert_eq!(Exporter::Prom.activation(), [am_prom::env::AM_PROM_ADDR, am_prom::env::AM_PROM_PUSH_URL]);
        #[cfg(feature = "otel")]
        assert_eq!(Exporter::Otel.activation(), [am_otel::env::AM_OTEL_TRACE]);
        #[cfg(feature = "otel")]
        assert_eq!(Exporter::Otel.additions(), [am_otel::env::AM_OTEL_LOG, am_otel::env::AM_OTEL_METRICS]);
        #[cfg(feature = "loki")]
        assert_eq!(Exporter::Loki.activation(), [am_loki::env::AM_LOKI_ADDR]);
        assert!(Exporter::ALL.iter().all(|e| !e.activation().is_empty()));
    }

    #[test]
    fn errors_print_each_message_once_and_name_features() {
        let e = Error::new(Exporter::Otel, std::io::Error::other("OTLP transport http needs the `http` cargo feature"));
        assert_eq!(e.to_string(), "the otel exporter cannot start (enable am-telemetry's feature `otel-http`)");
        let chain = format!("{e:?}");
        assert_eq!(chain.matches("cargo feature").count(), 1, "{chain}");
        assert!(std::error::Error::source(&e).is_some());
    }
}
