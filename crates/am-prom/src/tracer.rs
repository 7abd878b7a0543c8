//! The tracer: a shared handle ([`PromTracer`]) and the per-machine tracer it binds to each
//! machine, which holds that machine's metric handles so a hook never looks anything up.

use am_core::exporter::Unpoison;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use am_core::{Attach, Binding, Delivery, ExporterGuard, Interest, Machine, Skip, Tracer, Transition};
use prometheus_client::registry::Registry;

use crate::error::Error;
use crate::exposition::{Format, encode};
use crate::shared::{Shared, Slot};

/// Exports machine metrics to Prometheus. Cheap to clone. Bind it with
/// [`bind`](Self::bind), the machine builder's `tracer`, or [`bind_env`]; submachines
/// inherit it, each with its own `mach_id`.
///
/// Background work (the scrape endpoint, the pusher) runs until [`shutdown`](Self::shutdown)
/// or until a [`PromGuard`] is dropped; dropping the tracer handles does not stop it.
#[derive(Clone)]
pub struct PromTracer(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) local_addr: Option<SocketAddr>,
    pub(crate) push_url: Option<String>,
    pub(crate) service: String,
    #[cfg_attr(not(any(feature = "server", feature = "push")), allow(dead_code))]
    pub(crate) shutdown_timeout: Duration,
    /// How long `/readyz` answers 503 before the rest stops.
    pub(crate) drain_for: Duration,
    /// When draining began (the first [`PromTracer::drain`]).
    pub(crate) drain_started: OnceLock<Instant>,
    #[cfg(any(feature = "server", feature = "push"))]
    pub(crate) background: Option<crate::background::Background>,
}

impl std::fmt::Debug for PromTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromTracer")
            .field("id", &self.0.shared.id)
            .field("local_addr", &self.0.local_addr)
            .field("push_url", &self.0.push_url)
            .field("service", &self.0.service)
            .finish_non_exhaustive()
    }
}

/// The exporter's counters, from [`PromTracer::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PromStats {
    /// Machines exported now.
    pub machines: usize,
    /// Pushes the Pushgateway accepted.
    pub pushes: u64,
    /// Pushes that failed.
    pub push_failures: u64,
    /// When the last push was accepted.
    pub last_push_ok: Option<SystemTime>,
    /// `GET /metrics` requests answered.
    pub scrapes: u64,
    /// Transitions of refused machines, not recorded.
    pub dropped_updates: u64,
    /// `am_state_active` series refused by the per-machine cap.
    pub refused_series: u64,
    /// Machines, or their Go-compatible series, refused.
    pub refused_machines: u64,
}

impl PromTracer {
    /// The tracer's ID (`am-prom` unless set with the builder).
    pub fn id(&self) -> &str {
        &self.0.shared.id
    }
    /// The scrape endpoint's address, when it runs.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.0.local_addr
    }
    /// The normalised service name: the Pushgateway job and the `service` label of pushed
    /// series.
    pub fn service(&self) -> &str {
        &self.0.service
    }
    /// The grouping URL pushes go to (user info redacted), when pushing.
    pub fn push_url(&self) -> Option<&str> {
        self.0.push_url.as_deref()
    }

    /// Binds the tracer to an existing machine (children built afterwards inherit it).
    /// Binding twice is a no-op. Fails in Go-compatible mode when the machine's ID
    /// normalises to metric names another machine uses.
    pub fn bind(&self, m: &Machine) -> Result<(), Error> {
        let shared = &self.0.shared;
        if m.tracers().iter().any(|t| t.id() == &*shared.id) {
            return Ok(());
        }
        shared.check_go_names(m.id())?;
        m.bind_tracer(Arc::new(self.clone()));
        Ok(())
    }

    /// The exposition text of this tracer's families (what `/metrics` serves).
    pub fn encode(&self, format: Format) -> String {
        encode(&self.0.registry, format).unwrap_or_default()
    }

    /// The exporter's counters.
    pub fn stats(&self) -> PromStats {
        let s = &self.0.shared;
        let h = &s.health;
        let ms = h.last_push_ok_ms.load(Relaxed);
        PromStats {
            machines: s.machines().len(),
            pushes: h.pushes.load(Relaxed),
            push_failures: h.push_failures.load(Relaxed),
            last_push_ok: (ms > 0).then(|| UNIX_EPOCH + Duration::from_millis(ms)),
            scrapes: h.scrapes.load(Relaxed),
            dropped_updates: h.dropped.load(Relaxed),
            refused_series: h.refused_series.load(Relaxed),
            refused_machines: h.refused_machines.load(Relaxed),
        }
    }

    /// Starts a graceful stop: from now on `/readyz` answers 503 (`draining`) while
    /// `/metrics` and `/healthz` keep serving and the pusher keeps pushing, so that probes
    /// never see a refused connection and the last scrape still works. Returns how much of
    /// the drain time ([`drain`](crate::PromTracerBuilder::drain), `AM_HEALTH_DRAIN`) is
    /// left to hold 503 before the flush starts. Idempotent; [`shutdown`](Self::shutdown)
    /// does it too.
    pub fn drain(&self) -> Duration {
        let started = *self.0.drain_started.get_or_init(Instant::now);
        self.0.shared.draining.store(true, Relaxed);
        #[cfg(any(feature = "server", feature = "push"))]
        if let Some(bg) = &self.0.background
            && bg.drain()
        {
            tracing::info!(target: "am_prom", "am-prom: draining: /readyz answers 503");
        }
        (started + self.0.drain_for).saturating_duration_since(Instant::now())
    }

    /// Drains (see [`drain`](Self::drain): 503 on `/readyz`, held for the rest of the
    /// drain time), then stops the scrape endpoint and the pusher after a final push,
    /// waiting at most the builder's `shutdown_timeout` after the drain; reports the
    /// pushes (`Delivery::complete` when every push the Pushgateway got was accepted; a
    /// scrape-only tracer has none). Idempotent. Blocking: in async code use
    /// [`shutdown_async`](Self::shutdown_async). On a current-thread runtime it only
    /// starts the shutdown, since waiting there would stall the tasks it waits for.
    pub fn shutdown(&self) -> Delivery {
        self.shutdown_within(self.0.shutdown_timeout)
    }

    /// [`shutdown`](Self::shutdown), waiting at most `timeout` (after the drain) instead of
    /// the builder's `shutdown_timeout`.
    pub fn shutdown_within(&self, timeout: Duration) -> Delivery {
        let hold = self.drain();
        #[cfg(any(feature = "server", feature = "push"))]
        if let Some(bg) = &self.0.background {
            if !hold.is_zero() {
                // a fixed hold, not a poll: endpoints need this long to stop routing here
                std::thread::sleep(hold);
            }
            bg.stop();
            let in_time = bg.wait(Instant::now() + timeout);
            return self.delivery(in_time);
        }
        let _ = (hold, timeout);
        self.delivery(true)
    }

    /// [`shutdown`](Self::shutdown) for async code.
    pub async fn shutdown_async(&self) -> Delivery {
        let hold = self.drain();
        #[cfg(any(feature = "server", feature = "push"))]
        if let Some(bg) = &self.0.background {
            if !hold.is_zero() {
                tokio::time::sleep(hold).await;
            }
            bg.stop();
            let in_time = bg.wait_async(Instant::now() + self.0.shutdown_timeout).await;
            return self.delivery(in_time);
        }
        let _ = hold;
        self.delivery(true)
    }

    /// Whether the process is ready, as `/readyz` answers: the machines that decide readiness
    /// (root machines, and submachines named with `ready_state`) are ready, and shutdown has
    /// not begun. For a framework of your own: `verdict.status()`, `verdict.to_string()`.
    ///
    /// ```
    /// use am_core::{Machine, Schema};
    /// let prom = am_prom::PromTracer::builder().build()?;
    /// let m = Machine::builder(Schema::builder().states(["Ready"]).build()?).id("svc").build();
    /// prom.bind(&m)?;
    /// assert_eq!(prom.readiness().status(), 503);
    /// m.add(&["Ready"])?;
    /// let v = prom.readiness();
    /// assert!(v.ok && v.to_string().starts_with("ok\nsvc ok"));
    /// prom.drain();
    /// assert_eq!(prom.readiness().to_string(), "draining: shutting down\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn readiness(&self) -> crate::Verdict {
        crate::endpoints::verdict(&self.0.shared, crate::health::Probe::Ready)
    }

    /// Whether the process is live, as `/healthz` answers (heartbeats within their window,
    /// no queue stuck).
    pub fn liveness(&self) -> crate::Verdict {
        crate::endpoints::verdict(&self.0.shared, crate::health::Probe::Live)
    }

    /// The answer to `GET path` (`/metrics`, `/healthz`, `/readyz`) for a server of your own:
    /// the same status, content type and body as the built-in endpoint, including the
    /// format negotiation of `accept` (OpenMetrics or text 0.0.4; JSON health answers).
    pub fn answer(&self, method: &str, path: &str, accept: Option<&str>) -> crate::Answer {
        crate::endpoints::answer(&self.0.shared, &self.0.registry, method, path, accept)
    }

    /// The pushes as a [`Delivery`]: each push is one item ("sent": the Pushgateway
    /// answered 2xx).
    pub fn delivery(&self, in_time: bool) -> Delivery {
        let h = &self.0.shared.health;
        let (sent, failed) = (h.pushes.load(Relaxed), h.push_failures.load(Relaxed));
        Delivery { produced: sent + failed, sent, failed, in_time, ..Delivery::new("pushes") }
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        #[cfg(any(feature = "server", feature = "push"))]
        if let Some(bg) = &self.0.background {
            return bg.is_stopping();
        }
        false
    }

    /// A guard that shuts the tracer down when its last clone is dropped.
    pub fn guard(&self) -> PromGuard {
        PromGuard(Arc::new(GuardInner(self.clone())))
    }
}

fn interest() -> Interest {
    Interest::TRANSITION_INIT | Interest::TRANSITION_END | Interest::HANDLERS
}

/// Made by [`PromTracer`]'s `attach` for one machine: its hooks write that machine's atomics
/// directly.
struct MachineTracer {
    shared: Arc<Shared>,
    /// `None` for a refused machine (its transitions are counted as dropped).
    slot: Option<Slot>,
}

impl Tracer for MachineTracer {
    fn id(&self) -> &str {
        &self.shared.id
    }
    fn inheritable(&self) -> bool {
        self.shared.inherit
    }
    fn interest(&self) -> Interest {
        interest()
    }
    #[inline]
    fn transition_init(&self, tx: &Transition<'_>) {
        if let Some((mm, _)) = &self.slot {
            mm.transition_init(tx);
        }
    }
    #[inline]
    fn handler_end(&self, _tx: &Transition<'_>, _binding: &str, _handler: &str) {
        if let Some((mm, _)) = &self.slot {
            mm.handler_end();
        }
    }
    #[inline]
    fn transition_end(&self, tx: &Transition<'_>) {
        match &self.slot {
            Some((mm, track)) => mm.transition_end(track, tx),
            None => drop(self.shared.health.dropped.fetch_add(1, Relaxed)),
        }
    }
    fn machine_dispose(&self, machine_id: &str) {
        if let Some((mm, _)) = &self.slot {
            self.shared.remove_if(machine_id, mm);
        }
    }
}

/// What gets bound (and inherited): each machine it is bound to gets a `MachineTracer`
/// holding that machine's series (or none for an `rpc-*` / `relay` submachine).
impl Tracer for PromTracer {
    fn id(&self) -> &str {
        &self.0.shared.id
    }
    fn inheritable(&self) -> bool {
        self.0.shared.inherit
    }
    fn attach(&self, m: &Machine) -> Attach {
        let shared = &self.0.shared;
        if m.parent_id().is_some() && am_core::env::is_rpc_machine(m.tags()) {
            return Attach::Decline;
        }
        if !shared.metrics {
            // health probes only: no hooks in the machine's transitions
            shared.watch(m);
            return Attach::Decline;
        }
        Attach::With(Arc::new(MachineTracer { shared: shared.clone(), slot: shared.admit(m) }))
    }
}

/// Shuts a [`PromTracer`] down (final push included) when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct PromGuard(Arc<GuardInner>);

#[derive(Debug)]
struct GuardInner(PromTracer);

impl Drop for GuardInner {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

impl PromGuard {
    /// The tracer.
    pub fn tracer(&self) -> &PromTracer {
        &self.0.0
    }
    /// Shuts the tracer down now (see [`PromTracer::shutdown`]), whoever else holds a clone.
    pub fn shutdown(self) -> Delivery {
        self.0.0.shutdown()
    }
}

/// Binds the process's env-configured tracer to a root machine when
/// [`AM_PROM_ADDR`](crate::env::AM_PROM_ADDR) or [`AM_PROM_PUSH_URL`](crate::env::AM_PROM_PUSH_URL)
/// is on; the service (the push job) is [`am_core::env::service`]. Skipped (and why) by the
/// shared [`env_gate`](am_core::env_gate): submachines (they inherit), `rpc-*`/`relay`
/// machines unless `AM_RPC_DBG`, `AM_TEST_RUNNER`. Every machine bound this way shares one
/// tracer, one endpoint and one pusher; each [`PromGuard`] holds a share, and the exporter
/// stops when the last one is dropped. An unusable value of any `AM_PROM_*` variable is an
/// error naming it; the binding notes [`AM_PROM_STATES`](crate::env::AM_PROM_STATES) names the
/// machine lacks.
///
/// ```
/// use am_core::{Machine, Schema};
/// let m = Machine::new(Schema::builder().states(["A"]).build()?);
/// // AM_PROM_ADDR and AM_PROM_PUSH_URL are not set here
/// let b = am_prom::bind_env(&m)?;
/// assert_eq!(b.skipped().map(|s| s.to_string()).as_deref(), Some("off: AM_PROM_ADDR and AM_PROM_PUSH_URL unset"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn bind_env(m: &Machine) -> Result<Binding<PromGuard>, Error> {
    bind_shared(m, false)
}

/// [`bind_env`] for an app that serves `/metrics` and the probes on its own server
/// ([`PromTracer::router`], or [`PromTracer::answer`] for another framework): binds even
/// when neither `AM_PROM_ADDR` nor `AM_PROM_PUSH_URL` is set (then nothing listens of its
/// own); either one, when set, still starts its endpoint or pusher.
pub fn bind_env_for_app_server(m: &Machine) -> Result<Binding<PromGuard>, Error> {
    bind_shared(m, true)
}

fn bind_shared(m: &Machine, always: bool) -> Result<Binding<PromGuard>, Error> {
    if let Err(skip) = am_core::env_gate(m) {
        return Ok(Binding::Skipped(skip));
    }
    crate::env::check()?;
    let (listen, push) = crate::env::activation()?;
    if listen.is_none() && push.is_none() && !always {
        return Ok(Binding::Skipped(Skip::Off { vars: &[crate::env::AM_PROM_ADDR, crate::env::AM_PROM_PUSH_URL] }));
    }
    static SHARED: OnceLock<Mutex<Weak<GuardInner>>> = OnceLock::new();
    let guard = {
        let mut slot = SHARED.get_or_init(Mutex::default).lock().unpoison();
        match slot.upgrade() {
            Some(g) if !g.0.is_shut_down() => PromGuard(g),
            _ => {
                let g = PromTracer::builder().from_env().build()?.guard();
                *slot = Arc::downgrade(&g.0);
                g
            }
        }
    };
    guard.tracer().bind(m)?;
    let notes = crate::env::states_note(m).into_iter().collect();
    Ok(Binding::Bound { guard, notes })
}

impl ExporterGuard for PromGuard {
    /// Nothing waits in a buffer: series are read at scrape and push time.
    fn flush(&self, _timeout: Duration) -> Delivery {
        self.tracer().delivery(true)
    }
    fn destination(&self) -> String {
        let t = self.tracer();
        let mut parts = Vec::new();
        if let Some(a) = t.local_addr() {
            let paths = if t.0.shared.metrics { "/metrics /healthz /readyz" } else { "/healthz /readyz" };
            parts.push(format!("{a} ({paths})"));
        }
        if let Some(u) = t.push_url() {
            parts.push(format!("push {u}"));
        }
        if parts.is_empty() {
            parts.push("the app's own server (PromTracer::router / answer)".into());
        }
        parts.join(", ")
    }
    /// When this is the last share: `/readyz` answers 503 from now on (the endpoint keeps
    /// serving until the shutdown). Other shares leave readiness alone: the process goes
    /// on serving the machines still bound.
    fn drain(&self) -> Duration {
        if Arc::strong_count(&self.0) == 1 { self.tracer().drain() } else { Duration::ZERO }
    }
    /// The last share stops the endpoint and the pusher after a final push.
    fn shutdown(self: Box<Self>, timeout: Duration) -> Delivery {
        match Arc::try_unwrap(self.0) {
            Ok(last) => last.0.shutdown_within(timeout),
            Err(shared) => shared.0.delivery(true),
        }
    }
}
