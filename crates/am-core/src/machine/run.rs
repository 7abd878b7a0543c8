//! Mutations in, transitions out: the calls that build a [`Mutation`], the queue they
//! enter, the runner loop that executes them (through `exec`), and dry runs.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use crate::dispatch::Dispatch;
use crate::error::{AnyError, Error};
use crate::exec::{Published, Runner};
use crate::log::LogLevel;
use crate::mutation::{Arg, Args, MutResult, Mutation, MutationKind, Source};
use crate::tracer::Interest;
use crate::wait::{WaitCond, lock};

use super::*;

/// The mutation of `kind` calling `states` (looked up in `schema`, duplicates dropped).
fn mutation(
    schema: &Schema,
    kind: MutationKind,
    states: &[&str],
    args: Option<Args>,
    source: Option<Source>,
) -> Result<Mutation, Error> {
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
    Ok(mu)
}

impl Machine {
    pub(crate) fn call(
        &self,
        kind: MutationKind,
        states: &[&str],
        args: Option<Args>,
        source: Option<Source>,
    ) -> Result<MutResult, Error> {
        self.alive()?;
        if self.log_level() >= LogLevel::Ops {
            // `[queue:add] A` is logged before the mutation is queued (and runs)
            let schema = self.schema();
            let mu = mutation(&schema, kind, states, args, source)?;
            let names: Vec<&str> = mu.called().iter().map(|&i| schema.name(i)).collect();
            let text = format!("[queue:{kind}] {}", names.join(" "));
            self.log_plain(LogLevel::Ops, || text);
            return Ok(self.enqueue(lock(&self.0.st), mu));
        }
        // one lock: the names are looked up in the schema the state holds, and the same
        // lock queues the mutation (or hands this thread the runner)
        let st = lock(&self.0.st);
        let mu = mutation(&st.schema, kind, states, args, source)?;
        Ok(self.enqueue(st, mu))
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

    /// Appends a mutation and runs the queue when idle; `st` is the machine's state, locked
    /// by the caller.
    pub(crate) fn enqueue(&self, mut st: std::sync::MutexGuard<'_, State>, mut mu: Mutation) -> MutResult {
        let inner = &*self.0;
        let traced;
        {
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
            if mu.args.is_none()
                && !st.queue.is_empty()
                && !mu.called().iter().any(|&c| st.schema.is_multi(c))
                && let Some(dup) = st.queue.iter().find(|q| q.queue_tick != 0 && mu.same_as(q))
            {
                let t = dup.queue_tick;
                drop(st);
                self.log_plain(LogLevel::Ops, || "[queue:skipped] duplicate".into());
                return MutResult::Queued(t);
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
                let mut r = self.take_runner(&mut st);
                r.begin(&mut st);
                drop(st);
                self.refresh_cache(&mut r);
                if r.tx.dispatch.wants(Interest::MUTATION_QUEUED) {
                    r.tx.dispatch.mutation_queued(self, &mu);
                }
                let res = self.execute(&mut r, mu);
                self.run_queue(0, Some(r));
                return res;
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
            let mut r = self.take_runner(&mut st);
            drop(st);
            if let Some(mu) = traced {
                self.refresh_cache(&mut r);
                r.tx.dispatch.mutation_queued(self, &mu);
            }
            self.run_queue(tick, Some(r)).unwrap_or(MutResult::Queued(tick))
        }
    }

    /// The runner's state, taken under the `st` lock by the thread that becomes the runner.
    fn take_runner(&self, st: &mut State) -> Box<Runner> {
        st.runner.take().unwrap_or_else(|| Box::new(Runner::new(self.schema())))
    }

    pub(super) fn after_queued(&self, mu: Option<&Mutation>, queued: usize, postponed: bool) {
        if let Some(mu) = mu {
            self.dispatch().mutation_queued(self, mu);
        }
        if self.log_level() >= LogLevel::Ops && postponed {
            let items = if queued == 1 { "item" } else { "items" };
            self.log_plain(LogLevel::Ops, || format!("[postpone] queue running ({queued} {items})"));
        }
    }

    /// Puts a machine-made mutation (auto, Exception) at the front of the queue; the
    /// runner's `dispatch` hears of it.
    pub(crate) fn prepend(&self, mut mu: Mutation, dispatch: &Dispatch) {
        mu.queue_token = self.0.queue_token.fetch_add(1, Relaxed) + 1;
        let traced;
        {
            let mut st = lock(&self.0.st);
            mu.machine_queue_tick = st.queue_tick;
            mu.queue_len = st.queue.len() + 1;
            traced = dispatch.wants(Interest::MUTATION_QUEUED).then(|| mu.clone());
            st.queue.push_front(mu);
        }
        if let Some(mu) = traced {
            dispatch.mutation_queued(self, &mu);
        }
    }

    /// Runs queued mutations until the queue is empty; returns the result of the mutation
    /// with queue tick `own` if this run executed it.
    pub(crate) fn run_queue(&self, own: u64, runner: Option<Box<Runner>>) -> Option<MutResult> {
        let mut result = None;
        let mut r = match runner {
            Some(r) => r,
            None => self.take_runner(&mut lock(&self.0.st)),
        };
        loop {
            loop {
                // without a `queue_end` hook, an empty queue releases the runner under the
                // same lock that found it empty; the lock also writes the clocks the last
                // transition left unpublished
                self.refresh_cache(&mut r);
                let release_here = !r.tx.dispatch.wants(Interest::QUEUE_END);
                let mut published = Published::default();
                let mu = {
                    let mut st = lock(&self.0.st);
                    r.publish(self, &mut st, &mut published);
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
                                r.begin(&mut st);
                            }
                            None if release_here => {
                                let done = self.release_locked(&mut st, r);
                                drop(st);
                                self.after_publish(published);
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
                self.after_publish(published);
                let Some(mu) = mu else { break };
                let tick = mu.queue_tick;
                let res = self.execute(&mut r, mu);
                if tick != 0 && tick == own {
                    result = Some(res);
                }
                if let Some(p) = r.panic.take() {
                    self.try_release(r, true);
                    std::panic::resume_unwind(p);
                }
            }
            self.refresh_cache(&mut r);
            if r.tx.dispatch.wants(Interest::QUEUE_END) {
                r.tx.dispatch.queue_end(self);
            }
            match self.try_release(r, false) {
                Some(back) => r = back,
                None => break,
            }
        }
        if self.0.disposal.is_disposing() {
            self.finish_dispose();
        }
        result
    }

    /// Clears the runner flag, unless work arrived meanwhile (checked under the same lock
    /// that enqueuers take, so nothing is stranded): then the runner is handed back. The lock
    /// writes unpublished clocks first.
    pub(super) fn try_release(&self, mut r: Box<Runner>, force: bool) -> Option<Box<Runner>> {
        let mut published = Published::default();
        let done = {
            let mut st = lock(&self.0.st);
            r.publish(self, &mut st, &mut published);
            if !force && !st.queue.is_empty() && !self.0.disposal.is_disposing() {
                drop(st);
                self.after_publish(published);
                return Some(r);
            }
            self.release_locked(&mut st, r)
        };
        self.after_publish(published);
        for d in done {
            d.complete(Ok(()));
        }
        None
    }

    /// Clears the runner flag and parks the runner, under the `st` lock; returns the
    /// `when_queue_ends` waits to complete once the lock is dropped.
    fn release_locked(&self, st: &mut State, r: Box<Runner>) -> Vec<Arc<crate::wait::WaitShared>> {
        st.running = false;
        st.settle_tx_log();
        st.runner = Some(r);
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
        let runner = {
            let mut st = lock(&self.0.st);
            if st.running {
                None
            } else {
                st.running = true;
                let mut r = st.runner.take();
                match r.as_mut() {
                    Some(r) => r.begin(&mut st),
                    None => st.running = false,
                }
                r
            }
        };
        let Some(mut r) = runner else {
            return Ok(self.check_relations(&mu));
        };
        self.refresh_cache(&mut r);
        let res = self.execute(&mut r, mu);
        if let Some(r) = self.try_release(r, false) {
            // negotiation handlers of the check queued something: run it
            self.run_queue(u64::MAX, Some(r));
        }
        Ok(res)
    }
}
