//! Running one transition (semantics page, *Handlers*): resolution, hooks, handlers, apply,
//! rollback, auto.
//!
//! The runner calls [`Machine::execute`]; the steps live in [`resolve`], [`handlers`] and
//! [`apply`], called from here in that order.

mod apply;
mod handlers;
mod resolve;

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::time::Instant;

use crate::bits::BitSet;
use crate::error::HandlerError;
use crate::handlers::HandlerTable;
use crate::log::{LogEntry, LogLevel};
use crate::machine::{Machine, TracerList};
use crate::mutation::{MutResult, Mutation, MutationKind};
use crate::relations::Resolver;
use crate::schema::{Schema, StateIdx};
use crate::tracer::Interest;
use crate::transition::{CancelReason, Transition, TxData, TxId};
use crate::wait::lock;

/// The runner's reusable buffers; owned by whichever thread runs the queue.
pub(crate) struct Scratch {
    pub(crate) tx: TxData,
    resolver: Resolver,
    active: BitSet,
    rejected: Vec<StateIdx>,
    /// The list of the last `CancelReason::Relations`, reused by the next one.
    spare: Vec<StateIdx>,
    dropped: Vec<StateIdx>,
    pub(crate) panic: Option<Box<dyn Any + Send>>,
    /// Tracers and handlers as of `cache_version`; re-read when the machine's bind version moves.
    pub(crate) tracers: Option<TracerList>,
    handlers: Option<Arc<HandlerTable>>,
    /// The schema in force as of `cache_version` (a schema change bumps the bind version).
    schema: Option<Arc<Schema>>,
    cache_version: u64,
    pub(crate) interest: Interest,
    /// The tracers interested in `log`, if any.
    log_tracers: Option<TracerList>,
}

impl Scratch {
    pub(crate) fn new(n: usize) -> Self {
        Scratch {
            tx: TxData::new(Mutation::new(MutationKind::Add, &[], None)),
            resolver: Resolver::new(n),
            active: BitSet::with_len(n),
            rejected: Vec::new(),
            spare: Vec::new(),
            dropped: Vec::new(),
            panic: None,
            tracers: None,
            handlers: None,
            schema: None,
            cache_version: u64::MAX,
            interest: Interest::NONE,
            log_tracers: None,
        }
    }
    pub(crate) fn grow(&mut self, n: usize) {
        self.resolver.grow(n);
        self.active.grow(n);
    }

    /// Takes what the next transition starts from — clocks, active states, its number and
    /// the log lines since the last one — under the `st` lock that the caller already holds
    /// to hand this scratch to [`Machine::execute`] (no second lock per transition).
    pub(crate) fn begin(&mut self, st: &mut crate::machine::State) {
        let tx = &mut self.tx;
        tx.before.clone_from(&st.time);
        self.active.copy_from(&st.active);
        st.tx_seq += 1;
        tx.seq = st.tx_seq;
        tx.queue_tick = st.queue_tick;
        // lines logged after the previous transition's last handler belong to this one's
        // pre-log
        crate::machine::State::settle_tx_log(st);
        tx.pre_log.clear();
        std::mem::swap(&mut tx.pre_log, &mut st.pre_log);
    }
}

pub(super) enum Outcome {
    Ok(bool),
    Failed(HandlerError),
}

pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

pub(super) fn names(s: &Schema, list: &[StateIdx]) -> String {
    list.iter().map(|&i| s.name(i)).collect::<Vec<_>>().join(" ")
}

/// The tracers of one transition and the union of their interests.
#[derive(Clone, Copy)]
pub(crate) struct Hooks<'a> {
    pub(crate) list: Option<&'a TracerList>,
    pub(crate) interest: Interest,
}

impl<'a> Hooks<'a> {
    /// The tracers, when any is interested in any of `hooks`.
    pub(crate) fn get(&self, hooks: Interest) -> Option<&'a TracerList> {
        self.list.filter(|_| self.interest.intersects(hooks))
    }
}

/// Which handler list an entry came from: decides partial negotiation in auto transitions.
#[derive(Clone, Copy)]
pub(super) enum Slot {
    Exit(StateIdx),
    Enter(StateIdx),
    SelfH(StateIdx),
    Pair(StateIdx, StateIdx),
    AnyEnter,
    End(StateIdx),
    State(StateIdx),
    AnyState,
}

impl Machine {
    pub(super) fn view<'a>(&'a self, schema: &'a Schema, tx: &'a TxData) -> Transition<'a> {
        Transition { machine: self, schema, data: tx, tx_ids: self.0.tx_ids }
    }

    pub(super) fn tx_log(&self, tx: &mut TxData, level: LogLevel, text: impl FnOnce() -> String) {
        if level > self.log_level() || level == LogLevel::Nothing {
            return;
        }
        let mut line = self.log_line();
        line.push_str(&text());
        self.tx_log_line(tx, level, line);
    }

    /// A log line's start, `[id] `, to write the rest into (one allocation per line).
    pub(super) fn log_line(&self) -> String {
        let mut line = String::with_capacity(48);
        line.push('[');
        line.push_str(self.log_prefix());
        line.push_str("] ");
        line
    }

    /// Records a whole line made from [`log_line`](Self::log_line); the caller checked the level.
    pub(super) fn tx_log_line(&self, tx: &mut TxData, level: LogLevel, line: String) {
        let entry = LogEntry { level, text: line };
        let id = tx.log_tracers.is_some().then(|| self.0.tx_ids.id(tx.seq));
        #[cfg(feature = "tracing")]
        let id = id.or_else(|| Some(self.0.tx_ids.id(tx.seq)));
        self.emit_log(
            id.as_ref().map(TxId::as_str),
            &entry,
            Some(tx.log_tracers.as_ref().unwrap_or(&self.0.no_tracers)),
        );
        tx.log.push(entry);
    }

    /// Re-reads the bound tracers and handlers when they changed since the last look.
    pub(crate) fn refresh_cache(&self, sc: &mut Scratch) {
        let v = self.0.bind_version.load(Acquire);
        if v != sc.cache_version {
            sc.tracers = self.0.has_tracers.load(Relaxed).then(|| self.hooks());
            sc.interest = sc.tracers.iter().flat_map(|l| l.iter()).fold(Interest::NONE, |a, t| a | t.interest());
            let logs: Vec<_> = sc
                .tracers
                .iter()
                .flat_map(|l| l.iter())
                .filter(|t| t.interest().intersects(Interest::LOG))
                .cloned()
                .collect();
            sc.log_tracers = (!logs.is_empty()).then(|| logs.into());
            sc.handlers = self.0.has_handlers.load(Relaxed).then(|| self.handler_table());
            sc.schema = Some(self.schema());
            sc.cache_version = v;
        }
    }

    /// Executes one mutation as a transition. Runs on the runner thread with no lock held,
    /// after [`Scratch::begin`].
    pub(crate) fn execute(&self, sc: &mut Scratch, mu: Mutation) -> MutResult {
        self.refresh_cache(sc);
        let (tracers, handlers) = (sc.tracers.take(), sc.handlers.take());
        let schema = sc.schema.take().unwrap_or_else(|| self.schema());
        sc.tx.log_tracers = sc.log_tracers.take();
        let hooks = Hooks { list: tracers.as_ref(), interest: sc.interest };
        let r = self.execute_with(sc, &schema, mu, hooks, handlers.as_deref());
        (sc.tracers, sc.handlers, sc.schema) = (tracers, handlers, Some(schema));
        sc.log_tracers = sc.tx.log_tracers.take();
        r
    }

    pub(super) fn execute_with(
        &self,
        sc: &mut Scratch,
        s: &Schema,
        mu: Mutation,
        hooks: Hooks<'_>,
        handlers: Option<&HandlerTable>,
    ) -> MutResult {
        let tracers = hooks.list;
        let check = mu.check;
        let auto = mu.auto;
        let kind = mu.kind;
        {
            let tx = &mut sc.tx;
            tx.mutation = mu;
            tx.steps.clear();
            tx.log.clear();
            if let Some(CancelReason::Relations(v)) = tx.cancel.take() {
                sc.spare = v;
            }
            tx.queue_len = 0;
            tx.completed = false;
            tx.started_at = None;
            tx.handler_clock = None;
            tx.ended_at = None;
        }
        let tx = &mut sc.tx;
        if tracers.is_some() && self.0.timing.load(Relaxed) {
            tx.started_at = Some(Instant::now());
        }
        tx.states_before.clear();
        tx.states_before.extend(s.canonical().iter().copied().filter(|&i| sc.active.contains(i)));
        let called = tx.mutation.called();
        tx.health =
            kind == MutationKind::Add && called.len() == 1 && s.health.iter().flatten().any(|&h| h == called[0]);
        let log_on = !check || self.0.opts.log_checks;
        let record_steps = self.0.steps.load(Relaxed) && log_on;
        let level = if log_on { self.log_level() } else { LogLevel::Nothing };
        let accepted = self.resolve_into(s, tx, &mut sc.resolver, &sc.active, &mut sc.rejected, record_steps);
        tx.accepted = accepted;
        if !accepted {
            let mut v = std::mem::take(&mut sc.spare);
            v.clone_from(&sc.rejected);
            tx.cancel = Some(CancelReason::Relations(v));
        }
        if level >= LogLevel::Ops {
            let args = self.log_args_text(tx);
            let tag = if auto { "auto" } else { kind.as_str() };
            let called = names(s, tx.mutation.called());
            self.tx_log(tx, LogLevel::Ops, || format!("[{tag}] {called}{args}"));
            self.log_decisions(s, tx, &sc.rejected, level);
            if !accepted {
                let rej = names(s, &sc.rejected);
                self.tx_log(tx, LogLevel::Ops, || format!("[cancel:reject] {rej}"));
            }
        }
        self.0.running_tx.store(tx.seq, Relaxed);
        if let Some(ts) = hooks.get(Interest::TRANSITION_INIT | Interest::TRANSITION_START) {
            let v = self.view(s, tx);
            ts.iter().for_each(|t| t.transition_init(&v));
            ts.iter().for_each(|t| t.transition_start(&v));
        }
        let mut failure: Option<HandlerError> = None;
        let mut payload: Option<Box<dyn Any + Send>> = None;

        // negotiation
        sc.dropped.clear();
        if tx.accepted
            && let Some(h) = handlers
        {
            let (ok, fail) =
                self.negotiate(s, h, tx, hooks.get(Interest::HANDLERS), &mut sc.dropped, &mut payload, record_steps);
            failure = fail;
            if !ok {
                tx.accepted = false;
            }
        }
        if auto && tx.accepted {
            self.reresolve_auto(s, tx, &mut sc.resolver, &sc.active, &mut sc.rejected, &sc.dropped);
        }

        let mut ticks_changed = false;
        if tx.accepted && !check {
            self.apply(tx);
            ticks_changed = !tx.enters.is_empty() || !tx.exits.is_empty();
            if ticks_changed && level >= LogLevel::Changes {
                // `[id] [state] +A +B -C`, written in place, right after apply
                let mut line = self.log_line();
                line.push_str(if auto { "[auto_] " } else { "[state] " });
                let signed = tx.enters.iter().map(|&i| ('+', i)).chain(tx.exits.iter().map(|&i| ('-', i)));
                for (n, (sign, i)) in signed.enumerate() {
                    if n > 0 {
                        line.push(' ');
                    }
                    line.push(sign);
                    line.push_str(s.name(i));
                }
                self.tx_log_line(tx, LogLevel::Changes, line);
            }
            if let Some(ts) = hooks.get(Interest::TRANSITION_FINALS) {
                let v = self.view(s, tx);
                ts.iter().for_each(|t| t.transition_finals(&v));
                tx.handler_clock = None;
            }
            if let Some(h) = handlers
                && let Some(f) = self.finals(s, h, tx, hooks.get(Interest::HANDLERS), &mut payload, record_steps)
            {
                failure = Some(f);
                tx.accepted = false;
            }
        }
        // what was logged up to the end of the last final handler belongs to this transition
        self.drain_tx_log(&mut tx.log);
        if let Some(err) = &failure {
            let msg = err.to_string();
            self.tx_log(tx, LogLevel::Changes, || format!("[error] {msg}"));
            self.raise(s, tx, err.clone());
        }
        if ticks_changed && tx.accepted && !auto && !tx.health && !s.auto_list.is_empty() {
            self.queue_auto(s);
        }
        if !tx.accepted {
            if tx.cancel.is_none() {
                tx.cancel = Some(CancelReason::Admission);
            }
            if !ticks_changed {
                tx.after.clone_from(&tx.before);
            }
        }
        tx.completed = true;
        if tx.started_at.is_some() {
            tx.ended_at = Some(Instant::now());
        }
        if let Some(ts) = hooks.get(Interest::TRANSITION_END) {
            // only tracers see a transition after its handlers: no lock for it otherwise
            tx.queue_len = lock(&self.0.st).queue.len();
            let v = self.view(s, tx);
            ts.iter().for_each(|t| t.transition_end(&v));
        }
        self.0.running_tx.store(0, Relaxed);
        self.eval_waiters(tx);
        if let Some(p) = payload {
            sc.panic = Some(p);
        }
        let tx = &sc.tx;
        let called = tx.mutation.called();
        let done = tx.accepted
            && if check {
                true
            } else {
                match kind {
                    MutationKind::Add | MutationKind::Set => called.iter().all(|&c| tx.after[c] % 2 == 1),
                    MutationKind::Remove => called.iter().all(|&c| tx.after[c].is_multiple_of(2)),
                }
            };
        if done { MutResult::Executed } else { MutResult::Canceled }
    }
}
