//! The client tracer: copies transitions into the bounded outbox; the sender task does the
//! rest.

use am_core::exporter::Unpoison;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use am_core::{Arg, Args, Attach, Binding, ExporterGuard, Interest, Machine, Mutation, Skip, Tracer, Transition};
use tokio::runtime::Handle;
use tokio::sync::Notify;

use crate::addr::{self, DEFAULT_ADDR};
use crate::clock::Clock;
use crate::error::Error;
use crate::messages::ClientIdentity;
use crate::outbox::{ArenaSpan, Extra, OptU64, Outbox, RecId, TxNumbers, TxRecord};
use crate::sender::{self, Counters, SenderConfig, Shared};

/// Transition messages a tracer holds by default while the server is slow or away.
pub const DEFAULT_CAPACITY: usize = 65_536;

type Mapper = Arc<dyn Fn(&Args) -> Vec<(String, String)> + Send + Sync>;

/// Builds a [`DbgTracer`]. Precedence: builder call > env variable > default.
pub struct DbgTracerBuilder {
    addr: Option<String>,
    capacity: usize,
    max_batch: usize,
    backoff: (Duration, Duration),
    call_timeout: Duration,
    dispose_flush: Duration,
    linger: Duration,
    queued: bool,
    timing: bool,
    durations: bool,
    stack_traces: bool,
    args: Option<bool>,
    checks: Option<bool>,
    mapper: Option<Mapper>,
    name: Option<String>,
    handle: Option<Handle>,
}

impl std::fmt::Debug for DbgTracerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbgTracerBuilder").field("addr", &self.addr).field("capacity", &self.capacity).finish()
    }
}

impl Default for DbgTracerBuilder {
    fn default() -> Self {
        DbgTracerBuilder {
            addr: None,
            capacity: DEFAULT_CAPACITY,
            max_batch: 1024,
            backoff: (Duration::from_millis(50), Duration::from_secs(2)),
            call_timeout: Duration::from_secs(5),
            dispose_flush: Duration::from_millis(100),
            linger: Duration::from_millis(2),
            queued: true,
            timing: true,
            durations: false,
            stack_traces: false,
            args: None,
            checks: None,
            mapper: None,
            name: None,
            handle: None,
        }
    }
}

impl DbgTracerBuilder {
    /// Server address, `host:port`. Default: `AM_DBG_ADDR` (expanded), else
    /// [`DEFAULT_ADDR`].
    pub fn addr(mut self, addr: impl Into<String>) -> Self {
        self.addr = Some(addr.into());
        self
    }
    /// Most transition messages held while the server is slow or away (default
    /// [`DEFAULT_CAPACITY`]: about 7 MiB at ~110 bytes a message, some 160 ms of a 200k
    /// transitions/s stream with queued messages); beyond it the oldest are dropped and
    /// counted.
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = n.max(1);
        self
    }
    /// Most messages per call (default 1,024).
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }
    /// Reconnect backoff: first delay and cap (default 50 ms, doubling up to 2 s).
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff = (min, max.max(min));
        self
    }
    /// Connect and call timeout (default 5 s); a stalled server is given up after it.
    pub fn call_timeout(mut self, d: Duration) -> Self {
        self.call_timeout = d;
        self
    }
    /// How long disposing a machine waits for queued messages to go out (default 100 ms;
    /// only while connected).
    pub fn dispose_flush_timeout(mut self, d: Duration) -> Self {
        self.dispose_flush = d;
        self
    }
    /// How long the sender waits after waking up to gather a batch (default 2 ms).
    pub fn linger(mut self, d: Duration) -> Self {
        self.linger = d;
        self
    }
    /// Send a message per queued mutation, as Go does (default on).
    pub fn queued(mut self, on: bool) -> Self {
        self.queued = on;
        self
    }
    /// Stamp messages with the wall-clock time they were recorded at (default on; one clock
    /// read per message). Go left this to the server's receive time, which batching
    /// blurs. The hook reads the CPU's time-stamp counter where it is invariant (a few
    /// nanoseconds; else the OS monotonic clock) and the sender converts the reading: the
    /// wall-clock time at the tracer's start plus the monotonic time since, so a wall-clock
    /// step cannot put a message before an earlier one. The first tracer in a process
    /// calibrates the counter when built (typically a few milliseconds).
    pub fn timing(mut self, on: bool) -> Self {
        self.timing = on;
        self
    }
    /// Also send each transition's duration (default off: the machine then reads the clock
    /// twice more per transition). Implies [`timing`](Self::timing).
    pub fn durations(mut self, on: bool) -> Self {
        self.durations = on;
        self.timing |= on;
        self
    }
    /// Capture a stack trace per queued mutation (default off: it is expensive).
    pub fn stack_traces(mut self, on: bool) -> Self {
        self.stack_traces = on;
        self
    }
    /// Send mapped args. Default: the machine's own setting (`log_args`, which follows
    /// `AM_LOG_ARGS` / `AM_LOG_FULL`). Error args always go as `err`.
    pub fn args(mut self, on: bool) -> Self {
        self.args = Some(on);
        self
    }
    /// Send check transitions (`can_add`/`can_remove`). Default: the machine's own setting
    /// (`log_checks`, which follows `AM_LOG_CHECKS` / `AM_LOG_FULL`).
    pub fn checks(mut self, on: bool) -> Self {
        self.checks = Some(on);
        self
    }
    /// Maps args to the string pairs sent. Default: the machine's own mapper
    /// ([`Machine::map_args`], [`am_core::default_args_mapper`] unless the machine sets one).
    pub fn args_mapper(mut self, f: impl Fn(&Args) -> Vec<(String, String)> + Send + Sync + 'static) -> Self {
        self.mapper = Some(Arc::new(f));
        self
    }
    /// The client name shown by the server (default: the executable's name).
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Runs the sender on this runtime. Default: the current runtime, else a background
    /// thread with its own single-threaded runtime.
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.handle = Some(handle);
        self
    }

    /// Starts the sender and returns the tracer. Fails on a malformed address or when no
    /// runtime can be found or started.
    pub fn build(self) -> Result<DbgTracer, Error> {
        let addr = match self.addr {
            Some(a) => a,
            None => addr::env_addr()?.unwrap_or_else(|| DEFAULT_ADDR.to_string()),
        };
        addr::validate(&addr)?;
        let client = ClientIdentity {
            name: self.name.unwrap_or_else(exe_name),
            host: am_core::env::hostname(),
            pid: std::process::id(),
            session: session_id(),
            library: env!("CARGO_PKG_VERSION").to_string(),
        };
        let shared = Arc::new(Shared {
            outbox: Mutex::new(Outbox::new(self.capacity, self.max_batch)),
            work: Notify::new(),
            stop: Notify::new(),
            shutdown: Default::default(),
            parked: Default::default(),
            counters: Counters::default(),
            progress: Default::default(),
            config: SenderConfig {
                addr: addr.clone(),
                client,
                max_batch: self.max_batch,
                backoff_min: self.backoff.0,
                backoff_max: self.backoff.1,
                call_timeout: self.call_timeout,
                linger: self.linger,
            },
            log: am_core::exporter::LogLimiter::default(),
            clock: Clock::new(),
        });
        am_core::exporter::spawn("am-dbg-sender", self.handle, sender::run(shared.clone())).map_err(Error::Runtime)?;
        Ok(DbgTracer(Arc::new(Inner {
            id: format!("am-dbg-proto:{addr}"),
            shared,
            queued: self.queued,
            timing: self.timing,
            durations: self.durations,
            stack_traces: self.stack_traces,
            args: self.args,
            checks: self.checks,
            mapper: self.mapper,
            dispose_flush: self.dispose_flush,
        })))
    }
}

fn exe_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "am".to_string())
}

fn session_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(crate::clock::unix_nanos());
    h.write_u32(std::process::id());
    h.finish()
}

struct Inner {
    id: String,
    shared: Arc<Shared>,
    queued: bool,
    timing: bool,
    durations: bool,
    stack_traces: bool,
    /// Builder overrides; `None` follows the machine's own setting.
    args: Option<bool>,
    checks: Option<bool>,
    mapper: Option<Mapper>,
    dispose_flush: Duration,
}

impl Inner {
    /// A raw clock reading (see [`Clock`]): a few nanoseconds where the CPU's counter is
    /// usable, converted to Unix time by the sender.
    fn now(&self) -> u64 {
        self.shared.clock.raw()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // the sender drains what it can while connected, then exits
        self.shared.shutdown.store(true, Relaxed);
        self.shared.stop.notify_one();
        self.shared.work.notify_one();
    }
}

/// Streams every machine's schema and transitions to a debugger server, without ever
/// blocking a transition: hooks copy into a bounded outbox (oldest dropped and counted on
/// overflow) and a background task batches, sends and reconnects. Inherited by submachines.
/// Cloning shares the connection; the sender stops when the last clone is dropped.
#[derive(Clone)]
pub struct DbgTracer(Arc<Inner>);

impl std::fmt::Debug for DbgTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbgTracer").field("id", &self.0.id).field("stats", &self.stats()).finish()
    }
}

/// A snapshot of a tracer's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbgStats {
    /// Transition messages waiting in the outbox (never above the capacity).
    pub queued: usize,
    /// Machines known to the tracer.
    pub machines: usize,
    /// Transition messages accepted into the outbox.
    pub enqueued: u64,
    /// Transition messages the server acknowledged.
    pub sent: u64,
    /// Transition messages dropped (overflow or failed sends).
    pub dropped: u64,
    /// Batches acknowledged.
    pub batches: u64,
    /// Successful connections (handshake done), the first one included.
    pub connects: u64,
    /// Connections lost.
    pub send_errors: u64,
    /// Connected right now.
    pub connected: bool,
}

impl DbgTracer {
    /// Starts a builder.
    pub fn builder() -> DbgTracerBuilder {
        DbgTracerBuilder::default()
    }

    /// The server address.
    pub fn addr(&self) -> &str {
        &self.0.shared.config.addr
    }

    /// Counters.
    pub fn stats(&self) -> DbgStats {
        let (queued, machines, enqueued) = {
            let o = self.0.shared.outbox();
            (o.len(), o.machines(), o.enqueued())
        };
        let c = &self.0.shared.counters;
        DbgStats {
            queued,
            machines,
            enqueued,
            sent: c.sent.load(Relaxed),
            dropped: c.dropped.load(Relaxed),
            batches: c.batches.load(Relaxed),
            connects: c.connects.load(Relaxed),
            send_errors: c.send_errors.load(Relaxed),
            connected: c.connected.load(Relaxed),
        }
    }

    /// Waits (blocking the calling thread, at most `timeout`) until every message queued
    /// so far was sent or dropped; returns whether it got there. Do not call it from a
    /// single-threaded runtime the sender runs on.
    pub fn flush(&self, timeout: Duration) -> bool {
        let s = &self.0.shared;
        let target = s.outbox().enqueued();
        // a parked sender takes the outbox now (or at once when it parks next)
        s.work.notify_one();
        s.progress.wait_until(Instant::now() + timeout, |_| s.settled() >= target && s.outbox().is_empty())
    }

    /// Binds the tracer to an existing machine, which announces it (its schema goes out
    /// first). Binding twice is a no-op.
    pub fn bind(&self, m: &Machine) {
        if m.tracers().iter().any(|t| t.id() == self.0.id) {
            return;
        }
        m.bind_tracer(Arc::new(self.clone()));
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &self,
        m: &Machine,
        slot: u32,
        rec: TxRecord,
        extra: Option<Box<Extra>>,
        n: TxNumbers,
        clocks: Option<&[u64]>,
        called: &[usize],
    ) {
        let s = &self.0.shared;
        let p = s.outbox().push(m, slot, rec, extra, n, clocks, called);
        if p.dropped > 0 {
            s.counters.dropped.fetch_add(p.dropped, Relaxed);
        }
        if p.was_empty {
            s.wake();
        }
    }

    /// Whether check transitions go out: builder, else the machine's setting.
    fn checks(&self, m: &Machine) -> bool {
        self.0.checks.unwrap_or_else(|| m.log_checks())
    }

    /// Args as sent: mapped when arg logging is on (builder, else the machine's setting),
    /// with the builder's mapper, else the machine's; an error arg always goes as `err`.
    /// Inlined for the common case of no args: no call, no allocation.
    #[inline]
    fn map_args(&self, m: &Machine, args: Option<&Args>) -> Vec<(String, String)> {
        match args {
            Some(a) if !a.is_empty() => self.map_some_args(m, a),
            _ => Vec::new(),
        }
    }

    fn map_some_args(&self, m: &Machine, args: &Args) -> Vec<(String, String)> {
        let mut out = if self.0.args.unwrap_or_else(|| m.log_args()) {
            match &self.0.mapper {
                Some(f) => f(args),
                None => m.map_args(args),
            }
        } else {
            Vec::new()
        };
        if !out.iter().any(|(k, _)| k == "err")
            && let Some((_, e)) = args.iter().find(|(_, v)| matches!(v, Arg::Error(_)))
        {
            out.push(("err".to_string(), e.to_string()));
        }
        out
    }
}

/// Binds the process's debugger tracer for `AM_DBG_ADDR` to a root machine when that
/// variable is on (see [`expand_addr`](crate::expand_addr)); skipped (and why) by the shared
/// [`env_gate`](am_core::env_gate). One tracer is shared per address in the process; each
/// [`DbgGuard`] holds a share. Submachines built later inherit it.
///
/// ```
/// use am_core::{Machine, Schema};
/// let m = Machine::new(Schema::builder().states(["A"]).build()?);
/// // AM_DBG_ADDR is not set here
/// assert!(!am_dbg_proto::bind_env(&m)?.is_bound());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn bind_env(m: &Machine) -> Result<Binding<DbgGuard>, Error> {
    if let Err(skip) = am_core::env_gate(m) {
        return Ok(Binding::Skipped(skip));
    }
    let Some(addr) = addr::env_addr()? else {
        return Ok(Binding::Skipped(Skip::Off { vars: &[addr::AM_DBG_ADDR] }));
    };
    static SHARED: OnceLock<Mutex<HashMap<String, Weak<Inner>>>> = OnceLock::new();
    let tracer = {
        let mut reg = SHARED.get_or_init(Default::default).lock().unpoison();
        match reg.get(&addr).and_then(Weak::upgrade) {
            Some(inner) => DbgTracer(inner),
            None => {
                let t = DbgTracer::builder().addr(addr.clone()).build()?;
                reg.insert(addr, Arc::downgrade(&t.0));
                t
            }
        }
    };
    tracer.bind(m);
    Ok(Binding::bound(DbgGuard(tracer)))
}

/// One share of an env-bound [`DbgTracer`] ([`bind_env`]): flushing sends what waits; the
/// sender stops when the last share and the last machine holding the tracer are gone.
#[derive(Clone, Debug)]
pub struct DbgGuard(DbgTracer);

impl DbgGuard {
    /// The tracer.
    pub fn tracer(&self) -> &DbgTracer {
        &self.0
    }
}

impl ExporterGuard for DbgGuard {
    fn flush(&self, timeout: Duration) -> bool {
        self.0.flush(timeout)
    }
    fn shutdown(self: Box<Self>, timeout: Duration) -> bool {
        self.0.flush(timeout)
    }
}

impl Tracer for DbgTracer {
    fn id(&self) -> &str {
        &self.0.id
    }
    fn inheritable(&self) -> bool {
        true
    }
    /// Registers the machine (its schema goes out before its transitions), or its grown
    /// schema when asked again, and hands its hooks the machine's slot.
    fn attach(&self, m: &Machine) -> Attach {
        let (was_empty, slot) = self.0.shared.outbox().register(m);
        if was_empty {
            self.0.shared.wake();
        }
        Attach::With(Arc::new(DbgMachine { tracer: self.clone(), slot }))
    }
}

/// Made by [`DbgTracer`]'s `attach` for one machine: the tracer and the machine's outbox slot.
struct DbgMachine {
    tracer: DbgTracer,
    slot: u32,
}

impl Tracer for DbgMachine {
    fn id(&self) -> &str {
        &self.tracer.0.id
    }
    fn wants_timing(&self) -> bool {
        self.tracer.0.durations
    }
    fn interest(&self) -> Interest {
        if self.tracer.0.queued {
            Interest::TRANSITION_END | Interest::MUTATION_QUEUED
        } else {
            Interest::TRANSITION_END
        }
    }
    fn machine_dispose(&self, machine_id: &str) {
        self.tracer.machine_disposed(machine_id);
    }
    fn mutation_queued(&self, m: &Machine, mu: &Mutation) {
        self.tracer.on_mutation_queued(self.slot, m, mu);
    }
    fn transition_end(&self, tx: &Transition<'_>) {
        self.tracer.on_transition_end(self.slot, tx);
    }
}

impl DbgTracer {
    fn machine_disposed(&self, machine_id: &str) {
        self.0.shared.outbox().dispose(machine_id);
        if self.0.shared.counters.connected.load(Relaxed) && !self.0.dispose_flush.is_zero() {
            self.flush(self.0.dispose_flush);
        }
    }
    fn on_mutation_queued(&self, slot: u32, m: &Machine, mu: &Mutation) {
        if !self.0.queued || (mu.is_check() && !self.checks(m)) {
            return;
        }
        let args = self.map_args(m, mu.args());
        let extra = if args.is_empty() && mu.source().is_none() && !self.0.stack_traces {
            None
        } else {
            Extra {
                args,
                source: mu.source().cloned(),
                stack: if self.0.stack_traces {
                    std::backtrace::Backtrace::force_capture().to_string()
                } else {
                    String::new()
                },
                ..Extra::default()
            }
            .boxed()
        };
        let n = TxNumbers {
            queue_tick: mu.machine_queue_tick(),
            mut_queue_token: mu.queue_token(),
            mut_queue_tick: mu.queue_tick(),
            time: OptU64::from(self.0.timing.then(|| self.0.now())),
            duration_ns: OptU64::default(),
        };
        let rec = TxRecord {
            id: RecId::Queued(0, 0),
            seq: 0,
            dropped: false,
            queue: u32::try_from(mu.queue_len()).unwrap_or(u32::MAX),
            kind: mu.kind(),
            auto: mu.is_auto(),
            accepted: true,
            check: mu.is_check(),
            queued: true,
            extra: 0,
            slot: 0,
            at: ArenaSpan::default(),
        };
        self.push(m, slot, rec, extra, n, None, mu.called());
    }
    fn on_transition_end(&self, slot: u32, tx: &Transition<'_>) {
        let m = tx.machine();
        if tx.is_check() && !self.checks(m) {
            return;
        }
        let mu = tx.mutation();
        let steps = if m.log_steps() { tx.steps() } else { &[] };
        let args = self.map_args(m, tx.args());
        let extra = if steps.is_empty()
            && tx.log_entries().is_empty()
            && tx.pre_log_entries().is_empty()
            && args.is_empty()
            && mu.source().is_none()
        {
            None
        } else {
            Extra {
                steps: steps.to_vec(),
                log: tx.log_entries().to_vec(),
                pre_log: tx.pre_log_entries().to_vec(),
                args,
                source: mu.source().cloned(),
                stack: String::new(),
                tx_ids: None,
            }
            .boxed()
        };
        let n = TxNumbers {
            queue_tick: tx.queue_tick(),
            mut_queue_token: mu.queue_token(),
            mut_queue_tick: 0,
            time: OptU64::from(self.0.timing.then(|| self.0.now())),
            duration_ns: OptU64::from(if self.0.durations { tx.duration().map(|d| d.as_nanos() as u64) } else { None }),
        };
        let rec = TxRecord {
            id: RecId::Tx(tx.seq()),
            seq: 0,
            queue: u32::try_from(tx.queue_len()).unwrap_or(u32::MAX),
            kind: tx.kind(),
            auto: tx.is_auto(),
            accepted: tx.accepted(),
            check: tx.is_check(),
            queued: false,
            dropped: false,
            extra: 0,
            slot: 0,
            at: ArenaSpan::default(),
        };
        self.push(m, slot, rec, extra, n, Some(tx.time_after()), tx.called());
    }
}
