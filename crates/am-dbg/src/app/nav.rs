//! Moving around: machines, states, the timeline (time travel), the log's lines, the
//! warnings, and jumps to the next transition that raised `Exception` or changed a state.
//! Every move lands on a visible row.

use crate::store::LogRef;

use super::{App, PaneId};

impl App {
    /// Selects the next (`+1`) or previous (`-1`) machine in the machines pane's order.
    pub fn select_machine(&mut self, delta: i64) {
        let rows = self.rows();
        if rows.is_empty() {
            return;
        }
        let key = self.selected().map(|m| m.key);
        let pos = rows.iter().position(|r| Some(self.store.machines()[r.idx].key) == key).unwrap_or(0) as i64;
        let next = (pos + delta).clamp(0, rows.len() as i64 - 1) as usize;
        let key = self.store.machines()[rows[next].idx].key;
        self.select(key);
    }

    /// Moves the cursor `delta` rows along the timeline (clamped); leaves step-through.
    pub fn step_tx(&mut self, delta: i64) {
        let rows = self.timeline.rows();
        let Some(&last) = rows.back() else { return };
        let cur = self.current().unwrap_or(last);
        let pos = match self.timeline.position(cur) {
            Ok(p) => p,
            Err(p) => p.min(rows.len() - 1),
        } as i64;
        let next = (pos + delta).clamp(0, rows.len() as i64 - 1) as usize;
        self.set_cursor(rows[next]);
    }

    pub(crate) fn set_cursor(&mut self, abs: u64) {
        let nav = self.nav_mut();
        nav.cursor = Some(abs);
        nav.step = None;
        nav.log_line = None;
    }

    /// The first transition of the timeline.
    pub fn first(&mut self) {
        if let Some(&f) = self.timeline.rows().front() {
            self.set_cursor(f);
        }
    }

    /// The last transition, still time-travelling (does not follow).
    pub fn last(&mut self) {
        if let Some(&l) = self.timeline.rows().back() {
            self.set_cursor(l);
        }
    }

    /// Follows the tail again.
    pub fn follow(&mut self) {
        let nav = self.nav_mut();
        nav.cursor = None;
        nav.step = None;
        nav.log_line = None;
    }

    /// The next (or previous) visible row after the cursor where `f` holds; false when none.
    fn jump_where(&mut self, forward: bool, f: impl Fn(&crate::store::MachineView, u64) -> bool) -> bool {
        let (Some(m), Some(cur)) = (self.selected(), self.current()) else { return false };
        let rows = self.timeline.rows();
        let found = if forward {
            let from = self.timeline.position(cur).map_or_else(|p| p, |p| p + 1);
            rows.range(from..).copied().find(|&a| f(m, a))
        } else {
            let to = self.timeline.position(cur).unwrap_or_else(|p| p);
            rows.range(..to).rev().copied().find(|&a| f(m, a))
        };
        match found {
            Some(a) => {
                self.set_cursor(a);
                true
            }
            None => false,
        }
    }

    /// The next (`true`) or previous transition that raised `Exception`.
    pub fn next_error(&mut self, forward: bool) -> bool {
        self.jump_where(forward, |m, a| m.meta(a).has(crate::store::TxMeta::ERROR))
    }

    /// The next (or previous) transition that changed the highlighted state's clock.
    pub fn next_change(&mut self, forward: bool) -> bool {
        let s = self.nav().state;
        let (Some(m), Some(cur)) = (self.selected(), self.current()) else { return false };
        let tick = |a: u64| m.tx(a).and_then(|t| t.clocks.get(s).copied());
        let here = tick(cur);
        if forward {
            self.jump_where(true, move |m, a| m.tx(a).is_some_and(|t| !t.is_queued && t.clocks.get(s).copied() != here))
        } else {
            // the last transition before the cursor whose tick differs from the one before it
            self.jump_where(false, move |m, a| {
                m.tx(a).is_some_and(|t| !t.is_queued)
                    && m.prev_tx(a).and_then(|p| p.clocks.get(s).copied())
                        != m.tx(a).and_then(|t| t.clocks.get(s).copied())
            })
        }
    }

    /// The states the states pane lists: the selected group's, or all.
    pub fn visible_states(&self) -> Vec<usize> {
        let n = self.selected().map_or(0, |m| m.schema.states_index.len());
        match self.group() {
            Some((_, g)) => g.iter().filter_map(|&i| usize::try_from(i).ok()).filter(|&i| i < n).collect(),
            None => (0..n).collect(),
        }
    }

    /// Moves the state cursor among the listed states (clamped).
    pub fn move_state(&mut self, delta: i64) {
        let states = self.visible_states();
        if states.is_empty() {
            return;
        }
        let cur = self.nav().state;
        let pos = states.iter().position(|&s| s == cur).unwrap_or(0) as i64;
        let next = states[(pos + delta).clamp(0, states.len() as i64 - 1) as usize];
        self.nav_mut().state = next;
    }

    /// Moves the log pane's line (the transition follows it).
    pub fn move_log(&mut self, delta: i64) {
        let log = self.timeline.log();
        if log.is_empty() {
            return;
        }
        let pos = self.log_selected().unwrap_or(log.len() - 1) as i64;
        let next = (pos + delta).clamp(0, log.len() as i64 - 1) as usize;
        self.select_log(log[next]);
    }

    fn select_log(&mut self, line: LogRef) {
        self.set_cursor(line.tx);
        self.nav_mut().log_line = Some(line);
    }

    /// The log pane's selected line (index into the timeline's log): the one chosen, else
    /// the selected transition's first.
    pub fn log_selected(&self) -> Option<usize> {
        let log = self.timeline.log();
        if let Some(l) = self.nav().log_line
            && let Some(p) = log.range(self.timeline.log_position(l.tx)..).position(|x| *x == l)
        {
            return Some(self.timeline.log_position(l.tx) + p);
        }
        let cur = self.current()?;
        let p = self.timeline.log_position(cur);
        log.get(p).filter(|l| l.tx == cur).map(|_| p)
    }

    /// Moves in the focused pane.
    pub fn move_focused(&mut self, delta: i64) {
        match self.focus {
            PaneId::Machines => self.select_machine(delta),
            PaneId::States => self.move_state(delta),
            PaneId::Timeline => self.step_tx(delta),
            PaneId::Log => self.move_log(delta),
            PaneId::Warnings => {
                let n = self.warnings().len();
                self.warn_cursor = (self.warn_cursor as i64 + delta).clamp(0, n.saturating_sub(1) as i64) as usize;
            }
        }
    }

    /// Goes to what the focused warning points at.
    pub fn open_warning(&mut self) -> bool {
        let Some(w) = self.warnings().get(self.warn_cursor).cloned() else { return false };
        self.select(w.machine);
        if let Some(tx) = w.tx {
            // a hidden transition shows with the filters as they are: the nearest row
            let to = self.timeline.nearest(tx).unwrap_or(tx);
            self.set_cursor(to);
        }
        self.focus = PaneId::Timeline;
        true
    }
}
