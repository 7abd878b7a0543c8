//! What the TUI shows, without the terminal: machines (live or from a recording) with their
//! schemas and a bounded list of transitions each, the selection, the timeline cursor (time
//! travel), filters and search. Every key of the UI is a method here, so navigation, time
//! travel, filters and retention are unit-tested without rendering.

use std::collections::{HashMap, VecDeque};

use am_dbg_proto::{DbgMsg, DbgMsgStruct, DbgMsgTx, ServerEvent};

/// Transitions kept per machine unless `--max-transitions` says otherwise.
pub const DEFAULT_MAX_TRANSITIONS: usize = 100_000;

/// States whose transitions the health filter hides.
const HEALTH_STATES: &[&str] = &[am_core::HEALTHCHECK, am_core::HEARTBEAT];

/// One machine as the debugger knows it.
#[derive(Debug, Clone)]
pub struct MachineView {
    /// The schema last received.
    pub schema: DbgMsgStruct,
    /// Transitions and queued mutations, oldest first, at most the retention bound.
    pub txs: VecDeque<DbgMsgTx>,
    /// Transitions dropped by the retention bound (the oldest).
    pub evicted: u64,
    /// Transitions the client reported dropped.
    pub dropped: u64,
    /// Transitions that activated `Exception`.
    pub errors: u64,
    /// A live client's connection is open (recordings: false).
    pub connected: bool,
    conn: Option<u64>,
}

impl MachineView {
    fn new(schema: DbgMsgStruct, conn: Option<u64>) -> Self {
        MachineView { schema, txs: VecDeque::new(), evicted: 0, dropped: 0, errors: 0, connected: conn.is_some(), conn }
    }

    /// The machine ID.
    pub fn id(&self) -> &str {
        &self.schema.id
    }

    /// The index of a state by name.
    pub fn state_index(&self, name: &str) -> Option<usize> {
        self.schema.states_index.iter().position(|s| s == name)
    }

    fn is_error(&self, tx: &DbgMsgTx) -> bool {
        self.state_index(am_core::EXCEPTION).is_some_and(|i| tx.clocks.get(i).is_some_and(|t| t % 2 == 1))
            && tx.called_names(&self.schema.states_index).any(|n| n == am_core::EXCEPTION)
    }

    /// The called states' names of one of its transitions.
    pub fn called<'a>(&'a self, tx: &'a DbgMsgTx) -> impl Iterator<Item = &'a str> + 'a {
        tx.called_names(&self.schema.states_index)
    }
}

/// Which entries the timeline hides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filters {
    /// Canceled transitions.
    pub canceled: bool,
    /// Auto transitions.
    pub auto: bool,
    /// Queued-mutation entries.
    pub queued: bool,
    /// Transitions that changed no clock (nothing activated or deactivated).
    pub empty: bool,
    /// Transitions of `Healthcheck` / `Heartbeat` only.
    pub health: bool,
}

impl Filters {
    /// The filters that are on, for the status bar.
    pub fn describe(&self) -> String {
        let on: Vec<&str> = [
            (self.canceled, "canceled"),
            (self.auto, "auto"),
            (self.queued, "queued"),
            (self.empty, "empty"),
            (self.health, "health"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
        if on.is_empty() { "none".into() } else { format!("hiding {}", on.join(", ")) }
    }
}

/// The debugger's whole state.
#[derive(Debug)]
pub struct Model {
    machines: Vec<MachineView>,
    by_id: HashMap<String, usize>,
    /// The selected machine (index into [`Model::machines`]).
    selected: usize,
    /// Per machine: the selected transition (index into its `txs`); `None` follows the tail.
    cursor: HashMap<String, usize>,
    /// The highlighted state in the states pane.
    pub state_cursor: usize,
    /// Timeline filters.
    pub filters: Filters,
    /// Search text for the machines pane.
    pub search: String,
    /// Retention bound per machine.
    pub max_transitions: usize,
    /// Messages received in all.
    pub received: u64,
    /// Log lines shown in the transition detail: those at this level or below (0–5; 5 is
    /// every line).
    pub log_level: u8,
}

impl Default for Model {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_TRANSITIONS)
    }
}

impl Model {
    /// An empty model keeping at most `max_transitions` per machine.
    pub fn new(max_transitions: usize) -> Self {
        Model {
            machines: Vec::new(),
            by_id: HashMap::new(),
            selected: 0,
            cursor: HashMap::new(),
            state_cursor: 0,
            filters: Filters::default(),
            search: String::new(),
            max_transitions: max_transitions.max(1),
            received: 0,
            log_level: 5,
        }
    }

    /// A model of a whole recording.
    pub fn from_messages(msgs: impl IntoIterator<Item = DbgMsg>, max_transitions: usize) -> Self {
        let mut m = Model::new(max_transitions);
        m.ingest(msgs);
        m
    }

    /// Takes messages of a recording (no live connection).
    pub fn ingest(&mut self, msgs: impl IntoIterator<Item = DbgMsg>) {
        for msg in msgs {
            self.message(None, msg);
        }
    }

    /// Takes a server event (live clients).
    pub fn event(&mut self, ev: ServerEvent) {
        match ev {
            ServerEvent::Message { conn, msg } => self.message(Some(conn), msg),
            ServerEvent::Disconnected { conn, .. } => {
                for m in self.machines.iter_mut().filter(|m| m.conn == Some(conn)) {
                    m.connected = false;
                }
            }
            ServerEvent::Connected { .. } => {}
        }
    }

    /// Takes one message; `conn` is the live connection it came on.
    pub fn message(&mut self, conn: Option<u64>, msg: DbgMsg) {
        self.received += 1;
        match msg {
            DbgMsg::Schema(s) => match self.by_id.get(&s.id) {
                Some(&i) => {
                    let m = &mut self.machines[i];
                    m.schema = s;
                    m.conn = conn.or(m.conn);
                    m.connected = conn.is_some();
                }
                None => {
                    self.by_id.insert(s.id.clone(), self.machines.len());
                    self.machines.push(MachineView::new(s, conn));
                }
            },
            DbgMsg::Tx(mut t) => {
                let Some(&i) = self.by_id.get(&t.machine_id) else { return };
                let max = self.max_transitions;
                let m = &mut self.machines[i];
                // old Go messages name their called states and steps the deprecated way
                t.normalize(&m.schema.states_index);
                if m.is_error(&t) {
                    m.errors += 1;
                }
                m.txs.push_back(t);
                if m.txs.len() > max {
                    m.txs.pop_front();
                    m.evicted += 1;
                    // keep a time-travelling cursor on the same transition
                    if let Some(c) = self.cursor.get_mut(m.id()) {
                        *c = c.saturating_sub(1);
                    }
                }
            }
            DbgMsg::Dropped(d) => {
                if let Some(&i) = self.by_id.get(&d.machine_id) {
                    self.machines[i].dropped += d.count;
                }
            }
        }
    }

    /// Every machine, in arrival order.
    pub fn machines(&self) -> &[MachineView] {
        &self.machines
    }

    /// Machines as a tree (parents before children, depth for indentation), narrowed by the
    /// search text (a machine matching it shows with its ancestors).
    pub fn tree(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let roots = self.machines.iter().enumerate().filter(|(_, m)| !self.by_id.contains_key(&m.schema.parent));
        for (i, _) in roots {
            self.walk(i, 0, &mut out);
        }
        if self.search.is_empty() {
            return out;
        }
        let needle = self.search.to_lowercase();
        let hit = |i: usize| self.machines[i].id().to_lowercase().contains(&needle);
        out.into_iter().filter(|&(i, _)| hit(i) || self.descendants(i).into_iter().any(hit)).collect()
    }

    fn walk(&self, i: usize, depth: usize, out: &mut Vec<(usize, usize)>) {
        if out.iter().any(|(j, _)| *j == i) {
            return;
        }
        out.push((i, depth));
        let id = self.machines[i].id();
        for (c, _) in self.machines.iter().enumerate().filter(|(_, m)| m.schema.parent == id) {
            self.walk(c, depth + 1, out);
        }
    }

    fn descendants(&self, i: usize) -> Vec<usize> {
        let mut out = Vec::new();
        self.walk(i, 0, &mut out);
        out.into_iter().skip(1).map(|(j, _)| j).collect()
    }

    /// The selected machine.
    pub fn selected(&self) -> Option<&MachineView> {
        self.machines.get(self.selected)
    }

    /// Selects the next (`+1`) or previous (`-1`) machine in tree order.
    pub fn select_machine(&mut self, delta: isize) {
        let tree = self.tree();
        if tree.is_empty() {
            return;
        }
        let pos = tree.iter().position(|(i, _)| *i == self.selected).unwrap_or(0) as isize;
        let next = (pos + delta).clamp(0, tree.len() as isize - 1) as usize;
        self.selected = tree[next].0;
        self.state_cursor = 0;
    }

    /// Selects a machine by ID.
    pub fn select_id(&mut self, id: &str) -> bool {
        match self.by_id.get(id) {
            Some(&i) => {
                self.selected = i;
                true
            }
            None => false,
        }
    }

    fn passes(&self, m: &MachineView, t: &DbgMsgTx, prev: Option<&DbgMsgTx>) -> bool {
        let f = &self.filters;
        if (f.canceled && !t.accepted) || (f.auto && t.is_auto) || (f.queued && t.is_queued) {
            return false;
        }
        if f.empty && !t.is_queued && prev.is_some_and(|p| p.clocks == t.clocks) {
            return false;
        }
        if f.health {
            let mut names = m.called(t).peekable();
            if names.peek().is_some() && names.all(|n| HEALTH_STATES.contains(&n)) {
                return false;
            }
        }
        true
    }

    /// The selected machine's timeline: indexes into its `txs` that pass the filters.
    pub fn timeline(&self) -> Vec<usize> {
        let Some(m) = self.selected() else { return Vec::new() };
        let mut prev: Option<&DbgMsgTx> = None;
        let mut out = Vec::new();
        for (i, t) in m.txs.iter().enumerate() {
            if self.passes(m, t, prev) {
                out.push(i);
            }
            if !t.is_queued {
                prev = Some(t);
            }
        }
        out
    }

    /// The selected transition (index into the machine's `txs`): the cursor, or the last one
    /// passing the filters when following.
    pub fn current(&self) -> Option<usize> {
        let m = self.selected()?;
        match self.cursor.get(m.id()) {
            Some(&c) => Some(c),
            None => self.timeline().last().copied(),
        }
    }

    /// Whether the timeline follows new transitions (no cursor set).
    pub fn following(&self) -> bool {
        self.selected().is_none_or(|m| !self.cursor.contains_key(m.id()))
    }

    /// Follows the tail again.
    pub fn follow(&mut self) {
        if let Some(id) = self.selected().map(|m| m.id().to_string()) {
            self.cursor.remove(&id);
        }
    }

    fn set_cursor(&mut self, to: usize) {
        if let Some(id) = self.selected().map(|m| m.id().to_string()) {
            self.cursor.insert(id, to);
        }
    }

    /// Moves the cursor `delta` entries along the filtered timeline (clamped).
    pub fn step(&mut self, delta: isize) {
        let tl = self.timeline();
        if tl.is_empty() {
            return;
        }
        let cur = self.current().unwrap_or(tl[tl.len() - 1]);
        let pos = match tl.binary_search(&cur) {
            Ok(p) => p,
            Err(p) => p.min(tl.len() - 1),
        } as isize;
        let next = (pos + delta).clamp(0, tl.len() as isize - 1) as usize;
        self.set_cursor(tl[next]);
    }

    /// The first entry of the timeline.
    pub fn first(&mut self) {
        if let Some(&f) = self.timeline().first() {
            self.set_cursor(f);
        }
    }

    /// The last entry, still time-travelling (does not follow).
    pub fn last(&mut self) {
        if let Some(&l) = self.timeline().last() {
            self.set_cursor(l);
        }
    }

    /// The next entry after the cursor matching `f`; false when there is none.
    fn next_where(&mut self, f: impl Fn(&MachineView, &DbgMsgTx) -> bool) -> bool {
        let Some(m) = self.selected() else { return false };
        let cur = self.current();
        let found = self
            .timeline()
            .into_iter()
            .filter(|&i| cur.is_none_or(|c| i > c))
            .find(|&i| m.txs.get(i).is_some_and(|t| f(m, t)));
        match found {
            Some(i) => {
                self.set_cursor(i);
                true
            }
            None => false,
        }
    }

    /// The next transition that activated `Exception`.
    pub fn next_error(&mut self) -> bool {
        self.next_where(|m, t| m.is_error(t))
    }

    /// The next transition that changed the highlighted state's clock.
    pub fn next_of_state(&mut self) -> bool {
        let s = self.state_cursor;
        let (Some(m), Some(cur)) = (self.selected(), self.current()) else { return false };
        let before = m.txs.get(cur).and_then(|t| t.clocks.get(s).copied());
        self.next_where(move |_, t| !t.is_queued && t.clocks.get(s).copied() != before)
    }

    /// Clocks as of the selected transition (time travel): every state's tick after it.
    /// Queued-mutation entries carry the last known clocks, so they show those.
    pub fn clocks(&self) -> Vec<u64> {
        let (Some(m), Some(c)) = (self.selected(), self.current()) else { return Vec::new() };
        m.txs.get(c).map(|t| t.clocks.clone()).unwrap_or_default()
    }

    /// Cycles the log level shown in the detail: 5 → 4 → … → 1 → 5.
    pub fn cycle_log_level(&mut self) {
        self.log_level = if self.log_level <= 1 { 5 } else { self.log_level - 1 };
    }

    /// Moves the state cursor (clamped to the schema).
    pub fn move_state(&mut self, delta: isize) {
        let n = self.selected().map_or(0, |m| m.schema.states_index.len());
        if n == 0 {
            return;
        }
        self.state_cursor = (self.state_cursor as isize + delta).clamp(0, n as isize - 1) as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use am_dbg_proto::{DbgMsgDropped, StateDef};

    fn schema(id: &str, parent: &str) -> DbgMsg {
        let names = ["A", "B", "Exception", "Healthcheck"];
        DbgMsg::Schema(DbgMsgStruct {
            id: id.into(),
            parent: parent.into(),
            states_index: names.iter().map(|s| s.to_string()).collect(),
            states: names.iter().map(|s| (s.to_string(), StateDef::default())).collect(),
            ..Default::default()
        })
    }

    fn tx(id: &str, n: u64, clocks: [u64; 4], called: &[i64]) -> DbgMsg {
        DbgMsg::Tx(DbgMsgTx {
            machine_id: id.into(),
            id: format!("{id}-{n}"),
            clocks: clocks.to_vec(),
            called_states_idxs: called.to_vec(),
            accepted: true,
            seq: n,
            ..Default::default()
        })
    }

    fn sample() -> Model {
        Model::from_messages(
            [
                schema("root", ""),
                schema("child", "root"),
                tx("root", 1, [1, 0, 0, 0], &[0]),
                tx("root", 2, [1, 1, 0, 0], &[1]),
                tx("root", 3, [1, 1, 0, 1], &[3]),
                tx("root", 4, [1, 1, 1, 1], &[2]),
                tx("root", 5, [2, 1, 1, 1], &[0]),
                tx("child", 1, [1, 0, 0, 0], &[0]),
            ],
            100,
        )
    }

    #[test]
    fn tree_puts_children_under_parents_and_search_keeps_ancestors() {
        let mut m = sample();
        assert_eq!(m.tree(), [(0, 0), (1, 1)]);
        m.search = "chi".into();
        assert_eq!(m.tree(), [(0, 0), (1, 1)], "the root stays, as the child's ancestor");
        m.search = "nope".into();
        assert!(m.tree().is_empty());
    }

    #[test]
    fn time_travel_shows_the_clocks_after_the_selected_transition() {
        let mut m = sample();
        assert!(m.following());
        assert_eq!(m.clocks(), [2, 1, 1, 1], "following: the last transition");
        m.step(-1);
        assert!(!m.following());
        assert_eq!(m.clocks(), [1, 1, 1, 1]);
        m.first();
        assert_eq!(m.clocks(), [1, 0, 0, 0]);
        m.step(100);
        assert_eq!(m.current(), Some(4), "+100 stops at the end");
        m.step(-100);
        assert_eq!(m.current(), Some(0));
        m.follow();
        assert!(m.following());
    }

    #[test]
    fn next_error_and_next_change_of_a_state() {
        let mut m = sample();
        m.first();
        assert!(m.next_error());
        assert_eq!(m.current(), Some(3));
        assert!(!m.next_error(), "no later error");
        assert_eq!(m.machines()[0].errors, 1);
        m.first();
        m.state_cursor = 0; // A: ticks 1 1 1 1 2
        assert!(m.next_of_state());
        assert_eq!(m.current(), Some(4));
    }

    #[test]
    fn filters_hide_what_they_say() {
        let mut m = sample();
        assert_eq!(m.timeline().len(), 5);
        m.filters.health = true;
        assert_eq!(m.timeline(), [0, 1, 3, 4], "the Healthcheck transition is hidden");
        m.filters = Filters { empty: true, ..Filters::default() };
        m.message(None, tx("root", 6, [2, 1, 1, 1], &[0]));
        assert_eq!(m.timeline().len(), 5, "a transition that changed nothing is hidden");
        assert_eq!(m.filters.describe(), "hiding empty");
    }

    #[test]
    fn retention_drops_the_oldest_and_keeps_the_cursor_on_its_transition() {
        let mut m = Model::from_messages([schema("m", "")], 3);
        for n in 1..=3 {
            m.message(None, tx("m", n, [n, 0, 0, 0], &[0]));
        }
        m.step(-1); // transition 2
        assert_eq!(m.clocks(), [2, 0, 0, 0]);
        m.message(None, tx("m", 4, [4, 0, 0, 0], &[0]));
        let v = &m.machines()[0];
        assert_eq!((v.txs.len(), v.evicted), (3, 1));
        assert_eq!(m.clocks(), [2, 0, 0, 0], "still on transition 2");
        m.message(None, DbgMsg::Dropped(DbgMsgDropped { machine_id: "m".into(), count: 7, ..Default::default() }));
        assert_eq!(m.machines()[0].dropped, 7);
    }

    #[test]
    fn old_go_messages_naming_their_called_states_count_as_errors_and_health() {
        let mut m = Model::from_messages([schema("m", "")], 10);
        let old = |n: u64, clocks: [u64; 4], called: &str| {
            DbgMsg::Tx(DbgMsgTx {
                machine_id: "m".into(),
                clocks: clocks.to_vec(),
                called_states: vec![called.to_string()],
                accepted: true,
                seq: n,
                ..Default::default()
            })
        };
        m.message(None, old(1, [0, 0, 1, 0], "Exception"));
        m.message(None, old(2, [0, 0, 1, 1], "Healthcheck"));
        assert_eq!(m.machines()[0].errors, 1);
        assert_eq!(m.machines()[0].txs[0].called_states_idxs, [2], "read by name, kept by index as Go does");
        m.filters.health = true;
        assert_eq!(m.timeline(), [0]);
    }

    #[test]
    fn disconnects_mark_machines_of_that_connection() {
        let mut m = Model::new(10);
        m.message(Some(1), schema("a", ""));
        m.message(Some(2), schema("b", ""));
        m.event(ServerEvent::Disconnected { conn: 1, peer: "127.0.0.1:1".parse().unwrap(), error: None });
        assert!(!m.machines()[0].connected && m.machines()[1].connected);
    }
}
