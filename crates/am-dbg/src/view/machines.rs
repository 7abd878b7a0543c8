//! The machines pane, a table as tokio-console's task list: each machine (a tree of
//! parents and children, or a list sorted by a column) with its connection, transitions,
//! rate, errors, queue length and last activity. Columns collapse from the right on a
//! narrow pane; names are cut with an ellipsis; the sorted column is marked.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, Overlay, PaneId, Sort};
use crate::store::MachineView;

use super::{dim, fit, pane, window};

/// A column after the name: its header, width, the sort it stands for, and its cell.
struct Column {
    head: &'static str,
    width: usize,
    sort: Sort,
    cell: fn(&MachineView, u64) -> (String, Style),
}

/// A count, short: `999`, `12k`, `3.4M`.
pub(crate) fn count(n: f64) -> String {
    match n {
        n if n < 10.0 && n.fract() != 0.0 => format!("{n:.1}"),
        n if n < 10_000.0 => format!("{n:.0}"),
        n if n < 10_000_000.0 => format!("{:.0}k", n / 1e3),
        n => format!("{:.1}M", n / 1e6),
    }
}

/// A short age: `4s`, `3m`, `2h`, `5d`.
pub(crate) fn age(ns: u64) -> String {
    let s = ns / 1_000_000_000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// The columns, in the order they collapse from the right.
const COLUMNS: [Column; 5] = [
    Column { head: "tx", width: 5, sort: Sort::Transitions, cell: |m, _| (count(m.stats.transitions as f64), dim()) },
    Column {
        head: "err",
        width: 3,
        sort: Sort::Errors,
        cell: |m, _| match m.errors {
            0 => (String::new(), Style::default()),
            n => (count(n as f64), Style::default().fg(Color::Red)),
        },
    },
    Column {
        head: "/s",
        width: 5,
        sort: Sort::Rate,
        cell: |m, now| (count(m.stats.rate.per_sec(now)), Style::default()),
    },
    Column {
        head: "last",
        width: 5,
        sort: Sort::Last,
        cell: |m, now| (m.stats.last_time.map_or("-".into(), |t| age(now.saturating_sub(t))), dim()),
    },
    Column {
        head: "q",
        width: 4,
        sort: Sort::Queue,
        cell: |m, _| match m.stats.queue {
            0 => (String::new(), Style::default()),
            q => (count(q as f64), Style::default().fg(Color::Yellow)),
        },
    },
];

/// Draws the machines pane.
pub fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let focused = app.focus == PaneId::Machines;
    let inner = area.width.saturating_sub(2) as usize;
    let ms = app.store.machines();
    let now = app.now();
    // names first: as many columns as leave them 14 columns (or the widest name)
    let widest =
        app.rows().iter().map(|r| ms[r.idx].id().chars().count() + 2 + 2 * r.depth as usize).max().unwrap_or(8);
    let name_min = widest.clamp(8, 14);
    let mut used = 0;
    let cols: Vec<&Column> = COLUMNS
        .iter()
        .take_while(|c| {
            used += c.width + 1;
            inner >= used + name_min
        })
        .collect();
    let cols_w: usize = cols.iter().map(|c| c.width + 1).sum();
    let name_w = inner.saturating_sub(cols_w).min(widest.max(8));
    let (sort, rev) = app.sort;
    let arrow = if rev { "▲" } else { "▼" };
    let mut head = vec![Span::styled(
        format!("{:<name_w$}", if sort == Sort::Name { format!("machine{arrow}") } else { "machine".into() }),
        dim(),
    )];
    for c in &cols {
        let h = if c.sort == sort { format!("{}{arrow}", c.head) } else { c.head.to_string() };
        head.push(Span::styled(format!(" {h:>w$}", w = c.width), dim()));
    }
    let mut lines = vec![Line::from(head)];
    let selected = app.selected().map(|m| m.key);
    let rows = app.rows();
    let at = rows.iter().position(|r| Some(ms[r.idx].key) == selected).unwrap_or(0);
    let room = (area.height as usize).saturating_sub(3);
    for r in &rows[window(rows.len(), at, room)] {
        let m = &ms[r.idx];
        let mark = if m.connected { "●" } else { "○" };
        let indent = "  ".repeat(r.depth as usize);
        let text = format!("{indent}{mark} {}", m.id());
        let mut name_style = if m.connected { Style::default() } else { dim() };
        if m.stats.exception_since.is_some() {
            name_style = name_style.fg(Color::Red);
        }
        let sel = Some(m.key) == selected;
        let hl = |s: Style| if sel { s.add_modifier(Modifier::REVERSED) } else { s };
        let mut spans = vec![Span::styled(format!("{:<name_w$}", fit(&text, name_w)), hl(name_style))];
        for c in &cols {
            let (v, st) = (c.cell)(m, now);
            spans.push(Span::styled(format!(" {v:>w$}", w = c.width), hl(st)));
        }
        lines.push(Line::from(spans));
    }
    let searching = app.overlay == Overlay::Search(PaneId::Machines);
    let mut title = if searching || !app.search.is_empty() {
        format!(" machines /{}{} ", app.search, if searching { "▏" } else { "" })
    } else {
        format!(" machines ({}) ", ms.len())
    };
    if sort != Sort::Tree {
        title.push_str(&format!("· by {} ", sort.name()));
    }
    if !app.warnings().is_empty() {
        title.push_str(&format!("· ⚠ {} (w) ", app.warnings().len()));
    }
    f.render_widget(Paragraph::new(lines).block(pane(fit(&title, inner).into_owned(), focused)), area);
}
