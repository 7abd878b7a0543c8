//! The machine: its shared state ([`Inner`]) and handle ([`Machine`]), with the methods
//! split by concern:
//!
//! - [`builder`] — construction,
//! - [`bind`] — tracers and handler sets,
//! - [`queries`] — identity, options and reads,
//! - [`run`] — mutations, the queue and its runner,
//! - [`log`] — the machine log,
//! - [`waits`] — waits and state contexts,
//! - [`lifecycle`] — disposal, schema change, export and import.

mod bind;
mod builder;
mod lifecycle;
mod log;
mod queries;
mod run;
mod waits;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU64,
    Ordering::{Relaxed, Release},
};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::bits::BitSet;
use crate::dispatch::Dispatch;
use crate::error::AnyError;
use crate::exec::Runner;
use crate::handlers::HandlerTable;
use crate::log::LogEntry;
use crate::mutation::{ArgsMapper, Mutation};
use crate::schema::{Schema, StateIdx};
use crate::tracer::{Tracer, TracerId};
use crate::transition::TxIds;
use crate::unpoison::Unpoison;
use crate::wait::{CancelToken, WaitCond, WaitError, Waiter, lock};

pub use builder::MachineBuilder;
pub use lifecycle::Snapshot;

pub(crate) use crate::dispatch::TracerList;

/// A tracer bound to a machine: what was bound (passed to submachines, detached by key) and
/// what it attached for this machine (gets the hooks; `None` when it declined).
#[derive(Clone)]
pub(crate) struct BoundTracer {
    pub(crate) tracer: Arc<dyn Tracer>,
    pub(crate) hooks: Option<Arc<dyn Tracer>>,
    pub(crate) key: TracerId,
}

/// The machine's bound tracers, and the dispatch of every hook to what they attached
/// (derived).
#[derive(Clone)]
pub(crate) struct Bound {
    pub(crate) tracers: Arc<[BoundTracer]>,
    pub(crate) dispatch: Dispatch,
}

impl Default for Bound {
    fn default() -> Self {
        Bound { tracers: Arc::from(Vec::new()), dispatch: Dispatch::default() }
    }
}
type DisposeFn = Box<dyn FnOnce(&str) + Send>;

/// Where a machine is in its disposal (semantics page, *Disposal*), in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Disposal {
    /// In use.
    Live = 0,
    /// `dispose` was called: no new mutations; a running queue finishes its transition.
    Disposing = 1,
    /// Tracers, contexts, waits, handlers and callbacks are being released (once).
    Finishing = 2,
    /// Done: `when_disposed` completed.
    Disposed = 3,
}

/// A [`Disposal`] phase in an atomic, which only moves forward.
#[derive(Debug, Default)]
pub(crate) struct DisposalCell(AtomicU8);

impl DisposalCell {
    pub(crate) fn get(&self) -> Disposal {
        match self.0.load(Relaxed) {
            0 => Disposal::Live,
            1 => Disposal::Disposing,
            2 => Disposal::Finishing,
            _ => Disposal::Disposed,
        }
    }
    /// Moves to `to` unless already there or beyond; true when this call moved it.
    pub(crate) fn advance(&self, to: Disposal) -> bool {
        self.0.fetch_max(to as u8, Relaxed) < to as u8
    }
    /// `dispose` was called (any phase past [`Disposal::Live`]).
    pub(crate) fn is_disposing(&self) -> bool {
        self.get() >= Disposal::Disposing
    }
}

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
    /// The active states, canonical order (kept as they change).
    pub(crate) active_list: Vec<StateIdx>,
    /// The schema in force (as `Inner::schema`): mutations look their names up under this
    /// lock, the one that queues them.
    pub(crate) schema: Arc<Schema>,
    /// Bumped when something other than the runner writes `time` (a schema change, an
    /// import): the runner's copies are then taken whole.
    pub(crate) epoch: u64,
    pub(crate) queue: VecDeque<Mutation>,
    pub(crate) queue_tick: u64,
    pub(crate) appended: usize,
    pub(crate) running: bool,
    /// The runner's state, parked here between runs.
    pub(crate) runner: Option<Box<Runner>>,
    pub(crate) waiters: Vec<Waiter>,
    pub(crate) ctxs: Vec<Option<CancelToken>>,
    pub(crate) last_error: Option<AnyError>,
    pub(crate) pre_log: Vec<LogEntry>,
    /// Lines logged while a run is in progress (`running`): they belong to the transition
    /// running and wait here until the runner takes them.
    pub(crate) tx_log: Vec<LogEntry>,
    pub(crate) tx_seq: u64,
    pub(crate) machine_tick: u64,
}

impl State {
    /// Marks state `i` active or not, keeping the canonical list in step.
    pub(crate) fn set_active(&mut self, s: &Schema, i: StateIdx, on: bool) {
        if on {
            if self.active.insert(i) {
                let p = s.canon_pos[i];
                let at = self.active_list.partition_point(|&x| s.canon_pos[x] < p);
                self.active_list.insert(at, i);
            }
        } else if self.active.contains(i) {
            self.active.remove(i);
            if let Some(at) = self.active_list.iter().position(|&x| x == i) {
                self.active_list.remove(at);
            }
        }
    }

    /// The canonical list again from the active set (after a schema change or an import).
    pub(crate) fn rebuild_active_list(&mut self, s: &Schema) {
        self.active_list.clear();
        self.active_list.extend(s.canonical().iter().copied().filter(|&i| self.active.contains(i)));
        self.epoch += 1;
    }

    /// Moves lines that reached `tx_log` after their transition's last handler to the
    /// pre-log (the next transition's).
    #[inline]
    pub(crate) fn settle_tx_log(&mut self) {
        if !self.tx_log.is_empty() {
            let State { tx_log, pre_log, .. } = self;
            for e in tx_log.drain(..) {
                if pre_log.last() != Some(&e) {
                    pre_log.push(e);
                }
            }
        }
    }
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
    /// How far disposal got; only moves forward.
    pub(crate) disposal: DisposalCell,
    pub(crate) running_tx: AtomicU64,
    /// `st.tx_log` may hold lines for the running transition (a load per handler call).
    pub(crate) tx_log_pending: AtomicBool,
    pub(crate) queue_token: AtomicU64,
    pub(crate) on_dispose: Mutex<Vec<DisposeFn>>,
    pub(crate) trace_ctx: RwLock<Option<crate::TraceContext>>,
    /// Whether `trace_ctx` is set: readers without a tracing exporter skip the lock.
    pub(crate) has_trace_ctx: AtomicBool,
    /// Whether `st.waiters` may be non-empty; written under the `st` lock, so a runner that
    /// took that lock during its transition sees every waiter added before (the end of a
    /// transition skips the lock when this is false).
    pub(crate) has_waiters: AtomicBool,
}

impl Inner {
    /// The release steps of disposal (semantics page, *Disposal*), once: tracers, contexts,
    /// waits, handlers, callbacks.
    fn finish_dispose(&self) {
        if !self.disposal.advance(Disposal::Finishing) {
            return;
        }
        let dispatch = self.tracers.read().unpoison().dispatch.clone();
        dispatch.machine_dispose(&self.id);
        let (ctxs, waiters) = {
            let mut st = lock(&self.st);
            st.queue.clear();
            (std::mem::take(&mut st.ctxs), std::mem::take(&mut st.waiters))
        };
        ctxs.into_iter().flatten().for_each(|c| c.cancel());
        *self.trace_ctx.write().unpoison() = None;
        self.has_trace_ctx.store(false, Relaxed);
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
        self.disposal.advance(Disposal::Disposed);
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
        self.disposal.advance(Disposal::Disposing);
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

/// A handle that does not keep its machine alive (`Machine::downgrade`): for an exporter's
/// periodic checks (health probes) of machines it must not hold on to. Dropping the last
/// [`Machine`] still disposes the machine; then [`upgrade`](Self::upgrade) gives `None`.
///
/// ```
/// let m = am_core::Machine::new(am_core::Schema::builder().states(["A"]).build()?);
/// let weak = m.downgrade();
/// assert!(weak.upgrade().is_some_and(|m| !m.is1("A")));
/// drop(m);
/// assert!(weak.upgrade().is_none());
/// # Ok::<(), am_core::Error>(())
/// ```
#[derive(Clone)]
pub struct WeakMachine(std::sync::Weak<Inner>);

impl fmt::Debug for WeakMachine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WeakMachine")
    }
}

impl WeakMachine {
    /// The machine, while a [`Machine`] handle to it exists.
    pub fn upgrade(&self) -> Option<Machine> {
        self.0.upgrade().map(Machine)
    }
}

impl Machine {
    /// A handle that does not keep the machine alive (see [`WeakMachine`]).
    pub fn downgrade(&self) -> WeakMachine {
        WeakMachine(Arc::downgrade(&self.0))
    }
}

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
