//! Handlers (semantics page, *Handlers* and *Failures*): negotiation and final handler lists
//! in order, each call wrapped in its hooks, timed and caught; a failure raised as
//! `Exception`.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{HandlerError, HandlerErrorKind};
use crate::handlers::{Entry, Event, HandlerFn, HandlerTable};
use crate::log::LogLevel;
use crate::machine::Machine;
use crate::mutation::{Arg, Args, Mutation, MutationKind};
use crate::schema::{Schema, StateIdx};
use crate::steps::{Step, StepKind};
use crate::tracer::Interest;
use crate::transition::{CancelReason, TxData};
use crate::wait::lock;

use super::*;

impl Machine {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn call_handler(
        &self,
        s: &Schema,
        tx: &mut TxData,
        e: &Entry,
        payload: &mut Option<Box<dyn Any + Send>>,
        step: Option<Step>,
    ) -> Outcome {
        let traced = tx.dispatch.wants(Interest::HANDLERS);
        if traced {
            tx.dispatch.handler_start(&self.view(s, tx), &e.binding, &e.name);
        }
        self.tx_log(tx, LogLevel::Ops, || format!("[handler:{}] {}", e.binding, e.name));
        // a handler's time starts where the previous one's ended unless tracers or logging
        // (which may block) ran in between
        let start = match tx.handler_clock.take() {
            Some(t) if !traced && self.log_level() == LogLevel::Nothing => t,
            _ => Instant::now(),
        };
        let ev = Event { handler: &e.name, binding: &e.binding, tx: self.view(s, tx) };
        let r = catch_unwind(AssertUnwindSafe(|| match &e.f {
            HandlerFn::Negotiation(f) => f(&ev),
            HandlerFn::Final(f) => {
                f(&ev);
                true
            }
        }));
        let end = Instant::now();
        tx.handler_clock = Some(end);
        // what the handler logged (and the queue lines of what it queued) follows its line
        self.drain_tx_log(&mut tx.log);
        let elapsed = end.duration_since(start);
        let out = match r {
            Ok(_) if elapsed > self.0.opts.handler_timeout => Outcome::Failed(HandlerError {
                kind: HandlerErrorKind::Timeout,
                handler: e.name.to_string(),
                message: format!("{elapsed:?}"),
            }),
            Ok(b) => Outcome::Ok(b),
            Err(p) => {
                let message = panic_message(&*p);
                if !self.0.opts.panic_to_exception && payload.is_none() {
                    *payload = Some(p);
                }
                Outcome::Failed(HandlerError { kind: HandlerErrorKind::Panic, handler: e.name.to_string(), message })
            }
        };
        if let Some(st) = step {
            tx.steps.push(st);
        }
        if let Outcome::Failed(err) = &out {
            // the Exception mutation is queued before this handler's handler_end
            let msg = err.to_string();
            self.tx_log(tx, LogLevel::Decisions, || format!("[recover] {msg}"));
            self.raise(s, tx, err.clone());
        }
        if traced {
            tx.dispatch.handler_end(&self.view(s, tx), &e.binding, &e.name);
        }
        out
    }

    /// Records a handler failure and, unless the mutation called `Exception`, prepends an
    /// Exception mutation. Idempotent per transition.
    pub(super) fn raise(&self, s: &Schema, tx: &mut TxData, err: HandlerError) {
        if tx.cancel.as_ref().is_some_and(|c| matches!(c, CancelReason::Panic(_) | CancelReason::Timeout(_))) {
            return;
        }
        tx.cancel = Some(match err.kind {
            HandlerErrorKind::Panic => CancelReason::Panic(err.handler.clone()),
            HandlerErrorKind::Timeout => CancelReason::Timeout(err.handler.clone()),
        });
        let exc = self.0.exception;
        if tx.mutation.called().contains(&exc) {
            // no Exception for a failing Exception transition (no loops), and the error that
            // mutation carried stays the last one (semantics page, *Failures*)
            return;
        }
        let err: Arc<HandlerError> = Arc::new(err);
        lock(&self.0.st).last_error = Some(err.clone());
        let args = Args::new()
            .with("err", Arg::Error(err.clone()))
            .with("handler", err.handler.clone())
            .with("called", names(s, tx.mutation.called()))
            .with("states_before", names(s, &tx.states_before))
            .with("tx_id", self.0.tx_ids.id(tx.seq).to_string());
        self.prepend(Mutation::new(MutationKind::Add, &[exc], Some(Arc::new(args))), &tx.dispatch);
    }

    /// Negotiation phases 3–7. Returns (accepted, failure).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn negotiate(
        &self,
        s: &Schema,
        h: &HandlerTable,
        tx: &mut TxData,
        dropped: &mut Vec<StateIdx>,
        payload: &mut Option<Box<dyn Any + Send>>,
        steps: bool,
    ) -> (bool, Option<HandlerError>) {
        let auto = tx.mutation.auto;
        let mut run = |this: &Self,
                       tx: &mut TxData,
                       slot: Slot,
                       e: &Entry,
                       dropped: &mut Vec<StateIdx>|
         -> Result<(), Option<HandlerError>> {
            let step = steps.then(|| handler_step(slot));
            match this.call_handler(s, tx, e, payload, step) {
                Outcome::Ok(true) => Ok(()),
                Outcome::Ok(false) => {
                    let droppable = match slot {
                        Slot::Enter(x) | Slot::SelfH(x) | Slot::Pair(_, x) => Some(x),
                        _ => None,
                    };
                    match droppable.filter(|x| auto && tx.mutation.called().contains(x)) {
                        Some(x) => {
                            if !dropped.contains(&x) {
                                dropped.push(x);
                            }
                            Ok(())
                        }
                        None => {
                            tx.cancel = Some(CancelReason::Handler(e.name.to_string()));
                            let name = e.name.to_string();
                            this.tx_log(tx, LogLevel::Ops, || format!("[cancel] by {name}"));
                            Err(None)
                        }
                    }
                }
                Outcome::Failed(err) => Err(Some(err)),
            }
        };
        let result = (|| {
            for i in 0..tx.exits.len() {
                let x = tx.exits[i];
                for e in &h.exit[x] {
                    run(self, tx, Slot::Exit(x), e, dropped)?;
                }
            }
            for i in 0..tx.enters.len() {
                let x = tx.enters[i];
                for e in &h.enter[x] {
                    if !dropped.contains(&x) {
                        run(self, tx, Slot::Enter(x), e, dropped)?;
                    }
                }
            }
            if tx.mutation.kind != MutationKind::Remove {
                for i in 0..tx.target.len() {
                    let x = tx.target[i];
                    if tx.before[x] % 2 == 1 {
                        for e in &h.self_h[x] {
                            if !dropped.contains(&x) {
                                run(self, tx, Slot::SelfH(x), e, dropped)?;
                            }
                        }
                    }
                }
            }
            for i in 0..tx.states_before.len() {
                let b = tx.states_before[i];
                for (to, e) in &h.pairs[b] {
                    if *to != b && tx.target.contains(to) && !dropped.contains(to) {
                        run(self, tx, Slot::Pair(b, *to), e, dropped)?;
                    }
                }
            }
            for e in &h.any_enter {
                run(self, tx, Slot::AnyEnter, e, dropped)?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => (true, None),
            Err(f) => (false, f),
        }
    }

    /// Final phases 11–12; returns a failure after rolling back.
    pub(super) fn finals(
        &self,
        s: &Schema,
        h: &HandlerTable,
        tx: &mut TxData,
        payload: &mut Option<Box<dyn Any + Send>>,
        steps: bool,
    ) -> Option<HandlerError> {
        for i in 0..tx.exits.len() {
            let x = tx.exits[i];
            for e in &h.end[x] {
                let step = steps.then(|| handler_step(Slot::End(x)));
                if let Outcome::Failed(err) = self.call_handler(s, tx, e, payload, step) {
                    return Some(err);
                }
            }
        }
        for i in 0..tx.enters.len() {
            let x = tx.enters[i];
            for e in &h.state[x] {
                let step = steps.then(|| handler_step(Slot::State(x)));
                if let Outcome::Failed(err) = self.call_handler(s, tx, e, payload, step) {
                    let undo: Vec<StateIdx> = tx.enters[i..].to_vec();
                    self.rollback(s, tx, &undo);
                    return Some(err);
                }
            }
        }
        for e in &h.any_state {
            let step = steps.then(|| handler_step(Slot::AnyState));
            if let Outcome::Failed(err) = self.call_handler(s, tx, e, payload, step) {
                return Some(err);
            }
        }
        None
    }
}

fn handler_step(slot: Slot) -> Step {
    let mut st = Step::new(StepKind::Handler, None, None);
    match slot {
        Slot::Exit(x) => st.from = Some(x),
        Slot::Enter(x) => {
            st.to = Some(x);
            st.is_enter = true;
        }
        Slot::SelfH(x) => {
            st.to = Some(x);
            st.is_self = true;
        }
        Slot::Pair(a, b) => {
            st.from = Some(a);
            st.to = Some(b);
        }
        Slot::End(x) => {
            st.to = Some(x);
            st.is_final = true;
        }
        Slot::State(x) => {
            st.to = Some(x);
            st.is_final = true;
            st.is_enter = true;
        }
        Slot::AnyEnter => {}
        Slot::AnyState => st.is_final = true,
    }
    st
}
