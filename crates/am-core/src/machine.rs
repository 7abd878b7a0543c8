//! The machine: construction, queries, mutation calls, the queue runner, disposal.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU64,
    Ordering::{Relaxed, Release},
};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::bits::BitSet;
use crate::env;
use crate::error::{AnyError, Error};
use crate::exec::Scratch;
use crate::handlers::{HandlerTable, Handlers};
use crate::log::{LogEntry, LogLevel};
use crate::mutation::{Arg, Args, ArgsMapper, MutResult, Mutation, MutationKind, Source, default_args_mapper};
use crate::schema::{Schema, StateIdx};
use crate::tracer::{Attach, Interest, Tracer, TracerId};
use crate::transition::TxIds;
use crate::unpoison::Unpoison;
use crate::wait::{CancelToken, Wait, WaitCond, WaitError, Waiter, lock, states_ok, time_ok};

pub(crate) type TracerList = Arc<[Arc<dyn Tracer>]>;

/// A tracer bound to a machine: what was bound (passed to submachines, detached by key) and
/// what it attached for this machine (gets the hooks; `None` when it declined).
#[derive(Clone)]
pub(crate) struct BoundTracer {
    pub(crate) tracer: Arc<dyn Tracer>,
    pub(crate) hooks: Option<Arc<dyn Tracer>>,
    pub(crate) key: TracerId,
}

/// The machine's bound tracers, and the list every hook is dispatched to (derived).
#[derive(Clone)]
pub(crate) struct Bound {
    pub(crate) tracers: Arc<[BoundTracer]>,
    pub(crate) hooks: TracerList,
}

impl Default for Bound {
    fn default() -> Self {
        Bound { tracers: Arc::from(Vec::new()), hooks: Arc::from(Vec::new()) }
    }
}
type DisposeFn = Box<dyn FnOnce(&str) + Send>;

/// Options fixed at construction.
pub(crate) struct Opts {
    pub(crate) handler_timeout: Duration,
    pub(crate) queue_limit: usize,
    pub(crate) panic_to_exception: bool,
    pub(crate) log_args: bool,
    pub(crate) log_checks: bool,
    pub(crate) short_id: bool,
    pub(crate) args_mapper: ArgsMapper,
}

/// Mutable machine state, behind one mutex held only briefly (never across handlers or hooks).
pub(crate) struct State {
    pub(crate) time: Vec<u64>,
    pub(crate) active: BitSet,
    pub(crate) queue: VecDeque<Mutation>,
    pub(crate) queue_tick: u64,
    pub(crate) appended: usize,
    pub(crate) running: bool,
    pub(crate) scratch: Option<Box<Scratch>>,
    pub(crate) waiters: Vec<Waiter>,
    pub(crate) ctxs: Vec<Option<CancelToken>>,
    pub(crate) last_error: Option<AnyError>,
    pub(crate) pre_log: Vec<LogEntry>,
    pub(crate) tx_seq: u64,
    pub(crate) machine_tick: u64,
}

pub(crate) struct Inner {
    pub(crate) id: String,
    pub(crate) parent_id: Option<String>,
    pub(crate) tags: Vec<String>,
    /// Makes the machine's transition IDs (a random seed).
    pub(crate) tx_ids: TxIds,
    pub(crate) instance: u64,
    pub(crate) exception: StateIdx,
    pub(crate) schema: RwLock<Arc<Schema>>,
    pub(crate) st: Mutex<State>,
    pub(crate) handlers: RwLock<Arc<HandlerTable>>,
    pub(crate) has_handlers: AtomicBool,
    pub(crate) tracers: RwLock<Bound>,
    pub(crate) has_tracers: AtomicBool,
    /// Bumped whenever tracers or handlers change; runners re-read their cached lists then.
    pub(crate) bind_version: AtomicU64,
    pub(crate) timing: AtomicBool,
    pub(crate) log_level: AtomicU8,
    pub(crate) steps: AtomicBool,
    pub(crate) opts: Opts,
    pub(crate) disposing: AtomicBool,
    pub(crate) dispose_started: AtomicBool,
    pub(crate) disposed: AtomicBool,
    pub(crate) running_tx: AtomicU64,
    pub(crate) queue_token: AtomicU64,
    pub(crate) on_dispose: Mutex<Vec<DisposeFn>>,
    pub(crate) trace_ctx: RwLock<Option<crate::TraceContext>>,
    /// An empty tracer list, lent to log hooks when no tracer listens.
    pub(crate) no_tracers: TracerList,
}

impl Inner {
    /// Steps 3 and 4 of disposal (spec §7.3), once: tracers, contexts, waits, handlers,
    /// callbacks.
    fn finish_dispose(&self) {
        if self.dispose_started.swap(true, Relaxed) {
            return;
        }
        let hooks = self.tracers.read().unpoison().hooks.clone();
        for t in hooks.iter() {
            t.machine_dispose(&self.id);
        }
        let (ctxs, waiters) = {
            let mut st = lock(&self.st);
            st.queue.clear();
            (std::mem::take(&mut st.ctxs), std::mem::take(&mut st.waiters))
        };
        ctxs.into_iter().flatten().for_each(|c| c.cancel());
        *self.trace_ctx.write().unpoison() = None;
        let mut disposed_waits = Vec::new();
        for w in waiters {
            if matches!(w.cond, WaitCond::Disposed) {
                disposed_waits.push(w.shared);
            } else {
                w.shared.complete(Err(WaitError::Disposed));
            }
        }
        *self.handlers.write().unpoison() = Arc::new(HandlerTable::default());
        self.has_handlers.store(false, Relaxed);
        self.bind_version.fetch_add(1, Release);
        let callbacks = std::mem::take(&mut *lock(&self.on_dispose));
        for cb in callbacks {
            cb(&self.id);
        }
        self.disposed.store(true, Relaxed);
        for w in disposed_waits {
            w.complete(Ok(()));
        }
    }
}

/// The last handle of a machine that was never disposed goes: it is disposed now, so its
/// pending waits complete with `Disposed` (rather than never), its tracers hear of it and
/// its `on_dispose` callbacks run.
impl Drop for Inner {
    fn drop(&mut self) {
        self.disposing.store(true, Relaxed);
        self.finish_dispose();
    }
}

/// A state machine. Cheap to clone (a shared handle), `Send + Sync`; mutations may come
/// from any thread.
///
/// ```
/// use am_core::{Machine, MutResult, Schema, State};
/// let schema = Schema::builder()
///     .state("Connected", State::new().require(["Started"]))
///     .state("Started", State::new())
///     .build()?;
/// let m = Machine::builder(schema).id("conn").build();
/// assert_eq!(m.add(&["Connected"])?, MutResult::Canceled); // requires Started
/// assert_eq!(m.add(&["Started", "Connected"])?, MutResult::Executed);
/// assert_eq!(m.string(), "(Connected:1 Started:1)");
/// # Ok::<(), am_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Machine(pub(crate) Arc<Inner>);

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine").field("id", &self.0.id).field("states", &self.string()).finish()
    }
}

impl PartialEq for Machine {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

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
        let st = State {
            time: vec![0; n],
            active: BitSet::with_len(n),
            queue: VecDeque::with_capacity(16),
            queue_tick: 1,
            appended: 0,
            running: false,
            scratch: Some(Box::new(Scratch::new(n))),
            waiters: Vec::new(),
            ctxs: vec![None; n],
            last_error: None,
            pre_log: Vec::new(),
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
            schema: RwLock::new(Arc::new(self.schema)),
            st: Mutex::new(st),
            handlers: RwLock::new(Arc::new(HandlerTable::new(n))),
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
            disposing: AtomicBool::new(false),
            dispose_started: AtomicBool::new(false),
            disposed: AtomicBool::new(false),
            running_tx: AtomicU64::new(0),
            queue_token: AtomicU64::new(0),
            on_dispose: Mutex::new(Vec::new()),
            trace_ctx: RwLock::new(None),
            no_tracers: Arc::from(Vec::new()),
        }));
        if let Some(p) = &self.parent {
            for t in p.hooks().iter() {
                t.new_submachine(p, &m);
            }
        }
        let bound: Vec<BoundTracer> = tracers.into_iter().map(|t| m.attach(t)).collect();
        m.set_bound(bound);
        let hooks = m.hooks();
        for t in hooks.iter() {
            t.machine_init(&m);
        }
        for t in hooks.iter() {
            t.verify_states(&m);
        }
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
        }
    }

    // ---- identity and options ----

    /// The machine ID.
    pub fn id(&self) -> &str {
        &self.0.id
    }
    /// A number unique to this machine instance in the process, never 0: a machine built
    /// again with the same ID gets a new one. For tracers keeping per-machine state: one
    /// compare tells their last machine from another, where IDs need a string compare.
    ///
    /// ```
    /// use am_core::{Machine, Schema};
    /// let schema = Schema::builder().states(["A"]).build().unwrap();
    /// let a = Machine::builder(schema.clone()).id("m").build();
    /// let b = Machine::builder(schema).id("m").build();
    /// assert_ne!(a.instance(), b.instance());
    /// assert_eq!(a.instance(), a.clone().instance());
    /// ```
    pub fn instance(&self) -> u64 {
        self.0.instance
    }
    /// Makes this machine's transition IDs from their sequence numbers, without the machine:
    /// a tracer can keep [`Transition::seq`](crate::Transition::seq) (8 bytes, no work on the
    /// machine's thread) and make the [`TxId`](crate::TxId) later.
    ///
    /// ```
    /// use am_core::{Machine, Schema, Tracer, Transition};
    /// use std::sync::{Arc, Mutex};
    ///
    /// #[derive(Default)]
    /// struct Ids(Mutex<Vec<(u64, am_core::TxId)>>);
    /// impl Tracer for Ids {
    ///     fn id(&self) -> &str { "ids" }
    ///     fn transition_end(&self, tx: &Transition<'_>) {
    ///         self.0.lock().unwrap().push((tx.seq(), tx.id()));
    ///     }
    /// }
    /// let ids = Arc::new(Ids::default());
    /// let schema = Schema::builder().states(["A"]).build().unwrap();
    /// let m = Machine::builder(schema).tracer(ids.clone()).build();
    /// m.add(&["A"]);
    /// let (seq, id) = ids.0.lock().unwrap()[0];
    /// assert_eq!(m.tx_ids().id(seq), id);
    /// ```
    pub fn tx_ids(&self) -> TxIds {
        self.0.tx_ids
    }
    /// The parent's ID, for submachines.
    pub fn parent_id(&self) -> Option<&str> {
        self.0.parent_id.as_deref()
    }
    /// Tags.
    pub fn tags(&self) -> &[String] {
        &self.0.tags
    }
    /// The schema in force.
    pub fn schema(&self) -> Arc<Schema> {
        self.0.schema.read().unpoison().clone()
    }
    /// Current log level.
    pub fn log_level(&self) -> LogLevel {
        LogLevel::from_u8(self.0.log_level.load(Relaxed))
    }
    /// Changes the log level.
    pub fn set_log_level(&self, l: LogLevel) {
        self.0.log_level.store(l as u8, Relaxed);
    }
    /// Turns step recording on or off.
    pub fn set_log_steps(&self, on: bool) {
        self.0.steps.store(on, Relaxed);
    }
    /// The handler timeout.
    pub fn handler_timeout(&self) -> Duration {
        self.0.opts.handler_timeout
    }
    /// The trace context of the span the machine is in, as set by a tracing exporter.
    pub fn trace_context(&self) -> Option<crate::TraceContext> {
        *self.0.trace_ctx.read().unpoison()
    }
    /// Sets (or clears) the trace context; called by tracing exporters from their hooks.
    pub fn set_trace_context(&self, ctx: Option<crate::TraceContext>) {
        *self.0.trace_ctx.write().unpoison() = ctx;
    }
    pub(crate) fn running_tx_seq(&self) -> u64 {
        self.0.running_tx.load(Relaxed)
    }

    // ---- tracers and handlers ----

    /// Bound tracers, in call order: what was bound (by the builder, `bind_tracer` or
    /// inheritance), not what each attached.
    pub fn tracers(&self) -> TracerList {
        let g = self.0.tracers.read().unpoison();
        g.tracers.iter().map(|b| b.tracer.clone()).collect::<Vec<_>>().into()
    }

    /// What receives this machine's hooks: each bound tracer's answer to `attach`. Every hook
    /// is dispatched from this list (the runner caches it per bind).
    pub(crate) fn hooks(&self) -> TracerList {
        self.0.tracers.read().unpoison().hooks.clone()
    }

    /// Asks `t` what receives this machine's hooks ([`Tracer::attach`]).
    fn attach(&self, t: Arc<dyn Tracer>) -> BoundTracer {
        let hooks = match t.attach(self) {
            Attach::Itself => Some(t.clone()),
            Attach::With(h) => Some(h),
            Attach::Decline => None,
        };
        BoundTracer { tracer: t, hooks, key: TracerId::next() }
    }

    fn set_bound(&self, list: Vec<BoundTracer>) {
        let mut g = self.0.tracers.write().unpoison();
        self.store_bound(&mut g, list);
    }

    fn store_bound(&self, g: &mut Bound, list: Vec<BoundTracer>) {
        let hooks: Vec<Arc<dyn Tracer>> = list.iter().filter_map(|b| b.hooks.clone()).collect();
        self.0.timing.store(hooks.iter().any(|t| t.wants_timing()), Relaxed);
        self.0.has_tracers.store(!hooks.is_empty(), Relaxed);
        *g = Bound { tracers: list.into(), hooks: hooks.into() };
        self.0.bind_version.fetch_add(1, Release);
    }

    /// Binds a tracer now: it is attached ([`Tracer::attach`]) and what it attached gets
    /// `machine_init`. Binding the same tracer (the same `Arc`) again returns its existing
    /// key; a different tracer is bound beside the others, whatever its `id`. On a disposed
    /// machine this does nothing and returns [`TracerId::NONE`].
    pub fn bind_tracer(&self, t: Arc<dyn Tracer>) -> TracerId {
        if self.is_disposing() {
            return TracerId::NONE;
        }
        if let Some(key) = self.bound_key(&t) {
            return key;
        }
        // attach runs unlocked: it may query the machine
        let b = self.attach(t);
        let (key, hooks) = (b.key, b.hooks.clone());
        {
            let mut g = self.0.tracers.write().unpoison();
            if let Some(other) = g.tracers.iter().find(|x| Arc::ptr_eq(&x.tracer, &b.tracer)) {
                return other.key; // bound meanwhile by another thread
            }
            let mut list = g.tracers.to_vec();
            list.push(b);
            self.store_bound(&mut g, list);
        }
        if let Some(h) = hooks {
            h.machine_init(self);
        }
        key
    }

    fn bound_key(&self, t: &Arc<dyn Tracer>) -> Option<TracerId> {
        let g = self.0.tracers.read().unpoison();
        g.tracers.iter().find(|x| Arc::ptr_eq(&x.tracer, t)).map(|x| x.key)
    }

    /// Detaches the binding `key` returned by [`bind_tracer`](Self::bind_tracer); returns
    /// whether it was bound.
    pub fn detach(&self, key: TracerId) -> bool {
        self.detach_where(|b| b.key == key)
    }

    /// Detaches the tracer with this `id` when exactly one bound tracer has it; returns
    /// whether one was detached. Two tracers bound with one id are told apart only by their
    /// keys: use [`detach`](Self::detach) then.
    pub fn detach_tracer(&self, id: &str) -> bool {
        let n = self.0.tracers.read().unpoison().tracers.iter().filter(|b| b.tracer.id() == id).count();
        n == 1 && self.detach_where(|b| b.tracer.id() == id)
    }

    fn detach_where(&self, f: impl Fn(&BoundTracer) -> bool) -> bool {
        let mut g = self.0.tracers.write().unpoison();
        let list: Vec<BoundTracer> = g.tracers.iter().filter(|b| !f(b)).cloned().collect();
        if list.len() == g.tracers.len() {
            return false;
        }
        self.store_bound(&mut g, list);
        true
    }
    /// Binds a handler set. Fails with `UnknownState` when a name does not fit the schema
    /// (nothing is bound then), and with `Disposed` on a disposed machine. Takes effect from
    /// the next transition.
    pub fn bind_handlers(&self, h: Handlers) -> Result<(), Error> {
        self.alive()?;
        let schema = self.schema();
        let mut g = self.0.handlers.write().unpoison();
        let mut table = HandlerTable::clone(&g);
        table.bind(&schema, h)?;
        *g = Arc::new(table);
        self.0.has_handlers.store(true, Relaxed);
        self.0.bind_version.fetch_add(1, Release);
        Ok(())
    }
    /// Drops every handler of the set named `name`.
    pub fn unbind_handlers(&self, name: &str) {
        let mut g = self.0.handlers.write().unpoison();
        let mut t = HandlerTable::clone(&g);
        let keep = |e: &crate::handlers::Entry| &*e.binding != name;
        for v in [&mut t.enter, &mut t.exit, &mut t.state, &mut t.end, &mut t.self_h] {
            v.iter_mut().for_each(|l| l.retain(keep));
        }
        t.pairs.iter_mut().for_each(|l| l.retain(|(_, e)| keep(e)));
        t.any_enter.retain(keep);
        t.any_state.retain(keep);
        t.bindings.retain(|b| &**b != name);
        self.0.has_handlers.store(!t.bindings.is_empty(), Relaxed);
        *g = Arc::new(t);
        self.0.bind_version.fetch_add(1, Release);
    }
    pub(crate) fn handler_table(&self) -> Arc<HandlerTable> {
        self.0.handlers.read().unpoison().clone()
    }

    // ---- queries ----

    fn idx(&self, names: &[&str]) -> Result<Vec<StateIdx>, Error> {
        self.schema().indexes(names)
    }
    fn with_time<R>(&self, f: impl FnOnce(&[u64]) -> R) -> R {
        let st = lock(&self.0.st);
        if self.0.disposing.load(Relaxed) {
            return f(&vec![0; st.time.len()]);
        }
        f(&st.time)
    }
    /// Whether all these states are active.
    pub fn is(&self, states: &[&str]) -> Result<bool, Error> {
        let idx = self.idx(states)?;
        Ok(self.with_time(|t| states_ok(t, &idx, true)))
    }
    /// Whether one state is active; false for unknown names.
    pub fn is1(&self, state: &str) -> bool {
        self.is(&[state]).unwrap_or(false)
    }
    /// Whether all these states are inactive.
    pub fn not(&self, states: &[&str]) -> Result<bool, Error> {
        let idx = self.idx(states)?;
        Ok(self.with_time(|t| states_ok(t, &idx, false)))
    }
    /// Whether any of the groups is fully active.
    pub fn any(&self, groups: &[&[&str]]) -> Result<bool, Error> {
        for g in groups {
            if self.is(g)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
    /// Whether `Exception` is active.
    pub fn is_err(&self) -> bool {
        let e = self.0.exception;
        self.with_time(|t| t[e] % 2 == 1)
    }
    /// The tick of a state.
    pub fn tick(&self, state: &str) -> Result<u64, Error> {
        let i = self.schema().index(state)?;
        Ok(self.with_time(|t| t[i]))
    }
    /// Ticks of every state, schema index order.
    pub fn time(&self) -> Vec<u64> {
        self.with_time(<[u64]>::to_vec)
    }
    /// State name → tick, schema index order.
    pub fn clock(&self) -> Vec<(String, u64)> {
        let s = self.schema();
        self.with_time(|t| s.names().iter().cloned().zip(t.iter().copied()).collect())
    }
    /// Sum of all ticks (monotonic).
    pub fn machine_time(&self) -> u64 {
        self.with_time(|t| t.iter().sum())
    }
    /// Active state names, canonical order.
    pub fn active_states(&self) -> Vec<String> {
        let s = self.schema();
        self.with_time(|t| s.canonical().iter().filter(|&&i| t[i] % 2 == 1).map(|&i| s.name(i).to_string()).collect())
    }
    /// True when every listed state's tick equals the given value.
    pub fn is_clock(&self, clock: &[(&str, u64)]) -> Result<bool, Error> {
        let s = self.schema();
        let idx = clock.iter().map(|(n, v)| s.index(n).map(|i| (i, *v))).collect::<Result<Vec<_>, _>>()?;
        Ok(self.with_time(|t| idx.iter().all(|&(i, v)| t[i] == v)))
    }
    /// True when every listed state's tick is ≥ the given value.
    pub fn was_clock(&self, clock: &[(&str, u64)]) -> Result<bool, Error> {
        let s = self.schema();
        let idx = clock.iter().map(|(n, v)| s.index(n).map(|i| (i, *v))).collect::<Result<Vec<_>, _>>()?;
        Ok(self.with_time(|t| idx.iter().all(|&(i, v)| t[i] >= v)))
    }
    /// Active states with ticks, schema index order: `(A:1 B:1)`.
    pub fn string(&self) -> String {
        let s = self.schema();
        self.with_time(|t| {
            let items: Vec<_> =
                (0..t.len()).filter(|&i| t[i] % 2 == 1).map(|i| format!("{}:{}", s.name(i), t[i])).collect();
            format!("({})", items.join(" "))
        })
    }
    /// Like [`string`](Self::string), plus inactive states in brackets.
    pub fn string_all(&self) -> String {
        let s = self.schema();
        let inactive = self.with_time(|t| {
            (0..t.len()).filter(|&i| t[i] % 2 == 0).map(|i| format!("{}:{}", s.name(i), t[i])).collect::<Vec<_>>()
        });
        format!("{} [{}]", self.string(), inactive.join(" "))
    }
    /// The first state of a group-like list that is active.
    pub fn switch<'a>(&self, states: &[&'a str]) -> Result<Option<&'a str>, Error> {
        let idx = self.idx(states)?;
        Ok(self.with_time(|t| idx.iter().position(|&i| t[i] % 2 == 1).map(|p| states[p])))
    }
    /// The last error passed to `add_err*` or recorded by a handler failure.
    pub fn last_error(&self) -> Option<AnyError> {
        lock(&self.0.st).last_error.clone()
    }
    /// Mutations waiting in the queue.
    pub fn queue_len(&self) -> usize {
        lock(&self.0.st).queue.len()
    }
    /// The queue tick: mutation `t` has started iff `queue_tick() >= t`.
    pub fn queue_tick(&self) -> u64 {
        lock(&self.0.st).queue_tick
    }
    /// Whether a queue run is in progress.
    pub fn is_busy(&self) -> bool {
        lock(&self.0.st).running
    }

    /// `Err(Disposed)` once [`dispose`](Self::dispose) was called: what every mutation,
    /// dry run, binding and schema change answers from then on.
    fn alive(&self) -> Result<(), Error> {
        if self.is_disposing() { Err(Error::Disposed) } else { Ok(()) }
    }

    /// Whether handler (and [`panic_to_err`](Self::panic_to_err)) panics become `Exception`.
    pub(crate) fn panics_to_exception(&self) -> bool {
        self.0.opts.panic_to_exception
    }

    /// Whether [`dispose`](Self::dispose) was called (disposal may still be finishing).
    pub(crate) fn is_disposing(&self) -> bool {
        self.0.disposing.load(Relaxed)
    }

    // ---- mutations ----

    pub(crate) fn call(
        &self,
        kind: MutationKind,
        states: &[&str],
        args: Option<Args>,
        source: Option<Source>,
    ) -> Result<MutResult, Error> {
        self.alive()?;
        let schema = self.0.schema.read().unpoison();
        let mut buf = [0usize; 4];
        let mut heap = Vec::new();
        let mut n = 0;
        let small = states.len() <= 4;
        for name in states {
            let i = schema.index(name)?;
            if small {
                if !buf[..n].contains(&i) {
                    buf[n] = i;
                    n += 1;
                }
            } else if !heap.contains(&i) {
                heap.push(i);
            }
        }
        let called = if small { &buf[..n] } else { &heap[..] };
        let mut mu = Mutation::new(kind, called, args.map(Arc::new));
        mu.source = source.map(Arc::new);
        if self.log_level() >= LogLevel::Ops {
            let names: Vec<&str> = called.iter().map(|&i| schema.name(i)).collect();
            let text = format!("[queue:{kind}] {}", names.join(" "));
            drop(schema);
            self.log_plain(LogLevel::Ops, || text);
        } else {
            drop(schema);
        }
        Ok(self.enqueue(mu))
    }

    /// Activates the states, keeping the rest.
    pub fn add(&self, states: &[&str]) -> Result<MutResult, Error> {
        self.call(MutationKind::Add, states, None, None)
    }
    /// [`add`](Self::add) with args.
    pub fn add_args(&self, states: &[&str], args: Args) -> Result<MutResult, Error> {
        self.call(MutationKind::Add, states, Some(args), None)
    }
    /// Single-state [`add`](Self::add).
    pub fn add1(&self, state: &str) -> Result<MutResult, Error> {
        self.add(&[state])
    }
    /// Deactivates the states.
    pub fn remove(&self, states: &[&str]) -> Result<MutResult, Error> {
        self.call(MutationKind::Remove, states, None, None)
    }
    /// [`remove`](Self::remove) with args.
    pub fn remove_args(&self, states: &[&str], args: Args) -> Result<MutResult, Error> {
        self.call(MutationKind::Remove, states, Some(args), None)
    }
    /// Single-state [`remove`](Self::remove).
    pub fn remove1(&self, state: &str) -> Result<MutResult, Error> {
        self.remove(&[state])
    }
    /// Activates exactly these (plus what relations imply), deactivating all others.
    pub fn set(&self, states: &[&str]) -> Result<MutResult, Error> {
        self.call(MutationKind::Set, states, None, None)
    }
    /// [`set`](Self::set) with args.
    pub fn set_args(&self, states: &[&str], args: Args) -> Result<MutResult, Error> {
        self.call(MutationKind::Set, states, Some(args), None)
    }
    /// `remove` when all are active, else `add`.
    pub fn toggle(&self, states: &[&str]) -> Result<MutResult, Error> {
        if self.is(states)? { self.remove(states) } else { self.add(states) }
    }
    /// A mutation caused by a handler's event (or any [`Source`]): records it as the
    /// mutation's source. See also [`ev_add`](Self::ev_add) and its siblings.
    pub fn ev_mutate(
        &self,
        ev: impl Into<Source>,
        kind: MutationKind,
        states: &[&str],
        args: Option<Args>,
    ) -> Result<MutResult, Error> {
        self.call(kind, states, args, Some(ev.into()))
    }
    /// Stores `err` as the last error and adds `Exception` (with the error in args as `err`).
    pub fn add_err(&self, err: AnyError) -> Result<MutResult, Error> {
        self.add_err_state(crate::schema::EXCEPTION, err, None)
    }
    /// Stores `err` as the last error and adds `[state, Exception]`.
    pub fn add_err_state(&self, state: &str, err: AnyError, args: Option<Args>) -> Result<MutResult, Error> {
        self.err_state(state, err, args, None)
    }

    pub(crate) fn err_state(
        &self,
        state: &str,
        err: AnyError,
        args: Option<Args>,
        source: Option<Source>,
    ) -> Result<MutResult, Error> {
        let states: &[&str] =
            if state == crate::schema::EXCEPTION { &[state] } else { &[state, crate::schema::EXCEPTION] };
        self.alive()?;
        self.schema().indexes(states)?;
        lock(&self.0.st).last_error = Some(err.clone());
        let mut args = args.unwrap_or_default();
        args.insert("err", Arg::Error(err));
        self.call(MutationKind::Add, states, Some(args), source)
    }

    /// Appends a mutation and runs the queue when idle.
    pub(crate) fn enqueue(&self, mut mu: Mutation) -> MutResult {
        let inner = &*self.0;
        let traced;
        {
            let mut st = lock(&inner.st);
            if inner.disposing.load(Relaxed) {
                drop(st);
                self.log_plain(LogLevel::Ops, || "[cancel] machine disposing".into());
                return MutResult::Canceled;
            }
            let exc = inner.exception;
            if st.queue.len() >= inner.opts.queue_limit {
                let err_in =
                    mu.kind == MutationKind::Add && mu.called().contains(&exc) && st.time[exc].is_multiple_of(2);
                let err_out = mu.kind == MutationKind::Remove && mu.called().contains(&exc) && st.time[exc] % 2 == 1;
                if !(err_in || err_out) {
                    drop(st);
                    self.log_plain(LogLevel::Ops, || "[cancel] queue full".into());
                    return MutResult::Canceled;
                }
            }
            if mu.args.is_none() && !st.queue.is_empty() {
                let schema = self.0.schema.read().unpoison();
                if !mu.called().iter().any(|&c| schema.is_multi(c))
                    && let Some(dup) = st.queue.iter().find(|q| q.queue_tick != 0 && mu.same_as(q))
                {
                    let t = dup.queue_tick;
                    drop(st);
                    drop(schema);
                    self.log_plain(LogLevel::Ops, || "[queue:skipped] duplicate".into());
                    return MutResult::Queued(t);
                }
            }
            if !st.running && st.queue.is_empty() {
                // idle fast path: the mutation is taken at once, so it skips the queue
                st.queue_tick += 1;
                let tick = st.queue_tick;
                mu.queue_tick = tick;
                mu.machine_queue_tick = tick - 1;
                mu.queue_len = 1;
                mu.runs_now = true;
                st.running = true;
                let mut scratch = st.scratch.take().unwrap_or_else(|| Box::new(Scratch::new(st.time.len())));
                drop(st);
                self.refresh_cache(&mut scratch);
                if let Some(ts) =
                    scratch.tracers.as_deref().filter(|_| scratch.interest.intersects(Interest::MUTATION_QUEUED))
                {
                    for t in ts {
                        t.mutation_queued(self, &mu);
                    }
                }
                let r = self.execute(&mut scratch, mu);
                self.run_queue(0, Some(scratch));
                return r;
            }
            st.appended += 1;
            let tick = st.queue_tick + st.appended as u64;
            mu.queue_tick = tick;
            mu.machine_queue_tick = st.queue_tick;
            mu.queue_len = st.queue.len() + 1;
            traced = inner.has_tracers.load(Relaxed).then(|| mu.clone());
            st.queue.push_back(mu);
            if st.running {
                drop(st);
                self.after_queued(traced.as_ref(), tick, true);
                return MutResult::Queued(tick);
            }
            st.running = true;
            let mut scratch = st.scratch.take().unwrap_or_else(|| Box::new(Scratch::new(st.time.len())));
            drop(st);
            if let Some(mu) = traced {
                self.refresh_cache(&mut scratch);
                for t in scratch.tracers.iter().flat_map(|l| l.iter()) {
                    t.mutation_queued(self, &mu);
                }
            }
            self.run_queue(tick, Some(scratch)).unwrap_or(MutResult::Queued(tick))
        }
    }

    fn after_queued(&self, mu: Option<&Mutation>, tick: u64, postponed: bool) {
        if let Some(mu) = mu {
            for t in self.hooks().iter() {
                t.mutation_queued(self, mu);
            }
        }
        if self.log_level() >= LogLevel::Ops && postponed {
            self.log_plain(LogLevel::Ops, || format!("[queue] postponed as {tick}"));
        }
    }

    /// Puts a machine-made mutation (auto, Exception) at the front of the queue.
    pub(crate) fn prepend(&self, mut mu: Mutation) {
        mu.queue_token = self.0.queue_token.fetch_add(1, Relaxed) + 1;
        let traced;
        {
            let mut st = lock(&self.0.st);
            mu.machine_queue_tick = st.queue_tick;
            mu.queue_len = st.queue.len() + 1;
            traced = self.0.has_tracers.load(Relaxed).then(|| mu.clone());
            st.queue.push_front(mu);
        }
        if let Some(mu) = traced {
            for t in self.hooks().iter() {
                t.mutation_queued(self, &mu);
            }
        }
    }

    /// Runs queued mutations until the queue is empty; returns the result of the mutation
    /// with queue tick `own` if this run executed it.
    pub(crate) fn run_queue(&self, own: u64, scratch: Option<Box<Scratch>>) -> Option<MutResult> {
        let mut result = None;
        let mut scratch = match scratch {
            Some(s) => s,
            None => lock(&self.0.st).scratch.take().unwrap_or_else(|| Box::new(Scratch::new(self.schema().len()))),
        };
        loop {
            loop {
                let mu = {
                    let mut st = lock(&self.0.st);
                    if self.0.disposing.load(Relaxed) {
                        st.queue.clear();
                        st.appended = 0;
                        None
                    } else {
                        let mu = st.queue.pop_front();
                        if let Some(m) = &mu
                            && m.queue_tick != 0
                        {
                            st.appended -= 1;
                            st.queue_tick += 1;
                        }
                        mu
                    }
                };
                let Some(mu) = mu else { break };
                let tick = mu.queue_tick;
                let r = self.execute(&mut scratch, mu);
                if tick != 0 && tick == own {
                    result = Some(r);
                }
                if let Some(p) = scratch.panic.take() {
                    self.try_release(scratch, true);
                    std::panic::resume_unwind(p);
                }
            }
            self.refresh_cache(&mut scratch);
            if let Some(ts) = scratch.tracers.as_deref().filter(|_| scratch.interest.intersects(Interest::QUEUE_END)) {
                for t in ts {
                    t.queue_end(self);
                }
            }
            match self.try_release(scratch, false) {
                Some(s) => scratch = s,
                None => break,
            }
        }
        if self.0.disposing.load(Relaxed) {
            self.finish_dispose();
        }
        result
    }

    /// Clears the runner flag, unless work arrived meanwhile (checked under the same lock
    /// that enqueuers take, so nothing is stranded): then the scratch is handed back.
    fn try_release(&self, scratch: Box<Scratch>, force: bool) -> Option<Box<Scratch>> {
        let mut done = Vec::new();
        {
            let mut st = lock(&self.0.st);
            if !force && !st.queue.is_empty() && !self.0.disposing.load(Relaxed) {
                return Some(scratch);
            }
            st.running = false;
            st.scratch = Some(scratch);
            if !st.waiters.is_empty() {
                st.waiters.retain(|w| {
                    if matches!(w.cond, WaitCond::QueueEnd) {
                        done.push(w.shared.clone());
                        false
                    } else {
                        true
                    }
                });
            }
        }
        for d in done {
            d.complete(Ok(()));
        }
        None
    }

    // ---- dry runs ----

    /// Whether `add(states)` would be accepted, by relations and negotiation handlers
    /// (with `is_check`), changing nothing. On a busy machine, answered from relations only.
    pub fn can_add(&self, states: &[&str]) -> Result<MutResult, Error> {
        self.check(MutationKind::Add, states)
    }
    /// Like [`can_add`](Self::can_add), for `remove`.
    pub fn can_remove(&self, states: &[&str]) -> Result<MutResult, Error> {
        self.check(MutationKind::Remove, states)
    }
    fn check(&self, kind: MutationKind, states: &[&str]) -> Result<MutResult, Error> {
        self.alive()?;
        let called = self.idx(states)?;
        let mut mu = Mutation::new(kind, &called, None);
        mu.check = true;
        let scratch = {
            let mut st = lock(&self.0.st);
            if st.running {
                None
            } else {
                st.running = true;
                st.scratch.take()
            }
        };
        let Some(mut scratch) = scratch else {
            return Ok(self.check_relations(&mu));
        };
        let r = self.execute(&mut scratch, mu);
        if let Some(scratch) = self.try_release(scratch, false) {
            // negotiation handlers of the check queued something: run it
            self.run_queue(u64::MAX, Some(scratch));
        }
        Ok(r)
    }

    // ---- logging ----

    /// Logs a message at level `External` (recorded when the level is ≥ 1).
    pub fn log(&self, msg: impl fmt::Display) {
        self.log_plain(LogLevel::External, || msg.to_string());
    }

    /// Whether args are included in log lines (`log_args` / `AM_LOG_ARGS`).
    pub fn log_args(&self) -> bool {
        self.0.opts.log_args
    }
    /// Whether check transitions are logged (`log_checks` / `AM_LOG_CHECKS`).
    pub fn log_checks(&self) -> bool {
        self.0.opts.log_checks
    }
    /// Whether transitions record steps.
    pub fn log_steps(&self) -> bool {
        self.0.steps.load(Relaxed)
    }
    /// Args as the short pairs this machine's args mapper shows in logs.
    pub fn map_args(&self, args: &Args) -> Vec<(String, String)> {
        (self.0.opts.args_mapper)(args)
    }
    /// The `[id]` text log lines start with (the ID, shortened to 5 characters unless
    /// `short_id_in_logs(false)`), without brackets.
    pub fn log_prefix(&self) -> &str {
        let id = &self.0.id;
        if self.0.opts.short_id { id.get(..5.min(id.len())).unwrap_or(id) } else { id }
    }

    /// Records an entry outside a transition (kept for the next one's `pre_log_entries`).
    pub(crate) fn log_plain(&self, level: LogLevel, text: impl FnOnce() -> String) {
        if level > self.log_level() || level == LogLevel::Nothing {
            return;
        }
        let entry = LogEntry { level, text: format!("[{}] {}", self.log_prefix(), text()) };
        self.emit_log(None, &entry, None);
        let mut st = lock(&self.0.st);
        if st.pre_log.last() != Some(&entry) {
            st.pre_log.push(entry);
        }
    }

    /// Passes an entry to `tracing` (feature) and to the tracers interested in logs: the
    /// runner's cached list inside a transition, else the bound list.
    pub(crate) fn emit_log(&self, tx_id: Option<&str>, entry: &LogEntry, cached: Option<&TracerList>) {
        #[cfg(feature = "tracing")]
        tracing::event!(
            target: "am_core",
            tracing::Level::INFO,
            machine_id = %self.0.id,
            tx_id = tx_id.unwrap_or(""),
            level = entry.level as u8,
            "{}",
            entry.text
        );
        match cached {
            Some(list) => list.iter().for_each(|t| t.log(self, tx_id, entry)),
            None if self.0.has_tracers.load(Relaxed) => {
                for t in self.hooks().iter().filter(|t| t.interest().intersects(Interest::LOG)) {
                    t.log(self, tx_id, entry);
                }
            }
            None => {}
        }
    }

    // ---- waiting ----

    fn add_waiter(&self, cond: WaitCond, ready: impl FnOnce(&State) -> bool) -> Wait {
        if self.0.disposing.load(Relaxed) {
            return Wait::done(Err(WaitError::Disposed));
        }
        let mut st = lock(&self.0.st);
        if ready(&st) {
            return Wait::done(Ok(()));
        }
        let (w, shared) = Wait::new();
        st.waiters.retain(|w| !w.abandoned());
        st.waiters.push(Waiter { cond, shared });
        w
    }
    /// Ready when all states are active (at once if they are).
    pub fn when(&self, states: &[&str]) -> Result<Wait, Error> {
        let idx = self.idx(states)?;
        let i2 = idx.clone();
        Ok(self.add_waiter(WaitCond::States(idx, true), |st| states_ok(&st.time, &i2, true)))
    }
    /// Ready when all states are inactive.
    pub fn when_not(&self, states: &[&str]) -> Result<Wait, Error> {
        let idx = self.idx(states)?;
        let i2 = idx.clone();
        Ok(self.add_waiter(WaitCond::States(idx, false), |st| states_ok(&st.time, &i2, false)))
    }
    /// Ready when `Exception` is active.
    pub fn when_err(&self) -> Wait {
        let e = self.0.exception;
        self.add_waiter(WaitCond::States(vec![e], true), |st| st.time[e] % 2 == 1)
    }
    /// Ready when `tick(states[i]) >= ticks[i]` for every i; lengths must match and be non-zero.
    pub fn when_time(&self, states: &[&str], ticks: &[u64]) -> Result<Wait, Error> {
        if states.is_empty() || states.len() != ticks.len() {
            return Err(Error::InvalidWait(format!("{} states but {} ticks", states.len(), ticks.len())));
        }
        let idx = self.idx(states)?;
        let (i2, t2) = (idx.clone(), ticks.to_vec());
        Ok(self.add_waiter(WaitCond::Time(idx, ticks.to_vec()), |st| time_ok(&st.time, &i2, &t2)))
    }
    /// Ready when the state's tick has advanced by `n` from now.
    pub fn when_ticks(&self, state: &str, n: u64) -> Result<Wait, Error> {
        let t = self.tick(state)?;
        self.when_time(&[state], &[t + n])
    }
    /// Ready at the state's next activation.
    pub fn when_next_active(&self, state: &str) -> Result<Wait, Error> {
        let t = self.tick(state)?;
        self.when_time(&[state], &[if t % 2 == 1 { t + 2 } else { t + 1 }])
    }
    /// Ready when `state` is activated (or a Multi state re-activated) in an accepted
    /// transition whose args contain every entry of `args`.
    pub fn when_args(&self, state: &str, args: Args) -> Result<Wait, Error> {
        let i = self.schema().index(state)?;
        Ok(self.add_waiter(WaitCond::Args(i, args), |_| false))
    }
    /// Ready when `f(time)` is true; checked now and after every processed mutation.
    pub fn when_query(&self, f: impl Fn(&[u64]) -> bool + Send + Sync + 'static) -> Wait {
        if self.with_time(&f) {
            return Wait::done(Ok(()));
        }
        self.add_waiter(WaitCond::Query(Box::new(f)), |_| false)
    }
    /// Ready when `queue_tick() >= tick` (also while mutation `tick` runs).
    pub fn when_queue(&self, tick: u64) -> Wait {
        self.add_waiter(WaitCond::Queue(tick), |st| st.queue_tick >= tick)
    }
    /// Ready when the current queue run ends (at once when idle).
    pub fn when_queue_ends(&self) -> Wait {
        self.add_waiter(WaitCond::QueueEnd, |st| !st.running)
    }
    /// Ready when disposal has completed.
    pub fn when_disposed(&self) -> Wait {
        if self.0.disposed.load(Relaxed) {
            return Wait::done(Ok(()));
        }
        let mut st = lock(&self.0.st);
        let (w, shared) = Wait::new();
        st.waiters.push(Waiter { cond: WaitCond::Disposed, shared });
        drop(st);
        if self.0.disposed.load(Relaxed) {
            return Wait::done(Ok(()));
        }
        w
    }

    /// A token cancelled when the state's tick changes (deactivation, activation, Multi
    /// re-activation) or the machine is disposed. Cached per state instance.
    pub fn state_ctx(&self, state: &str) -> Result<CancelToken, Error> {
        let i = self.schema().index(state)?;
        let mut st = lock(&self.0.st);
        if self.0.disposing.load(Relaxed) {
            let t = CancelToken::new();
            t.cancel();
            return Ok(t);
        }
        if let Some(t) = st.ctxs[i].as_ref().filter(|t| !t.is_cancelled()) {
            return Ok(t.clone());
        }
        let t = CancelToken::new();
        st.ctxs[i] = Some(t.clone());
        Ok(t)
    }

    // ---- lifecycle ----

    /// Registers a callback run once at disposal with the machine ID.
    pub fn on_dispose(&self, f: impl FnOnce(&str) + Send + 'static) {
        lock(&self.0.on_dispose).push(Box::new(f));
    }
    /// Whether disposal completed.
    pub fn is_disposed(&self) -> bool {
        self.0.disposed.load(Relaxed)
    }
    /// Disposes the machine; idempotent, never blocks on the queue. If a queue run is in
    /// progress, its current transition completes and the run finishes disposal.
    pub fn dispose(&self) {
        if self.0.disposing.swap(true, Relaxed) {
            return;
        }
        let running = lock(&self.0.st).running;
        if !running {
            self.finish_dispose();
        }
    }
    fn finish_dispose(&self) {
        self.0.finish_dispose();
    }

    /// Disposes the machine now, on this thread, even while another thread runs its queue
    /// (Go: `DisposeForce`). Before it returns, everything [`dispose`](Self::dispose) does has
    /// happened: the machine answers as disposed, the queue is cleared (queued mutations never
    /// run; a `when_queue` wait on one ends with `Disposed`), every pending wait ends with
    /// `Disposed`, state contexts are cancelled, tracers hear `machine_dispose`, handlers are
    /// dropped, `on_dispose` callbacks run and `when_disposed` completes. A transition already
    /// running on another thread still completes — its running handler returns, the handlers
    /// it has left run from the set it started with — and its tracers may hear its end after
    /// `machine_dispose`; then that run stops.
    pub fn dispose_force(&self) {
        self.0.disposing.store(true, Relaxed);
        self.finish_dispose();
    }

    // ---- schema change, export, import ----

    /// Replaces the schema with a larger one keeping existing states at their indexes;
    /// new states start at tick 0. Refused during a transition.
    pub fn set_schema(&self, new: Schema) -> Result<(), Error> {
        self.alive()?;
        let old = self.schema();
        old.check_growth(&new)?;
        let n = new.len();
        {
            let mut st = lock(&self.0.st);
            if st.running {
                return Err(Error::Busy);
            }
            st.time.resize(n, 0);
            st.active.grow(n);
            st.ctxs.resize(n, None);
            if let Some(s) = st.scratch.as_mut() {
                s.grow(n);
            }
            let mut g = self.0.handlers.write().unpoison();
            let mut t = HandlerTable::clone(&g);
            t.grow(n);
            *g = Arc::new(t);
            self.0.bind_version.fetch_add(1, Release);
            *self.0.schema.write().unpoison() = Arc::new(new);
        }
        // every tracer answers again for the grown schema (the same machine instance asks)
        let again: Vec<BoundTracer> = {
            let g = self.0.tracers.read().unpoison();
            g.tracers.to_vec()
        }
        .into_iter()
        .map(|b| BoundTracer { key: b.key, ..self.attach(b.tracer) })
        .collect();
        self.set_bound(again);
        for t in self.hooks().iter() {
            t.schema_change(self, &old);
        }
        Ok(())
    }

    /// A snapshot of the machine's clocks.
    pub fn export(&self) -> Snapshot {
        let st = lock(&self.0.st);
        Snapshot {
            id: self.0.id.clone(),
            state_names: self.schema().names().to_vec(),
            time: st.time.clone(),
            queue_tick: st.queue_tick,
            machine_tick: st.machine_tick,
        }
    }

    /// Restores a snapshot into this (fresh) machine with the same ID and schema; adds
    /// `MachineRestored` when the schema has it.
    pub fn import(&self, snap: &Snapshot) -> Result<(), Error> {
        self.alive()?;
        if snap.id != self.0.id {
            return Err(Error::ImportMismatch(format!("ID `{}` is not `{}`", snap.id, self.0.id)));
        }
        let schema = self.schema();
        if snap.state_names.len() != schema.len() || snap.time.len() != schema.len() {
            return Err(Error::ImportMismatch(format!(
                "{} states, machine has {}",
                snap.state_names.len(),
                schema.len()
            )));
        }
        {
            let mut st = lock(&self.0.st);
            if st.running {
                return Err(Error::Busy);
            }
            st.time.copy_from_slice(&snap.time);
            st.active.clear();
            for (i, t) in snap.time.iter().enumerate() {
                if t % 2 == 1 {
                    st.active.insert(i);
                }
            }
            st.queue_tick = snap.queue_tick;
            st.machine_tick = snap.machine_tick + 1;
        }
        if let Some(r) = schema.restored {
            self.add(&[schema.name(r)])?;
        }
        Ok(())
    }
}

/// Exported machine clocks; see [`Machine::export`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Snapshot {
    /// Machine ID.
    pub id: String,
    /// State names, schema index order.
    pub state_names: Vec<String>,
    /// Ticks, schema index order.
    pub time: Vec<u64>,
    /// Queue tick.
    pub queue_tick: u64,
    /// Number of imports.
    pub machine_tick: u64,
}
