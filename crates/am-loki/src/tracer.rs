//! The tracer: its `log` hook copies each entry into the bounded queue; the sender task
//! does the rest. Also the stats and the shutdown guard; the builder is in `builder.rs`.

use am_core::exporter::Unpoison;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::sync::{Mutex, OnceLock, Weak};

use am_core::{Attach, Binding, Delivery, ExporterGuard, Interest, LogEntry, Machine, Skip, Tracer};

use crate::builder::LokiTracerBuilder;
use crate::env::{self, AM_LOKI_ADDR};
use crate::error::Error;
use crate::queue::{LokiLevel, MachineStreams, NewRecord, Pushed, TxIdBuf};
use crate::sender::Shared;

/// Pushes machine log entries to Loki. Cheap to clone; bind it with [`LokiTracer::bind`]
/// (or the machine builder's `tracer`). The sender stops after [`shutdown`](Self::shutdown)
/// or, flushing in the background, when the last clone is dropped.
#[derive(Clone)]
pub struct LokiTracer(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) url: String,
    pub(crate) service: String,
    pub(crate) inherit: bool,
    pub(crate) states: bool,
    pub(crate) wake_at: usize,
    pub(crate) shutdown_timeout: Duration,
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
        let (ts_ns, tx_id, trace) = (unix_nanos(), tx_id.map(TxIdBuf::new), m.trace_context());
        let states = inner.states.then(|| m.active_states().join(" "));
        let c = &sh.counters;
        let pushed = {
            let mut q = sh.queue();
            // the line goes into a buffer a pushed record gave back (no allocation)
            let mut line = q.line_buf();
            line.push_str(text);
            let pushed = q.push_to(streams, NewRecord { level, ts_ns, text: line, tx_id, trace, states });
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

/// The entry text without the machine's `[prefix] `, which the `asyncmachine_id` label
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
    fn destination(&self) -> String {
        let t = &self.0.0;
        format!("{} ({}, service_name {})", t.url(), t.0.shared.config.format.name(), t.service())
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
