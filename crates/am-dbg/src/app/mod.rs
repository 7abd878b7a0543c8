//! The debugger without the terminal: the [`Store`] (data), the per-machine navigation
//! (cursor, step, highlighted state, group) kept apart from it, the panes' own state (focus,
//! overlays, scroll, sort) and the derived indexes panes draw from. [`App::handle`] is the only
//! mutator; [`App::sync`] brings the derived indexes up to date after it or after ingest, so
//! drawing is a pure function of `&App`.

mod handle;
mod nav;
mod rows;
mod steps;

use std::collections::HashMap;
use std::path::PathBuf;

use am_dbg_proto::{DbgMsg, DbgMsgTx, ServerEvent};

use crate::player::Player;
use crate::store::warnings::{Warn, Warning};
use crate::store::{Filters, LogRef, MachineKey, MachineView, Store, Timeline, TimelineKey, TreeRow};

pub use handle::Flow;
pub use rows::{SORTS, Sort};
pub use steps::{RelLine, StepView, mark};

/// A pane that can have focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaneId {
    /// The machines table.
    Machines,
    /// The states of the selected machine.
    States,
    /// The timeline (or the matrix in its place).
    #[default]
    Timeline,
    /// The machine's whole log.
    Log,
    /// The warnings.
    Warnings,
}

/// What sits over the panes and takes the keys first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overlay {
    /// Nothing.
    #[default]
    None,
    /// The keys and the legend.
    Help,
    /// Typing into a search (machines, or the log).
    Search(PaneId),
    /// The export menu.
    Export,
}

/// Which optional panes are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panes {
    /// The log pane.
    pub log: bool,
    /// The matrix in place of the timeline.
    pub matrix: bool,
    /// The warnings pane.
    pub warnings: bool,
    /// The histograms in place of the transition detail.
    pub stats: bool,
}

impl Default for Panes {
    fn default() -> Self {
        Panes { log: true, matrix: false, warnings: false, stats: false }
    }
}

/// Per machine: where the user is. Kept by [`MachineKey`], so it survives other machines
/// coming and going.
#[derive(Debug, Clone, Default)]
pub struct Nav {
    /// The selected entry (absolute number); `None` follows the tail.
    pub cursor: Option<u64>,
    /// Stepping through the selected transition: steps applied (0 = as before it).
    pub step: Option<usize>,
    /// The highlighted state.
    pub state: usize,
    /// The selected schema group (index into the machine's groups).
    pub group: Option<usize>,
    /// The selected log line, while the log pane has focus.
    pub log_line: Option<LogRef>,
}

/// The status bar's inputs besides the data.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// Where it listens or what file it shows.
    pub source: String,
    /// A line saying what the last key did, or an error.
    pub notice: String,
    /// Frames drawn in the last second (live).
    pub fps: u32,
    /// The mouse wheel scrolls (off: the terminal's own text selection).
    pub mouse: bool,
    /// Live clients rather than a recording.
    pub live: bool,
}

/// The whole debugger state.
#[derive(Debug)]
pub struct App {
    /// The data.
    pub store: Store,
    /// Timeline and machines filters, and the log level.
    pub filters: Filters,
    filters_gen: u64,
    /// The machines search.
    pub search: String,
    /// The log search.
    pub log_search: String,
    selected: Option<MachineKey>,
    nav: HashMap<MachineKey, Nav>,
    /// The focused pane.
    pub focus: PaneId,
    /// What takes the keys first.
    pub overlay: Overlay,
    /// Optional panes.
    pub panes: Panes,
    /// Replaying a recording at its pace, or holding a live view.
    pub player: Player,
    /// The status bar's inputs.
    pub status: Status,
    /// How the machines table is sorted, and reversed.
    pub sort: (Sort, bool),
    /// Where exports go.
    pub export_dir: PathBuf,
    /// "Now" for ages and rates (Unix ns); `None`: the newest entry's time.
    pub now_ns: Option<u64>,
    /// The terminal's size at the last draw (screen export, page sizes).
    pub size: (u16, u16),
    /// The warnings pane's cursor.
    pub warn_cursor: usize,
    /// The help's scroll (a short terminal).
    pub help_scroll: usize,
    /// A connected machine asked to be removed once already.
    remove_armed: Option<MachineKey>,
    timeline: Timeline,
    rows: Vec<TreeRow>,
    rows_key: (u64, String, bool, Sort, bool),
    lints: Vec<Box<dyn Warn>>,
    warnings: Vec<Warning>,
}

impl Default for App {
    fn default() -> Self {
        App::new(Store::default())
    }
}

impl App {
    /// An app over a store.
    pub fn new(store: Store) -> Self {
        let mut app = App {
            store,
            filters: Filters::default(),
            filters_gen: 0,
            search: String::new(),
            log_search: String::new(),
            selected: None,
            nav: HashMap::new(),
            focus: PaneId::default(),
            overlay: Overlay::None,
            panes: Panes::default(),
            player: Player::default(),
            status: Status::default(),
            sort: (Sort::Tree, false),
            export_dir: PathBuf::from("."),
            now_ns: None,
            size: (80, 24),
            warn_cursor: 0,
            help_scroll: 0,
            remove_armed: None,
            timeline: Timeline::default(),
            rows: Vec::new(),
            rows_key: (u64::MAX, String::new(), false, Sort::Tree, false),
            lints: crate::store::warnings::lints(),
            warnings: Vec::new(),
        };
        app.sync();
        app
    }

    /// An app showing a whole recording.
    pub fn from_messages(msgs: impl IntoIterator<Item = DbgMsg>, max_transitions: usize) -> Self {
        App::new(Store::from_messages(msgs, max_transitions))
    }

    /// Takes one message (then syncs; the terminal loop ingests a batch through
    /// [`store`](Self::store) and syncs once).
    pub fn message(&mut self, conn: Option<u64>, msg: DbgMsg) {
        self.store.message(conn, msg);
        self.sync();
    }

    /// Takes a server event (then syncs).
    pub fn event(&mut self, ev: ServerEvent) {
        self.store.event(ev);
        self.sync();
    }

    /// Filters changed: the timeline is rebuilt at the next sync.
    pub fn filters_changed(&mut self) {
        self.filters_gen += 1;
        self.sync();
    }

    /// Brings every derived index up to date with the store and the settings; keeps the
    /// selection on a visible machine and the cursor on a visible row.
    pub fn sync(&mut self) {
        self.sync_rows();
        if self.selected().is_none_or(|m| !self.rows.iter().any(|r| self.store.machines()[r.idx].key == m.key)) {
            let first = self.first_match().or(self.rows.first().map(|r| r.idx));
            self.selected = first.map(|i| self.store.machines()[i].key);
        }
        let m = self.selected.and_then(|k| self.store.get(k));
        let key = TimelineKey {
            machine: self.selected,
            filters: self.filters_gen,
            group: self.group().map(|(_, g)| g.to_vec()),
            log_search: self.log_search.to_lowercase(),
        };
        self.timeline.sync(m, &self.filters, key);
        // the cursor never rests on a hidden (or evicted) row
        if let Some(c) = self.nav().cursor
            && self.timeline.position(c).is_err()
        {
            let to = self.timeline.nearest(c);
            let nav = self.nav_mut();
            nav.cursor = to;
            nav.step = None;
        }
        let now = self.now();
        self.warnings = crate::store::warnings::check(&self.lints, self.store.machines(), now);
        self.warn_cursor = self.warn_cursor.min(self.warnings.len().saturating_sub(1));
    }

    /// "Now", Unix ns: the wall clock when live (set by the loop), else the newest entry's time.
    pub fn now(&self) -> u64 {
        self.now_ns.or(self.store.latest_time).unwrap_or(0)
    }

    /// The selected machine.
    pub fn selected(&self) -> Option<&MachineView> {
        self.selected.and_then(|k| self.store.get(k))
    }

    /// Selects a machine by ID (clearing a search that hides it).
    pub fn select_id(&mut self, id: &str) -> bool {
        let Some(key) = self.store.by_id(id).map(|m| m.key) else { return false };
        self.select(key);
        true
    }

    pub(crate) fn select(&mut self, key: MachineKey) {
        self.selected = Some(key);
        if !self.rows.iter().any(|r| self.store.machines()[r.idx].key == key) {
            self.search.clear();
            self.filters.disconnected = false;
        }
        self.sync();
    }

    /// The selected machine's navigation.
    pub fn nav(&self) -> Nav {
        self.selected.and_then(|k| self.nav.get(&k)).cloned().unwrap_or_default()
    }

    pub(crate) fn nav_mut(&mut self) -> &mut Nav {
        let key = self.selected.unwrap_or(MachineKey(u32::MAX));
        self.nav.entry(key).or_default()
    }

    /// The selected machine's timeline and log.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The machines pane's rows: the tree (or a sorted list), narrowed by the search and the
    /// disconnected filter.
    pub fn rows(&self) -> &[TreeRow] {
        &self.rows
    }

    /// What the lints found.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The selected entry (absolute number): the cursor, or the last row when following.
    pub fn current(&self) -> Option<u64> {
        self.nav().cursor.or_else(|| self.timeline.rows().back().copied())
    }

    /// The selected entry.
    pub fn current_tx(&self) -> Option<&DbgMsgTx> {
        self.selected()?.tx(self.current()?)
    }

    /// Whether the timeline follows new transitions.
    pub fn following(&self) -> bool {
        self.nav().cursor.is_none()
    }

    /// The selected machine's selected group: name and state indexes.
    pub fn group(&self) -> Option<(&str, &[i64])> {
        let g = self.nav().group?;
        self.selected()?.groups().nth(g)
    }

    /// Clocks as of the selected transition (time travel); queued entries carry the last
    /// known clocks.
    pub fn clocks(&self) -> Vec<u64> {
        self.current_tx().map(|t| t.clocks.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
