//! The timeline pane: the selected machine's entries passing the filters, a window around
//! the cursor, each with its number, whether it ran a queued mutation, machine time, kind,
//! result and called states. On a narrow pane the machine time goes and the kind shortens;
//! called states are cut with an ellipsis.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{List, ListItem, Paragraph};

use crate::app::{App, PaneId};
use crate::store::MachineView;

use super::{fit, kind, pane, window};

/// One entry as a timeline row of `width` columns; `num_w` is the number column's width.
pub(crate) fn row_text(m: &MachineView, abs: u64, width: usize, num_w: usize, merged: bool) -> (String, Style) {
    let Some(t) = m.tx(abs) else { return (String::new(), Style::default()) };
    let result = if t.is_queued {
        "queued"
    } else if t.accepted {
        "ok"
    } else {
        "cancel"
    };
    // a transition whose queued row is folded into it
    let q = if merged && !t.is_queued && m.meta(abs).linked().is_some() { "q" } else { " " };
    let called = m.called(t).collect::<Vec<_>>().join(" ");
    let mut head = format!("{:>num_w$}{q} ", abs + 1);
    if width >= 56 {
        head.push_str(&format!("t{:<5} {:<6}", t.clocks.iter().sum::<u64>(), kind(t)));
    } else {
        head.push_str(&format!("{:<3}", &kind(t)[..3]));
    }
    head.push_str(&format!(" {result:<6}{} ", if t.is_auto { " auto" } else { "" }));
    let rest = width.saturating_sub(head.chars().count());
    head.push_str(&fit(&called, rest));
    let mut style = Style::default();
    if t.is_queued {
        style = style.fg(Color::DarkGray);
    } else if !t.accepted {
        style = style.fg(Color::Yellow);
    } else if m.meta(abs).has(crate::store::TxMeta::ERROR) {
        style = style.fg(Color::Red);
    }
    (head, style)
}

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
    let width = area.width.saturating_sub(2) as usize;
    let at = cur.and_then(|c| app.timeline().position(c).ok()).unwrap_or(tl.len().saturating_sub(1));
    let range = window(tl.len(), at, rows);
    let num_w = tl.range(range.clone()).next_back().map_or(1, |l| (l + 1).to_string().len()).max(2);
    let merged = !app.filters.both_rows && !app.filters.queued;
    let items: Vec<ListItem<'_>> = tl
        .range(range)
        .map(|&abs| {
            let (text, mut style) = row_text(m, abs, width, num_w, merged);
            if Some(abs) == cur {
                style = style.add_modifier(Modifier::REVERSED);
            }
            ListItem::new(Line::styled(text, style))
        })
        .collect();
    let mode = if app.player.playing {
        format!(" · playing ×{}", app.player.speed_label())
    } else if app.following() {
        " · following".into()
    } else {
        " · time travel".into()
    };
    let evicted = if m.evicted > 0 { format!(" · {} oldest dropped", m.evicted) } else { String::new() };
    let title = format!(" timeline {}/{}{mode}{evicted} ", tl.len(), m.txs.len());
    f.render_widget(List::new(items).block(pane(fit(&title, width).into_owned(), focused)), area);
}
