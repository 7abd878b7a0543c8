//! Building a machine: [`MachineBuilder`], its options and env fallbacks, and `build`,
//! which attaches the first tracers.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::bits::BitSet;
use crate::env;
use crate::exec::Runner;
use crate::handlers::HandlerTable;
use crate::log::LogLevel;
use crate::mutation::{Args, ArgsMapper, default_args_mapper};
use crate::schema::Schema;
use crate::tracer::Tracer;
use crate::transition::TxIds;

use super::*;

/// Builds a [`Machine`]. Precedence: builder call > `AM_*` env variable > default.
pub struct MachineBuilder {
    schema: Schema,
    id: Option<String>,
    parent: Option<Machine>,
    tags: Vec<String>,
    log_level: Option<LogLevel>,
    handler_timeout: Option<Duration>,
    queue_limit: usize,
    tracers: Vec<Arc<dyn Tracer>>,
    panic_to_exception: Option<bool>,
    steps: Option<bool>,
    log_args: Option<bool>,
    log_checks: Option<bool>,
    short_id: bool,
    args_mapper: Option<ArgsMapper>,
    trace_parent: Option<crate::TraceContext>,
}

impl fmt::Debug for MachineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MachineBuilder").field("id", &self.id).finish_non_exhaustive()
    }
}

/// The next machine instance number: 1, 2, … in the process.
fn next_instance() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Relaxed)
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Relaxed));
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}

impl MachineBuilder {
    /// Machine ID; default: 16 random hex characters.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
    /// Makes this a submachine of `parent`: it records the parent's ID and inherits its log
    /// level (unless set here) and its inheritable tracers.
    pub fn parent(mut self, parent: &Machine) -> Self {
        self.parent = Some(parent.clone());
        self
    }
    /// The span this machine's work belongs to, from outside: e.g. the HTTP request that made
    /// it. It is the machine's [`trace_context`](Machine::trace_context) until a tracing
    /// exporter attaches, which then puts the machine's span under it (am-otel), so the
    /// request's trace holds the machine and its transitions; log exporters stamp it too.
    pub fn trace_parent(mut self, ctx: crate::TraceContext) -> Self {
        self.trace_parent = Some(ctx);
        self
    }
    /// Tags (de-duplicated).
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        for t in tags {
            let t = t.into();
            if !self.tags.contains(&t) {
                self.tags.push(t);
            }
        }
        self
    }
    /// Log level (env [`env::AM_LOG`], default `Nothing`).
    pub fn log_level(mut self, l: LogLevel) -> Self {
        self.log_level = Some(l);
        self
    }
    /// Handler timeout (default 100 ms; 10 min with [`env::AM_DEBUG`], 1 s with
    /// [`env::AM_TEST_RUNNER`]).
    pub fn handler_timeout(mut self, d: Duration) -> Self {
        self.handler_timeout = Some(d);
        self
    }
    /// Queue limit (default 1000).
    pub fn queue_limit(mut self, n: usize) -> Self {
        self.queue_limit = n;
        self
    }
    /// Binds a tracer from the start (gets `machine_init`).
    pub fn tracer(mut self, t: impl Tracer) -> Self {
        self.tracers.push(Arc::new(t));
        self
    }
    /// Binds a shared tracer from the start.
    pub fn tracer_arc(mut self, t: Arc<dyn Tracer>) -> Self {
        self.tracers.push(t);
        self
    }
    /// Whether handler panics become `Exception` (default true; false with `AM_DEBUG`).
    pub fn panic_to_exception(mut self, on: bool) -> Self {
        self.panic_to_exception = Some(on);
        self
    }
    /// Record transition steps (env [`env::AM_LOG_STEPS`] / [`env::AM_LOG_FULL`]).
    pub fn log_steps(mut self, on: bool) -> Self {
        self.steps = Some(on);
        self
    }
    /// Include args in log lines (env [`env::AM_LOG_ARGS`] / [`env::AM_LOG_FULL`]).
    pub fn log_args(mut self, on: bool) -> Self {
        self.log_args = Some(on);
        self
    }
    /// Log check transitions (env [`env::AM_LOG_CHECKS`] / [`env::AM_LOG_FULL`]).
    pub fn log_checks(mut self, on: bool) -> Self {
        self.log_checks = Some(on);
        self
    }
    /// Whether log lines shorten the machine ID to 5 characters (default true).
    pub fn short_id_in_logs(mut self, on: bool) -> Self {
        self.short_id = on;
        self
    }
    /// Maps args to the short pairs shown in logs; see [`default_args_mapper`].
    pub fn args_mapper(mut self, f: impl Fn(&Args) -> Vec<(String, String)> + Send + Sync + 'static) -> Self {
        self.args_mapper = Some(Arc::new(f));
        self
    }

    /// Builds the machine: parent tracers get `new_submachine`, then the machine's tracers
    /// get `machine_init` and `verify_states`.
    pub fn build(self) -> Machine {
        let debug = env::is_on(env::AM_DEBUG);
        let test_runner = env::is_test_runner();
        let full = env::is_on(env::AM_LOG_FULL);
        let flag = |b: Option<bool>, name| b.unwrap_or_else(|| full || env::is_on(name));
        let log_level = self
            .log_level
            .or_else(|| env::parse(env::AM_LOG, env::parse_log_level).ok().flatten())
            .or_else(|| self.parent.as_ref().map(Machine::log_level))
            .unwrap_or_default();
        let handler_timeout = self.handler_timeout.unwrap_or(if debug {
            Duration::from_secs(600)
        } else if test_runner {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(100)
        });
        let mut tracers = self.tracers;
        if let Some(p) = &self.parent {
            for t in p.tracers().iter().filter(|t| t.inheritable()) {
                if !tracers.iter().any(|own| own.id() == t.id()) {
                    tracers.push(t.clone());
                }
            }
        }
        // bound (and attached) once the machine exists, below
        let n = self.schema.len();
        let seed = random_u64();
        let id = self.id.unwrap_or_else(|| format!("{seed:016x}"));
        let exception = self.schema.exception();
        let schema = Arc::new(self.schema);
        let st = State {
            time: vec![0; n],
            active: BitSet::with_len(n),
            active_list: Vec::new(),
            schema: schema.clone(),
            epoch: 0,
            // grows when a mutation waits (an idle machine runs one without queueing it)
            queue: VecDeque::new(),
            queue_tick: 1,
            appended: 0,
            running: false,
            runner: Some(Box::new(Runner::new(schema.clone()))),
            waiters: Vec::new(),
            ctxs: vec![None; n],
            last_error: None,
            pre_log: Vec::new(),
            tx_log: Vec::new(),
            tx_seq: 0,
            machine_tick: 0,
        };
        let m = Machine(Arc::new(Inner {
            id,
            parent_id: self.parent.as_ref().map(|p| p.id().to_string()),
            tags: self.tags,
            tx_ids: TxIds(random_u64()),
            instance: next_instance(),
            exception,
            schema: RwLock::new(schema),
            st: Mutex::new(st),
            // sized to the schema when a set is bound
            handlers: RwLock::new(Arc::new(HandlerTable::default())),
            has_handlers: AtomicBool::new(false),
            has_tracers: AtomicBool::new(false),
            bind_version: AtomicU64::new(0),
            timing: AtomicBool::new(false),
            tracers: RwLock::new(Bound::default()),
            log_level: AtomicU8::new(log_level as u8),
            steps: AtomicBool::new(flag(self.steps, env::AM_LOG_STEPS)),
            opts: Opts {
                handler_timeout,
                queue_limit: self.queue_limit,
                panic_to_exception: self.panic_to_exception.unwrap_or(!debug),
                log_args: flag(self.log_args, env::AM_LOG_ARGS),
                log_checks: flag(self.log_checks, env::AM_LOG_CHECKS),
                short_id: self.short_id,
                args_mapper: self.args_mapper.unwrap_or_else(|| Arc::new(default_args_mapper)),
            },
            disposal: DisposalCell::default(),
            running_tx: AtomicU64::new(0),
            tx_log_pending: AtomicBool::new(false),
            queue_token: AtomicU64::new(0),
            on_dispose: Mutex::new(Vec::new()),
            trace_ctx: RwLock::new(self.trace_parent),
            has_trace_ctx: AtomicBool::new(self.trace_parent.is_some()),
            has_waiters: AtomicBool::new(false),
        }));
        if let Some(p) = &self.parent {
            p.dispatch().new_submachine(p, &m);
        }
        let bound: Vec<BoundTracer> = tracers.into_iter().map(|t| m.attach(t)).collect();
        m.set_bound(bound);
        let dispatch = m.dispatch();
        dispatch.machine_init(&m);
        dispatch.verify_states(&m);
        m
    }
}

impl Machine {
    /// A machine with default options.
    pub fn new(schema: Schema) -> Machine {
        Machine::builder(schema).build()
    }

    /// Starts building a machine.
    pub fn builder(schema: Schema) -> MachineBuilder {
        MachineBuilder {
            schema,
            id: None,
            parent: None,
            tags: Vec::new(),
            log_level: None,
            handler_timeout: None,
            queue_limit: 1000,
            tracers: Vec::new(),
            panic_to_exception: None,
            steps: None,
            log_args: None,
            log_checks: None,
            short_id: true,
            args_mapper: None,
            trace_parent: None,
        }
    }
}
