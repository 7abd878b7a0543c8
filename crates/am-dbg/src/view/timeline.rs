//! The timeline pane: the selected machine's entries passing the filters, a window around
//! the cursor, each with its number, machine time, kind, result and called states.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{List, ListItem, Paragraph};

use crate::app::{App, PaneId};

use super::{kind, pane, window};

/// Draws the timeline pane.
pub fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let focused = app.focus == PaneId::Timeline;
    let Some(m) = app.selected() else {
        f.render_widget(Paragraph::new("").block(pane(" timeline ", focused)), area);
        return;
    };
    let tl = app.timeline().rows();
    let cur = app.current();
    let rows = area.height.saturating_sub(2) as usize;
    let at = cur.and_then(|c| app.timeline().position(c).ok()).unwrap_or(tl.len().saturating_sub(1));
    let items: Vec<ListItem<'_>> = tl
        .range(window(tl.len(), at, rows))
        .map(|&abs| {
            let Some(t) = m.tx(abs) else { return ListItem::new("") };
            let result = if t.is_queued {
                "queued"
            } else if t.accepted {
                "ok"
            } else {
                "cancel"
            };
            let called = m.called(t).collect::<Vec<_>>().join(" ");
            let text = format!(
                "{:>6} t{:<5} {:<6} {:<6}{} {called}",
                abs + 1,
                t.clocks.iter().sum::<u64>(),
                kind(t),
                result,
                if t.is_auto { " auto" } else { "" },
            );
            let mut style = Style::default();
            if t.is_queued {
                style = style.fg(Color::DarkGray);
            } else if !t.accepted {
                style = style.fg(Color::Yellow);
            }
            if Some(abs) == cur {
                style = style.add_modifier(Modifier::REVERSED);
            }
            ListItem::new(Line::styled(text, style))
        })
        .collect();
    let follow = if app.following() { " · following" } else { " · time travel" };
    let evicted = if m.evicted > 0 { format!(" · {} oldest dropped (retention)", m.evicted) } else { String::new() };
    let title = format!(" timeline {}/{}{follow}{evicted} ", tl.len(), m.txs.len());
    f.render_widget(List::new(items).block(pane(title, focused)), area);
}
