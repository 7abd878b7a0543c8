//! The selected machine's timeline and log, derived once and kept up to date: the entries
//! passing the filters (absolute numbers, ascending) and the log lines of those entries
//! passing the level and the log search. Rebuilt only when what they depend on changes
//! (machine, filters, group, search); otherwise new entries are appended as they arrive and
//! evicted ones dropped from the front, so a frame never walks all transitions.

use std::collections::VecDeque;

use super::filters::Filters;
use super::machine::{MachineKey, MachineView};

/// What a timeline was built for; any change rebuilds it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimelineKey {
    /// The machine.
    pub machine: Option<MachineKey>,
    /// The filters' generation (bumped on every change).
    pub filters: u64,
    /// The selected group's states.
    pub group: Option<Vec<i64>>,
    /// The log search, lower case.
    pub log_search: String,
}

/// One line of the log pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRef {
    /// The entry it belongs to.
    pub tx: u64,
    /// A line logged before the transition (pre-log) rather than during it.
    pub pre: bool,
    /// Its index in that list.
    pub line: u32,
}

/// The filtered entries and log lines of one machine.
#[derive(Debug, Default)]
pub struct Timeline {
    key: TimelineKey,
    rows: VecDeque<u64>,
    log: VecDeque<LogRef>,
    upto: u64,
    schema_states: usize,
}

impl Timeline {
    /// Brings it up to date with `m`; returns whether it was rebuilt.
    pub fn sync(&mut self, m: Option<&MachineView>, f: &Filters, key: TimelineKey) -> bool {
        let Some(m) = m else {
            *self = Timeline { key, ..Timeline::default() };
            return true;
        };
        let rebuild = key != self.key || m.total() < self.upto || m.schema.states_index.len() != self.schema_states;
        if rebuild {
            *self =
                Timeline { key, upto: m.evicted, schema_states: m.schema.states_index.len(), ..Timeline::default() };
        }
        while self.rows.front().is_some_and(|&r| r < m.evicted) {
            self.rows.pop_front();
        }
        while self.log.front().is_some_and(|l| l.tx < m.evicted) {
            self.log.pop_front();
        }
        let group = self.key.group.as_deref();
        let needle = self.key.log_search.as_str();
        for abs in self.upto.max(m.evicted)..m.total() {
            let Some(t) = m.tx(abs) else { continue };
            // one row per mutation: the queued row it ran goes once the transition is here
            if !t.is_queued
                && !f.both_rows
                && !f.queued
                && let Some(q) = m.meta(abs).linked()
                && let Ok(p) = self.rows.binary_search(&q)
            {
                self.rows.remove(p);
                let at = self.log_position(q);
                while self.log.get(at).is_some_and(|l| l.tx == q) {
                    self.log.remove(at);
                }
            }
            if !f.passes(t, m.meta(abs), group) {
                continue;
            }
            self.rows.push_back(abs);
            let lines = t.pre_log_entries.iter().map(|l| (true, l)).chain(t.log_entries.iter().map(|l| (false, l)));
            let mut counts = [0u32; 2];
            for (pre, l) in lines {
                let n = &mut counts[usize::from(!pre)];
                let line = *n;
                *n += 1;
                if l.level > f.log_level as u8 || (!needle.is_empty() && !contains_lower(&l.text, needle)) {
                    continue;
                }
                self.log.push_back(LogRef { tx: abs, pre, line });
            }
        }
        self.upto = m.total();
        rebuild
    }

    /// The entries shown, ascending absolute numbers.
    pub fn rows(&self) -> &VecDeque<u64> {
        &self.rows
    }

    /// The log lines shown, in order.
    pub fn log(&self) -> &VecDeque<LogRef> {
        &self.log
    }

    /// Where `abs` is (or would be) among the rows.
    pub fn position(&self, abs: u64) -> Result<usize, usize> {
        self.rows.binary_search(&abs)
    }

    /// The row at or nearest before `abs` (after, when none is before).
    pub fn nearest(&self, abs: u64) -> Option<u64> {
        match self.position(abs) {
            Ok(_) => Some(abs),
            Err(0) => self.rows.front().copied(),
            Err(p) => self.rows.get(p - 1).copied(),
        }
    }

    /// The first log line of entry `abs` (or where it would be).
    pub fn log_position(&self, abs: u64) -> usize {
        self.log.partition_point(|l| l.tx < abs)
    }
}

/// Case-insensitive `contains` for an already lower-case needle, without allocating for
/// ASCII text.
pub fn contains_lower(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() && needle.is_ascii() {
        hay.as_bytes().windows(needle.len().max(1)).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    } else {
        hay.to_lowercase().contains(needle)
    }
}
