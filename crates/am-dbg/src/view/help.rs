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

/// The keys' lines, every section.
pub(crate) fn key_lines() -> Vec<Line<'static>> {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut out = Vec::new();
    for s in SECTIONS {
        out.push(Line::styled(format!(" {}", s.title()), bold));
        out.extend(rows(s).map(|(k, what)| Line::raw(format!("  {k:<19} {what}"))));
    }
    out
}

/// The legend's lines.
pub(crate) fn legend_lines() -> Vec<Line<'static>> {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut out = vec![Line::styled(" legend: what the panes draw", bold)];
    out.extend(LEGEND.iter().map(|(mark, what)| Line::raw(format!("  {mark:<17} {what}"))));
    out
}

/// Draws the help over everything: keys and legend side by side when they fit, else one
/// list scrolled by `scroll`.
pub fn draw(f: &mut Frame<'_>, area: Rect, scroll: usize) {
    let (keys, legend) = (key_lines(), legend_lines());
    let block = |t: String| Block::default().borders(Borders::ALL).title(t);
    if area.width >= 180 && area.height as usize >= keys.len().max(legend.len()) + 2 {
        let r = centered(area, 180, keys.len().max(legend.len()) as u16 + 2);
        f.render_widget(Clear, r);
        let half = Rect { width: r.width / 2 + 6, ..r };
        let rest = Rect { x: r.x + half.width, width: r.width - half.width, ..r };
        f.render_widget(Paragraph::new(keys).block(block(" keys (any key closes) ".into())), half);
        f.render_widget(Paragraph::new(legend).block(block(" legend ".into())), rest);
        return;
    }
    let mut lines = keys;
    lines.push(Line::raw(""));
    lines.extend(legend);
    let r = centered(area, 110, lines.len() as u16 + 2);
    let fits = (r.height as usize).saturating_sub(2);
    let scroll = scroll.min(lines.len().saturating_sub(fits));
    let more =
        if lines.len() > fits { format!(" · {}/{} ↓↑ scroll", scroll + fits, lines.len()) } else { String::new() };
    f.render_widget(Clear, r);
    let title = format!(" keys and legend{more} · any other key closes ");
    f.render_widget(Paragraph::new(lines).scroll((scroll as u16, 0)).block(block(title)), r);
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
