//! The log pane: the selected machine's whole log — every shown transition's pre-log and
//! log lines, at the log level and matching the log search — with the selected transition's
//! lines marked, kept in view as time travel moves. Focused, its cursor moves by line and
//! the transition follows it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, Overlay, PaneId};

use super::{dim, fit, pane, window};

/// A log line's color by its tag, as the Go am-dbg highlights them.
fn tag_style(text: &str) -> Style {
    let tag = text.split(']').next().unwrap_or("");
    match tag {
        t if t.starts_with("[error") || t.starts_with("[exception") => Style::default().fg(Color::Red),
        t if t.starts_with("[cancel") => Style::default().fg(Color::Yellow),
        t if t.starts_with("[state") => Style::default().fg(Color::Green),
        t if t.starts_with("[queue") || t.starts_with("[handler") || t.starts_with("[postpone") => dim(),
        _ => Style::default(),
    }
}

/// Draws the log pane.
pub fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let focused = app.focus == PaneId::Log;
    let searching = app.overlay == Overlay::Search(PaneId::Log);
    let level = app.filters.log_level as u8;
    let width = area.width.saturating_sub(2) as usize;
    let mut title = format!(" log {} lines", app.timeline().log().len());
    if level < 5 {
        title.push_str(&format!(" · ≤{level}"));
    }
    if searching || !app.log_search.is_empty() {
        title.push_str(&format!(" · /{}{}", app.log_search, if searching { "▏" } else { "" }));
    }
    title.push(' ');
    let Some(m) = app.selected() else {
        f.render_widget(Paragraph::new("").block(pane(title, focused)), area);
        return;
    };
    let log = app.timeline().log();
    if log.is_empty() {
        let why = if app.log_search.is_empty() {
            "no log lines: the machine logs nothing at this level, or the filters hide its transitions"
        } else {
            "no line matches the search"
        };
        f.render_widget(
            Paragraph::new(Line::styled(fit(why, width).into_owned(), dim())).block(pane(title, focused)),
            area,
        );
        return;
    }
    let cur = app.current();
    let sel = app.log_selected();
    let at = sel.unwrap_or_else(|| cur.map_or(log.len() - 1, |c| app.timeline().log_position(c).min(log.len() - 1)));
    let rows = area.height.saturating_sub(2) as usize;
    let range = window(log.len(), at, rows);
    let num_w = log.range(range.clone()).map(|l| (l.tx + 1).to_string().len()).max().unwrap_or(1);
    let lines: Vec<Line<'_>> = range
        .map(|i| {
            let l = log[i];
            let text = m
                .tx(l.tx)
                .and_then(|t| {
                    if l.pre { t.pre_log_entries.get(l.line as usize) } else { t.log_entries.get(l.line as usize) }
                })
                .map_or("", |e| e.text.as_str());
            let here = Some(l.tx) == cur;
            let mark = if here { "▌" } else { " " };
            let head = format!("{:>num_w$} {} ", l.tx + 1, if l.pre { "pre" } else { "log" });
            let room = width.saturating_sub(head.chars().count() + 1);
            let mut style = if l.pre { dim() } else { tag_style(text) };
            if here {
                style = style.add_modifier(Modifier::BOLD);
            }
            if focused && Some(i) == sel {
                style = style.add_modifier(Modifier::REVERSED);
            }
            Line::from(vec![
                Span::styled(mark, Style::default().fg(Color::Cyan)),
                Span::styled(head, dim()),
                Span::styled(fit(text, room).into_owned(), style),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(pane(title, focused)), area);
}
