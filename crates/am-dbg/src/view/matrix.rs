//! The matrix (`M`), in the timeline's place and moving with it: one row per shown entry,
//! one cell per state (the selected group's, or all) saying what the transition did to it —
//! what the Go am-dbg's matrix and rain views show, in one view. A header of column numbers
//! matches the states pane, which numbers its rows while the matrix is on; when the states
//! do not fit, the columns scroll to keep the highlighted state in view.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use am_dbg_proto::DbgMsgTx;

use crate::app::{App, PaneId};
use crate::store::MachineView;

use super::{dim, fit, pane, window};

/// What a transition did to one state, as a cell.
pub(crate) fn cell(m: &MachineView, t: &DbgMsgTx, before: Option<&DbgMsgTx>, i: usize) -> (char, Style) {
    let called = t.called_states_idxs.contains(&(i as i64));
    let after = t.clocks.get(i).copied().unwrap_or(0);
    let prev = before.and_then(|b| b.clocks.get(i).copied()).unwrap_or(0);
    let active = after % 2 == 1;
    let touched = t.steps.iter().any(|s| s.from_state_idx == i as i64 || s.to_state_idx == i as i64);
    let name = m.schema.states_index.get(i).map_or("", String::as_str);
    let on = if name == am_core::EXCEPTION || name.starts_with("Err") { Color::Red } else { Color::Green };
    let (c, mut style) = if t.is_queued {
        (if called { 'q' } else { '·' }, dim())
    } else if active && after != prev {
        ('+', Style::default().fg(on).add_modifier(Modifier::BOLD))
    } else if active {
        ('1', Style::default().fg(on))
    } else if after != prev {
        ('-', Style::default().fg(Color::Yellow).add_modifier(Modifier::BOLD))
    } else if called && !t.accepted {
        ('c', Style::default().fg(Color::Yellow))
    } else if touched {
        ('*', Style::default())
    } else {
        ('·', dim())
    };
    if called {
        style = style.add_modifier(Modifier::UNDERLINED);
    }
    (c, style)
}

/// Draws the matrix.
pub fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let focused = app.focus == PaneId::Timeline;
    let Some(m) = app.selected() else {
        f.render_widget(Paragraph::new("").block(pane(" matrix ", focused)), area);
        return;
    };
    let tl = app.timeline().rows();
    let cur = app.current();
    let width = area.width.saturating_sub(2) as usize;
    let rows = area.height.saturating_sub(3) as usize;
    let at = cur.and_then(|c| app.timeline().position(c).ok()).unwrap_or(tl.len().saturating_sub(1));
    let range = window(tl.len(), at, rows);
    let num_w = tl.range(range.clone()).next_back().map_or(1, |l| (l + 1).to_string().len()).max(2);
    let states = app.visible_states();
    // two columns a state when there is room for the called names too, else one
    let room = width.saturating_sub(num_w + 2);
    let cw = if states.len() * 2 + 12 <= room { 2 } else { 1 };
    let fit_n = (room / cw).max(1).min(states.len());
    let hl = app.nav().state;
    let pos = states.iter().position(|&s| s == hl).unwrap_or(0);
    let first = pos.saturating_sub(fit_n.saturating_sub(1) / 2).min(states.len() - fit_n.min(states.len()));
    let cols = &states[first..first + fit_n];
    let mut head = vec![Span::raw(" ".repeat(num_w + 1))];
    for &i in cols {
        let st = if i == hl { Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED) } else { dim() };
        head.push(Span::styled(format!("{:<cw$}", i % 10), st));
    }
    if first + fit_n < states.len() || first > 0 {
        head.push(Span::styled(format!(" {}–{} of {}", first, first + fit_n - 1, states.len()), dim()));
    }
    let mut lines = vec![Line::from(head)];
    for &abs in tl.range(range) {
        let Some(t) = m.tx(abs) else { continue };
        let before = m.prev_tx(abs);
        let here = Some(abs) == cur;
        let row_style = if here { Style::default().add_modifier(Modifier::REVERSED) } else { Style::default() };
        let mut spans = vec![Span::styled(format!("{:>num_w$} ", abs + 1), row_style)];
        for &i in cols {
            let (c, st) = cell(m, t, before, i);
            let st = if here { st.add_modifier(Modifier::REVERSED) } else { st };
            spans.push(Span::styled(format!("{c:<cw$}"), st));
        }
        let used = num_w + 1 + cols.len() * cw;
        if width > used + 3 {
            let called = m.called(t).collect::<Vec<_>>().join(" ");
            let text = fit(&called, width - used - 1).into_owned();
            spans.push(Span::styled(format!(" {text}"), if t.accepted { dim() } else { row_style.fg(Color::Yellow) }));
        }
        lines.push(Line::from(spans));
    }
    let mode = if app.player.playing {
        " · playing"
    } else if app.following() {
        " · following"
    } else {
        " · time travel"
    };
    let title = format!(" matrix {}/{}{mode} ", tl.len(), m.txs.len());
    f.render_widget(Paragraph::new(lines).block(pane(fit(&title, width).into_owned(), focused)), area);
}
