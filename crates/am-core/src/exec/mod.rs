//! Running one transition (semantics page, *Handlers*): resolution, hooks, handlers, apply,
//! rollback, auto.
//!
//! The runner calls [`Machine::execute`], which goes through the phases in order, each a
//! function of its own: [`begin_tx`](Machine::begin_tx) (reset, resolve, decision log),
//! [`negotiate_phase`](Machine::negotiate_phase) (init and start hooks, negotiation
//! handlers, the auto pass), [`apply_phase`](Machine::apply_phase) (clocks, the change log
//! line, finals hooks and handlers) and [`finish`](Machine::finish) (failure, auto states,
//! end hooks, waits, the result). The steps live in [`resolve`], [`handlers`] and [`apply`];
//! the runner's own state in [`runner`].

mod apply;
mod handlers;
mod resolve;
mod runner;

pub(crate) use runner::{Buffers, Published, Runner};

use std::any::Any;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use crate::error::HandlerError;
use crate::handlers::HandlerTable;
use crate::log::{LogEntry, LogLevel};
use crate::machine::Machine;
use crate::mutation::{MutResult, Mutation, MutationKind};
use crate::schema::{Schema, StateIdx};
use crate::tracer::Interest;
use crate::transition::{CancelReason, Transition, TxData, TxId};
use crate::wait::lock;

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

/// What one transition was asked to do, and what it records.
#[derive(Clone, Copy)]
struct Flags {
    check: bool,
    auto: bool,
    kind: MutationKind,
    /// The log level for this transition (`Nothing` for an unlogged check).
    level: LogLevel,
    steps: bool,
}

/// What the phases hand on: a handler failure, a panic to resume after the run.
#[derive(Default)]
struct Failure {
    error: Option<HandlerError>,
    panic: Option<Box<dyn Any + Send>>,
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
        let id = tx.dispatch.wants(Interest::LOG).then(|| self.0.tx_ids.id(tx.seq));
        #[cfg(feature = "tracing")]
        let id = id.or_else(|| Some(self.0.tx_ids.id(tx.seq)));
        self.emit_log(id.as_ref().map(TxId::as_str), &entry, Some(&tx.dispatch));
        tx.log.push(entry);
    }

    /// Executes one mutation as a transition. Runs on the runner thread with no lock held,
    /// after [`Runner::begin`] and a [`refresh_cache`](Self::refresh_cache) since the last
    /// lock (binds are seen from the next transition on).
    pub(crate) fn execute(&self, r: &mut Runner, mu: Mutation) -> MutResult {
        let Runner { tx, cache, bufs, panic, unpublished, .. } = r;
        let (s, h) = (&*cache.schema, cache.handlers.as_deref());
        let f = self.begin_tx(tx, bufs, s, mu);
        let mut fail = Failure::default();
        self.negotiate_phase(tx, bufs, s, h, f, &mut fail);
        let changed = self.apply_phase(tx, s, h, f, &mut fail, unpublished);
        self.finish(tx, s, f, changed, fail, panic, *unpublished)
    }

    /// The mutation in, the last transition's data out; timing; the target resolved and
    /// the decision logged.
    fn begin_tx(&self, tx: &mut TxData, b: &mut Buffers, s: &Schema, mu: Mutation) -> Flags {
        let (check, auto, kind) = (mu.check, mu.auto, mu.kind);
        tx.mutation = mu;
        tx.steps.clear();
        tx.log.clear();
        if let Some(CancelReason::Relations(v)) = tx.cancel.take() {
            b.spare = v;
        }
        tx.queue_len = 0;
        tx.completed = false;
        tx.started_at = None;
        tx.handler_clock = None;
        tx.ended_at = None;
        if !tx.dispatch.is_empty() && self.0.timing.load(Relaxed) {
            tx.started_at = Some(Instant::now());
        }
        let called = tx.mutation.called();
        tx.health =
            kind == MutationKind::Add && called.len() == 1 && s.health.iter().flatten().any(|&h| h == called[0]);
        let log_on = !check || self.0.opts.log_checks;
        let f = Flags {
            check,
            auto,
            kind,
            level: if log_on { self.log_level() } else { LogLevel::Nothing },
            steps: self.0.steps.load(Relaxed) && log_on,
        };
        let accepted = self.resolve_into(s, tx, &mut b.resolver, &b.active, &mut b.rejected, f.steps);
        tx.accepted = accepted;
        if !accepted {
            let mut v = std::mem::take(&mut b.spare);
            v.clone_from(&b.rejected);
            tx.cancel = Some(CancelReason::Relations(v));
        }
        if f.level >= LogLevel::Ops {
            let args = self.log_args_text(tx);
            let tag = if auto { "auto" } else { kind.as_str() };
            let called = names(s, tx.mutation.called());
            self.tx_log(tx, LogLevel::Ops, || format!("[{tag}] {called}{args}"));
            self.log_decisions(s, tx, &b.rejected, f.level);
            if !accepted {
                let rej = names(s, &b.rejected);
                self.tx_log(tx, LogLevel::Ops, || format!("[cancel:reject] {rej}"));
            }
        }
        self.0.running_tx.store(tx.seq, Relaxed);
        f
    }

    /// Init and start hooks, negotiation handlers, and the auto pass again without what
    /// they dropped.
    fn negotiate_phase(
        &self,
        tx: &mut TxData,
        b: &mut Buffers,
        s: &Schema,
        h: Option<&HandlerTable>,
        f: Flags,
        fail: &mut Failure,
    ) {
        if tx.dispatch.wants(Interest::TRANSITION_INIT | Interest::TRANSITION_START) {
            let v = self.view(s, tx);
            tx.dispatch.transition_init(&v);
            tx.dispatch.transition_start(&v);
        }
        b.dropped.clear();
        if tx.accepted
            && let Some(h) = h
        {
            let (ok, err) = self.negotiate(s, h, tx, &mut b.dropped, &mut fail.panic, f.steps);
            fail.error = err;
            if !ok {
                tx.accepted = false;
            }
        }
        if f.auto && tx.accepted {
            self.reresolve_auto(s, tx, &mut b.resolver, &b.active, &mut b.rejected, &b.dropped);
        }
    }

    /// Clocks applied (or left for the runner's next lock), the `[state]` line, finals
    /// hooks and handlers. Returns whether states changed.
    fn apply_phase(
        &self,
        tx: &mut TxData,
        s: &Schema,
        h: Option<&HandlerTable>,
        f: Flags,
        fail: &mut Failure,
        unpublished: &mut bool,
    ) -> bool {
        if !tx.accepted || f.check {
            return false;
        }
        // nothing can look at the machine before the transition ends: no handler, tracer,
        // wait or auto state; the runner's next lock writes the clocks
        if h.is_none() && tx.dispatch.is_empty() && s.auto_list.is_empty() && !self.0.has_waiters.load(Relaxed) {
            *unpublished = true;
        } else {
            self.apply(s, tx);
        }
        let changed = !tx.enters.is_empty() || !tx.exits.is_empty();
        if changed && f.level >= LogLevel::Changes {
            // `[id] [state] +A +B -C`, written in place, right after apply
            let mut line = self.log_line();
            line.push_str(if f.auto { "[auto_] " } else { "[state] " });
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
        if tx.dispatch.wants(Interest::TRANSITION_FINALS) {
            tx.dispatch.transition_finals(&self.view(s, tx));
            tx.handler_clock = None;
        }
        if let Some(h) = h
            && let Some(e) = self.finals(s, h, tx, &mut fail.panic, f.steps)
        {
            fail.error = Some(e);
            tx.accepted = false;
        }
        changed
    }

    /// What the transition logged, its failure raised, auto states queued, the end hooks,
    /// waits checked, and the result.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        tx: &mut TxData,
        s: &Schema,
        f: Flags,
        changed: bool,
        fail: Failure,
        panic: &mut Option<Box<dyn Any + Send>>,
        unpublished: bool,
    ) -> MutResult {
        // what was logged up to the end of the last final handler belongs to this transition
        self.drain_tx_log(&mut tx.log);
        if let Some(err) = &fail.error {
            let msg = err.to_string();
            self.tx_log(tx, LogLevel::Changes, || format!("[error] {msg}"));
            self.raise(s, tx, err.clone());
        }
        if changed && tx.accepted && !f.auto && !tx.health && !s.auto_list.is_empty() {
            self.queue_auto(s, &tx.dispatch);
        }
        if !tx.accepted {
            if tx.cancel.is_none() {
                tx.cancel = Some(CancelReason::Admission);
            }
            if !changed {
                tx.reset_after();
            }
        }
        tx.completed = true;
        if tx.started_at.is_some() {
            tx.ended_at = Some(Instant::now());
        }
        if tx.dispatch.wants(Interest::TRANSITION_END) {
            // only tracers see a transition after its handlers: no lock for it otherwise
            tx.queue_len = lock(&self.0.st).queue.len();
            tx.dispatch.transition_end(&self.view(s, tx));
        }
        self.0.running_tx.store(0, Relaxed);
        if !unpublished {
            // an unpublished transition's waits are checked when its clocks are written
            self.eval_waiters(tx);
        }
        if fail.panic.is_some() {
            *panic = fail.panic;
        }
        let called = tx.mutation.called();
        let done = tx.accepted
            && (f.check
                || match f.kind {
                    MutationKind::Add | MutationKind::Set => called.iter().all(|&c| tx.after[c] % 2 == 1),
                    MutationKind::Remove => called.iter().all(|&c| tx.after[c].is_multiple_of(2)),
                });
        if done { MutResult::Executed } else { MutResult::Canceled }
    }
}
