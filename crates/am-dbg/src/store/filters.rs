//! What the timeline (and with it the log and the matrix) hides, and which machines the
//! machines pane hides: one predicate per filter, named as the Go am-dbg names its
//! `--filter-*` flags, tested against the flags derived at ingest.

use am_core::LogLevel;
use am_dbg_proto::DbgMsgTx;

use super::machine::TxMeta;

/// One filter, for keys, flags and the status bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterKind {
    /// Canceled transitions (`--filter-canceled`).
    Canceled,
    /// Auto transitions (`--filter-auto`).
    Auto,
    /// Canceled auto transitions only (`--filter-auto-canceled`).
    AutoCanceled,
    /// Checks, `can_add` / `can_remove` (`--filter-checks`).
    Checks,
    /// Transitions that changed no clock (`--filter-empty`).
    Empty,
    /// Transitions calling only `Healthcheck` / `Heartbeat` (`--filter-health`).
    Health,
    /// Queued-mutation rows, all of them (`--filter-queued`).
    Queued,
    /// Disconnected machines in the machines pane (`--filter-disconn`).
    Disconnected,
    /// With a group selected, transitions calling none of its states (`--filter-group`).
    Group,
}

impl FilterKind {
    /// Every filter, in status bar order.
    pub const ALL: [FilterKind; 9] = [
        FilterKind::Canceled,
        FilterKind::Auto,
        FilterKind::AutoCanceled,
        FilterKind::Checks,
        FilterKind::Empty,
        FilterKind::Health,
        FilterKind::Queued,
        FilterKind::Disconnected,
        FilterKind::Group,
    ];

    /// Its short name (the Go flag without `--filter-`).
    pub fn name(self) -> &'static str {
        match self {
            FilterKind::Canceled => "canceled",
            FilterKind::Auto => "auto",
            FilterKind::AutoCanceled => "auto-canceled",
            FilterKind::Checks => "checks",
            FilterKind::Empty => "empty",
            FilterKind::Health => "health",
            FilterKind::Queued => "queued",
            FilterKind::Disconnected => "disconn",
            FilterKind::Group => "group",
        }
    }
}

/// Which filters are on, and the log level shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filters {
    /// Canceled transitions.
    pub canceled: bool,
    /// Auto transitions.
    pub auto: bool,
    /// Canceled auto transitions.
    pub auto_canceled: bool,
    /// Checks.
    pub checks: bool,
    /// Transitions that changed no clock.
    pub empty: bool,
    /// Health-only transitions.
    pub health: bool,
    /// Every queued-mutation row.
    pub queued: bool,
    /// Show a queued row and the transition that ran it as two rows (off: one row per
    /// mutation, the queued row hidden once its transition arrived).
    pub both_rows: bool,
    /// Disconnected machines.
    pub disconnected: bool,
    /// Only transitions calling a state of the selected group (when one is selected).
    pub group: bool,
    /// Log lines at this level or below are shown.
    pub log_level: LogLevel,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            canceled: false,
            auto: false,
            auto_canceled: false,
            checks: false,
            empty: false,
            health: false,
            queued: false,
            both_rows: false,
            disconnected: false,
            group: true,
            log_level: LogLevel::Everything,
        }
    }
}

impl Filters {
    fn slot(&mut self, k: FilterKind) -> &mut bool {
        match k {
            FilterKind::Canceled => &mut self.canceled,
            FilterKind::Auto => &mut self.auto,
            FilterKind::AutoCanceled => &mut self.auto_canceled,
            FilterKind::Checks => &mut self.checks,
            FilterKind::Empty => &mut self.empty,
            FilterKind::Health => &mut self.health,
            FilterKind::Queued => &mut self.queued,
            FilterKind::Disconnected => &mut self.disconnected,
            FilterKind::Group => &mut self.group,
        }
    }

    /// Whether a filter is on.
    pub fn is_on(&self, k: FilterKind) -> bool {
        let mut f = *self;
        *f.slot(k)
    }

    /// Turns a filter on or off.
    pub fn set(&mut self, k: FilterKind, on: bool) {
        *self.slot(k) = on;
    }

    /// Flips a filter.
    pub fn toggle(&mut self, k: FilterKind) {
        let s = self.slot(k);
        *s = !*s;
    }

    /// Cycles the log level: 5 → 4 → … → 1 → 5.
    pub fn cycle_log_level(&mut self) {
        let n = self.log_level as u8;
        self.log_level = LogLevel::from_u8(if n <= 1 { 5 } else { n - 1 });
    }

    /// The hiding filters that are on, for the status bar (`group` counts only with a group
    /// selected, so the caller passes its name).
    pub fn describe(&self, group: Option<&str>) -> String {
        let on: Vec<&str> =
            FilterKind::ALL.iter().filter(|k| self.is_on(**k) && **k != FilterKind::Group).map(|k| k.name()).collect();
        let mut out = if on.is_empty() { String::new() } else { format!("hiding {}", on.join(", ")) };
        if let Some(g) = group.filter(|_| self.group) {
            out.push_str(&format!("{}only group {g}", if out.is_empty() { "" } else { "; " }));
        }
        if out.is_empty() { "none".into() } else { out }
    }

    /// Whether the timeline shows an entry, given its flags and the selected group's states.
    pub fn passes(&self, t: &DbgMsgTx, meta: TxMeta, group: Option<&[i64]>) -> bool {
        let in_group = match group {
            Some(g) if self.group => t.called_states_idxs.iter().any(|c| g.contains(c)),
            _ => true,
        };
        if t.is_queued {
            return in_group && !(self.queued || (!self.both_rows && meta.has(TxMeta::EXECUTED)));
        }
        if (self.canceled && !t.accepted)
            || (self.auto && t.is_auto)
            || (self.auto_canceled && t.is_auto && !t.accepted)
            || (self.checks && t.is_check)
            || (self.empty && meta.has(TxMeta::EMPTY))
            || (self.health && meta.has(TxMeta::HEALTH))
        {
            return false;
        }
        in_group
    }
}
