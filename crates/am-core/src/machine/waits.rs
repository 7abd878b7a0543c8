//! Waiting for states, clocks, queue ticks and disposal; state contexts.

use crate::error::Error;
use crate::log::LogLevel;
use crate::mutation::Args;
use crate::wait::{CancelToken, Wait, WaitCond, WaitError, Waiter, lock, states_ok, time_ok};

use super::*;

impl Machine {
    pub(super) fn add_waiter(&self, cond: WaitCond, ready: impl FnOnce(&State) -> bool) -> Wait {
        if self.0.disposal.is_disposing() {
            return Wait::done(Err(WaitError::Disposed));
        }
        // `[when:new] A B` (AM_LOG_WHEN), named before the state lock is taken
        let label =
            (self.log_level() >= LogLevel::Ops && crate::env::log_when()).then(|| cond.label(&self.schema())).flatten();
        let mut st = lock(&self.0.st);
        // a query is checked again under the lock that registers it: no transition can slip
        // in between and leave it waiting for the next one
        if ready(&st) || matches!(&cond, WaitCond::Query(f) if f(&st.time)) {
            return Wait::done(Ok(()));
        }
        let (w, shared) = Wait::new();
        st.waiters.retain(|w| !w.abandoned());
        st.waiters.push(Waiter { cond, shared });
        self.0.has_waiters.store(true, Relaxed);
        drop(st);
        if let Some((kind, what)) = label {
            self.log_plain(LogLevel::Ops, || format!("[{kind}:new] {what}").trim_end().to_string());
        }
        w
    }
    /// Ready when all states are active (at once if they are).
    pub fn when(&self, states: &[&str]) -> Result<Wait, Error> {
        let idx = self.idx(states)?;
        let i2 = idx.clone();
        Ok(self.add_waiter(WaitCond::States(idx, true), |st| states_ok(&st.time, &i2, true)))
    }
    /// Ready when all states are inactive.
    pub fn when_not(&self, states: &[&str]) -> Result<Wait, Error> {
        let idx = self.idx(states)?;
        let i2 = idx.clone();
        Ok(self.add_waiter(WaitCond::States(idx, false), |st| states_ok(&st.time, &i2, false)))
    }
    /// Ready when `Exception` is active.
    pub fn when_err(&self) -> Wait {
        let e = self.0.exception;
        self.add_waiter(WaitCond::States(vec![e], true), |st| st.time[e] % 2 == 1)
    }
    /// Ready when `tick(states[i]) >= ticks[i]` for every i; lengths must match and be non-zero.
    pub fn when_time(&self, states: &[&str], ticks: &[u64]) -> Result<Wait, Error> {
        if states.is_empty() || states.len() != ticks.len() {
            return Err(Error::InvalidWait(format!("{} states but {} ticks", states.len(), ticks.len())));
        }
        let idx = self.idx(states)?;
        let (i2, t2) = (idx.clone(), ticks.to_vec());
        Ok(self.add_waiter(WaitCond::Time(idx, ticks.to_vec()), |st| time_ok(&st.time, &i2, &t2)))
    }
    /// Ready when the state's tick has advanced by `n` from now.
    pub fn when_ticks(&self, state: &str, n: u64) -> Result<Wait, Error> {
        let t = self.tick(state)?;
        self.when_time(&[state], &[t + n])
    }
    /// Ready at the state's next activation.
    pub fn when_next_active(&self, state: &str) -> Result<Wait, Error> {
        let t = self.tick(state)?;
        self.when_time(&[state], &[if t % 2 == 1 { t + 2 } else { t + 1 }])
    }
    /// Ready when `state` is activated (or a Multi state re-activated) in an accepted
    /// transition whose args contain every entry of `args`.
    pub fn when_args(&self, state: &str, args: Args) -> Result<Wait, Error> {
        let i = self.schema().index(state)?;
        Ok(self.add_waiter(WaitCond::Args(i, args), |_| false))
    }
    /// Ready when `f(time)` is true; checked now and after every processed mutation.
    pub fn when_query(&self, f: impl Fn(&[u64]) -> bool + Send + Sync + 'static) -> Wait {
        if self.with_time(&f) {
            return Wait::done(Ok(()));
        }
        self.add_waiter(WaitCond::Query(Box::new(f)), |_| false)
    }
    /// Ready when `queue_tick() >= tick` (also while mutation `tick` runs).
    pub fn when_queue(&self, tick: u64) -> Wait {
        self.add_waiter(WaitCond::Queue(tick), |st| st.queue_tick >= tick)
    }
    /// Ready when the current queue run ends (at once when idle).
    pub fn when_queue_ends(&self) -> Wait {
        self.add_waiter(WaitCond::QueueEnd, |st| !st.running)
    }
    /// Ready when disposal has completed.
    pub fn when_disposed(&self) -> Wait {
        if self.0.disposal.get() == Disposal::Disposed {
            return Wait::done(Ok(()));
        }
        let mut st = lock(&self.0.st);
        let (w, shared) = Wait::new();
        st.waiters.push(Waiter { cond: WaitCond::Disposed, shared });
        self.0.has_waiters.store(true, Relaxed);
        drop(st);
        if self.0.disposal.get() == Disposal::Disposed {
            return Wait::done(Ok(()));
        }
        w
    }

    /// A token cancelled when the state's tick changes (deactivation, activation, Multi
    /// re-activation) or the machine is disposed. Cached per state instance.
    pub fn state_ctx(&self, state: &str) -> Result<CancelToken, Error> {
        let i = self.schema().index(state)?;
        let mut st = lock(&self.0.st);
        if self.0.disposal.is_disposing() {
            let t = CancelToken::new();
            t.cancel();
            return Ok(t);
        }
        if let Some(t) = st.ctxs[i].as_ref().filter(|t| !t.is_cancelled()) {
            return Ok(t.clone());
        }
        let t = CancelToken::new();
        st.ctxs[i] = Some(t.clone());
        drop(st);
        if self.log_level() >= LogLevel::Ops && crate::env::log_state_ctx() {
            self.log_plain(LogLevel::Ops, || format!("[ctx:new] {state}"));
        }
        Ok(t)
    }
}
