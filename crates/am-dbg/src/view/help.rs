//! The help overlay, generated from the key table and the legend ([`crate::keys`]), and
//! the export menu.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::app::App;
use crate::export::ExportKind;
use crate::keys::{LEGEND, SECTIONS, rows};

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let (w, h) = (w.min(area.width), h.min(area.height));
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

/// The help's lines: every section of keys, then the legend.
pub(crate) fn lines() -> Vec<Line<'static>> {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut out = Vec::new();
    for s in SECTIONS {
        out.push(Line::styled(format!(" {}", s.title()), bold));
        out.extend(rows(s).map(|(k, what)| Line::raw(format!("  {k:<20} {what}"))));
    }
    out.push(Line::styled(" legend", bold));
    out.extend(LEGEND.iter().map(|(mark, what)| Line::raw(format!("  {mark:<20} {what}"))));
    out
}

/// Draws the help over everything.
pub fn draw(f: &mut Frame<'_>, area: Rect) {
    let lines = lines();
    let r = centered(area, 100, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    let block = Block::default().borders(Borders::ALL).title(" keys and legend (any key closes) ");
    f.render_widget(Paragraph::new(lines).block(block), r);
}

/// Draws the export menu.
pub fn draw_export(f: &mut Frame<'_>, area: Rect, app: &App) {
    let mut lines: Vec<Line<'_>> =
        ExportKind::ALL.iter().enumerate().map(|(i, k)| Line::raw(format!(" {}  {}", i + 1, k.label()))).collect();
    lines.push(Line::raw(format!(" into {} · any other key cancels", app.export_dir.display())));
    let r = centered(area, 64, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" export ")), r);
}
