//! The `Tracer` trait every exporter implements, and ways to compose tracers.
//!
//! Binding a tracer to a machine — by the builder, [`Machine::bind_tracer`] or inheritance —
//! always goes through [`Tracer::attach`]: the tracer sees the machine once and answers with
//! what receives that machine's hooks (itself, a tracer of its own for that machine, or
//! nothing), the way `tracing`'s `register_callsite` and `metrics`' `register_counter` hand
//! back per-callsite state. Hooks then reach their per-machine state directly.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::log::LogEntry;
use crate::machine::Machine;
use crate::mutation::Mutation;
use crate::schema::Schema;
use crate::transition::Transition;

/// Receives a machine's lifecycle and transition events. Every hook has an empty default
/// body: implement only what you use.
///
/// Hooks of one machine are never called concurrently, except `mutation_queued` and `log`,
/// which run on the thread making the call. Hooks run on the machine's thread, inside its
/// transition: keep them short and hand data to a background task for any I/O. Calling
/// mutations from a hook queues them; queries work (negotiation-phase hooks see the states
/// from before the transition).
///
/// ```
/// use am_core::{Machine, Schema, Tracer, Transition};
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// #[derive(Default)]
/// struct Count(AtomicU64);
/// impl Tracer for Count {
///     fn id(&self) -> &str { "count" }
///     fn transition_end(&self, tx: &Transition<'_>) {
///         if tx.accepted() { self.0.fetch_add(1, Ordering::Relaxed); }
///     }
/// }
///
/// let count = Arc::new(Count::default());
/// let m = Machine::builder(Schema::builder().states(["A"]).build()?).tracer(count.clone()).build();
/// m.add(&["A"])?;
/// assert_eq!(count.0.load(Ordering::Relaxed), 1);
/// # Ok::<(), am_core::Error>(())
/// ```
#[allow(unused_variables)]
pub trait Tracer: Send + Sync + 'static {
    /// A name for logs, [`Machine::detach_tracer`] and inheritance (a submachine does not
    /// inherit a tracer whose id it already has). Not an identity: two tracers bound with
    /// one id are both bound; [`TracerId`] tells bindings apart.
    fn id(&self) -> &str;
    /// Whether submachines inherit this tracer (to any depth).
    fn inheritable(&self) -> bool {
        false
    }
    /// Called once for every machine this tracer is bound to (by the builder,
    /// [`Machine::bind_tracer`] or inheritance), before any other hook of that machine:
    /// answers what receives that machine's hooks. [`Attach::Itself`] (the default) for a
    /// tracer that needs no per-machine state; [`Attach::With`] a tracer made for this machine,
    /// holding its state, so hooks reach it directly; [`Attach::Decline`] to leave the machine
    /// alone (an inheritable tracer still passes on to its submachines, which are asked in
    /// turn). `interest` and `wants_timing` are read from what this returns. Asked again after
    /// [`Machine::set_schema`] grew the schema (the same [`Machine::instance`] asking twice:
    /// answer for the new schema, keeping the machine's state).
    fn attach(&self, m: &Machine) -> Attach {
        Attach::Itself
    }
    /// Whether transitions should carry `started_at`/`ended_at` instants. Read once when the
    /// tracer is bound; answering `false` spares the machine two clock reads per transition.
    fn wants_timing(&self) -> bool {
        false
    }
    /// Which hooks this tracer wants called; read once when it is bound. The machine skips
    /// hook sites no bound tracer is interested in (other hooks of an interested tracer may
    /// still be called, so unlisted hooks must stay harmless). Default: every hook.
    fn interest(&self) -> Interest {
        Interest::ALL
    }
    /// A machine was built with this tracer (or inherited it).
    fn machine_init(&self, m: &Machine) {}
    /// The machine's state order is final.
    fn verify_states(&self, m: &Machine) {}
    /// A machine with `parent` as its parent is being built; called on the parent's
    /// tracers before any hook of the child.
    fn new_submachine(&self, parent: &Machine, child: &Machine) {}
    /// A mutation entered the queue (or is about to run on an idle machine).
    fn mutation_queued(&self, m: &Machine, mutation: &Mutation) {}
    /// Relations resolved and acceptance decided.
    fn transition_init(&self, tx: &Transition<'_>) {}
    /// Before the negotiation handlers.
    fn transition_start(&self, tx: &Transition<'_>) {}
    /// Around each bound handler call, per binding.
    fn handler_start(&self, tx: &Transition<'_>, binding: &str, handler: &str) {}
    /// See [`handler_start`](Self::handler_start).
    fn handler_end(&self, tx: &Transition<'_>, binding: &str, handler: &str) {}
    /// Accepted transitions only: states changed, before the final handlers.
    fn transition_finals(&self, tx: &Transition<'_>) {}
    /// Every transition, accepted or canceled.
    fn transition_end(&self, tx: &Transition<'_>) {}
    /// The machine's queue run ended.
    fn queue_end(&self, m: &Machine) {}
    /// `set_schema` grew the schema; `old` is the previous one.
    fn schema_change(&self, m: &Machine, old: &Schema) {}
    /// A log entry was recorded (`tx_id` while inside a transition).
    fn log(&self, m: &Machine, tx_id: Option<&str>, entry: &LogEntry) {}
    /// The machine was disposed (exactly once).
    fn machine_dispose(&self, machine_id: &str) {}
}

/// What a tracer answers when bound to a machine ([`Tracer::attach`]).
#[derive(Clone)]
pub enum Attach {
    /// The tracer itself receives the machine's hooks.
    Itself,
    /// This tracer, made for the machine, receives its hooks.
    With(Arc<dyn Tracer>),
    /// Nothing receives the machine's hooks.
    Decline,
}

impl std::fmt::Debug for Attach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Attach::Itself => f.write_str("Itself"),
            Attach::With(t) => f.debug_tuple("With").field(&t.id()).finish(),
            Attach::Decline => f.write_str("Decline"),
        }
    }
}

/// One binding of a tracer to a machine, from [`Machine::bind_tracer`]: detach it with
/// [`Machine::detach`]. Unique in the process.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TracerId(u64);

impl TracerId {
    /// A key no binding has (what binding to a disposed machine returns).
    pub const NONE: TracerId = TracerId(0);

    pub(crate) fn next() -> TracerId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TracerId(NEXT.fetch_add(1, Relaxed))
    }
}

macro_rules! forward {
    ($($self_:tt)*) => {
        fn id(&self) -> &str {
            (**self).id()
        }
        fn inheritable(&self) -> bool {
            (**self).inheritable()
        }
        fn attach(&self, m: &Machine) -> Attach {
            (**self).attach(m)
        }
        fn wants_timing(&self) -> bool {
            (**self).wants_timing()
        }
        fn interest(&self) -> Interest {
            (**self).interest()
        }
        fn machine_init(&self, m: &Machine) {
            (**self).machine_init(m)
        }
        fn verify_states(&self, m: &Machine) {
            (**self).verify_states(m)
        }
        fn new_submachine(&self, p: &Machine, c: &Machine) {
            (**self).new_submachine(p, c)
        }
        fn mutation_queued(&self, m: &Machine, mu: &Mutation) {
            (**self).mutation_queued(m, mu)
        }
        fn transition_init(&self, tx: &Transition<'_>) {
            (**self).transition_init(tx)
        }
        fn transition_start(&self, tx: &Transition<'_>) {
            (**self).transition_start(tx)
        }
        fn handler_start(&self, tx: &Transition<'_>, b: &str, h: &str) {
            (**self).handler_start(tx, b, h)
        }
        fn handler_end(&self, tx: &Transition<'_>, b: &str, h: &str) {
            (**self).handler_end(tx, b, h)
        }
        fn transition_finals(&self, tx: &Transition<'_>) {
            (**self).transition_finals(tx)
        }
        fn transition_end(&self, tx: &Transition<'_>) {
            (**self).transition_end(tx)
        }
        fn queue_end(&self, m: &Machine) {
            (**self).queue_end(m)
        }
        fn schema_change(&self, m: &Machine, old: &Schema) {
            (**self).schema_change(m, old)
        }
        fn log(&self, m: &Machine, tx: Option<&str>, e: &LogEntry) {
            (**self).log(m, tx, e)
        }
        fn machine_dispose(&self, id: &str) {
            (**self).machine_dispose(id)
        }
    };
}

/// A set of hooks a tracer listens to; see [`Tracer::interest`].
///
/// ```
/// use am_core::Interest;
/// let i = Interest::TRANSITION_END | Interest::LOG;
/// assert!(i.contains(Interest::LOG));
/// assert!(!i.contains(Interest::TRANSITION_INIT));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Interest(u16);

impl Interest {
    /// No per-transition hook (lifecycle hooks are always called).
    pub const NONE: Interest = Interest(0);
    /// `mutation_queued`
    pub const MUTATION_QUEUED: Interest = Interest(1);
    /// `transition_init`
    pub const TRANSITION_INIT: Interest = Interest(1 << 1);
    /// `transition_start`
    pub const TRANSITION_START: Interest = Interest(1 << 2);
    /// `handler_start` and `handler_end`
    pub const HANDLERS: Interest = Interest(1 << 3);
    /// `transition_finals`
    pub const TRANSITION_FINALS: Interest = Interest(1 << 4);
    /// `transition_end`
    pub const TRANSITION_END: Interest = Interest(1 << 5);
    /// `queue_end`
    pub const QUEUE_END: Interest = Interest(1 << 6);
    /// `log`
    pub const LOG: Interest = Interest(1 << 7);
    /// Every hook.
    pub const ALL: Interest = Interest(0xff);

    /// Whether any hook of `other` is in `self`.
    pub const fn intersects(self, other: Interest) -> bool {
        self.0 & other.0 != 0
    }
    /// Whether every hook of `other` is in `self`.
    pub const fn contains(self, other: Interest) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
}

impl std::ops::BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Interest {
    fn bitor_assign(&mut self, rhs: Interest) {
        self.0 |= rhs.0;
    }
}

impl<T: Tracer + ?Sized> Tracer for Arc<T> {
    forward!();
}

impl<T: Tracer + ?Sized> Tracer for Box<T> {
    forward!();
}

macro_rules! each {
    ($name:ident ( $($arg:ident : $t:ty),* )) => {
        fn $name(&self, $($arg: $t),*) { for t in self.iter() { t.$name($($arg),*) } }
    };
}

/// Several tracers bound as one, called in order. Its `id` is `composite#N`, unique per
/// composite (clones share it); it is inheritable when all its members are, and wants timing
/// when any does. Attached to a machine, it attaches each member and keeps what they answer.
///
/// ```
/// use am_core::{Tracer, Tracers};
/// struct A; impl Tracer for A { fn id(&self) -> &str { "a" } }
/// struct B; impl Tracer for B { fn id(&self) -> &str { "b" } }
/// let both = Tracers::new().with(A).with(B);
/// assert_eq!(both.len(), 2);
/// ```
#[derive(Clone)]
pub struct Tracers(Vec<Arc<dyn Tracer>>, Arc<str>);

impl Default for Tracers {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Tracers(Vec::new(), format!("composite#{}", NEXT.fetch_add(1, Relaxed)).into())
    }
}

impl std::fmt::Debug for Tracers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|t| t.id())).finish()
    }
}

impl Tracers {
    /// No tracers.
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends a tracer.
    pub fn with(mut self, t: impl Tracer) -> Self {
        self.0.push(Arc::new(t));
        self
    }
    /// Appends a shared tracer.
    pub fn push(&mut self, t: Arc<dyn Tracer>) {
        self.0.push(t);
    }
    /// Number of tracers.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn iter(&self) -> impl Iterator<Item = &Arc<dyn Tracer>> {
        self.0.iter()
    }
}

impl Tracer for Tracers {
    fn id(&self) -> &str {
        &self.1
    }
    fn inheritable(&self) -> bool {
        !self.0.is_empty() && self.0.iter().all(|t| t.inheritable())
    }
    fn attach(&self, m: &Machine) -> Attach {
        let mut changed = false;
        let mut members = Vec::with_capacity(self.0.len());
        for t in &self.0 {
            match t.attach(m) {
                Attach::Itself => members.push(t.clone()),
                Attach::With(h) => {
                    changed = true;
                    members.push(h);
                }
                Attach::Decline => changed = true,
            }
        }
        match (changed, members.is_empty()) {
            (false, _) => Attach::Itself,
            (true, true) => Attach::Decline,
            (true, false) => Attach::With(Arc::new(Tracers(members, self.1.clone()))),
        }
    }
    fn wants_timing(&self) -> bool {
        self.0.iter().any(|t| t.wants_timing())
    }
    fn interest(&self) -> Interest {
        self.0.iter().fold(Interest::NONE, |a, t| a | t.interest())
    }
    each!(machine_init(m: &Machine));
    each!(verify_states(m: &Machine));
    each!(new_submachine(p: &Machine, c: &Machine));
    each!(mutation_queued(m: &Machine, mu: &Mutation));
    each!(transition_init(tx: &Transition<'_>));
    each!(transition_start(tx: &Transition<'_>));
    each!(handler_start(tx: &Transition<'_>, b: &str, h: &str));
    each!(handler_end(tx: &Transition<'_>, b: &str, h: &str));
    each!(transition_finals(tx: &Transition<'_>));
    each!(transition_end(tx: &Transition<'_>));
    each!(queue_end(m: &Machine));
    each!(schema_change(m: &Machine, old: &Schema));
    each!(log(m: &Machine, tx: Option<&str>, e: &LogEntry));
    each!(machine_dispose(id: &str));
}

/// A tracer that does nothing and says so ([`Interest::NONE`]): binding it costs nothing
/// per transition.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopTracer;

impl Tracer for NoopTracer {
    fn id(&self) -> &str {
        "noop"
    }
    fn interest(&self) -> Interest {
        Interest::NONE
    }
}
