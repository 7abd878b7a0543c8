//! The tracer: its `log` hook copies each entry into the bounded queue; the sender task
//! does the rest. Also the builder, the stats and the shutdown guard.

use am_core::exporter::Unpoison;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::sync::{Mutex, OnceLock, Weak};

use am_core::{Attach, Binding, Delivery, ExporterGuard, Interest, LogEntry, Machine, Skip, Tracer};
use tokio::runtime::Handle;

use crate::encode::PushFormat;
use crate::env::{
    self, AM_LOKI_ADDR, AM_LOKI_FORMAT, AM_LOKI_PASSWORD, AM_LOKI_TENANT, AM_LOKI_TOKEN, AM_LOKI_USERNAME,
};
use crate::error::Error;
use crate::queue::{LokiLevel, MachineStreams, NewRecord, Pushed, Queue, TxIdBuf};
use crate::sender::{self, Auth, Secret, SenderConfig, Shared};

/// Default Loki address when neither the builder nor `AM_LOKI_ADDR` gives one.
pub const DEFAULT_ADDR: &str = "http://localhost:3100";

/// Builds a [`LokiTracer`]. Precedence: builder call > `AM_LOKI_*` / `AM_SERVICE` env
/// variable > default.
pub struct LokiTracerBuilder {
    addr: Option<String>,
    service: Option<String>,
    tenant: Option<String>,
    basic: Option<(Secret, Secret)>,
    bearer: Option<Secret>,
    format: Option<PushFormat>,
    batch_entries: usize,
    batch_bytes: usize,
    interval: Duration,
    capacity: usize,
    max_machines: usize,
    request_timeout: Duration,
    backoff: (Duration, Duration),
    max_retries: u32,
    shutdown_timeout: Duration,
    inherit: bool,
    states: bool,
    handle: Option<Handle>,
}

impl std::fmt::Debug for LokiTracerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LokiTracerBuilder")
            .field("addr", &self.addr)
            .field("service", &self.service)
            .field("tenant", &self.tenant)
            .field("basic_auth", &self.basic.as_ref().map(|_| "***"))
            .field("bearer_token", &self.bearer.as_ref().map(|_| "***"))
            .field("format", &self.format)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Default for LokiTracerBuilder {
    fn default() -> Self {
        LokiTracerBuilder {
            addr: None,
            service: None,
            tenant: None,
            basic: None,
            bearer: None,
            format: None,
            batch_entries: 1000,
            batch_bytes: 1 << 20,
            interval: Duration::from_secs(1),
            capacity: 10_000,
            max_machines: 1000,
            request_timeout: Duration::from_secs(10),
            backoff: (Duration::from_millis(100), Duration::from_secs(5)),
            max_retries: 10,
            shutdown_timeout: Duration::from_secs(5),
            inherit: true,
            states: false,
            handle: None,
        }
    }
}

impl LokiTracerBuilder {
    /// Loki base address, e.g. `localhost:3100` or `https://logs.example.com`; `http://`
    /// is prepended without a scheme. Default: `AM_LOKI_ADDR`, else [`DEFAULT_ADDR`].
    pub fn addr(mut self, addr: impl Into<String>) -> Self {
        self.addr = Some(addr.into());
        self
    }
    /// Service name, normalised into the `service_name` label. Default: `AM_SERVICE`.
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self
    }
    /// Tenant sent as `X-Scope-OrgID`. Default: `AM_LOKI_TENANT`, else none.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }
    /// HTTP basic auth. Default: `AM_LOKI_USERNAME` + `AM_LOKI_PASSWORD`, else none.
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic = Some((Secret(user.into()), Secret(password.into())));
        self
    }
    /// Bearer token. Default: `AM_LOKI_TOKEN`, else none. Basic auth wins when both are set.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer = Some(Secret(token.into()));
        self
    }
    /// Push format. Default: `AM_LOKI_FORMAT`, else [`PushFormat::Protobuf`].
    pub fn format(mut self, format: PushFormat) -> Self {
        self.format = Some(format);
        self
    }
    /// A batch is pushed when it holds this many entries (default 1,000)…
    pub fn batch_entries(mut self, n: usize) -> Self {
        self.batch_entries = n.max(1);
        self
    }
    /// …or about this many bytes of lines and metadata (default 1 MiB)…
    pub fn batch_bytes(mut self, n: usize) -> Self {
        self.batch_bytes = n.max(1);
        self
    }
    /// …or when this long passed since the last push (default 1 s), whichever comes first.
    pub fn batch_interval(mut self, d: Duration) -> Self {
        self.interval = d.max(Duration::from_millis(1));
        self
    }
    /// Most entries held while Loki is slow or away (default 10,000); beyond it the oldest
    /// are dropped and counted. The batch being pushed is held outside this count.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.capacity = n.max(1);
        self
    }
    /// Most distinct machine IDs (label sets) at once (default 1,000); entries of further
    /// machines are dropped and counted. Disposed machines free their slot.
    pub fn max_machines(mut self, n: usize) -> Self {
        self.max_machines = n.max(1);
        self
    }
    /// Timeout of one push request (default 10 s); a hung server counts as a failed try.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }
    /// Retry backoff: first delay and cap (default 100 ms, doubling up to 5 s).
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff = (min, max.max(min));
        self
    }
    /// Retries of a batch after connection errors, timeouts, 429 and 5xx (default 10);
    /// then the batch is dropped and counted as failed.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }
    /// How long [`LokiTracer::shutdown`] (and dropping a [`LokiGuard`]) waits for queued
    /// entries to go out (default 5 s).
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = d;
        self
    }
    /// Whether submachines inherit the tracer, each with its own `asyncmach_id` (default
    /// on).
    pub fn inherit(mut self, on: bool) -> Self {
        self.inherit = on;
        self
    }
    /// Adds the machine's active states to each entry's structured metadata (`states`;
    /// default off: it costs a lock and a string per entry).
    pub fn states(mut self, on: bool) -> Self {
        self.states = on;
        self
    }
    /// Runs the sender on this runtime. Default: the current runtime, else a background
    /// thread with its own single-threaded runtime.
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.handle = Some(handle);
        self
    }

    /// Starts the sender and returns the tracer. Fails on a malformed address, a missing
    /// service name, an unknown `AM_LOKI_FORMAT`, or when no runtime can be started.
    pub fn build(self) -> Result<LokiTracer, Error> {
        let addr = self.addr.or_else(|| am_core::env::value(AM_LOKI_ADDR)).unwrap_or_else(|| DEFAULT_ADDR.into());
        let base = env::base_url(&addr)?;
        let service = am_core::env::normalize_id(&self.service.unwrap_or_else(|| am_core::env::service().name));
        let format = match self.format {
            Some(f) => f,
            None => am_core::env::parse(AM_LOKI_FORMAT, |v| {
                PushFormat::parse(v).ok_or_else(|| format!("{v:?} is neither `protobuf` nor `json`"))
            })?
            .unwrap_or(PushFormat::Protobuf),
        };
        let basic = self.basic.or_else(|| {
            let user = am_core::env::value(AM_LOKI_USERNAME)?;
            Some((Secret(user), Secret(std::env::var(AM_LOKI_PASSWORD).unwrap_or_default())))
        });
        let auth = match basic {
            Some((user, password)) => Some(Auth::Basic { user, password }),
            None => self.bearer.or_else(|| am_core::env::value(AM_LOKI_TOKEN).map(Secret)).map(Auth::Bearer),
        };
        let (tenant, option) = match self.tenant {
            Some(t) => (Some(t), "tenant"),
            None => (am_core::env::value(AM_LOKI_TENANT), AM_LOKI_TENANT),
        };
        if let Some(t) = &tenant
            && reqwest::header::HeaderValue::from_str(t).is_err()
        {
            return Err(Error::InvalidOption { option, reason: "not a valid header value".into() });
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("am-loki/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.request_timeout)
            .build()
            .map_err(|e| Error::Client(e.without_url().to_string()))?;
        let url = env::push_url(&base);
        let config = SenderConfig {
            url: url.clone(),
            format,
            tenant,
            auth,
            batch_entries: self.batch_entries,
            batch_bytes: self.batch_bytes,
            interval: self.interval,
            request_timeout: self.request_timeout,
            backoff_min: self.backoff.0,
            backoff_max: self.backoff.1,
            max_retries: self.max_retries,
        };
        let shared = Arc::new(Shared::new(Queue::new(service.clone(), self.capacity, self.max_machines), config));
        am_core::exporter::register_stats("loki", &shared);
        am_core::exporter::spawn("am-loki-sender", self.handle, sender::run(shared.clone(), client))
            .map_err(Error::Runtime)?;
        let wake_at = self.batch_entries.min(self.capacity);
        Ok(LokiTracer(Arc::new(Inner {
            shared,
            url,
            service,
            inherit: self.inherit,
            states: self.states,
            wake_at,
            shutdown_timeout: self.shutdown_timeout,
        })))
    }
}

/// Pushes machine log entries to Loki. Cheap to clone; bind it with [`LokiTracer::bind`]
/// (or the machine builder's `tracer`). The sender stops after [`shutdown`](Self::shutdown)
/// or, flushing in the background, when the last clone is dropped.
#[derive(Clone)]
pub struct LokiTracer(Arc<Inner>);

struct Inner {
    shared: Arc<Shared>,
    url: String,
    service: String,
    inherit: bool,
    states: bool,
    wake_at: usize,
    shutdown_timeout: Duration,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.begin_shutdown(Instant::now() + self.shutdown_timeout);
    }
}

impl std::fmt::Debug for LokiTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.0.shared.config;
        f.debug_struct("LokiTracer")
            .field("url", &self.0.url)
            .field("service", &self.0.service)
            .field("format", &c.format)
            .field("tenant", &c.tenant)
            .field("auth", &c.auth)
            .field("stats", &self.stats())
            .finish()
    }
}

/// What happened to the entries so far. Every entry the hook saw ends up in exactly one of
/// `sent`, `dropped`, `dropped_machines`, `rejected` and `failed`, or is still `queued`
/// (or in the batch being pushed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LokiStats {
    /// Entries the hook saw: `produced = sent + dropped + dropped_machines + rejected +
    /// failed + queued`.
    pub produced: u64,
    /// Entries accepted into the queue.
    pub enqueued: u64,
    /// Entries Loki accepted (2xx).
    pub sent: u64,
    /// Entries dropped because the queue was full (the oldest go first), or logged after
    /// shutdown began.
    pub dropped: u64,
    /// Entries of machines beyond [`max_machines`](LokiTracerBuilder::max_machines).
    pub dropped_machines: u64,
    /// Entries in batches Loki refused with a 4xx other than 429 (not retried).
    pub rejected: u64,
    /// Entries in batches that still failed after every retry, or were cut off by the
    /// shutdown deadline.
    pub failed: u64,
    /// Retried push requests.
    pub retries: u64,
    /// Successful push requests.
    pub batches: u64,
    /// Entries waiting in the queue now, or in the batch being pushed.
    pub queued: u64,
}

impl LokiTracer {
    /// Starts a builder.
    pub fn builder() -> LokiTracerBuilder {
        LokiTracerBuilder::default()
    }
    /// Binds the tracer to a machine; submachines built later inherit it when
    /// [`inherit`](LokiTracerBuilder::inherit) is on.
    pub fn bind(&self, m: &Machine) {
        m.bind_tracer(Arc::new(self.clone()));
    }
    /// The push URL.
    pub fn url(&self) -> &str {
        &self.0.url
    }
    /// The normalised service name sent as `service_name`.
    pub fn service(&self) -> &str {
        &self.0.service
    }
    /// Counters so far.
    pub fn stats(&self) -> LokiStats {
        let c = &self.0.shared.counters;
        // under the queue's lock: every move between the counters happens under it
        let q = self.0.shared.queue();
        let queued = q.len() as u64 + c.in_flight.load(Relaxed);
        LokiStats {
            produced: c.produced.load(Relaxed),
            enqueued: c.enqueued.load(Relaxed),
            sent: c.sent.load(Relaxed),
            dropped: c.dropped.load(Relaxed),
            dropped_machines: c.overflow_machines.load(Relaxed),
            rejected: c.rejected.load(Relaxed),
            failed: c.failed.load(Relaxed),
            retries: c.retries.load(Relaxed),
            batches: c.batches.load(Relaxed),
            queued,
        }
    }
    /// Asks the sender to push everything queued now and waits until nothing is queued or
    /// in flight, at most `timeout`; reports what happened to every entry so far
    /// ([`Delivery::complete`] when all reached Loki). "Sent" means Loki answered 2xx.
    /// Blocking: from async code on a current-thread runtime that also runs the sender,
    /// use a short timeout.
    pub fn flush(&self, timeout: Duration) -> Delivery {
        let sh = &self.0.shared;
        sh.flush_now.store(true, Relaxed);
        sh.wake.notify_one();
        let in_time = sh.wait_idle(Instant::now() + timeout);
        self.delivery(in_time)
    }
    /// Stops accepting entries, pushes what is queued and stops the sender, waiting at
    /// most the [`shutdown_timeout`](LokiTracerBuilder::shutdown_timeout); reports what
    /// happened to every entry (`pending`: queued or in flight when the deadline passed,
    /// abandoned). Idempotent. Blocking: in async code use
    /// [`shutdown_async`](Self::shutdown_async). On a current-thread runtime it only starts
    /// the shutdown, since waiting there would stall a sender running on that runtime.
    pub fn shutdown(&self) -> Delivery {
        self.shutdown_within(self.0.shutdown_timeout)
    }
    /// [`shutdown`](Self::shutdown), waiting at most `timeout` instead of the builder's
    /// `shutdown_timeout`. The first shutdown's deadline holds for every later call, so
    /// shutting down twice never waits twice.
    pub fn shutdown_within(&self, timeout: Duration) -> Delivery {
        self.0.shared.begin_shutdown(Instant::now() + timeout);
        let until = self.0.shared.shutdown_deadline().unwrap_or_else(Instant::now);
        let shared = &self.0.shared;
        let in_time = am_core::exporter::block_in_runtime(|| shared.wait_done(until), || shared.is_done());
        self.delivery(in_time)
    }
    /// [`shutdown`](Self::shutdown) for async code.
    pub async fn shutdown_async(&self) -> Delivery {
        self.0.shared.begin_shutdown(Instant::now() + self.0.shutdown_timeout);
        let until = self.0.shared.shutdown_deadline().unwrap_or_else(Instant::now);
        let in_time = self.0.shared.wait_done_async(until).await;
        self.delivery(in_time)
    }
    /// The counters as a [`Delivery`] of `entries`.
    fn delivery(&self, in_time: bool) -> Delivery {
        use am_core::exporter::StatsSource;
        self.0.shared.exporter_stats().delivery("entries", in_time)
    }
    /// A guard that shuts the tracer down when its last clone is dropped.
    pub fn guard(&self) -> LokiGuard {
        LokiGuard(Arc::new(GuardInner(self.clone())))
    }
}

/// What gets bound (and inherited): each machine gets a `MachLoki` holding its streams.
impl Tracer for LokiTracer {
    fn id(&self) -> &str {
        "am-loki"
    }
    fn inheritable(&self) -> bool {
        self.0.inherit
    }
    fn attach(&self, m: &Machine) -> Attach {
        let streams = OnceLock::new();
        if let Some(s) = self.0.shared.queue().machine_streams(m.id()) {
            let _ = streams.set(s);
        }
        Attach::With(Arc::new(MachLoki { tracer: self.clone(), streams }))
    }
}

/// Made by [`LokiTracer`]'s `attach` for one machine: its streams, so a log entry goes into
/// the queue without a lookup. Unset for a machine beyond `max_machines`: its entries are
/// counted as dropped until a disposed machine frees a place.
struct MachLoki {
    tracer: LokiTracer,
    streams: OnceLock<Arc<MachineStreams>>,
}

impl Tracer for MachLoki {
    fn id(&self) -> &str {
        "am-loki"
    }
    fn interest(&self) -> Interest {
        Interest::LOG
    }
    fn log(&self, m: &Machine, tx_id: Option<&str>, entry: &LogEntry) {
        let inner = &self.tracer.0;
        let sh = &inner.shared;
        let streams = match self.streams.get() {
            Some(s) => s,
            None => {
                let mut q = sh.queue();
                match q.machine_streams(m.id()) {
                    Some(s) => self.streams.get_or_init(|| s),
                    None => {
                        // under the queue's lock, as every move between counters
                        sh.counters.produced.fetch_add(1, Relaxed);
                        sh.counters.overflow_machines.fetch_add(1, Relaxed);
                        return;
                    }
                }
            }
        };
        let text = strip_id_prefix(m.log_prefix(), &entry.text);
        let level = LokiLevel::of(entry.level, text);
        let mut line = String::with_capacity(text.len() + 7);
        line.push_str(level.as_str());
        line.push_str(": ");
        line.push_str(text);
        let rec = NewRecord {
            level,
            ts_ns: unix_nanos(),
            line,
            tx_id: tx_id.map(TxIdBuf::new),
            trace: m.trace_context(),
            states: inner.states.then(|| m.active_states().join(" ")),
        };
        let c = &sh.counters;
        let pushed = {
            let mut q = sh.queue();
            let pushed = q.push_to(streams, rec);
            // counted under the queue's lock, so that a stats snapshot adds up
            c.produced.fetch_add(1, Relaxed);
            match pushed {
                Pushed::Queued { dropped_oldest, .. } => {
                    c.enqueued.fetch_add(1, Relaxed);
                    if dropped_oldest {
                        c.dropped.fetch_add(1, Relaxed);
                    }
                }
                Pushed::Closed => {
                    c.dropped.fetch_add(1, Relaxed);
                }
            }
            pushed
        };
        if let Pushed::Queued { len, bytes, .. } = pushed {
            let cfg = &sh.config;
            if len == inner.wake_at || (bytes >= cfg.batch_bytes && bytes < cfg.batch_bytes + 4096) {
                sh.wake.notify_one();
            }
        }
    }
    fn machine_dispose(&self, machine_id: &str) {
        let sh = &self.tracer.0.shared;
        sh.queue().forget_machine(machine_id);
        // what the machine logged last should not wait for the next interval
        sh.flush_now.store(true, Relaxed);
        sh.wake.notify_one();
    }
}

/// The entry text without the machine's `[prefix] `, which the `asyncmach_id` label
/// already carries.
fn strip_id_prefix<'a>(prefix: &str, text: &'a str) -> &'a str {
    text.strip_prefix('[').and_then(|t| t.strip_prefix(prefix)).and_then(|t| t.strip_prefix("] ")).unwrap_or(text)
}

fn unix_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

/// Shuts its tracer down (flushing with the deadline) when its last clone is dropped;
/// returned by [`bind_env`] (one share of the process's env tracer) and
/// [`LokiTracer::guard`]. Keep it alive as long as machines log.
#[must_use = "dropping the last guard shuts the Loki tracer down at once"]
#[derive(Clone, Debug)]
pub struct LokiGuard(Arc<GuardInner>);

#[derive(Debug)]
struct GuardInner(LokiTracer);

impl Drop for GuardInner {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

impl LokiGuard {
    /// The tracer.
    pub fn tracer(&self) -> &LokiTracer {
        &self.0.0
    }
    /// Shuts the tracer down now (see [`LokiTracer::shutdown`]), whoever else holds a clone.
    pub fn shutdown(&self) -> Delivery {
        self.0.0.shutdown()
    }
}

impl std::ops::Deref for LokiGuard {
    type Target = LokiTracer;
    fn deref(&self) -> &LokiTracer {
        &self.0.0
    }
}

impl ExporterGuard for LokiGuard {
    fn flush(&self, timeout: Duration) -> Delivery {
        self.0.0.flush(timeout)
    }
    /// The last share stops the sender after pushing what is queued, within `timeout`.
    fn shutdown(self: Box<Self>, timeout: Duration) -> Delivery {
        match Arc::try_unwrap(self.0) {
            Ok(last) => last.0.shutdown_within(timeout),
            Err(shared) => shared.0.flush(timeout),
        }
    }
}

/// Binds the process's env-configured Loki tracer to a root machine (as Go's
/// `BindLokiEnv`) when [`AM_LOKI_ADDR`] is on; the service is [`am_core::env::service`].
/// Skipped (and why) by the shared [`env_gate`](am_core::env_gate). Every machine bound this
/// way shares one tracer and one sender; each [`LokiGuard`] holds a share, and the sender stops
/// when the last one is dropped. An unusable value of any `AM_LOKI_*` variable, or basic auth
/// with only one of user and password, is an error naming the variable.
///
/// ```
/// use am_core::{Machine, Schema};
/// let m = Machine::new(Schema::builder().states(["A"]).build()?);
/// // AM_LOKI_ADDR is not set here
/// assert!(!am_loki::bind_env(&m)?.is_bound());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn bind_env(m: &Machine) -> Result<Binding<LokiGuard>, Error> {
    if let Err(skip) = am_core::env_gate(m) {
        return Ok(Binding::Skipped(skip));
    }
    let Some(addr) = env::check()? else {
        return Ok(Binding::Skipped(Skip::Off { vars: &[AM_LOKI_ADDR] }));
    };
    static SHARED: OnceLock<Mutex<Weak<GuardInner>>> = OnceLock::new();
    let guard = {
        let mut slot = SHARED.get_or_init(Mutex::default).lock().unpoison();
        match slot.upgrade() {
            Some(g) if !g.0.0.shared.is_shutting_down() => LokiGuard(g),
            _ => {
                let g = LokiTracer::builder().addr(addr).build()?.guard();
                *slot = Arc::downgrade(&g.0);
                g
            }
        }
    };
    guard.tracer().bind(m);
    Ok(Binding::bound(guard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_stripping() {
        assert_eq!(strip_id_prefix("worke", "[worke] [state] +A"), "[state] +A");
        assert_eq!(strip_id_prefix("worker-1", "[worker-1] [add] A"), "[add] A");
        assert_eq!(strip_id_prefix("m", "[m] hi"), "hi");
        assert_eq!(strip_id_prefix("m", "no prefix"), "no prefix");
        assert_eq!(strip_id_prefix("m", "[x] other"), "[x] other");
    }
}
