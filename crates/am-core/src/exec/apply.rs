//! The end of a transition: clocks applied or rolled back, auto states queued, waits
//! checked.

use std::sync::TryLockError;
use std::sync::atomic::Ordering::Relaxed;

use super::Published;
use crate::dispatch::Dispatch;
use crate::log::LogLevel;
use crate::machine::{Machine, State};
use crate::mutation::{Mutation, MutationKind};
use crate::schema::{Schema, StateIdx};
use crate::transition::TxData;
use crate::wait::{WaitCond, lock, states_ok, time_ok};

impl Machine {
    /// Phase 9: ticks and active set change; state contexts of changed states are cancelled.
    pub(super) fn apply(&self, s: &Schema, tx: &mut TxData) {
        let mut cancel = Vec::new();
        let mut cancelled_states = Vec::new();
        {
            let mut st = match self.0.st.try_lock() {
                Ok(g) => g,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    // waiting here is not the next final handler's time
                    tx.handler_clock = None;
                    lock(&self.0.st)
                }
            };
            for k in 0..tx.exits.len() {
                let i = tx.exits[k];
                st.time[i] += 1;
                st.set_active(s, i, false);
                tx.set_after(i, st.time[i]);
            }
            for k in 0..tx.enters.len() {
                let i = tx.enters[k];
                st.time[i] += if st.active.contains(i) { 2 } else { 1 };
                st.set_active(s, i, true);
                tx.set_after(i, st.time[i]);
            }
            for &i in tx.exits.iter().chain(&tx.enters) {
                if let Some(t) = st.ctxs[i].take() {
                    cancel.push(t);
                    cancelled_states.push(i);
                }
            }
        }
        cancel.into_iter().for_each(|t| t.cancel());
        if !cancelled_states.is_empty() {
            self.log_ctx_matches(s, tx, &cancelled_states);
        }
    }

    /// `[ctx:match] S` for each state whose context the transition cancelled
    /// (AM_LOG_STATE_CTX).
    fn log_ctx_matches(&self, s: &Schema, tx: &mut TxData, states: &[StateIdx]) {
        if self.log_level() < LogLevel::Ops || !crate::env::log_state_ctx() {
            return;
        }
        for &i in states {
            self.tx_log(tx, LogLevel::Ops, || format!("[ctx:match] {}", s.name(i)));
        }
    }

    /// Deactivates states after a failed final handler and updates `time_after`.
    pub(super) fn rollback(&self, s: &Schema, tx: &mut TxData, states: &[StateIdx]) {
        let mut st = lock(&self.0.st);
        for &i in states {
            if st.time[i] % 2 == 1 {
                st.time[i] += 1;
                st.set_active(s, i, false);
                tx.set_after(i, st.time[i]);
            }
        }
    }

    /// Phase 13: one auto mutation at the front for inactive, unblocked auto states.
    pub(super) fn queue_auto(&self, s: &Schema, dispatch: &Dispatch) {
        let called: Vec<StateIdx> = {
            let st = lock(&self.0.st);
            s.auto_list
                .iter()
                .copied()
                .filter(|&a| !st.active.contains(a) && !st.active_list.iter().any(|&x| s.remove[x].contains(&a)))
                .collect()
        };
        if called.is_empty() {
            return;
        }
        let mut mu = Mutation::new(MutationKind::Add, &called, None);
        mu.auto = true;
        self.prepend(mu, dispatch);
    }

    /// Phase 15: completes waiters whose condition now holds.
    pub(super) fn eval_waiters(&self, tx: &TxData) {
        if !self.0.has_waiters.load(Relaxed) {
            return;
        }
        // `[when:match] A B` (AM_LOG_WHEN): the schema is read before the state lock
        let schema = (self.log_level() >= LogLevel::Ops && crate::env::log_when()).then(|| self.schema());
        let mut out = Published::default();
        self.eval_locked(&mut lock(&self.0.st), tx, schema.as_deref(), &mut out);
        self.after_publish(out);
    }

    /// Takes the waiters whose condition holds now into `out` (with their `[when:match]`
    /// labels when `schema` is given), under the `st` lock the caller holds.
    pub(crate) fn eval_locked(&self, st: &mut State, tx: &TxData, schema: Option<&Schema>, out: &mut Published) {
        if st.waiters.is_empty() {
            return;
        }
        let labels = schema.filter(|_| self.log_level() >= LogLevel::Ops && crate::env::log_when());
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
                let o = out.owed();
                o.done.push(w.shared.clone());
                if let Some(label) = labels.and_then(|s| w.cond.label(s)) {
                    o.matched.push(label);
                }
            }
            !ready
        });
        waiters.append(&mut st.waiters);
        st.waiters = waiters;
        self.0.has_waiters.store(!st.waiters.is_empty(), Relaxed);
    }
}
