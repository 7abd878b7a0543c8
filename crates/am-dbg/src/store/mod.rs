//! The debugger's data, and nothing about how it is shown: every machine (live or from a
//! recording) with its schema and a bounded list of entries, the machines' tree, and the
//! derived indexes panes read ([`Timeline`]). Fed by recordings and live server events;
//! retention by count per machine (`--max-transitions`) and by memory over all
//! (`--max-mem`).

mod filters;
mod machine;
mod stats;
mod timeline;
pub mod warnings;

use std::collections::HashMap;

use am_dbg_proto::{DbgMsg, ServerEvent};

pub use filters::{FilterKind, Filters};
pub use machine::{MachineKey, MachineView, TxMeta};
pub use stats::{Hist, MachineStats, RATE_WINDOW_S, Rate};
pub use timeline::{LogRef, Timeline, TimelineKey, contains_lower};

/// Transitions kept per machine unless `--max-transitions` says otherwise.
pub const DEFAULT_MAX_TRANSITIONS: usize = 100_000;

/// One row of the machines tree: a machine and its depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeRow {
    /// Index into [`Store::machines`].
    pub idx: usize,
    /// 0 for a root.
    pub depth: u16,
}

/// Every machine and what arrived.
#[derive(Debug)]
pub struct Store {
    machines: Vec<MachineView>,
    by_id: HashMap<String, usize>,
    by_key: HashMap<MachineKey, usize>,
    next_key: u32,
    tree: Vec<TreeRow>,
    /// Generation of the tree (bumped when machines come, go or move).
    pub tree_gen: u64,
    /// Messages received in all.
    pub received: u64,
    /// Retention bound per machine.
    pub max_transitions: usize,
    /// Memory bound over all machines (estimated bytes), if any.
    pub max_bytes: Option<usize>,
    bytes: usize,
    /// Time of the latest entry of any machine (Unix ns).
    pub latest_time: Option<u64>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_TRANSITIONS)
    }
}

impl Store {
    /// An empty store keeping at most `max_transitions` per machine.
    pub fn new(max_transitions: usize) -> Self {
        Store {
            machines: Vec::new(),
            by_id: HashMap::new(),
            by_key: HashMap::new(),
            next_key: 0,
            tree: Vec::new(),
            tree_gen: 0,
            received: 0,
            max_transitions: max_transitions.max(1),
            max_bytes: None,
            bytes: 0,
            latest_time: None,
        }
    }

    /// A store of a whole recording.
    pub fn from_messages(msgs: impl IntoIterator<Item = DbgMsg>, max_transitions: usize) -> Self {
        let mut s = Store::new(max_transitions);
        for m in msgs {
            s.message(None, m);
        }
        s
    }

    /// Takes a server event (live clients).
    pub fn event(&mut self, ev: ServerEvent) {
        match ev {
            ServerEvent::Message { conn, msg } => {
                self.message(Some(conn), msg);
            }
            ServerEvent::Disconnected { conn, .. } => {
                for m in self.machines.iter_mut().filter(|m| m.conn == Some(conn)) {
                    m.connected = false;
                }
            }
            ServerEvent::Connected { .. } => {}
        }
    }

    /// Takes one message; `conn` is the live connection it came on. Returns the machine it
    /// was about, if known.
    pub fn message(&mut self, conn: Option<u64>, msg: DbgMsg) -> Option<MachineKey> {
        self.received += 1;
        match msg {
            DbgMsg::Schema(s) => match self.by_id.get(&s.id) {
                Some(&i) => {
                    let m = &mut self.machines[i];
                    let moved = m.schema.parent != s.parent;
                    if conn.is_some() && m.conn.is_some() && conn != m.conn {
                        m.stats.reconnects += 1;
                    }
                    m.set_schema(s);
                    m.conn = conn.or(m.conn);
                    m.connected = conn.is_some();
                    let key = m.key;
                    if moved {
                        self.rebuild_tree();
                    }
                    Some(key)
                }
                None => {
                    let key = MachineKey(self.next_key);
                    self.next_key += 1;
                    self.by_id.insert(s.id.clone(), self.machines.len());
                    self.by_key.insert(key, self.machines.len());
                    self.machines.push(MachineView::new(key, s, conn));
                    self.rebuild_tree();
                    Some(key)
                }
            },
            DbgMsg::Tx(mut t) => {
                let &i = self.by_id.get(&t.machine_id)?;
                let max = self.max_transitions;
                let m = &mut self.machines[i];
                // old Go messages name their called states and steps the deprecated way
                t.normalize(&m.schema.states_index);
                if let Some(time) = t.time {
                    self.latest_time = Some(self.latest_time.map_or(time, |l| l.max(time)));
                }
                self.bytes += m.push(t);
                while m.txs.len() > max {
                    self.bytes -= m.evict_one().min(self.bytes);
                }
                let key = m.key;
                self.enforce_memory();
                Some(key)
            }
            DbgMsg::Dropped(d) => {
                let &i = self.by_id.get(&d.machine_id)?;
                let m = &mut self.machines[i];
                m.dropped += d.count;
                m.stats.dropped(d.count);
                Some(m.key)
            }
        }
    }

    /// Over `--max-mem`: drops the oldest entries of the largest machines, a slice at a time.
    fn enforce_memory(&mut self) {
        let Some(max) = self.max_bytes else { return };
        while self.bytes > max {
            let Some(m) = self.machines.iter_mut().filter(|m| m.txs.len() > 1).max_by_key(|m| m.bytes()) else {
                return;
            };
            // a hundredth of it, so this runs rarely rather than per message
            for _ in 0..(m.txs.len() / 100).max(1) {
                self.bytes -= m.evict_one().min(self.bytes);
            }
        }
    }

    /// Estimated bytes held by all entries.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Every machine, in arrival order.
    pub fn machines(&self) -> &[MachineView] {
        &self.machines
    }

    /// A machine by key.
    pub fn get(&self, key: MachineKey) -> Option<&MachineView> {
        self.by_key.get(&key).map(|&i| &self.machines[i])
    }

    /// A machine's index in [`machines`](Self::machines).
    pub fn index_of(&self, key: MachineKey) -> Option<usize> {
        self.by_key.get(&key).copied()
    }

    /// A machine by ID.
    pub fn by_id(&self, id: &str) -> Option<&MachineView> {
        self.by_id.get(id).map(|&i| &self.machines[i])
    }

    /// Forgets a machine (its children become roots until it comes back).
    pub fn remove(&mut self, key: MachineKey) -> Option<MachineView> {
        let i = self.by_key.get(&key).copied()?;
        let m = self.machines.remove(i);
        self.bytes -= m.bytes().min(self.bytes);
        self.reindex();
        self.rebuild_tree();
        Some(m)
    }

    fn reindex(&mut self) {
        self.by_id = self.machines.iter().enumerate().map(|(i, m)| (m.id().to_string(), i)).collect();
        self.by_key = self.machines.iter().enumerate().map(|(i, m)| (m.key, i)).collect();
    }

    /// Machines as a tree: parents before children (in arrival order), depth for
    /// indentation. Built in linear time when machines come, go or move.
    pub fn tree(&self) -> &[TreeRow] {
        &self.tree
    }

    /// The parent's index of a machine, when its parent is known.
    pub fn parent_of(&self, idx: usize) -> Option<usize> {
        self.by_id.get(&self.machines.get(idx)?.schema.parent).copied().filter(|&p| p != idx)
    }

    fn rebuild_tree(&mut self) {
        let n = self.machines.len();
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut roots = Vec::new();
        for i in 0..n {
            match self.parent_of(i) {
                Some(p) => children[p].push(i),
                None => roots.push(i),
            }
        }
        let mut seen = vec![false; n];
        let mut out = Vec::with_capacity(n);
        // parents in a cycle have no root above them: they start trees of their own
        let starts: Vec<usize> = roots.into_iter().chain(0..n).collect();
        for r in starts {
            if seen[r] {
                continue;
            }
            let mut stack = vec![(r, 0u16)];
            while let Some((i, depth)) = stack.pop() {
                if std::mem::replace(&mut seen[i], true) {
                    continue;
                }
                out.push(TreeRow { idx: i, depth });
                stack.extend(children[i].iter().rev().map(|&c| (c, depth + 1)));
            }
        }
        self.tree = out;
        self.tree_gen += 1;
    }
}

#[cfg(test)]
mod tests;
