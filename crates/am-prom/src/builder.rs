//! [`PromTracerBuilder`]: settings, env fallbacks, and starting the background tasks.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use am_core::env::{is_on, normalize_id, parse, parse_count, parse_duration, parse_url};
use prometheus_client::registry::Registry;

use crate::collect::PromCollector;
use crate::env;
use crate::error::Error;
use crate::hist::{DEFAULT_DURATION_BUCKETS, Layout};
use crate::machine::SeriesRules;
use crate::shared::Shared;
use crate::tracer::{Inner, PromTracer};

/// Default cap of `am_state_active` series per machine.
pub const DEFAULT_MAX_STATE_SERIES: usize = 64;
/// Default cap of machines one tracer exports.
pub const DEFAULT_MAX_MACHINES: usize = 1000;
/// By default one transition in this many is timed; see
/// [`timing_every`](PromTracerBuilder::timing_every).
pub const DEFAULT_TIMING_EVERY: u64 = 8;
/// Default push interval.
pub const DEFAULT_PUSH_INTERVAL: Duration = Duration::from_secs(15);

/// Builds a [`PromTracer`]; see [`PromTracer::builder`]. Precedence: builder call >
/// `AM_PROM_*` variable > default.
pub struct PromTracerBuilder<'r> {
    registry: Option<&'r mut Registry>,
    id: String,
    listen: Option<String>,
    push: Option<(String, Option<Duration>)>,
    #[cfg(feature = "push")]
    push_method: crate::PushMethod,
    service: Option<String>,
    instance: Option<String>,
    allow: Option<Vec<String>>,
    max_states: Option<usize>,
    max_machines: Option<usize>,
    go_compat: Option<bool>,
    go_interval: Option<Duration>,
    duration_buckets: Option<Vec<f64>>,
    timing_every: Option<u64>,
    inherit: bool,
    metrics: bool,
    ready_states: std::collections::HashMap<String, String>,
    #[cfg(any(feature = "server", feature = "push"))]
    runtime: Option<tokio::runtime::Handle>,
    shutdown_timeout: Duration,
    health: Option<crate::health::HealthRules>,
    drain: Option<Duration>,
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    head_timeout: Duration,
    #[cfg_attr(not(feature = "push"), allow(dead_code))]
    tls: Option<am_core::exporter::TlsSettings>,
    activation_env: bool,
}

impl std::fmt::Debug for PromTracerBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromTracerBuilder")
            .field("id", &self.id)
            .field("listen", &self.listen)
            .field("push", &self.push.as_ref().map(|(u, i)| (am_core::env::redact_url(u), i)))
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl PromTracer {
    /// Starts building a tracer. It reads every `AM_PROM_*` setting from the env except
    /// the two that start something (`AM_PROM_ADDR`, `AM_PROM_PUSH_URL`); call
    /// [`from_env`](PromTracerBuilder::from_env) for those too.
    pub fn builder() -> PromTracerBuilder<'static> {
        PromTracerBuilder {
            registry: None,
            id: "am-prom".into(),
            listen: None,
            push: None,
            #[cfg(feature = "push")]
            push_method: crate::PushMethod::Put,
            service: None,
            instance: None,
            allow: None,
            max_states: None,
            max_machines: None,
            go_compat: None,
            go_interval: None,
            duration_buckets: None,
            timing_every: None,
            inherit: true,
            metrics: true,
            ready_states: Default::default(),
            #[cfg(any(feature = "server", feature = "push"))]
            runtime: None,
            shutdown_timeout: Duration::from_secs(5),
            health: None,
            drain: None,
            head_timeout: Duration::from_secs(10),
            tls: None,
            activation_env: false,
        }
    }
}

impl<'r> PromTracerBuilder<'r> {
    /// Also registers the families into your registry; you serve or push it yourself.
    pub fn registry<'a>(self, registry: &'a mut Registry) -> PromTracerBuilder<'a> {
        PromTracerBuilder { registry: Some(registry), ..self }
    }
    /// The tracer ID (default `am-prom`); two tracers bound to one machine need two IDs.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }
    /// Serves `GET /metrics` on this address (`host:port`, `:port` for loopback; port 0
    /// picks a free one, see [`PromTracer::local_addr`]).
    #[cfg(feature = "server")]
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.listen = Some(addr.into());
        self
    }
    /// Pushes to the Pushgateway at `url` every `interval` (and once on shutdown).
    #[cfg(feature = "push")]
    pub fn push(mut self, url: impl Into<String>, interval: Duration) -> Self {
        self.push = Some((url.into(), Some(interval)));
        self
    }
    /// What the pusher's HTTPS client trusts and presents: a CA of your own, a client
    /// certificate. Default: `AM_PROM_PUSH_CERTIFICATE` / `AM_PROM_PUSH_CLIENT_CERTIFICATE` /
    /// `AM_PROM_PUSH_CLIENT_KEY`, else the `AM_TLS_*` ones, else the system's roots. Needs
    /// the `tls` feature (so does an `https://` push URL).
    #[cfg(feature = "push")]
    pub fn tls(mut self, tls: am_core::exporter::TlsSettings) -> Self {
        self.tls = Some(tls);
        self
    }
    /// `PUT` (default: replace the group) or `POST`.
    #[cfg(feature = "push")]
    pub fn push_method(mut self, method: crate::PushMethod) -> Self {
        self.push_method = method;
        self
    }
    /// The service name; normalised, it is the push job and (unless Go-compatible pushes
    /// group by job only) the `service` label of pushed series. Default: `AM_SERVICE`.
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self
    }
    /// The `instance` grouping key of pushes (`/metrics/job/<job>/instance/<name>`), so that
    /// instances of one service keep groups of their own. Default: `AM_PROM_PUSH_INSTANCE`,
    /// else the host name (`AM_HOSTNAME`, else the system's); in Go-compatible mode, none:
    /// Go groups by job only, and instances of a service replace each other's group. Set
    /// in Go-compatible mode, pushes are ours again: grouped by instance, with the `service`
    /// label and every family.
    pub fn instance(mut self, name: impl Into<String>) -> Self {
        self.instance = Some(name.into());
        self
    }
    /// Only these states get `am_state_active` series. Default: `AM_PROM_STATES`, else
    /// every state but Multi ones (which never become labels).
    pub fn state_allow_list<I: IntoIterator<Item = S>, S: Into<String>>(mut self, states: I) -> Self {
        self.allow = Some(states.into_iter().map(Into::into).collect());
        self
    }
    /// Cap of `am_state_active` series per machine; states over it are counted in
    /// `am_prom_refused_series_total`. Default: `AM_PROM_MAX_STATES`, else 64.
    pub fn max_state_series(mut self, n: usize) -> Self {
        self.max_states = Some(n);
        self
    }
    /// Cap of machines exported. Default: `AM_PROM_MAX_MACHINES`, else 1,000.
    pub fn max_machines(mut self, n: usize) -> Self {
        self.max_machines = Some(n);
        self
    }
    /// Go-compatible mode: also exports the Go exporter's label-less `am_<metric>_<id>`
    /// gauges, with its help texts and (where its numbers are not wrong) its rules; see the
    /// repository's `docs/go-compat.md` for each metric. As in Go, they cover one interval
    /// ([`go_interval`](Self::go_interval)), synced once for every reader. Pushes go to the
    /// job's group alone and carry the Go gauges alone (Go's push), unless an
    /// [`instance`](Self::instance) is set; every transition is timed for `tx_time` unless
    /// [`timing_every`](Self::timing_every) says otherwise. Default: `AM_PROM_GO_COMPAT`,
    /// else off. Binding a machine whose normalised ID collides with another's fails with
    /// [`Error::IdCollision`]; an inherited child that collides keeps its labelled series
    /// only (counted in `am_prom_refused_machines_total`).
    pub fn go_compat(mut self, on: bool) -> Self {
        self.go_compat = Some(on);
        self
    }
    /// The interval the Go-compatible gauges cover: once per interval their averages and
    /// counts are synced (Go's `Sync`), and every scrape and push until the next sync reads
    /// those values. Default: `AM_PROM_GO_INTERVAL`, else each push (the push interval),
    /// else 15 s (Go's). `Duration::ZERO`: only when you call
    /// [`PromTracer::go_sync`](crate::PromTracer::go_sync). Without the `server` and `push`
    /// features there is no timer: call `go_sync`.
    pub fn go_interval(mut self, every: Duration) -> Self {
        self.go_interval = Some(every);
        self
    }
    /// Upper bounds (seconds) of `am_transition_duration_seconds`.
    pub fn duration_buckets(mut self, bounds: &[f64]) -> Self {
        self.duration_buckets = Some(bounds.to_vec());
        self
    }
    /// Measures the wall time of one transition in `n` (rounded up to a power of two; 1
    /// times every transition), for `am_transition_duration_seconds` and Go's `tx_time`.
    /// Two clock reads cost about as much as the rest of the tracer, so the default,
    /// `AM_PROM_TIMING_EVERY` or else 8 (1 in Go-compatible mode, as Go times every
    /// transition), keeps the tracer within 1.2x of an untraced machine; the histogram's
    /// `_count` is then the number of timed transitions.
    pub fn timing_every(mut self, n: u64) -> Self {
        self.timing_every = Some(n);
        self
    }
    /// `false`: health probes only — `/readyz` and `/healthz` answer for the bound machines,
    /// no metric is recorded (no hook runs in the machines' transitions) and `/metrics` is
    /// 404. The small health server for apps that export metrics otherwise (loopback by
    /// default, like the scrape endpoint). Default `true`.
    ///
    /// ```no_run
    /// let probes = am_prom::PromTracer::builder().listen("127.0.0.1:8080").metrics(false).build()?;
    /// # Ok::<(), am_prom::Error>(())
    /// ```
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }
    /// The state that makes the machine `machine_id` ready for `/readyz` (default: `Ready`
    /// when the schema has it, else "no `Exception`").
    pub fn ready_state(mut self, machine_id: impl Into<String>, state: impl Into<String>) -> Self {
        self.ready_states.insert(machine_id.into(), state.into());
        self
    }
    /// Whether submachines inherit the tracer (default true).
    pub fn inherit(mut self, on: bool) -> Self {
        self.inherit = on;
        self
    }
    /// Runs the endpoint and pusher on this runtime. Default: the current runtime, else a
    /// background thread with its own single-threaded runtime.
    #[cfg(any(feature = "server", feature = "push"))]
    pub fn runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.runtime = Some(handle);
        self
    }
    /// The liveness windows of `/healthz` (default: `AM_HEALTH_HEARTBEAT` and
    /// `AM_HEALTH_STUCK`, else 60 s each); see [`HealthRules`](crate::HealthRules).
    pub fn health(mut self, rules: crate::health::HealthRules) -> Self {
        self.health = Some(rules);
        self
    }
    /// How long [`PromTracer::shutdown`] waits for the final push (default 5 s).
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = d;
        self
    }
    /// How long `/readyz` answers 503 at the start of shutdown before anything else stops
    /// (default: `AM_HEALTH_DRAIN`, else 0), so that a Kubernetes endpoint stops routing to
    /// the pod first. Not part of the shutdown deadline.
    pub fn drain(mut self, d: Duration) -> Self {
        self.drain = Some(d);
        self
    }
    /// How long the scrape server waits for a request's head on a new or idle connection
    /// before closing it (default 10 s), so clients that connect and send nothing cannot
    /// hold connections open.
    #[cfg(feature = "server")]
    pub fn head_timeout(mut self, d: Duration) -> Self {
        self.head_timeout = d;
        self
    }
    /// Also reads `AM_PROM_ADDR` and `AM_PROM_PUSH_URL` (with `AM_PROM_PUSH_INTERVAL`)
    /// for whatever the builder did not set.
    pub fn from_env(mut self) -> Self {
        self.activation_env = true;
        self
    }

    /// Builds the tracer and starts the endpoint and pusher it is configured for. Fails on
    /// an invalid setting or variable (naming it), or an address it cannot listen on.
    pub fn build(self) -> Result<PromTracer, Error> {
        // the job: the builder's, else AM_SERVICE, else OTEL_SERVICE_NAME, else the executable
        let service = normalize_id(&self.service.unwrap_or_else(|| am_core::env::service().name));
        let allow = match self.allow {
            Some(a) => Some(a),
            None => parse(env::AM_PROM_STATES, am_core::env::parse_names)?,
        };
        let count = |name: &str, min: u64| parse(name, |v| parse_count(v, min)).map(|n| n.map(|n| n as usize));
        let max_states = match self.max_states {
            Some(n) => n,
            None => count(env::AM_PROM_MAX_STATES, 0)?.unwrap_or(DEFAULT_MAX_STATE_SERIES),
        };
        let max_machines = match self.max_machines {
            Some(n) => n,
            None => count(env::AM_PROM_MAX_MACHINES, 1)?.unwrap_or(DEFAULT_MAX_MACHINES),
        };
        let buckets = self.duration_buckets.unwrap_or_else(|| DEFAULT_DURATION_BUCKETS.to_vec());
        if buckets.is_empty() || buckets.iter().any(|b| !b.is_finite() || *b <= 0.0) {
            return Err(Error::Invalid {
                name: "duration_buckets",
                value: format!("{buckets:?}"),
                reason: "needs at least one finite, positive bound".into(),
            });
        }
        let go_compat = self.go_compat.unwrap_or_else(|| is_on(env::AM_PROM_GO_COMPAT));
        let every = match self.timing_every {
            Some(n) => n,
            None => count(env::AM_PROM_TIMING_EVERY, 1)?
                .map_or(if go_compat { 1 } else { DEFAULT_TIMING_EVERY }, |n| n as u64),
        };
        let go_interval = match self.go_interval {
            Some(d) => Some(d),
            None => parse(env::AM_PROM_GO_INTERVAL, parse_duration)?,
        };
        let go_series = Arc::new(crate::gocompat::GoSeries::default());
        let rules = SeriesRules {
            timing_mask: every.max(1).next_power_of_two() - 1,
            epoch: std::time::Instant::now(),
            allow: allow.map(|a| Arc::new(a.into_iter().collect::<HashSet<_>>())),
            max_states,
            duration: Layout::seconds(&buckets),
            go_compat,
            go_series: go_series.clone(),
        };
        let health = match self.health {
            Some(h) => h,
            None => {
                let d = crate::health::HealthRules::default();
                crate::health::HealthRules {
                    heartbeat_window: parse(env::AM_HEALTH_HEARTBEAT, parse_duration)?.unwrap_or(d.heartbeat_window),
                    stuck_after: parse(env::AM_HEALTH_STUCK, parse_duration)?.unwrap_or(d.stuck_after),
                }
            }
        };
        let drain_for = match self.drain {
            Some(d) => d,
            None => parse(env::AM_HEALTH_DRAIN, parse_duration)?.unwrap_or(Duration::ZERO),
        };
        let mut shared = Shared::new(self.id.into(), rules, max_machines, self.inherit, health);
        shared.metrics = self.metrics;
        shared.ready_states = self.ready_states;
        let shared = Arc::new(shared);
        am_core::exporter::register_stats("prom", &shared);
        let collector = PromCollector(shared.clone());
        if let Some(r) = self.registry {
            r.register_collector(Box::new(collector.clone()));
        }
        let mut registry = Registry::default();
        registry.register_collector(Box::new(collector.clone()));
        let registry = Arc::new(registry);

        let listen = match self.listen {
            Some(a) => env::resolve("listen", &a)?,
            None if self.activation_env => env::activation()?.0,
            None => None,
        };
        if !self.metrics && self.push.is_some() {
            return Err(Error::Invalid {
                name: "push",
                value: "metrics(false)".into(),
                reason: "a health-only tracer has no metrics to push".into(),
            });
        }
        let push = match self.push {
            Some(p) => Some(p),
            None if self.activation_env => parse(env::AM_PROM_PUSH_URL, |v| parse_url(v, Some(env::DEFAULT_PUSH_URL)))?
                .flatten()
                .map(|u| (u, None)),
            None => None,
        };
        // Go groups pushes by job only
        let instance = match self.instance {
            Some(name) => Some(name),
            None => env::push_instance()?.unwrap_or_else(|| (!go_compat).then(am_core::env::hostname)),
        };
        let go_push = go_compat && instance.is_none();
        #[allow(unused_mut)] // without `server` and `push` nothing more is set
        let mut inner = Inner {
            shared: shared.clone(),
            registry: registry.clone(),
            local_addr: None,
            push_url: None,
            service: service.clone(),
            shutdown_timeout: self.shutdown_timeout,
            drain_for,
            drain_started: std::sync::OnceLock::new(),
            #[cfg(any(feature = "server", feature = "push"))]
            background: None,
        };

        #[cfg(any(feature = "server", feature = "push"))]
        {
            use crate::background::{Background, Task};
            let (stop, stop_rx) = Background::channel();
            let mut tasks: Vec<Task> = Vec::new();
            #[cfg(feature = "server")]
            if let Some(addr) = listen {
                let l = std::net::TcpListener::bind(addr)
                    .map_err(|e| Error::Listen { addr: addr.to_string(), source: e })?;
                l.set_nonblocking(true).map_err(|e| Error::Listen { addr: addr.to_string(), source: e })?;
                inner.local_addr = l.local_addr().ok();
                let head_timeout = self.head_timeout;
                tasks.push(Box::pin(crate::server::serve(
                    l,
                    registry.clone(),
                    shared.clone(),
                    stop_rx.clone(),
                    head_timeout,
                )));
            }
            // who syncs the Go gauges: each push, unless an interval of their own is set
            #[cfg_attr(not(feature = "push"), allow(unused_mut))]
            let mut push_syncs = false;
            #[cfg(feature = "push")]
            if let Some((url, interval)) = push {
                let job = service.clone();
                let interval = match interval {
                    Some(i) => i,
                    None => parse(env::AM_PROM_PUSH_INTERVAL, parse_duration)?.unwrap_or(DEFAULT_PUSH_INTERVAL),
                };
                push_syncs = go_compat && go_interval.is_none();
                let target = crate::push::PushTarget {
                    url: crate::push::group_url(&url, &job, instance.as_deref())?,
                    method: self.push_method,
                    interval,
                    sync: push_syncs.then(|| go_series.clone()),
                };
                inner.push_url = Some(am_core::env::redact_url(target.url.as_str()));
                let push_reg = if go_push {
                    // Go's push: the Go gauges alone, no labels (labelled counters of
                    // instances that replace each other's group would saw-tooth)
                    let mut r = Registry::default();
                    r.register_collector(Box::new(crate::gocompat::GoCollector(go_series.clone())));
                    r
                } else {
                    let mut r = Registry::with_labels(std::iter::once((
                        am_core::conventions::prom::LABEL_SERVICE.into(),
                        job.into(),
                    )));
                    r.register_collector(Box::new(collector));
                    r
                };
                let tls = match self.tls {
                    Some(t) => t,
                    None => am_core::exporter::TlsSettings::from_env(&env::TLS_VARS)?,
                };
                tls.check_available(Some(&url), "an https:// Pushgateway")?;
                let client = am_core::exporter::http::client(&am_core::exporter::http::HttpClientOptions {
                    user_agent: concat!("am-prom/", env!("CARGO_PKG_VERSION")),
                    tls,
                    ..Default::default()
                })?;
                tasks.push(Box::pin(crate::push::run(
                    target,
                    Arc::new(push_reg),
                    shared.clone(),
                    client,
                    stop_rx.clone(),
                )));
            }
            if go_compat && !push_syncs {
                let every = go_interval.unwrap_or(DEFAULT_PUSH_INTERVAL);
                if !every.is_zero() {
                    tasks.push(Box::pin(crate::gocompat::sync_every(go_series.clone(), every, stop_rx)));
                }
            }
            if !tasks.is_empty() {
                inner.background = Some(Background::start(stop, tasks, self.runtime)?);
            }
        }
        #[cfg(not(feature = "server"))]
        if listen.is_some() {
            return Err(Error::Feature("AM_PROM_ADDR", "server"));
        }
        #[cfg(not(feature = "push"))]
        if push.is_some() {
            return Err(Error::Feature("AM_PROM_PUSH_URL", "push"));
        }
        let _ = (&instance, go_push, go_interval);
        Ok(PromTracer(Arc::new(inner)))
    }
}
