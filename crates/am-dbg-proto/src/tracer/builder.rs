//! [`DbgTracerBuilder`]: the tracer's settings, their env fallbacks, and `build`, which
//! starts the sender.

use super::*;

pub(super) type Mapper = Arc<dyn Fn(&Args) -> Vec<(String, String)> + Send + Sync>;

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
    stack_traces: Option<bool>,
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
            stack_traces: None,
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
    /// Capture a stack trace per queued mutation: where in your code the mutation came from,
    /// shown with the queued mutation in the debugger. Default: off, unless `AM_DBG_TRACE`
    /// is on; `AM_DBG_NO_TRACE` (as in Go) keeps it off. Go captures one by default; here it
    /// is opt-in by its measured cost: walking the stack takes about 2 µs on the machine's
    /// thread and resolving its symbols about 40 µs on the sender's, so a toggle with its
    /// queued message went from 0.4 µs to 11 µs (25 times) on a two-core machine; the first
    /// trace also loads the binary's debug info (about 100 MB of memory for the bench).
    pub fn stack_traces(mut self, on: bool) -> Self {
        self.stack_traces = Some(on);
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
            Some(a) => DbgAddr::parse_required(&a)?,
            None => match addr::env_dbg_addr()? {
                Some(a) => a,
                None => DbgAddr::parse_required(DEFAULT_ADDR)?,
            },
        };
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
                link: Link { addr: addr.clone(), client, call_timeout: self.call_timeout },
                max_batch: self.max_batch,
                backoff_min: self.backoff.0,
                backoff_max: self.backoff.1,
                linger: self.linger,
            },
            log: am_core::exporter::LogLimiter::default(),
            clock: Clock::new(),
        });
        am_core::exporter::register_stats("dbg", &shared);
        am_core::exporter::spawn("am-dbg-sender", self.handle, sender::run(shared.clone())).map_err(Error::Runtime)?;
        Ok(DbgTracer(Arc::new(Inner {
            id: format!("am-dbg-proto:{addr}"),
            addr: addr.to_string(),
            go: addr.is_go(),
            shared,
            queued: self.queued,
            timing: self.timing,
            durations: self.durations,
            stack_traces: self.stack_traces.unwrap_or_else(stack_traces_from_env),
            args: self.args,
            checks: self.checks,
            mapper: self.mapper,
            dispose_flush: self.dispose_flush,
        })))
    }
}

/// Switch: capture a stack trace per queued mutation ([`DbgTracerBuilder::stack_traces`]).
pub const AM_DBG_TRACE: &str = "AM_DBG_TRACE";
/// Switch, as in Go: no stack traces, whatever [`AM_DBG_TRACE`] says (a builder call still
/// wins).
pub const AM_DBG_NO_TRACE: &str = "AM_DBG_NO_TRACE";

/// `AM_DBG_TRACE` on and `AM_DBG_NO_TRACE` off (switch rule of [`am_core::env::is_on`]).
fn stack_traces_from_env() -> bool {
    am_core::env::is_on(AM_DBG_TRACE) && !am_core::env::is_on(AM_DBG_NO_TRACE)
}

pub(super) fn exe_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "am".to_string())
}

pub(super) fn session_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(crate::clock::unix_nanos());
    h.write_u32(std::process::id());
    h.finish()
}
