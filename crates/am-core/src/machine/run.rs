//! Mutations in, transitions out: the calls that build a [`Mutation`], the queue they
//! enter, the runner loop that executes them (through `exec`), and dry runs.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use crate::error::{AnyError, Error};
use crate::exec::Scratch;
use crate::log::LogLevel;
use crate::mutation::{Arg, Args, MutResult, Mutation, MutationKind, Source};
use crate::tracer::{Interest, Tracer};
use crate::unpoison::Unpoison;
use crate::wait::{WaitCond, lock};

use super::*;

impl Machine {
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
        let mut heap = if states.len() > 4 { Vec::with_capacity(states.len()) } else { Vec::new() };
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
        let mut mu = if small {
            Mutation::new(kind, &buf[..n], args.map(Arc::new))
        } else {
            // the list built above becomes the mutation's (one allocation, not two)
            Mutation::with_called(kind, crate::mutation::Called::Heap(heap), args.map(Arc::new))
        };
        mu.source = source.map(Arc::new);
        if self.log_level() >= LogLevel::Ops {
            let names: Vec<&str> = mu.called().iter().map(|&i| schema.name(i)).collect();
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
            if inner.disposal.is_disposing() {
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
                scratch.begin(&mut st);
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
                let queued = st.queue.len();
                drop(st);
                self.after_queued(traced.as_ref(), queued, true);
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

    pub(super) fn after_queued(&self, mu: Option<&Mutation>, queued: usize, postponed: bool) {
        if let Some(mu) = mu {
            for t in self.hooks().iter() {
                t.mutation_queued(self, mu);
            }
        }
        if self.log_level() >= LogLevel::Ops && postponed {
            let items = if queued == 1 { "item" } else { "items" };
            self.log_plain(LogLevel::Ops, || format!("[postpone] queue running ({queued} {items})"));
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
                // without a `queue_end` hook, an empty queue releases the runner under the
                // same lock that found it empty
                self.refresh_cache(&mut scratch);
                let release_here = !scratch.interest.intersects(Interest::QUEUE_END);
                let mu = {
                    let mut st = lock(&self.0.st);
                    if self.0.disposal.is_disposing() {
                        st.queue.clear();
                        st.appended = 0;
                        None
                    } else {
                        let mu = st.queue.pop_front();
                        match &mu {
                            Some(m) => {
                                if m.queue_tick != 0 {
                                    st.appended -= 1;
                                    st.queue_tick += 1;
                                }
                                scratch.begin(&mut st);
                            }
                            None if release_here => {
                                let done = self.release_locked(&mut st, scratch);
                                drop(st);
                                for d in done {
                                    d.complete(Ok(()));
                                }
                                return result;
                            }
                            None => {}
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
        if self.0.disposal.is_disposing() {
            self.finish_dispose();
        }
        result
    }

    /// Clears the runner flag, unless work arrived meanwhile (checked under the same lock
    /// that enqueuers take, so nothing is stranded): then the scratch is handed back.
    pub(super) fn try_release(&self, scratch: Box<Scratch>, force: bool) -> Option<Box<Scratch>> {
        let done = {
            let mut st = lock(&self.0.st);
            if !force && !st.queue.is_empty() && !self.0.disposal.is_disposing() {
                return Some(scratch);
            }
            self.release_locked(&mut st, scratch)
        };
        for d in done {
            d.complete(Ok(()));
        }
        None
    }

    /// Clears the runner flag and parks the scratch, under the `st` lock; returns the
    /// `when_queue_ends` waits to complete once the lock is dropped.
    fn release_locked(&self, st: &mut State, scratch: Box<Scratch>) -> Vec<Arc<crate::wait::WaitShared>> {
        st.running = false;
        st.settle_tx_log();
        st.scratch = Some(scratch);
        let mut done = Vec::new();
        if !st.waiters.is_empty() {
            st.waiters.retain(|w| {
                if matches!(w.cond, WaitCond::QueueEnd) {
                    done.push(w.shared.clone());
                    false
                } else {
                    true
                }
            });
            self.0.has_waiters.store(!st.waiters.is_empty(), Relaxed);
        }
        done
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
    pub(super) fn check(&self, kind: MutationKind, states: &[&str]) -> Result<MutResult, Error> {
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
                let mut sc = st.scratch.take();
                match sc.as_mut() {
                    Some(sc) => sc.begin(&mut st),
                    None => st.running = false,
                }
                sc
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
}
