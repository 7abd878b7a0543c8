//! The warnings pane (`w`), as tokio-console's lints and beyond the Go am-dbg: a summary
//! per lint ("2 machines: lost messages"), then one line per finding naming the machine;
//! Enter on a line goes to its machine and, where one is to blame, its transition.

use std::collections::BTreeMap;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, PaneId};

use super::{dim, fit, pane, window};

/// Draws the warnings pane.
pub fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let focused = app.focus == PaneId::Warnings;
    let width = area.width.saturating_sub(2) as usize;
    let ws = app.warnings();
    let title = format!(" warnings {} ", ws.len());
    if ws.is_empty() {
        let ok = "none: queues move, no Exception lasts, nothing lost, no timeouts";
        f.render_widget(
            Paragraph::new(Line::styled(fit(ok, width).into_owned(), dim())).block(pane(title, focused)),
            area,
        );
        return;
    }
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for w in ws {
        *per_kind.entry(w.kind).or_default() += 1;
    }
    let summary: Vec<String> = per_kind.iter().map(|(k, n)| format!("{n}× {k}")).collect();
    let mut lines =
        vec![Line::styled(fit(&summary.join(" · "), width).into_owned(), Style::default().fg(Color::Yellow))];
    let rows = (area.height as usize).saturating_sub(3);
    for i in window(ws.len(), app.warn_cursor, rows) {
        let w = &ws[i];
        let id = app.store.get(w.machine).map_or("?", |m| m.id());
        let at = w.tx.map_or(String::new(), |t| format!(" #{}", t + 1));
        let head = format!("⚠ {id}{at} ");
        let rest = width.saturating_sub(head.chars().count());
        let mut style = Style::default();
        if focused && i == app.warn_cursor {
            style = style.add_modifier(Modifier::REVERSED);
        }
        lines.push(Line::from(vec![
            Span::styled(head, style.fg(Color::Yellow)),
            Span::styled(fit(&format!("{}: {}", w.kind, w.text), rest).into_owned(), style),
        ]));
    }
    f.render_widget(Paragraph::new(lines).block(pane(fit(&title, width).into_owned(), focused)), area);
}
