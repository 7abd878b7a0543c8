//! Reading a machine: identity and options, active states, clocks, the last error, the
//! queue's length and tick.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::error::{AnyError, Error};
use crate::log::LogLevel;
use crate::schema::{Schema, StateIdx};
use crate::transition::TxIds;
use crate::unpoison::Unpoison;
use crate::wait::{lock, states_ok};

use super::*;

impl Machine {
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
        // one relaxed load when no tracing exporter set one (the common case in hooks)
        if !self.0.has_trace_ctx.load(Relaxed) {
            return None;
        }
        *self.0.trace_ctx.read().unpoison()
    }
    /// Sets (or clears) the trace context; called by tracing exporters from their hooks.
    pub fn set_trace_context(&self, ctx: Option<crate::TraceContext>) {
        let mut g = self.0.trace_ctx.write().unpoison();
        *g = ctx;
        self.0.has_trace_ctx.store(ctx.is_some(), Relaxed);
    }
    pub(crate) fn running_tx_seq(&self) -> u64 {
        self.0.running_tx.load(Relaxed)
    }

    pub(super) fn idx(&self, names: &[&str]) -> Result<Vec<StateIdx>, Error> {
        self.schema().indexes(names)
    }
    /// Runs `f` on the indexes of `names`, in their order (duplicates kept); no allocation
    /// for up to eight names.
    pub(super) fn with_idx<R>(&self, names: &[&str], f: impl FnOnce(&[StateIdx]) -> R) -> Result<R, Error> {
        let schema = self.schema();
        if names.len() <= 8 {
            let mut a = [0; 8];
            for (slot, name) in a.iter_mut().zip(names) {
                *slot = schema.index(name)?;
            }
            drop(schema);
            Ok(f(&a[..names.len()]))
        } else {
            let v = names.iter().map(|n| schema.index(n)).collect::<Result<Vec<_>, _>>()?;
            drop(schema);
            Ok(f(&v))
        }
    }
    pub(super) fn with_time<R>(&self, f: impl FnOnce(&[u64]) -> R) -> R {
        let st = lock(&self.0.st);
        if self.0.disposal.is_disposing() {
            return f(&vec![0; st.time.len()]);
        }
        f(&st.time)
    }
    /// Whether all these states are active.
    pub fn is(&self, states: &[&str]) -> Result<bool, Error> {
        self.with_idx(states, |idx| self.with_time(|t| states_ok(t, idx, true)))
    }
    /// Whether one state is active; false for unknown names.
    pub fn is1(&self, state: &str) -> bool {
        self.is(&[state]).unwrap_or(false)
    }
    /// Whether all these states are inactive.
    pub fn not(&self, states: &[&str]) -> Result<bool, Error> {
        self.with_idx(states, |idx| self.with_time(|t| states_ok(t, idx, false)))
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
    /// Which of `states` are active, canonical order (Go: `ActiveStates(states)`, which keeps
    /// the order given); `Err(UnknownState)` for a name not in the schema.
    ///
    /// ```
    /// let m = am_core::Machine::new(am_core::Schema::builder().states(["A", "B", "C"]).build()?);
    /// m.add(&["A", "C"])?;
    /// assert_eq!(m.active_states_in(&["C", "B"])?, ["C"]);
    /// assert!(m.active_states_in(&["Nope"]).is_err());
    /// # Ok::<(), am_core::Error>(())
    /// ```
    pub fn active_states_in(&self, states: &[&str]) -> Result<Vec<String>, Error> {
        let s = self.schema();
        let idx = s.indexes(states)?;
        Ok(self.with_time(|t| {
            s.canonical()
                .iter()
                .filter(|&&i| t[i] % 2 == 1 && idx.contains(&i))
                .map(|&i| s.name(i).to_string())
                .collect()
        }))
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
        // positions map back to `states`: duplicates are kept
        self.with_idx(states, |idx| self.with_time(|t| idx.iter().position(|&i| t[i] % 2 == 1).map(|p| states[p])))
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
    pub(super) fn alive(&self) -> Result<(), Error> {
        if self.is_disposing() { Err(Error::Disposed) } else { Ok(()) }
    }

    /// Whether handler (and [`panic_to_err`](Self::panic_to_err)) panics become `Exception`.
    pub(crate) fn panics_to_exception(&self) -> bool {
        self.0.opts.panic_to_exception
    }

    /// Whether [`dispose`](Self::dispose) was called (disposal may still be finishing).
    pub(crate) fn is_disposing(&self) -> bool {
        self.0.disposal.is_disposing()
    }
}
