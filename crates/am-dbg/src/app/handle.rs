//! The only mutator: keys go through the overlays first (help closes on any key, a search
//! takes text, the export menu takes its digits), then through the key table to an
//! [`Action`], which [`App::handle`] applies; the derived indexes are synced after.

use std::time::Instant;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};

use crate::action::Action;
use crate::export::ExportKind;
use crate::store::FilterKind;

use super::{App, Overlay, PaneId, SORTS};

/// What the loop does after an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// Quit.
    Quit,
}

impl App {
    /// Applies one key.
    pub fn key(&mut self, k: KeyEvent) -> Flow {
        if k.kind == KeyEventKind::Release {
            return Flow::Continue;
        }
        if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
            return Flow::Quit;
        }
        match self.overlay {
            Overlay::Help => {
                match k.code {
                    KeyCode::Down | KeyCode::Char('j') => self.help_scroll += 1,
                    KeyCode::Up | KeyCode::Char('k') => self.help_scroll = self.help_scroll.saturating_sub(1),
                    KeyCode::PageDown => self.help_scroll += 10,
                    KeyCode::PageUp => self.help_scroll = self.help_scroll.saturating_sub(10),
                    _ => self.overlay = Overlay::None,
                }
                return Flow::Continue;
            }
            Overlay::Search(pane) => {
                self.search_input(pane, k.code);
                return Flow::Continue;
            }
            Overlay::Export => {
                self.overlay = Overlay::None;
                let kind = match k.code {
                    KeyCode::Char(d) => d.to_digit(10).and_then(|d| ExportKind::ALL.get((d as usize).wrapping_sub(1))),
                    _ => None,
                };
                if let Some(&kind) = kind {
                    self.export(kind);
                }
                return Flow::Continue;
            }
            Overlay::None => {}
        }
        match crate::keys::action_for(&k) {
            Some(a) => self.handle(a),
            None => Flow::Continue,
        }
    }

    fn search_input(&mut self, pane: PaneId, code: KeyCode) {
        let text = if pane == PaneId::Log { &mut self.log_search } else { &mut self.search };
        match code {
            KeyCode::Enter => self.overlay = Overlay::None,
            KeyCode::Esc => {
                text.clear();
                self.overlay = Overlay::None;
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            _ => {}
        }
        if pane == PaneId::Machines {
            // the match is selected as you type
            self.sync();
            if let Some(i) = self.first_match() {
                let key = self.store.machines()[i].key;
                self.select(key);
            }
        }
        self.sync();
    }

    /// Applies a mouse event: the wheel moves in the focused pane.
    pub fn mouse(&mut self, m: MouseEvent) {
        let delta = match m.kind {
            MouseEventKind::ScrollUp => -1,
            MouseEventKind::ScrollDown => 1,
            _ => return,
        };
        self.move_focused(delta);
        self.sync();
    }

    /// Applies an action.
    pub fn handle(&mut self, a: Action) -> Flow {
        self.status.notice.clear();
        if !matches!(a, Action::Remove) {
            self.remove_armed = None;
        }
        let page = i64::from(self.size.1.saturating_sub(4)).max(1);
        // moving by hand takes over from the player
        let nav = matches!(
            a,
            Action::Move(_)
                | Action::Page(_)
                | Action::Home
                | Action::End
                | Action::Tx(_)
                | Action::Step(_)
                | Action::Follow
                | Action::Error(_)
                | Action::Change(_)
        );
        if nav && self.player.playing && self.focus != PaneId::Machines {
            self.player.stop();
        }
        match a {
            Action::Quit => return Flow::Quit,
            Action::Help => {
                self.overlay = Overlay::Help;
                self.help_scroll = 0;
            }
            Action::FocusNext | Action::FocusPrev => self.cycle_focus(a == Action::FocusNext),
            Action::Move(d) => self.move_focused(i64::from(d)),
            Action::Page(d) => match self.focus {
                PaneId::Timeline => self.step_tx(100 * i64::from(d)),
                _ => self.move_focused(page * i64::from(d)),
            },
            Action::Home => match self.focus {
                PaneId::Timeline => self.first(),
                _ => self.move_focused(i64::MIN / 2),
            },
            Action::End => match self.focus {
                PaneId::Timeline => self.last(),
                _ => self.move_focused(i64::MAX / 2),
            },
            Action::Tx(d) => self.step_tx(i64::from(d)),
            Action::Step(d) => self.step_through(i64::from(d)),
            Action::Follow => self.follow(),
            Action::Error(fwd) => {
                if !self.next_error(fwd) {
                    self.status.notice = format!("no {} Exception", if fwd { "later" } else { "earlier" });
                }
            }
            Action::Change(fwd) => {
                if !self.next_change(fwd) {
                    self.status.notice = format!("no {} change of that state", if fwd { "later" } else { "earlier" });
                }
            }
            Action::Toggle(k) => {
                self.filters.toggle(k);
                if k == FilterKind::Group && self.group().is_none() {
                    self.status.notice = "select a group with o first".into();
                }
                self.filters_changed();
            }
            Action::BothRows => {
                self.filters.both_rows = !self.filters.both_rows;
                self.filters_changed();
            }
            Action::LogLevel => {
                self.filters.cycle_log_level();
                self.filters_changed();
            }
            Action::Group => self.cycle_group(),
            Action::Search => {
                let pane = if self.focus == PaneId::Log { PaneId::Log } else { PaneId::Machines };
                self.focus = pane;
                self.overlay = Overlay::Search(pane);
            }
            Action::ToggleLog => {
                self.panes.log = !self.panes.log;
                self.fix_focus();
            }
            Action::ToggleMatrix => self.panes.matrix = !self.panes.matrix,
            Action::ToggleWarnings => {
                self.panes.warnings = !self.panes.warnings;
                self.focus = if self.panes.warnings { PaneId::Warnings } else { PaneId::Timeline };
            }
            Action::ToggleStats => self.panes.stats = !self.panes.stats,
            Action::Export => self.overlay = Overlay::Export,
            Action::Play => self.play(Instant::now()),
            Action::Speed(d) => {
                self.player.change_speed(d);
                self.status.notice = format!("play speed ×{}", self.player.speed_label());
            }
            Action::Sort => {
                let i = SORTS.iter().position(|s| *s == self.sort.0).unwrap_or(0);
                self.sort = (SORTS[(i + 1) % SORTS.len()], false);
                self.status.notice = format!("machines sorted by {}", self.sort.0.name());
            }
            Action::InvertSort => self.sort.1 = !self.sort.1,
            Action::Remove => self.remove_selected(),
            Action::Enter => match self.focus {
                PaneId::Warnings => {
                    self.open_warning();
                }
                PaneId::Log => self.focus = PaneId::Timeline,
                PaneId::Machines => self.focus = PaneId::Timeline,
                _ => {}
            },
            Action::Escape => {
                self.nav_mut().step = None;
                self.overlay = Overlay::None;
            }
            Action::Mouse => self.status.mouse = !self.status.mouse,
        }
        self.sync();
        Flow::Continue
    }

    fn focus_order(&self) -> Vec<PaneId> {
        let mut order = vec![PaneId::Machines, PaneId::States, PaneId::Timeline];
        if self.panes.log {
            order.push(PaneId::Log);
        }
        if self.panes.warnings {
            order.push(PaneId::Warnings);
        }
        order
    }

    fn cycle_focus(&mut self, forward: bool) {
        let order = self.focus_order();
        let i = order.iter().position(|p| *p == self.focus).unwrap_or(0);
        let n = order.len();
        self.focus = order[if forward { (i + 1) % n } else { (i + n - 1) % n }];
    }

    fn fix_focus(&mut self) {
        if !self.focus_order().contains(&self.focus) {
            self.focus = PaneId::Timeline;
        }
    }

    fn cycle_group(&mut self) {
        let n = self.selected().map_or(0, |m| m.groups().count());
        if n == 0 {
            self.status.notice = "this machine's schema has no groups".into();
            return;
        }
        let nav = self.nav_mut();
        nav.group = match nav.group {
            None => Some(0),
            Some(g) if g + 1 < n => Some(g + 1),
            Some(_) => None,
        };
        let states = self.visible_states();
        if !states.contains(&self.nav().state)
            && let Some(&s) = states.first()
        {
            self.nav_mut().state = s;
        }
        self.status.notice = match self.group() {
            Some((name, _)) => format!("group {name}"),
            None => "all states".into(),
        };
    }

    fn remove_selected(&mut self) {
        let Some(m) = self.selected() else { return };
        let (key, id, connected) = (m.key, m.id().to_string(), m.connected);
        if connected && self.remove_armed != Some(key) {
            self.remove_armed = Some(key);
            self.status.notice = format!("{id} is connected: Backspace again removes it anyway");
            return;
        }
        self.remove_armed = None;
        self.store.remove(key);
        self.nav.remove(&key);
        self.selected = None;
        self.status.notice = format!("removed {id}");
    }
}
