//! Test helpers reused by every exporter crate: a tracer that records every hook call, and
//! handler sets that record their names.

use std::sync::{Arc, Mutex};

use crate::handlers::Handlers;
use crate::log::LogEntry;
use crate::machine::Machine;
use crate::mutation::{Mutation, MutationKind};
use crate::schema::Schema;
use crate::tracer::Tracer;
use crate::transition::Transition;
use crate::wait::lock;

/// One recorded hook call, with the data tests usually assert on copied out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hook {
    /// `machine_init(id)`
    MachineInit(String),
    /// `verify_states(id)`
    VerifyStates(String),
    /// `new_submachine(parent, child)`
    NewSubmachine(String, String),
    /// `mutation_queued`
    MutationQueued {
        /// Machine ID.
        machine: String,
        /// Add / Remove / Set.
        kind: MutationKind,
        /// Called state names.
        called: Vec<String>,
        /// Queue tick (0 when prepended).
        tick: u64,
        /// Auto mutation.
        auto: bool,
    },
    /// `transition_init`
    TransitionInit(TxRecord),
    /// `transition_start`
    TransitionStart(TxRecord),
    /// `handler_start(binding, handler)`
    HandlerStart(String, String),
    /// `handler_end(binding, handler)`
    HandlerEnd(String, String),
    /// `transition_finals`
    TransitionFinals(TxRecord),
    /// `transition_end`
    TransitionEnd(TxRecord),
    /// `queue_end(id)`
    QueueEnd(String),
    /// `schema_change(id)`
    SchemaChange(String),
    /// `log`
    Log(String, LogEntry),
    /// `machine_dispose(id)`
    MachineDispose(String),
}

/// What a transition looked like at one hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxRecord {
    /// Machine ID.
    pub machine: String,
    /// Transition ID.
    pub id: String,
    /// Add / Remove / Set.
    pub kind: MutationKind,
    /// Called state names.
    pub called: Vec<String>,
    /// Target state names.
    pub target: Vec<String>,
    /// Accepted at this point.
    pub accepted: bool,
    /// Auto transition.
    pub auto: bool,
    /// Check transition.
    pub check: bool,
    /// Ticks after (schema index order).
    pub time_after: Vec<u64>,
    /// Queue length.
    pub queue_len: usize,
    /// Number of steps.
    pub steps: usize,
}

impl TxRecord {
    fn of(tx: &Transition<'_>) -> Self {
        TxRecord {
            machine: tx.machine_id().to_string(),
            id: tx.id().to_string(),
            kind: tx.kind(),
            called: tx.called_names().map(String::from).collect(),
            target: tx.target().iter().map(|&i| tx.state_name(i).to_string()).collect(),
            accepted: tx.accepted(),
            auto: tx.is_auto(),
            check: tx.is_check(),
            time_after: tx.time_after().to_vec(),
            queue_len: tx.queue_len(),
            steps: tx.steps().len(),
        }
    }
}

/// A tracer that records every hook call in order.
///
/// ```
/// use am_core::{Machine, Schema, testing::{Hook, Recorder}};
/// let rec = Recorder::new("rec");
/// let m = Machine::builder(Schema::builder().states(["A"]).build()?).tracer(rec.clone()).build();
/// m.add(&["A"])?;
/// assert!(rec.hooks().iter().any(|h| matches!(h, Hook::TransitionEnd(t) if t.accepted)));
/// # Ok::<(), am_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Recorder {
    id: String,
    inheritable: bool,
    hooks: Arc<Mutex<Vec<Hook>>>,
}

impl Recorder {
    /// A non-inheritable recorder.
    pub fn new(id: &str) -> Self {
        Recorder { id: id.into(), inheritable: false, hooks: Arc::default() }
    }
    /// An inheritable recorder (submachines get it too).
    pub fn inheritable(id: &str) -> Self {
        Recorder { inheritable: true, ..Recorder::new(id) }
    }
    /// Everything recorded so far.
    pub fn hooks(&self) -> Vec<Hook> {
        lock(&self.hooks).clone()
    }
    /// Clears the record.
    pub fn clear(&self) {
        lock(&self.hooks).clear();
    }
    /// Only `transition_end` records.
    pub fn ends(&self) -> Vec<TxRecord> {
        self.hooks()
            .into_iter()
            .filter_map(|h| match h {
                Hook::TransitionEnd(t) => Some(t),
                _ => None,
            })
            .collect()
    }
    fn push(&self, h: Hook) {
        lock(&self.hooks).push(h);
    }
}

impl Tracer for Recorder {
    fn id(&self) -> &str {
        &self.id
    }
    fn inheritable(&self) -> bool {
        self.inheritable
    }
    fn machine_init(&self, m: &Machine) {
        self.push(Hook::MachineInit(m.id().into()));
    }
    fn verify_states(&self, m: &Machine) {
        self.push(Hook::VerifyStates(m.id().into()));
    }
    fn new_submachine(&self, p: &Machine, c: &Machine) {
        self.push(Hook::NewSubmachine(p.id().into(), c.id().into()));
    }
    fn mutation_queued(&self, m: &Machine, mu: &Mutation) {
        let s = m.schema();
        self.push(Hook::MutationQueued {
            machine: m.id().into(),
            kind: mu.kind(),
            called: mu.called().iter().map(|&i| s.name(i).to_string()).collect(),
            tick: mu.queue_tick(),
            auto: mu.is_auto(),
        });
    }
    fn transition_init(&self, tx: &Transition<'_>) {
        self.push(Hook::TransitionInit(TxRecord::of(tx)));
    }
    fn transition_start(&self, tx: &Transition<'_>) {
        self.push(Hook::TransitionStart(TxRecord::of(tx)));
    }
    fn handler_start(&self, _tx: &Transition<'_>, b: &str, h: &str) {
        self.push(Hook::HandlerStart(b.into(), h.into()));
    }
    fn handler_end(&self, _tx: &Transition<'_>, b: &str, h: &str) {
        self.push(Hook::HandlerEnd(b.into(), h.into()));
    }
    fn transition_finals(&self, tx: &Transition<'_>) {
        self.push(Hook::TransitionFinals(TxRecord::of(tx)));
    }
    fn transition_end(&self, tx: &Transition<'_>) {
        self.push(Hook::TransitionEnd(TxRecord::of(tx)));
    }
    fn queue_end(&self, m: &Machine) {
        self.push(Hook::QueueEnd(m.id().into()));
    }
    fn schema_change(&self, m: &Machine, _old: &Schema) {
        self.push(Hook::SchemaChange(m.id().into()));
    }
    fn log(&self, m: &Machine, _tx: Option<&str>, e: &LogEntry) {
        self.push(Hook::Log(m.id().into(), e.clone()));
    }
    fn machine_dispose(&self, id: &str) {
        self.push(Hook::MachineDispose(id.into()));
    }
}

/// Binds one handler per Go-style name that appends its name to the returned list;
/// negotiation handlers return true.
pub fn record_handlers(m: &Machine, names: &[&str]) -> Result<Arc<Mutex<Vec<String>>>, crate::Error> {
    let list: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut h = Handlers::new("rec");
    for &n in names {
        let l = list.clone();
        if is_final_name(n) {
            h = h.final_handler(n, move |e| lock(&l).push(e.handler().to_string()));
        } else {
            h = h.negotiation(n, move |e| {
                lock(&l).push(e.handler().to_string());
                true
            });
        }
    }
    m.bind_handlers(h)?;
    Ok(list)
}

/// Whether a Go-style handler name is a final one (`…State`, `…End`).
pub fn is_final_name(n: &str) -> bool {
    n.ends_with("State") || n.ends_with("End")
}
