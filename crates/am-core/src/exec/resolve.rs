//! Resolution (semantics page, *Resolving a transition* and *Auto states*): relations into the
//! target set, the auto pass again without rejected states, dry runs, and the decision log
//! lines.

use crate::bits::BitSet;
use crate::log::LogLevel;
use crate::machine::Machine;
use crate::mutation::{MutResult, Mutation, MutationKind};
use crate::relations::{Input, Resolver};
use crate::schema::{Schema, StateIdx};
use crate::transition::{CancelReason, TxData};
use crate::wait::lock;

use super::*;

impl Machine {
    /// Why the target is what it is: implied states, removals, unmet requirements.
    pub(super) fn log_decisions(&self, s: &Schema, tx: &mut TxData, rejected: &[StateIdx], level: LogLevel) {
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

    pub(super) fn log_args_text(&self, tx: &TxData) -> String {
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

    /// Auto re-resolution (semantics page, *Auto states*): when the target of an accepted auto
    /// transition lacks a called state — rejected by relations or dropped by a handler — it is
    /// resolved once more from the called states that made it, so nothing is activated only
    /// because a rejected auto state implied it. Applied whatever that pass gives; handlers do not run
    /// again. Every called state dropped by handlers cancels it instead.
    pub(super) fn reresolve_auto(
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
    pub(super) fn resolve_into(
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
        // the predicted clocks: what the last pass predicted undone, this one's written
        tx.reset_after();
        if accepted {
            for k in 0..tx.exits.len() {
                let i = tx.exits[k];
                tx.set_after(i, tx.before[i] + 1);
            }
            for k in 0..tx.enters.len() {
                let i = tx.enters[k];
                tx.set_after(i, tx.before[i] + if active.contains(i) { 2 } else { 1 });
            }
        }
        accepted
    }

    /// Answers a check from relations alone (busy machine).
    pub(crate) fn check_relations(&self, mu: &Mutation) -> MutResult {
        let schema = self.schema();
        let (time, active) = {
            let st = lock(&self.0.st);
            (st.time.clone(), st.active.clone())
        };
        let mut tx = TxData::new(mu.clone());
        tx.sync_clocks(&time, true);
        tx.states_before = schema.canonical().iter().copied().filter(|&i| active.contains(i)).collect();
        let mut r = Resolver::new(schema.len());
        let ok = self.resolve_into(&schema, &mut tx, &mut r, &active, &mut Vec::new(), false);
        if ok { MutResult::Executed } else { MutResult::Canceled }
    }
}
