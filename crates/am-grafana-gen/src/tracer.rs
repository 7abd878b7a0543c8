//! The sync tracer: keeps one dashboard listing every machine it sees, uploading from a
//! background task, debounced. Hooks only record an ID and wake the task.

use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use am_core::exporter::Watch;
use tokio::sync::mpsc;

use am_core::{Attach, Binding, Delivery, ExporterGuard, Machine, Skip, Tracer};

use crate::rules::AlertRules;
use crate::{Dashboard, Error, GrafanaClient, GrafanaClientBuilder};

/// Quiet time after the last new machine before an upload. Default of
/// [`GrafanaTracerBuilder::debounce`].
const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(500);
/// An upload happens at the latest this long after the first pending change.
const MAX_DELAY_FACTOR: u32 = 10;

/// Upload counters of a [`GrafanaTracer`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Successful uploads.
    pub uploads: u64,
    /// Failed uploads (each logged once through `tracing`).
    pub failures: u64,
    /// The last failure's message (never containing the token).
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Progress {
    /// Bumped on every new machine ID.
    wanted: u64,
    /// The `wanted` value the last finished upload attempt covered.
    done: u64,
    ids: Vec<String>,
    stats: SyncStats,
    /// Unix ms of the last successful upload (0: none yet).
    last_ok_ms: u64,
}

impl am_core::exporter::StatsSource for Shared {
    fn exporter_stats(&self) -> am_core::exporter::ExporterStats {
        let p = self.lock();
        // one upload waits while machine IDs are not on the uploaded dashboard yet
        let queued = u64::from(p.wanted > p.done);
        am_core::exporter::ExporterStats {
            produced: p.stats.uploads + p.stats.failures + queued,
            sent: p.stats.uploads,
            dropped: 0,
            failed: p.stats.failures,
            queued,
            connected: None,
            last_success_ms: am_core::exporter::last_ms(p.last_ok_ms),
        }
    }
}

struct Shared {
    /// Notified after every upload attempt.
    progress: Watch<Progress>,
    /// Grafana's base URL, for reports.
    url: String,
    name: Option<String>,
    template: Template,
}

#[derive(Clone)]
struct Template {
    folder: Option<String>,
    source: Option<String>,
    alerts: AlertRules,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock()
    }
}

/// A [`Tracer`] that adds every machine it is bound to — and, being inheritable, every
/// submachine at any depth — to one dashboard, and uploads it after each change.
///
/// Hooks never wait for the network: they append the ID under a short lock and signal a
/// background task, which waits for a quiet period ([`debounce`](GrafanaTracerBuilder::debounce)),
/// renders the dashboard and uploads it. The task runs on the current tokio runtime, or on a
/// thread of its own outside one ([`am_core::exporter::spawn`]). Failures are counted and logged, never raised into the machine.
/// Machines tagged `rpc-*` or `relay` are skipped unless `AM_RPC_DBG` is on.
pub struct GrafanaTracer {
    shared: Arc<Shared>,
    wake: mpsc::UnboundedSender<()>,
}

impl std::fmt::Debug for GrafanaTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrafanaTracer").field("ids", &self.ids()).field("stats", &self.stats()).finish()
    }
}

/// Settings of a [`GrafanaTracer`].
#[derive(Debug, Default)]
#[must_use]
pub struct GrafanaTracerBuilder {
    client: GrafanaClientBuilder,
    name: Option<String>,
    folder: Option<String>,
    source: Option<String>,
    alerts: AlertRules,
    debounce: Option<Duration>,
}

impl GrafanaTracerBuilder {
    /// Grafana base URL. Default: `AM_GRAFANA_URL`.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.client = self.client.url(url);
        self
    }
    /// Service-account token. Default: `AM_GRAFANA_TOKEN`, then `GRAFANA_TOKEN`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.client = self.client.token(token);
        self
    }
    /// Request timeout. Default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.client = self.client.timeout(timeout);
        self
    }
    /// What the HTTPS client trusts and presents; see [`GrafanaClientBuilder::tls`].
    pub fn tls(mut self, tls: am_core::exporter::TlsSettings) -> Self {
        self.client = self.client.tls(tls);
        self
    }
    /// Dashboard title. Default: the first machine ID seen (the root machine).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Folder title. Default `asyncmachine`.
    pub fn folder(mut self, folder: impl Into<String>) -> Self {
        self.folder = Some(folder.into());
        self
    }
    /// Service name. Default: `AM_SERVICE`.
    pub fn source(mut self, service: impl Into<String>) -> Self {
        self.source = Some(service.into());
        self
    }
    /// Alert thresholds used when rendering (rules are not uploaded).
    pub fn alert_rules(mut self, rules: AlertRules) -> Self {
        self.alerts = rules;
        self
    }
    /// Quiet time after the last new machine before uploading. Default 500 ms; an upload
    /// still happens at most ten debounce periods after the first change.
    pub fn debounce(mut self, d: Duration) -> Self {
        self.debounce = Some(d);
        self
    }

    /// Builds the client and starts the upload thread.
    pub fn build(self) -> Result<GrafanaTracer, Error> {
        let client = self.client.build()?;
        let shared = Arc::new(Shared {
            progress: Watch::new(Progress::default()),
            url: client.url().to_string(),
            name: self.name,
            template: Template {
                folder: self.folder,
                source: self.source.or_else(|| am_core::env::value(am_core::env::AM_SERVICE)),
                alerts: self.alerts,
            },
        });
        am_core::exporter::register_stats("grafana", &shared);
        // Checks the folder and thresholds now rather than on the thread.
        render(&shared, &["check".to_string()])?;
        let (tx, rx) = mpsc::unbounded_channel();
        let worker = Worker { shared: shared.clone(), client, debounce: self.debounce.unwrap_or(DEFAULT_DEBOUNCE) };
        am_core::exporter::spawn("am-grafana-sync", None, worker.run(rx)).map_err(|e| Error::Worker(e.to_string()))?;
        Ok(GrafanaTracer { shared, wake: tx })
    }
}

fn render(shared: &Shared, ids: &[String]) -> Result<Dashboard, Error> {
    let t = &shared.template;
    let mut b = Dashboard::for_machines(ids).alert_rules(t.alerts.clone());
    if let Some(n) = &shared.name {
        b = b.name(n.clone());
    }
    if let Some(f) = &t.folder {
        b = b.folder(f.clone());
    }
    if let Some(s) = &t.source {
        b = b.source(s.clone());
    }
    b.build()
}

impl GrafanaTracer {
    /// Starts a tracer; see [`GrafanaTracerBuilder`].
    pub fn builder() -> GrafanaTracerBuilder {
        GrafanaTracerBuilder::default()
    }

    /// Adds a machine ID (no-op when known) and schedules an upload.
    pub fn register(&self, id: &str) {
        {
            let mut p = self.shared.lock();
            if p.ids.iter().any(|known| known == id) {
                return;
            }
            p.ids.push(id.to_string());
            p.wanted += 1;
        }
        // The task only ends when this sender is dropped, so a send error cannot happen
        // while `self` lives; ignore it rather than panic.
        let _ = self.wake.send(());
    }

    /// The machine IDs on the dashboard, in order of registration.
    pub fn ids(&self) -> Vec<String> {
        self.shared.lock().ids.clone()
    }

    /// Upload counters.
    pub fn stats(&self) -> SyncStats {
        self.shared.lock().stats.clone()
    }

    /// Waits until every registered ID has been covered by an upload attempt (success or
    /// failure), at most `timeout`, and reports the uploads ("sent": Grafana saved the
    /// dashboard; `pending` 1 when an upload still waits). On a current-thread runtime
    /// (which the upload task may be waiting to run on) it only checks.
    pub fn flush(&self, timeout: Duration) -> Delivery {
        let until = Instant::now() + timeout;
        let caught_up = |p: &Progress| p.done >= p.wanted;
        let progress = &self.shared.progress;
        let in_time = am_core::exporter::block_in_runtime(
            || progress.wait_until(until, caught_up),
            || caught_up(&progress.lock()),
        );
        use am_core::exporter::StatsSource;
        self.shared.exporter_stats().delivery("uploads", in_time)
    }

    fn accepts(m: &Machine) -> bool {
        !am_core::env::is_rpc_machine(m.tags())
    }
}

/// Registers every machine it is bound to (and every submachine, which inherits it) on the
/// dashboard, and needs no hook afterwards: it declines them all.
impl Tracer for GrafanaTracer {
    fn id(&self) -> &str {
        "am-grafana-gen"
    }
    fn inheritable(&self) -> bool {
        true
    }
    fn attach(&self, m: &Machine) -> Attach {
        if Self::accepts(m) {
            self.register(m.id());
        }
        Attach::Decline
    }
}

struct Worker {
    shared: Arc<Shared>,
    client: GrafanaClient,
    debounce: Duration,
}

impl Worker {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<()>) {
        let mut open = true;
        while open && rx.recv().await.is_some() {
            // Debounce: wait for a quiet period, bounded by a maximum delay.
            let first = Instant::now();
            let max = self.debounce * MAX_DELAY_FACTOR;
            loop {
                let left = max.saturating_sub(first.elapsed()).min(self.debounce);
                if left.is_zero() {
                    break;
                }
                match tokio::time::timeout(left, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Err(_) => break,
                    // The tracer was dropped: upload what is pending, then stop.
                    Ok(None) => {
                        open = false;
                        break;
                    }
                }
            }
            let (ids, wanted) = {
                let p = self.shared.lock();
                (p.ids.clone(), p.wanted)
            };
            let result = match render(&self.shared, &ids) {
                Ok(d) => self.client.upload(&d).await.map(|u| (u, d.ids().len())),
                Err(e) => Err(e),
            };
            self.shared.progress.update(|p| {
                match result {
                    Ok((u, n)) => {
                        p.stats.uploads += 1;
                        p.last_ok_ms = am_core::exporter::unix_ms();
                        tracing::debug!(uid = %u.uid, version = u.version, machines = n, "am-grafana-gen: dashboard uploaded");
                    }
                    Err(e) => {
                        p.stats.failures += 1;
                        tracing::warn!(error = %e, "am-grafana-gen: dashboard upload failed");
                        p.stats.last_error = Some(e.to_string());
                    }
                }
                p.done = p.done.max(wanted);
            });
        }
    }
}

/// Binds a [`GrafanaTracer`] to a root machine when `AM_GRAFANA_URL` is set (it also needs
/// `AM_GRAFANA_TOKEN`, else it is an error naming the variable); skipped (and why) by the
/// shared [`env_gate`](am_core::env_gate). The dashboard is named after the machine;
/// submachines join it as they are built.
///
/// ```
/// let m = am_core::Machine::new(am_core::Schema::builder().states(["A"]).build()?);
/// // Without the env variables nothing is bound.
/// if std::env::var_os("AM_GRAFANA_URL").is_none() {
///     assert!(!am_grafana_gen::bind_env(&m)?.is_bound());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn bind_env(m: &Machine) -> Result<Binding<GrafanaGuard>, Error> {
    if let Err(skip) = am_core::env_gate(m) {
        return Ok(Binding::Skipped(skip));
    }
    if crate::env::check()?.is_none() {
        return Ok(Binding::Skipped(Skip::Off { vars: &[crate::env::AM_GRAFANA_URL] }));
    }
    let t = Arc::new(GrafanaTracer::builder().name(m.id()).build()?);
    m.bind_tracer(t.clone());
    Ok(Binding::bound(GrafanaGuard(t)))
}

/// The tracer [`bind_env`] bound: flushing waits for the pending dashboard upload.
#[derive(Clone, Debug)]
pub struct GrafanaGuard(Arc<GrafanaTracer>);

impl GrafanaGuard {
    /// The tracer.
    pub fn tracer(&self) -> &GrafanaTracer {
        &self.0
    }
}

impl ExporterGuard for GrafanaGuard {
    fn flush(&self, timeout: Duration) -> Delivery {
        self.0.flush(timeout)
    }
    fn destination(&self) -> String {
        let folder = self.0.shared.template.folder.as_deref().unwrap_or(crate::DEFAULT_FOLDER);
        format!("{} (folder {folder:?})", self.0.shared.url)
    }
    fn shutdown(self: Box<Self>, timeout: Duration) -> Delivery {
        self.0.flush(timeout)
    }
}
