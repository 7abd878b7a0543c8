//! Drawing the [`App`]: one module per pane, each a pure function of `&App` into its area,
//! and the layout that places them. Colors are the terminal's own named ones plus bold,
//! underline and reverse, so dark and light themes stay readable; nothing needs graphics,
//! so it works over SSH.

mod detail;
mod help;
mod log;
mod machines;
mod matrix;
mod states;
mod status;
mod timeline;
mod warnings;

use std::borrow::Cow;

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders};

use crate::app::{App, Overlay, PaneId};

/// Where each pane goes on a screen of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// The machines table.
    pub machines: Rect,
    /// The states.
    pub states: Rect,
    /// The timeline or the matrix.
    pub timeline: Rect,
    /// The transition detail (or the histograms).
    pub detail: Rect,
    /// The log, when on.
    pub log: Option<Rect>,
    /// The warnings, when on.
    pub warnings: Option<Rect>,
    /// The status bar.
    pub status: Rect,
}

/// The layout: three panes on top (machines, states, timeline), the detail and the log
/// below, the warnings under the machines when on, the status bar last. The bottom row gets
/// a third of the height (at least 6 rows); under 100 columns the log and the warnings take
/// the detail's place while they have focus.
pub fn areas(app: &App, area: Rect) -> Areas {
    let bottom = (area.height / 3).clamp(6, 16).min(area.height.saturating_sub(7));
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Min(5), Constraint::Length(bottom), Constraint::Length(1)])
        .split(area);
    let top = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(25), Constraint::Percentage(30), Constraint::Percentage(45)])
        .split(rows[0]);
    let narrow = area.width < 100;
    let (mut machines, mut warnings) = (top[0], None);
    if app.panes.warnings && !narrow {
        let split = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Percentage(55), Constraint::Percentage(45)])
            .split(top[0]);
        (machines, warnings) = (split[0], Some(split[1]));
    }
    let (mut detail, mut log) = (rows[1], None);
    if app.panes.warnings && narrow && app.focus == PaneId::Warnings {
        warnings = Some(rows[1]);
        detail = Rect::default();
    } else if app.panes.log {
        if !narrow {
            let split = Layout::default()
                .direction(Direction::Horizontal)
                .constraints([Constraint::Percentage(45), Constraint::Percentage(55)])
                .split(rows[1]);
            (detail, log) = (split[0], Some(split[1]));
        } else if app.focus == PaneId::Log {
            log = Some(rows[1]);
            detail = Rect::default();
        }
    }
    Areas { machines, states: top[1], timeline: top[2], detail, log, warnings, status: rows[2] }
}

/// Draws everything.
pub fn draw(f: &mut Frame<'_>, app: &App) {
    let a = areas(app, f.area());
    machines::draw(f, a.machines, app);
    if let Some(r) = a.warnings {
        warnings::draw(f, r, app);
    }
    states::draw(f, a.states, app);
    if app.panes.matrix {
        matrix::draw(f, a.timeline, app);
    } else {
        timeline::draw(f, a.timeline, app);
    }
    if a.detail.area() > 0 {
        if app.panes.stats {
            detail::draw_stats(f, a.detail, app);
        } else {
            detail::draw(f, a.detail, app);
        }
    }
    if let Some(r) = a.log {
        log::draw(f, r, app);
    }
    status::draw(f, a.status, app);
    match app.overlay {
        Overlay::Help => help::draw(f, f.area(), app.help_scroll),
        Overlay::Export => help::draw_export(f, f.area(), app),
        _ => {}
    }
}

/// The screen as text (rows trimmed at the end), drawn as [`draw`] draws it.
pub fn screen_text(app: &App, w: u16, h: u16) -> String {
    // an in-memory backend: its error type is `Infallible`
    let Ok(mut t) = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h));
    let _ = t.draw(|f| draw(f, app));
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..h {
        let line: String = (0..w).map(|x| buf[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A pane's border; bold and cyan when it has focus.
pub(crate) fn pane<'a>(title: impl Into<Line<'a>>, focused: bool) -> Block<'a> {
    let b = Block::default().borders(Borders::ALL).title(title);
    if focused { b.border_style(Style::default().add_modifier(Modifier::BOLD).fg(Color::Cyan)) } else { b }
}

/// `s` cut to `width` display columns, with `…` when cut.
pub(crate) fn fit(s: &str, width: usize) -> Cow<'_, str> {
    if s.chars().count() <= width {
        return Cow::Borrowed(s);
    }
    if width == 0 {
        return Cow::Borrowed("");
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    Cow::Owned(out)
}

/// Dim text.
pub(crate) fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

/// Unix nanoseconds as `HH:MM:SS.mmm` UTC.
pub(crate) fn human_time(ns: u64) -> String {
    let ms = ns / 1_000_000;
    let (s, ms) = (ms / 1000, ms % 1000);
    format!("{:02}:{:02}:{:02}.{ms:03} UTC", (s / 3600) % 24, (s / 60) % 60, s % 60)
}

/// A transition's mutation kind.
pub(crate) fn kind(t: &am_dbg_proto::DbgMsgTx) -> &'static str {
    match t.mutation_type {
        am_dbg_proto::MutationType::Add => "add",
        am_dbg_proto::MutationType::Remove => "remove",
        am_dbg_proto::MutationType::Set => "set",
    }
}

/// A window of `rows` rows of a list of `len`, keeping `at` in view (centred when it can).
pub(crate) fn window(len: usize, at: usize, rows: usize) -> std::ops::Range<usize> {
    let start = at.saturating_sub(rows.saturating_sub(1) / 2).min(len.saturating_sub(rows));
    start..(start + rows).min(len)
}
