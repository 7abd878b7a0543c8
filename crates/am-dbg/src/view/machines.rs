//! The machines pane: every machine as a tree (children under their parents), with the
//! connection marker, transitions seen and errors; the search narrows it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};

use crate::app::{App, Overlay, PaneId};

use super::pane;

/// Draws the machines pane.
pub fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let selected = app.selected().map(|m| m.key);
    let ms = app.store.machines();
    let items: Vec<ListItem<'_>> = app
        .rows()
        .iter()
        .map(|r| {
            let m = &ms[r.idx];
            let mark = if m.connected { "●" } else { "○" };
            let mut spans = vec![Span::raw(format!("{}{mark} {} ", "  ".repeat(r.depth as usize), m.id()))];
            spans.push(Span::styled(format!("{}", m.total()), Style::default().fg(Color::DarkGray)));
            if m.errors > 0 {
                spans.push(Span::styled(format!(" !{}", m.errors), Style::default().fg(Color::Red)));
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    let mut state = ListState::default();
    state.select(app.rows().iter().position(|r| Some(ms[r.idx].key) == selected));
    let searching = app.overlay == Overlay::Search(PaneId::Machines);
    let title = if searching || !app.search.is_empty() {
        format!(" machines /{}{} ", app.search, if searching { "▏" } else { "" })
    } else {
        format!(" machines ({}) ", ms.len())
    };
    let list = List::new(items)
        .block(pane(title, app.focus == PaneId::Machines))
        .highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    f.render_stateful_widget(list, area, &mut state);
}
