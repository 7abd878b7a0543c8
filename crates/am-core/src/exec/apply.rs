//! The end of a transition: clocks applied or rolled back, auto states queued, waits
//! checked.

use std::sync::TryLockError;
use std::sync::atomic::Ordering::Relaxed;

use crate::log::LogLevel;
use crate::machine::Machine;
use crate::mutation::{Mutation, MutationKind};
use crate::schema::{Schema, StateIdx};
use crate::transition::TxData;
use crate::wait::{WaitCond, lock, states_ok, time_ok};

impl Machine {
    /// Phase 9: ticks and active set change; state contexts of changed states are cancelled.
    pub(super) fn apply(&self, tx: &mut TxData) {
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
                    cancelled_states.push(i);
                }
            }
        }
        cancel.into_iter().for_each(|t| t.cancel());
        if !cancelled_states.is_empty() {
            self.log_ctx_matches(tx, &cancelled_states);
        }
    }

    /// `[ctx:match] S` for each state whose context the transition cancelled
    /// (AM_LOG_STATE_CTX).
    fn log_ctx_matches(&self, tx: &mut TxData, states: &[StateIdx]) {
        if self.log_level() < LogLevel::Ops || !crate::env::log_state_ctx() {
            return;
        }
        let s = self.schema();
        for &i in states {
            self.tx_log(tx, LogLevel::Ops, || format!("[ctx:match] {}", s.name(i)));
        }
    }

    /// Deactivates states after a failed final handler and updates `time_after`.
    pub(super) fn rollback(&self, tx: &mut TxData, states: &[StateIdx]) {
        let mut st = lock(&self.0.st);
        for &i in states {
            if st.time[i] % 2 == 1 {
                st.time[i] += 1;
                st.active.remove(i);
            }
        }
        tx.after.clone_from(&st.time);
    }

    /// Phase 13: one auto mutation at the front for inactive, unblocked auto states.
    pub(super) fn queue_auto(&self, s: &Schema) {
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
    pub(super) fn eval_waiters(&self, tx: &TxData) {
        if !self.0.has_waiters.load(Relaxed) {
            return;
        }
        let mut done = Vec::new();
        // `[when:match] A B` (AM_LOG_WHEN): the schema is read before the state lock
        let schema = (self.log_level() >= LogLevel::Ops && crate::env::log_when()).then(|| self.schema());
        let mut matched = Vec::new();
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
                    if let Some(label) = schema.as_ref().and_then(|s| w.cond.label(s)) {
                        matched.push(label);
                    }
                }
                !ready
            });
            waiters.append(&mut st.waiters);
            st.waiters = waiters;
            self.0.has_waiters.store(!st.waiters.is_empty(), Relaxed);
        }
        for (kind, what) in matched {
            self.log_plain(LogLevel::Ops, || format!("[{kind}:match] {what}").trim_end().to_string());
        }
        for d in done {
            d.complete(Ok(()));
        }
    }
}
