//! Running one transition (spec §5): resolution, hooks, handlers, apply, rollback, auto.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::time::Instant;

use crate::bits::BitSet;
use crate::error::{HandlerError, HandlerErrorKind};
use crate::handlers::{Entry, Event, HandlerFn, HandlerTable};
use crate::log::{LogEntry, LogLevel};
use crate::machine::{Machine, TracerList};
use crate::mutation::{Arg, Args, MutResult, Mutation, MutationKind};
use crate::relations::{Input, Resolver};
use crate::schema::{Schema, StateIdx};
use crate::steps::{Step, StepKind};
use crate::tracer::Interest;
use crate::transition::{CancelReason, Transition, TxData, TxId};
use crate::wait::{WaitCond, lock, states_ok, time_ok};

/// The runner's reusable buffers; owned by whichever thread runs the queue.
pub(crate) struct Scratch {
    pub(crate) tx: TxData,
    resolver: Resolver,
    active: BitSet,
    rejected: Vec<StateIdx>,
    dropped: Vec<StateIdx>,
    pub(crate) panic: Option<Box<dyn Any + Send>>,
    /// Tracers and handlers as of `cache_version`; re-read when the machine's bind version moves.
    pub(crate) tracers: Option<TracerList>,
    handlers: Option<Arc<HandlerTable>>,
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
            dropped: Vec::new(),
            panic: None,
            tracers: None,
            handlers: None,
            cache_version: u64::MAX,
            interest: Interest::NONE,
            log_tracers: None,
        }
    }
    pub(crate) fn grow(&mut self, n: usize) {
        self.resolver.grow(n);
        self.active.grow(n);
    }
}

enum Outcome {
    Ok(bool),
    Failed(HandlerError),
}

pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

fn names(s: &Schema, list: &[StateIdx]) -> String {
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
enum Slot {
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
    fn view<'a>(&'a self, schema: &'a Schema, tx: &'a TxData) -> Transition<'a> {
        Transition { machine: self, schema, data: tx, tx_ids: self.0.tx_ids }
    }

    fn tx_log(&self, tx: &mut TxData, level: LogLevel, text: impl FnOnce() -> String) {
        if level > self.log_level() || level == LogLevel::Nothing {
            return;
        }
        let entry = LogEntry { level, text: format!("[{}] {}", self.log_prefix(), text()) };
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
            sc.cache_version = v;
        }
    }

    /// Executes one mutation as a transition. Runs on the runner thread with no lock held.
    pub(crate) fn execute(&self, sc: &mut Scratch, mu: Mutation) -> MutResult {
        self.refresh_cache(sc);
        let (tracers, handlers) = (sc.tracers.take(), sc.handlers.take());
        sc.tx.log_tracers = sc.log_tracers.take();
        let hooks = Hooks { list: tracers.as_ref(), interest: sc.interest };
        let r = self.execute_with(sc, mu, hooks, handlers.as_deref());
        (sc.tracers, sc.handlers) = (tracers, handlers);
        sc.log_tracers = sc.tx.log_tracers.take();
        r
    }

    fn execute_with(
        &self,
        sc: &mut Scratch,
        mu: Mutation,
        hooks: Hooks<'_>,
        handlers: Option<&HandlerTable>,
    ) -> MutResult {
        let tracers = hooks.list;
        let schema = self.schema();
        let s = &*schema;
        let check = mu.check;
        let auto = mu.auto;
        let kind = mu.kind;
        {
            let tx = &mut sc.tx;
            tx.mutation = mu;
            tx.steps.clear();
            tx.log.clear();
            tx.pre_log.clear();
            tx.cancel = None;
            tx.completed = false;
            tx.started_at = None;
            tx.ended_at = None;
            let mut st = lock(&self.0.st);
            tx.before.clone_from(&st.time);
            sc.active.copy_from(&st.active);
            st.tx_seq += 1;
            tx.seq = st.tx_seq;
            tx.queue_tick = st.queue_tick;
            std::mem::swap(&mut tx.pre_log, &mut st.pre_log);
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
            tx.cancel = Some(CancelReason::Relations(sc.rejected.clone()));
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
            if let Some(ts) = hooks.get(Interest::TRANSITION_FINALS) {
                let v = self.view(s, tx);
                ts.iter().for_each(|t| t.transition_finals(&v));
            }
            if let Some(h) = handlers
                && let Some(f) = self.finals(s, h, tx, hooks.get(Interest::HANDLERS), &mut payload, record_steps)
            {
                failure = Some(f);
                tx.accepted = false;
            }
            if level >= LogLevel::Changes {
                let mut parts = Vec::new();
                for &i in &tx.enters {
                    parts.push(format!("+{}", s.name(i)));
                }
                for &i in &tx.exits {
                    parts.push(format!("-{}", s.name(i)));
                }
                let tag = if auto { "auto_" } else { "state" };
                let text = parts.join(" ");
                self.tx_log(tx, LogLevel::Changes, || format!("[{tag}] {text}"));
            }
        }
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
        tx.queue_len = lock(&self.0.st).queue.len();
        if tx.started_at.is_some() {
            tx.ended_at = Some(Instant::now());
        }
        if let Some(ts) = hooks.get(Interest::TRANSITION_END) {
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

    /// Why the target is what it is: implied states, removals, unmet requirements.
    fn log_decisions(&self, s: &Schema, tx: &mut TxData, rejected: &[StateIdx], level: LogLevel) {
        let called = tx.mutation.called();
        let implied: Vec<StateIdx> =
            tx.target.iter().copied().filter(|x| !called.contains(x) && !tx.states_before.contains(x)).collect();
        let mut lines = Vec::new();
        if !implied.is_empty() {
            lines.push((LogLevel::Ops, format!("[implied] {}", names(s, &implied))));
        }
        let blockers = |x: StateIdx| -> Vec<StateIdx> {
            s.removed_by[x].iter().copied().filter(|b| tx.target.contains(b)).collect()
        };
        for &x in &tx.exits {
            let by = blockers(x);
            if !by.is_empty() {
                lines.push((LogLevel::Ops, format!("[rel:remove] {} by {}", s.name(x), names(s, &by))));
            }
        }
        for &c in rejected {
            let missing: Vec<StateIdx> = s.require[c].iter().copied().filter(|r| !tx.target.contains(r)).collect();
            if !missing.is_empty() {
                let m: Vec<String> = missing.iter().map(|&r| format!("-{}", s.name(r))).collect();
                lines.push((LogLevel::Ops, format!("[reject] {}({})", s.name(c), m.join(" "))));
            }
            let by = blockers(c);
            if !by.is_empty() {
                lines.push((LogLevel::Decisions, format!("[rel:remove] {} by {}", s.name(c), names(s, &by))));
            }
        }
        for (l, text) in lines {
            if l <= level {
                self.tx_log(tx, l, || text);
            }
        }
    }

    fn log_args_text(&self, tx: &TxData) -> String {
        match tx.mutation.args() {
            Some(a) if self.0.opts.log_args && !a.is_empty() => {
                let pairs = (self.0.opts.args_mapper)(a);
                if pairs.is_empty() {
                    String::new()
                } else {
                    let p: Vec<_> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!(" ({})", p.join(" "))
                }
            }
            _ => String::new(),
        }
    }

    /// Auto re-resolution (spec §5.5): when the target of an accepted auto transition lacks a
    /// called state — rejected by relations or dropped by a handler — it is resolved once
    /// more from the called states that made it, so nothing is activated only because a
    /// rejected auto state implied it. Applied whatever that pass gives; handlers do not run
    /// again. Every called state dropped by handlers cancels it instead.
    fn reresolve_auto(
        &self,
        s: &Schema,
        tx: &mut TxData,
        resolver: &mut Resolver,
        active: &BitSet,
        rejected: &mut Vec<StateIdx>,
        dropped: &[StateIdx],
    ) {
        let called = tx.mutation.called();
        if !called.iter().any(|c| !tx.target.contains(c) || dropped.contains(c)) {
            return;
        }
        if !dropped.is_empty() && called.iter().all(|c| dropped.contains(c)) {
            tx.accepted = false;
            tx.cancel = Some(CancelReason::Relations(dropped.to_vec()));
            return;
        }
        let keep: Vec<StateIdx> =
            called.iter().copied().filter(|c| tx.target.contains(c) && !dropped.contains(c)).collect();
        // the transition still shows what it called; only this pass uses the survivors
        let all = std::mem::replace(&mut tx.mutation.called, crate::mutation::Called::from_slice(&keep));
        self.resolve_into(s, tx, resolver, active, rejected, false);
        tx.mutation.called = all;
        tx.accepted = true;
    }

    /// Resolves the target, enters, exits and the predicted `time_after`.
    fn resolve_into(
        &self,
        s: &Schema,
        tx: &mut TxData,
        r: &mut Resolver,
        active: &BitSet,
        rejected: &mut Vec<StateIdx>,
        record_steps: bool,
    ) -> bool {
        let inp = Input {
            kind: tx.mutation.kind,
            called: tx.mutation.called.as_slice(),
            auto: tx.mutation.auto,
            active_list: &tx.states_before,
            active,
        };
        let steps = if record_steps { Some(&mut tx.steps) } else { None };
        let accepted = r.resolve(s, &inp, &mut tx.target, rejected, steps);
        tx.exits.clear();
        tx.exits.extend(tx.states_before.iter().copied().filter(|&i| !r.target.contains(i)));
        tx.enters.clear();
        let called = tx.mutation.called.as_slice();
        let reenter_ok = tx.mutation.kind != MutationKind::Remove;
        tx.enters.extend(
            tx.target
                .iter()
                .copied()
                .filter(|&i| !active.contains(i) || (reenter_ok && s.multi.contains(i) && called.contains(&i))),
        );
        tx.after.clone_from(&tx.before);
        if accepted {
            for &i in &tx.exits {
                tx.after[i] += 1;
            }
            for &i in &tx.enters {
                tx.after[i] += if active.contains(i) { 2 } else { 1 };
            }
        }
        accepted
    }

    /// Phase 9: ticks and active set change; state contexts of changed states are cancelled.
    fn apply(&self, tx: &mut TxData) {
        let mut cancel = Vec::new();
        {
            let mut st = lock(&self.0.st);
            for &i in &tx.exits {
                st.time[i] += 1;
                st.active.remove(i);
            }
            for &i in &tx.enters {
                st.time[i] += if st.active.contains(i) { 2 } else { 1 };
                st.active.insert(i);
            }
            tx.after.clone_from(&st.time);
            for &i in tx.exits.iter().chain(&tx.enters) {
                if let Some(t) = st.ctxs[i].take() {
                    cancel.push(t);
                }
            }
        }
        cancel.into_iter().for_each(|t| t.cancel());
    }

    /// Deactivates states after a failed final handler and updates `time_after`.
    fn rollback(&self, tx: &mut TxData, states: &[StateIdx]) {
        let mut st = lock(&self.0.st);
        for &i in states {
            if st.time[i] % 2 == 1 {
                st.time[i] += 1;
                st.active.remove(i);
            }
        }
        tx.after.clone_from(&st.time);
    }

    #[allow(clippy::too_many_arguments)]
    fn call_handler(
        &self,
        s: &Schema,
        tx: &mut TxData,
        e: &Entry,
        tracers: Option<&TracerList>,
        payload: &mut Option<Box<dyn Any + Send>>,
        step: Option<Step>,
    ) -> Outcome {
        if let Some(ts) = tracers {
            let v = self.view(s, tx);
            ts.iter().for_each(|t| t.handler_start(&v, &e.binding, &e.name));
        }
        self.tx_log(tx, LogLevel::Ops, || format!("[handler:{}] {}", e.binding, e.name));
        let start = Instant::now();
        let ev = Event { handler: &e.name, binding: &e.binding, tx: self.view(s, tx) };
        let r = catch_unwind(AssertUnwindSafe(|| match &e.f {
            HandlerFn::Negotiation(f) => f(&ev),
            HandlerFn::Final(f) => {
                f(&ev);
                true
            }
        }));
        let elapsed = start.elapsed();
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
        if let Some(ts) = tracers {
            let v = self.view(s, tx);
            ts.iter().for_each(|t| t.handler_end(&v, &e.binding, &e.name));
        }
        out
    }

    /// Records a handler failure and, unless the mutation called `Exception`, prepends an
    /// Exception mutation. Idempotent per transition.
    fn raise(&self, s: &Schema, tx: &mut TxData, err: HandlerError) {
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
            // mutation carried stays the last one (spec §5.6, case 40)
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
        self.prepend(Mutation::new(MutationKind::Add, &[exc], Some(Arc::new(args))));
    }

    /// Negotiation phases 3–7. Returns (accepted, failure).
    #[allow(clippy::too_many_arguments)]
    fn negotiate(
        &self,
        s: &Schema,
        h: &HandlerTable,
        tx: &mut TxData,
        tracers: Option<&TracerList>,
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
            match this.call_handler(s, tx, e, tracers, payload, step) {
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
    fn finals(
        &self,
        s: &Schema,
        h: &HandlerTable,
        tx: &mut TxData,
        tracers: Option<&TracerList>,
        payload: &mut Option<Box<dyn Any + Send>>,
        steps: bool,
    ) -> Option<HandlerError> {
        for i in 0..tx.exits.len() {
            let x = tx.exits[i];
            for e in &h.end[x] {
                let step = steps.then(|| handler_step(Slot::End(x)));
                if let Outcome::Failed(err) = self.call_handler(s, tx, e, tracers, payload, step) {
                    return Some(err);
                }
            }
        }
        for i in 0..tx.enters.len() {
            let x = tx.enters[i];
            for e in &h.state[x] {
                let step = steps.then(|| handler_step(Slot::State(x)));
                if let Outcome::Failed(err) = self.call_handler(s, tx, e, tracers, payload, step) {
                    let undo: Vec<StateIdx> = tx.enters[i..].to_vec();
                    self.rollback(tx, &undo);
                    return Some(err);
                }
            }
        }
        for e in &h.any_state {
            let step = steps.then(|| handler_step(Slot::AnyState));
            if let Outcome::Failed(err) = self.call_handler(s, tx, e, tracers, payload, step) {
                return Some(err);
            }
        }
        None
    }

    /// Phase 13: one auto mutation at the front for inactive, unblocked auto states.
    fn queue_auto(&self, s: &Schema) {
        let called: Vec<StateIdx> = {
            let st = lock(&self.0.st);
            s.auto_list
                .iter()
                .copied()
                .filter(|&a| !st.active.contains(a) && !st.active.iter().any(|x| s.remove[x].contains(&a)))
                .collect()
        };
        if called.is_empty() {
            return;
        }
        let mut mu = Mutation::new(MutationKind::Add, &called, None);
        mu.auto = true;
        self.prepend(mu);
    }

    /// Phase 15: completes waiters whose condition now holds.
    fn eval_waiters(&self, tx: &TxData) {
        let mut done = Vec::new();
        {
            let mut st = lock(&self.0.st);
            if st.waiters.is_empty() {
                return;
            }
            let mut waiters = std::mem::take(&mut st.waiters);
            waiters.retain(|w| {
                if w.abandoned() {
                    return false;
                }
                let ready = match &w.cond {
                    WaitCond::States(idx, active) => states_ok(&st.time, idx, *active),
                    WaitCond::Time(idx, ticks) => time_ok(&st.time, idx, ticks),
                    WaitCond::Args(i, args) => {
                        tx.accepted
                            && !tx.mutation.check
                            && tx.enters.contains(i)
                            && tx.mutation.args().is_some_and(|a| a.contains_all(args))
                    }
                    WaitCond::Query(f) => f(&st.time),
                    WaitCond::Queue(t) => st.queue_tick >= *t,
                    WaitCond::QueueEnd | WaitCond::Disposed => false,
                };
                if ready {
                    done.push(w.shared.clone());
                }
                !ready
            });
            waiters.append(&mut st.waiters);
            st.waiters = waiters;
        }
        for d in done {
            d.complete(Ok(()));
        }
    }

    /// Answers a check from relations alone (busy machine).
    pub(crate) fn check_relations(&self, mu: &Mutation) -> MutResult {
        let schema = self.schema();
        let (time, active) = {
            let st = lock(&self.0.st);
            (st.time.clone(), st.active.clone())
        };
        let mut tx = TxData::new(mu.clone());
        tx.before = time;
        tx.states_before = schema.canonical().iter().copied().filter(|&i| active.contains(i)).collect();
        let mut r = Resolver::new(schema.len());
        let ok = self.resolve_into(&schema, &mut tx, &mut r, &active, &mut Vec::new(), false);
        if ok { MutResult::Executed } else { MutResult::Canceled }
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
