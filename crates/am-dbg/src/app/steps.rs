//! Step-through: walking the selected transition's steps, and what the states pane draws
//! at each — the states as of that step (before the transition, then each activation and
//! deactivation applied), per state what the steps so far did to it, and the relation lines
//! of the relation steps so far (Go am-dbg's signature view).

use am_core::{Relation, StepKind};

use super::App;

/// Per-state marks of the steps applied so far.
pub mod mark {
    /// The state was called (requested).
    pub const CALLED: u8 = 1;
    /// A step activated it.
    pub const ACTIVATED: u8 = 2;
    /// A step deactivated it.
    pub const DEACTIVATED: u8 = 4;
    /// A handler of it ran.
    pub const HANDLER: u8 = 8;
    /// It canceled the transition.
    pub const CANCEL: u8 = 16;
    /// Any step touched it.
    pub const TOUCHED: u8 = 32;
}

/// One relation step: `from` holds a relation naming `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelLine {
    /// The state holding the relation.
    pub from: usize,
    /// The state it names.
    pub to: usize,
    /// Which relation.
    pub rel: Relation,
}

/// The states pane's input while stepping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepView {
    /// Steps applied (0: as before the transition).
    pub applied: usize,
    /// Steps in the transition.
    pub total: usize,
    /// Per state: active as of the step.
    pub active: Vec<bool>,
    /// Per state: its tick as of the step.
    pub ticks: Vec<u64>,
    /// Per state: [`mark`] bits.
    pub marks: Vec<u8>,
    /// The relation steps applied, in order.
    pub relations: Vec<RelLine>,
}

fn idx(i: i64, n: usize) -> Option<usize> {
    usize::try_from(i).ok().filter(|&i| i < n)
}

impl App {
    /// Walks the steps: forward from "before" to the last step, then on to the next
    /// transition; back the same way.
    pub fn step_through(&mut self, delta: i64) {
        let Some(cur) = self.current() else { return };
        let len = |app: &App| app.current_tx().map_or(0, |t| t.steps.len());
        let step = self.nav().step;
        let next = match step {
            None if delta > 0 => Some(0),
            None => Some(len(self)),
            Some(k) if delta > 0 && k < len(self) => Some(k + 1),
            Some(k) if delta < 0 && k > 0 => Some(k - 1),
            Some(_) => {
                // past either end: the neighbouring transition, from its near end
                self.step_tx(delta.signum());
                if self.current() == Some(cur) {
                    step
                } else if delta > 0 {
                    Some(0)
                } else {
                    Some(len(self))
                }
            }
        };
        self.set_cursor(self.current().unwrap_or(cur));
        self.nav_mut().step = next;
    }

    /// What the states pane shows while stepping; `None` when not stepping.
    pub fn step_view(&self) -> Option<StepView> {
        let applied = self.nav().step?;
        let (m, cur) = (self.selected()?, self.current()?);
        let t = m.tx(cur)?;
        let n = m.schema.states_index.len();
        let before = m.prev_tx(cur).map(|p| p.clocks.clone()).unwrap_or_default();
        let mut active: Vec<bool> = (0..n).map(|i| before.get(i).is_some_and(|c| c % 2 == 1)).collect();
        let mut ticks: Vec<u64> = (0..n).map(|i| before.get(i).copied().unwrap_or(0)).collect();
        let mut marks = vec![0u8; n];
        let mut relations = Vec::new();
        for s in t.steps.iter().take(applied) {
            let (from, to) = (idx(s.from_state_idx, n), idx(s.to_state_idx, n));
            let mut put = |i: Option<usize>, bits: u8| {
                if let Some(i) = i {
                    marks[i] |= bits | mark::TOUCHED;
                }
            };
            match s.kind() {
                Some(StepKind::Requested) => put(to, mark::CALLED),
                Some(StepKind::Activate) => {
                    put(to, mark::ACTIVATED);
                    if let Some(i) = to {
                        // a multi state activated again ticks twice
                        ticks[i] += if active[i] { 2 } else { 1 };
                        active[i] = true;
                    }
                }
                Some(StepKind::Deactivate) => {
                    put(to, mark::DEACTIVATED);
                    if let Some(i) = to
                        && std::mem::replace(&mut active[i], false)
                    {
                        ticks[i] += 1;
                    }
                }
                Some(StepKind::DeactivatePassive) => put(to, 0),
                Some(StepKind::Handler) => put(from.or(to), mark::HANDLER),
                Some(StepKind::Cancel) => put(to, mark::CANCEL),
                Some(StepKind::Relation) => {
                    put(from, 0);
                    put(to, 0);
                    if let (Some(from), Some(to), Some(rel)) = (from, to, s.relation()) {
                        relations.push(RelLine { from, to, rel });
                    }
                }
                None => {}
            }
        }
        if applied >= t.steps.len() && !t.steps.is_empty() {
            // all applied: exactly the clocks after it
            for i in 0..n {
                ticks[i] = t.clocks.get(i).copied().unwrap_or(0);
                active[i] = ticks[i] % 2 == 1;
            }
        }
        Some(StepView { applied, total: t.steps.len(), active, ticks, marks, relations })
    }
}
