//! The status bar: the source, messages received, frames per second, the filters, the log
//! level, what the last key did, and the help key.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::Paragraph;

use crate::app::App;

/// Draws the status bar.
pub fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let s = &app.status;
    let level = app.filters.log_level as u8;
    let text = format!(
        " {} · {} msgs{} · filters: {}{} · ? help · q quit {}",
        s.source,
        app.store.received,
        if s.fps > 0 { format!(" · {} fps", s.fps) } else { String::new() },
        app.filters.describe(app.group().is_some()),
        if level < 5 { format!(" · log ≤{level}") } else { String::new() },
        if s.notice.is_empty() { String::new() } else { format!("· {}", s.notice) }
    );
    f.render_widget(Paragraph::new(text).style(Style::default().add_modifier(Modifier::REVERSED)), area);
}
