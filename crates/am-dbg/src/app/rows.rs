//! The machines pane's rows: the tree in arrival order, or a flat list sorted by a column
//! (as tokio-console's task list), narrowed by the search (a match shows with its
//! ancestors) and the disconnected filter. Linear in the machines, plus the sort.

use crate::store::{TreeRow, contains_lower};

use super::App;

/// What the machines are sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// The tree: parents before children, in arrival order.
    Tree,
    /// ID.
    Name,
    /// Transitions seen.
    Transitions,
    /// Transitions per second.
    Rate,
    /// Transitions that raised `Exception`.
    Errors,
    /// Queue length.
    Queue,
    /// Latest activity, newest first.
    Last,
}

/// The sort order `S` cycles through.
pub const SORTS: [Sort; 7] =
    [Sort::Tree, Sort::Name, Sort::Transitions, Sort::Rate, Sort::Errors, Sort::Queue, Sort::Last];

impl Sort {
    /// The column's name.
    pub fn name(self) -> &'static str {
        match self {
            Sort::Tree => "tree",
            Sort::Name => "name",
            Sort::Transitions => "tx",
            Sort::Rate => "/s",
            Sort::Errors => "errors",
            Sort::Queue => "queue",
            Sort::Last => "last",
        }
    }
}

impl App {
    pub(super) fn sync_rows(&mut self) {
        let numeric = !matches!(self.sort.0, Sort::Tree | Sort::Name);
        // a sort by live numbers re-sorts every sync; the tree only when it changed
        let key = (self.store.tree_gen, self.search.clone(), self.filters.disconnected, self.sort.0, self.sort.1);
        if key == self.rows_key && !numeric && !self.filters.disconnected {
            return;
        }
        let ms = self.store.machines();
        let needle = self.search.to_lowercase();
        let hit = |i: usize| needle.is_empty() || contains_lower(ms[i].id(), &needle);
        let mut keep = vec![needle.is_empty(); ms.len()];
        if !needle.is_empty() {
            for i in (0..ms.len()).filter(|&i| hit(i)) {
                // the match and its ancestors, each marked once
                let mut at = Some(i);
                while let Some(j) = at {
                    if std::mem::replace(&mut keep[j], true) {
                        break;
                    }
                    at = self.store.parent_of(j);
                }
            }
        }
        let shown = |r: &TreeRow| keep[r.idx] && (!self.filters.disconnected || ms[r.idx].connected);
        let mut rows: Vec<TreeRow> = self.store.tree().iter().filter(|r| shown(r)).copied().collect();
        if self.sort.0 != Sort::Tree {
            let now = self.now();
            let stat = |r: &TreeRow| -> f64 {
                let m = &ms[r.idx];
                match self.sort.0 {
                    Sort::Transitions => m.stats.transitions as f64,
                    Sort::Rate => m.stats.rate.per_sec(now),
                    Sort::Errors => m.errors as f64,
                    Sort::Queue => m.stats.queue as f64,
                    Sort::Last => m.stats.last_time.unwrap_or(0) as f64,
                    Sort::Tree | Sort::Name => 0.0,
                }
            };
            if self.sort.0 == Sort::Name {
                rows.sort_by(|a, b| ms[a.idx].id().cmp(ms[b.idx].id()));
            } else {
                // biggest first, as a "top" does
                rows.sort_by(|a, b| stat(b).total_cmp(&stat(a)).then(a.idx.cmp(&b.idx)));
            }
            if self.sort.1 {
                rows.reverse();
            }
            for r in &mut rows {
                r.depth = 0;
            }
        } else if self.sort.1 {
            rows.reverse();
        }
        self.rows = rows;
        self.rows_key = key;
    }

    /// The first row whose machine matches the search itself (not as an ancestor).
    pub(super) fn first_match(&self) -> Option<usize> {
        if self.search.is_empty() {
            return None;
        }
        let needle = self.search.to_lowercase();
        self.rows.iter().map(|r| r.idx).find(|&i| contains_lower(self.store.machines()[i].id(), &needle))
    }
}
