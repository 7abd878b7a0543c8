//! The client tracer: copies transitions into the bounded outbox; the sender task does the
//! rest.

mod builder;

use builder::Mapper;
pub use builder::{AM_DBG_NO_TRACE, AM_DBG_TRACE, DbgTracerBuilder};

use am_core::exporter::Unpoison;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use am_core::{
    Arg, Args, Attach, Binding, Delivery, ExporterGuard, Interest, Machine, Mutation, Skip, Tracer, Transition,
};
use tokio::runtime::Handle;
use tokio::sync::Notify;

use crate::addr::{self, DEFAULT_ADDR, DbgAddr};
use crate::clock::Clock;
use crate::error::Error;
use crate::messages::ClientIdentity;
use crate::outbox::{ArenaSpan, Extra, Logged, OptU64, Outbox, RecId, TxNumbers, TxRecord};
use crate::sender::{self, Counters, SenderConfig, Shared};
use crate::transport::Link;

/// Transition messages a tracer holds by default while the server is slow or away.
pub const DEFAULT_CAPACITY: usize = 65_536;

struct Inner {
    id: String,
    /// The address in its canonical form.
    addr: String,
    /// The Go `am-dbg`'s protocol from the start (`gob://`, `ws://`).
    go: bool,
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

    /// The server address, in its canonical form (`gob://127.0.0.1:6831` for `gob://1`).
    pub fn addr(&self) -> &str {
        &self.0.addr
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
    /// so far was sent or dropped, and reports what happened to every transition message
    /// so far ([`Delivery::complete`] when all went out). "Sent" means written to the
    /// connection and acknowledged by the server's reply (native: the batch call returned;
    /// Go: net/rpc answered). A failed batch counts as dropped. Do not call it from a
    /// single-threaded runtime the sender runs on.
    pub fn flush(&self, timeout: Duration) -> Delivery {
        let s = &self.0.shared;
        let target = s.outbox().enqueued();
        // a parked sender takes the outbox now (or at once when it parks next)
        s.work.notify_one();
        let in_time =
            s.progress.wait_until(Instant::now() + timeout, |_| s.settled() >= target && s.outbox().is_empty());
        use am_core::exporter::StatsSource;
        s.exporter_stats().delivery("messages", in_time)
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
        logged: Logged<'_>,
    ) {
        let s = &self.0.shared;
        let p = s.outbox().push_logged(m, slot, rec, extra, n, clocks, called, logged);
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
    let Some(addr) = addr::env_dbg_addr()? else {
        return Ok(Binding::Skipped(Skip::Off { vars: &[addr::AM_DBG_ADDR] }));
    };
    static SHARED: OnceLock<Mutex<HashMap<String, Weak<Inner>>>> = OnceLock::new();
    let tracer = {
        let mut reg = SHARED.get_or_init(Default::default).lock().unpoison();
        let key = addr.to_string();
        match reg.get(&key).and_then(Weak::upgrade) {
            Some(inner) => DbgTracer(inner),
            None => {
                let t = DbgTracer::builder().addr(key.clone()).build()?;
                reg.insert(key, Arc::downgrade(&t.0));
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
    fn flush(&self, timeout: Duration) -> Delivery {
        self.0.flush(timeout)
    }
    fn destination(&self) -> String {
        let how = if self.0.0.go { "the Go am-dbg" } else { "am-dbg" };
        format!("{} ({how})", self.0.addr())
    }
    fn shutdown(self: Box<Self>, timeout: Duration) -> Delivery {
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
                // walked here, symbolised by the sender
                stack: self.0.stack_traces.then(std::backtrace::Backtrace::force_capture),
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
            trace: None,
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
        self.push(m, slot, rec, extra, n, None, mu.called(), Logged::default());
    }
    fn on_transition_end(&self, slot: u32, tx: &Transition<'_>) {
        let m = tx.machine();
        if tx.is_check() && !self.checks(m) {
            return;
        }
        let mu = tx.mutation();
        let steps = if m.log_steps() { tx.steps() } else { &[] };
        let args = self.map_args(m, tx.args());
        let extra = if steps.is_empty() && args.is_empty() && mu.source().is_none() {
            None
        } else {
            Extra { steps: steps.to_vec(), args, source: mu.source().cloned(), stack: None, tx_ids: None }.boxed()
        };
        let n = TxNumbers {
            queue_tick: tx.queue_tick(),
            mut_queue_token: mu.queue_token(),
            mut_queue_tick: 0,
            time: OptU64::from(self.0.timing.then(|| self.0.now())),
            duration_ns: OptU64::from(if self.0.durations { tx.duration().map(|d| d.as_nanos() as u64) } else { None }),
            // a relaxed load when no tracing exporter set one
            trace: m.trace_context(),
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
        let logged = Logged { pre: tx.pre_log_entries(), log: tx.log_entries() };
        self.push(m, slot, rec, extra, n, Some(tx.time_after()), tx.called(), logged);
    }
}
