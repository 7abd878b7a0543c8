//! The one key table: every key, the [`Action`] it asks for and what it does. Dispatch
//! ([`action_for`]), the `?` overlay and `am-dbg tui --help` ([`help_text`]) are all
//! generated from [`BINDINGS`], and the [`LEGEND`] explains every marker and column the
//! panes draw, in both places too.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::action::Action;
use crate::store::FilterKind;

/// A key with the modifiers that matter (Shift is part of the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// Ctrl and Alt.
    pub mods: KeyModifiers,
}

const fn k(code: KeyCode) -> Key {
    Key { code, mods: KeyModifiers::NONE }
}
const fn c(ch: char) -> Key {
    k(KeyCode::Char(ch))
}
const fn alt(ch: char) -> Key {
    Key { code: KeyCode::Char(ch), mods: KeyModifiers::ALT }
}
const fn ctrl(ch: char) -> Key {
    Key { code: KeyCode::Char(ch), mods: KeyModifiers::CONTROL }
}

/// Which part of the help a binding is listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Moving around.
    Move,
    /// Time travel, stepping and playing.
    Time,
    /// What the timeline and the machines pane hide.
    Filters,
    /// Panes and machines.
    Views,
}

impl Section {
    /// Its heading.
    pub fn title(self) -> &'static str {
        match self {
            Section::Move => "move",
            Section::Time => "time travel, steps, play",
            Section::Filters => "filters (also as --filter-* flags)",
            Section::Views => "panes, machines, export",
        }
    }
}

/// One row of the key table. A row with an empty `shown` is dispatched but listed with the
/// row before it (`↑` and `↓` share a line).
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// The keys; none for a row that only documents (the mouse wheel).
    pub keys: &'static [Key],
    /// How the keys are written in the help.
    pub shown: &'static str,
    /// What they ask for.
    pub action: Action,
    /// What that does.
    pub help: &'static str,
    /// Where it is listed.
    pub section: Section,
}

const fn b(keys: &'static [Key], shown: &'static str, action: Action, help: &'static str, section: Section) -> Binding {
    Binding { keys, shown, action, help, section }
}

use Section::{Filters as F, Move as M, Time as T, Views as V};

/// Every key.
pub const BINDINGS: &[Binding] = &[
    b(&[c('?')], "?", Action::Help, "this help and the legend", M),
    b(&[c('q'), ctrl('c')], "q / Ctrl-C", Action::Quit, "quit (SIGTERM too); the terminal is restored", M),
    b(&[k(KeyCode::Tab)], "Tab / Shift-Tab", Action::FocusNext, "move focus: machines → states → timeline → log", M),
    b(&[k(KeyCode::BackTab)], "", Action::FocusPrev, "", M),
    b(
        &[k(KeyCode::Up), c('k')],
        "↑ ↓  (k j)",
        Action::Move(-1),
        "move in the focused pane (the timeline: time travel)",
        M,
    ),
    b(&[k(KeyCode::Down), c('j')], "", Action::Move(1), "", M),
    b(&[k(KeyCode::PageUp)], "PgUp PgDn", Action::Page(-1), "a page (the timeline: 100 transitions)", M),
    b(&[k(KeyCode::PageDown)], "", Action::Page(1), "", M),
    b(&[k(KeyCode::Home), c('g')], "Home End  (g G)", Action::Home, "first / last row (the timeline: transition)", M),
    b(&[k(KeyCode::End), c('G')], "", Action::End, "", M),
    b(&[k(KeyCode::Left)], "← →", Action::Tx(-1), "previous / next transition, whatever is focused", M),
    b(&[k(KeyCode::Right)], "", Action::Tx(1), "", M),
    b(&[c('/')], "/", Action::Search, "search machines, or the focused log (Esc clears)", M),
    b(&[k(KeyCode::Enter)], "Enter", Action::Enter, "go to a warning's or log line's transition", M),
    b(&[k(KeyCode::Esc)], "Esc", Action::Escape, "leave step-through; close a menu", M),
    b(&[c('m')], "m", Action::Mouse, "mouse wheel on/off (off: select text to copy)", M),
    b(&[], "mouse wheel", Action::Move(1), "move in the focused pane", M),
    b(&[c('f')], "f", Action::Follow, "follow new transitions (tail)", T),
    b(&[c(' '), c('p')], "Space  (p)", Action::Play, "play / pause (a recording at its pace; live: hold)", T),
    b(&[c('+'), c('=')], "+ -", Action::Speed(1), "play faster / slower (×2, ×½)", T),
    b(&[c('-')], "", Action::Speed(-1), "", T),
    b(
        &[c(']'), alt('j')],
        "[ ]  (Alt-k Alt-j)",
        Action::Step(1),
        "step through a transition (states, relation lines)",
        T,
    ),
    b(&[c('['), alt('k')], "", Action::Step(-1), "", T),
    b(&[c('e')], "e E", Action::Error(true), "next / previous transition that raised Exception", T),
    b(&[c('E')], "", Action::Error(false), "", T),
    b(&[c('n')], "n N", Action::Change(true), "next / previous change of the highlighted state", T),
    b(&[c('N')], "", Action::Change(false), "", T),
    b(&[c('c')], "c", Action::Toggle(FilterKind::Canceled), "hide canceled transitions", F),
    b(&[c('a')], "a", Action::Toggle(FilterKind::Auto), "hide auto transitions", F),
    b(&[c('A')], "A", Action::Toggle(FilterKind::AutoCanceled), "hide canceled auto transitions", F),
    b(&[c('x')], "x", Action::Toggle(FilterKind::Checks), "hide checks (can_add / can_remove)", F),
    b(&[c('z')], "z", Action::Toggle(FilterKind::Empty), "hide empty transitions (no clock changed)", F),
    b(&[c('h')], "h", Action::Toggle(FilterKind::Health), "hide Healthcheck / Heartbeat transitions", F),
    b(&[c('u')], "u", Action::Toggle(FilterKind::Queued), "hide every queued-mutation row", F),
    b(&[c('U')], "U", Action::BothRows, "two rows per mutation, queued and run (default: one)", F),
    b(&[c('d')], "d", Action::Toggle(FilterKind::Disconnected), "hide disconnected machines", F),
    b(&[c('o')], "o", Action::Group, "select the next schema group", F),
    b(&[c('O')], "O", Action::Toggle(FilterKind::Group), "only transitions calling the group (default on)", F),
    b(&[c('l')], "l", Action::LogLevel, "log level shown: 5 → 1, then all again", F),
    b(&[c('L')], "L", Action::ToggleLog, "log pane: the machine's whole log", V),
    b(&[c('M')], "M", Action::ToggleMatrix, "matrix (states × transitions) for the timeline", V),
    b(&[c('w')], "w", Action::ToggleWarnings, "warnings (stuck queue, lasting Exception, losses)", V),
    b(&[c('D')], "D", Action::ToggleStats, "histograms: transition durations, queue length", V),
    b(&[c('S')], "S i", Action::Sort, "sort machines by the next column / reverse it", V),
    b(&[c('i')], "", Action::InvertSort, "", V),
    b(
        &[k(KeyCode::Backspace), k(KeyCode::Delete)],
        "Backspace",
        Action::Remove,
        "remove the machine (connected: press twice)",
        V,
    ),
    b(&[c('s')], "s", Action::Export, "export machine / all (.gob.br, JSONL) or the screen", V),
];

/// Every marker and column the panes draw.
pub const LEGEND: &[(&str, &str)] = &[
    ("● ○", "machine connected / disconnected (or recorded)"),
    ("tx /s err q last", "machines: transitions, per second, errors, queue, age"),
    ("■ □", "states: active / inactive as of the transition (step)"),
    ("A M", "states: auto state / multi state"),
    ("123", "states: the tick (clock); odd is active"),
    ("+ - * !", "steps so far: activated, deactivated, handler, canceled"),
    ("bold underline", "steps so far: touched the state / called it"),
    ("r a x > ┐ ┘ │", "relation line: require, add, remove, after, from the"),
    ("", "state holding it (letter) to the state it names (┐ ┘)"),
    ("@ #N", "the transition's number, from the machine's first"),
    ("t112", "timeline: machine time (all ticks summed) after it"),
    ("ok cancel queued", "timeline: accepted, canceled, queued and not yet run"),
    ("2q", "timeline: ran a queued mutation (U: both rows)"),
    ("1 + - · c *", "matrix: active, activated, deactivated, inactive,"),
    ("", "called but canceled, touched by a step"),
    ("underline", "matrix: a called state"),
    ("pre  log", "detail and log: lines before / during the transition"),
    ("▌", "log: lines of the selected transition"),
];

/// Key events that mean the same with or without Shift.
fn matches(key: &Key, ev: &KeyEvent) -> bool {
    let mods = ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
    key.code == ev.code && key.mods == mods
}

/// The action of a key, if any.
pub fn action_for(ev: &KeyEvent) -> Option<Action> {
    BINDINGS.iter().find(|b| b.keys.iter().any(|k| matches(k, ev))).map(|b| b.action)
}

/// The help's rows per section, as `(keys, what)`.
pub fn rows(section: Section) -> impl Iterator<Item = (&'static str, &'static str)> {
    BINDINGS.iter().filter(move |b| b.section == section && !b.shown.is_empty()).map(|b| (b.shown, b.help))
}

/// Every section, in help order.
pub const SECTIONS: [Section; 4] = [Section::Move, Section::Time, Section::Filters, Section::Views];

/// The keys and the legend as plain text, for `am-dbg tui --help`.
pub fn help_text() -> String {
    let mut out = String::new();
    for s in SECTIONS {
        out.push_str(&format!("KEYS: {}\n", s.title()));
        for (k, what) in rows(s) {
            out.push_str(&format!("    {k:<24} {what}\n"));
        }
        out.push('\n');
    }
    out.push_str("LEGEND:\n");
    for (mark, what) in LEGEND {
        out.push_str(&format!("    {mark:<24} {what}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice() {
        let keys: Vec<&Key> = BINDINGS.iter().flat_map(|b| b.keys).collect();
        for (i, a) in keys.iter().enumerate() {
            assert!(!keys[i + 1..].contains(a), "{a:?} is bound twice");
        }
    }

    #[test]
    fn help_lines_fit_an_80_column_terminal() {
        for b in BINDINGS {
            assert!(b.shown.chars().count() <= 19 && b.help.chars().count() <= 56, "too long for 80 columns: {b:?}");
        }
        for (mark, what) in LEGEND {
            assert!(mark.chars().count() <= 17 && what.chars().count() <= 58, "too long for 80 columns: {mark}");
        }
    }

    #[test]
    fn every_listed_binding_is_in_the_generated_help() {
        let text = help_text();
        for b in BINDINGS.iter().filter(|b| !b.shown.is_empty()) {
            assert!(text.contains(b.shown) && text.contains(b.help), "{b:?} missing from:\n{text}");
        }
        let ev = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(action_for(&ev), Some(Action::End), "Shift is part of the character");
        let ev = KeyEvent::new(KeyCode::Char('j'), KeyModifiers::ALT);
        assert_eq!(action_for(&ev), Some(Action::Step(1)));
    }
}
