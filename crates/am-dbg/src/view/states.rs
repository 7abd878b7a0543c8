//! The states pane: the selected machine's states (or its selected group's) as of the
//! selected transition — or, stepping through it, as of the step — with auto / multi marks,
//! what the steps so far did to each state, its tick, and the relation lines of the relation
//! steps so far; then the highlighted state's relations in both directions. Names are cut
//! with an ellipsis so the ticks always stay in their column.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, PaneId, RelLine, StepView, mark};
use crate::store::MachineView;

use super::{dim, fit, pane};

/// The four relations of a state definition, named.
fn relation_lists(def: &am_dbg_proto::StateDef) -> [(&'static str, &Vec<String>); 4] {
    [("require", &def.require), ("add", &def.add), ("remove", &def.remove), ("after", &def.after)]
}

/// The relations of `state` in both directions, as display lines.
pub(crate) fn relations(m: &MachineView, state: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(def) = m.schema.states.get(state) {
        for (name, list) in relation_lists(def) {
            if !list.is_empty() {
                out.push(format!("→ {name} {}", list.join(" ")));
            }
        }
    }
    for (other, def) in &m.schema.states {
        for (name, list) in relation_lists(def) {
            if list.iter().any(|s| s == state) {
                out.push(format!("← {other} {name}s it"));
            }
        }
    }
    out
}

/// A relation's letter in the relation lines.
fn letter(r: am_core::Relation) -> char {
    match r {
        am_core::Relation::Require => 'r',
        am_core::Relation::Add => 'a',
        am_core::Relation::Remove => 'x',
        am_core::Relation::After => '>',
    }
}

/// The relation-line cell of row `row` (a position among the listed states) for one line.
fn rel_cell(l: &RelLine, pos: &dyn Fn(usize) -> Option<usize>, row: usize) -> Option<(char, Style)> {
    let (a, b) = (pos(l.from)?, pos(l.to)?);
    let (lo, hi) = (a.min(b), a.max(b));
    if row == a {
        Some((letter(l.rel), Style::default().fg(Color::Green).add_modifier(Modifier::BOLD)))
    } else if row == b {
        Some((if b > a { '┘' } else { '┐' }, Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)))
    } else if row > lo && row < hi {
        Some(('│', dim()))
    } else {
        None
    }
}

/// The step mark of a state: the strongest of what the steps did to it.
fn step_mark(bits: u8) -> &'static str {
    if bits & mark::CANCEL != 0 {
        "!"
    } else if bits & mark::ACTIVATED != 0 {
        "+"
    } else if bits & mark::DEACTIVATED != 0 {
        "-"
    } else if bits & mark::HANDLER != 0 {
        "*"
    } else {
        " "
    }
}

/// Draws the states pane.
pub fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let focused = app.focus == PaneId::States;
    let Some(m) = app.selected() else {
        f.render_widget(Paragraph::new("waiting for machines…").block(pane(" states ", focused)), area);
        return;
    };
    let inner = area.width.saturating_sub(2) as usize;
    let clocks = app.clocks();
    let steps: Option<StepView> = app.step_view();
    let shown = app.visible_states();
    let cursor = app.nav().state;
    // relation lines: one column each, the latest when they do not all fit
    // a relation followed twice (Go evaluates some again) is one line
    let mut lines_rel: Vec<RelLine> = Vec::new();
    for l in steps.iter().flat_map(|s| &s.relations) {
        if !lines_rel.contains(l) {
            lines_rel.push(*l);
        }
    }
    let max_cols = inner.saturating_sub(16);
    let hidden_rel = lines_rel.len().saturating_sub(max_cols);
    let lines_rel = &lines_rel[hidden_rel..];
    let pos = |s: usize| shown.iter().position(|&x| x == s);
    let tick_w = clocks.iter().map(|c| c.to_string().len()).max().unwrap_or(1);
    let marks_w = if steps.is_some() { 1 } else { 0 };
    let rel_w = if lines_rel.is_empty() { 0 } else { lines_rel.len() + 1 };
    // "■ " name " " AM marks " " tick rels
    let flags_w = if inner >= 20 { 2 } else { 0 };
    // the matrix's column numbers
    let idx_w = if app.panes.matrix { 2 } else { 0 };
    let longest = shown.iter().filter_map(|&i| m.schema.states_index.get(i)).map(|n| n.chars().count()).max();
    let name_w =
        inner.saturating_sub(2 + idx_w + 1 + flags_w + marks_w + 1 + tick_w + rel_w).min(longest.unwrap_or(0)).max(3);
    let mut lines: Vec<Line<'_>> = Vec::new();
    let groups: Vec<&str> = m.groups().map(|(n, _)| n).collect();
    let room = (area.height as usize).saturating_sub(2);
    if !groups.is_empty() && room > shown.len() + 2 {
        let sel = app.group().map(|g| g.0);
        let all: usize = groups.iter().map(|g| g.chars().count() + 1).sum::<usize>() + 11;
        let mut spans = vec![Span::styled("groups ", dim())];
        if all <= inner {
            for g in std::iter::once("all").chain(groups.iter().copied()) {
                let on = sel == Some(g) || (sel.is_none() && g == "all");
                let st = if on { Style::default().add_modifier(Modifier::REVERSED) } else { Style::default() };
                spans.push(Span::styled(g.to_string(), st));
                spans.push(Span::raw(" "));
            }
        } else {
            let name = fit(sel.unwrap_or("all"), inner.saturating_sub(10)).into_owned();
            spans = vec![Span::styled("group ", dim())];
            spans.push(Span::styled(name, Style::default().add_modifier(Modifier::REVERSED)));
            spans.push(Span::styled(" (o)", dim()));
        }
        lines.push(Line::from(spans));
    }
    for (row, &i) in shown.iter().enumerate() {
        let name = m.schema.states_index.get(i).map_or("?", String::as_str);
        let tick = match &steps {
            Some(s) => s.ticks.get(i).copied().unwrap_or(0),
            None => clocks.get(i).copied().unwrap_or(0),
        };
        let active = match &steps {
            Some(s) => s.active.get(i).copied().unwrap_or(false),
            None => tick % 2 == 1,
        };
        let bits = steps.as_ref().and_then(|s| s.marks.get(i).copied()).unwrap_or(0);
        let def = m.schema.states.get(name);
        let mut style = Style::default();
        if active {
            let err = name == am_core::EXCEPTION || name.starts_with("Err");
            style = style.add_modifier(Modifier::BOLD).fg(if err { Color::Red } else { Color::Green });
        }
        let mut name_style = style;
        if bits & mark::TOUCHED != 0 {
            name_style = name_style.add_modifier(Modifier::BOLD);
        }
        if bits & mark::CALLED != 0 {
            name_style = name_style.add_modifier(Modifier::UNDERLINED);
        }
        if focused && i == cursor {
            style = style.add_modifier(Modifier::REVERSED);
            name_style = name_style.add_modifier(Modifier::REVERSED);
        }
        let flags = if flags_w > 0 {
            format!(
                "{}{}",
                if def.is_some_and(|d| d.auto) { "A" } else { " " },
                if def.is_some_and(|d| d.multi) { "M" } else { " " }
            )
        } else {
            String::new()
        };
        let dot = if active { "■ " } else { "□ " };
        let mut spans = vec![Span::styled(dot, style)];
        if idx_w > 0 {
            spans.push(Span::styled(format!("{} ", i % 10), dim()));
        }
        spans.extend([
            Span::styled(format!("{:<name_w$}", fit(name, name_w)), name_style),
            Span::styled(format!(" {flags}"), style),
        ]);
        if marks_w > 0 {
            spans.push(Span::styled(step_mark(bits), Style::default().add_modifier(Modifier::BOLD)));
        }
        spans.push(Span::styled(format!(" {tick:>tick_w$}"), style));
        if !lines_rel.is_empty() {
            spans.push(Span::raw(" "));
            for l in lines_rel {
                spans.push(match rel_cell(l, &pos, row) {
                    Some((c, st)) => Span::styled(c.to_string(), st),
                    None => Span::raw(" "),
                });
            }
        }
        lines.push(Line::from(spans));
    }
    if let Some(name) = m.schema.states_index.get(cursor) {
        let rel = relations(m, name);
        if room > lines.len() + 2 {
            lines.push(Line::raw(""));
            lines.push(Line::styled(format!("{name}:"), Style::default().add_modifier(Modifier::BOLD)));
            lines.extend(rel.into_iter().map(|r| Line::raw(fit(&r, inner).into_owned())));
        }
    }
    let when =
        if app.following() { "now".to_string() } else { app.current().map_or("-".into(), |c| format!("#{}", c + 1)) };
    let mut title = format!(" {} @ {when}", m.id());
    if let Some(s) = &steps {
        title.push_str(&format!(" · step {}/{}", s.applied, s.total));
        if hidden_rel > 0 {
            title.push_str(&format!(" (+{hidden_rel} rel)"));
        }
    }
    if let Some((g, _)) = app.group() {
        title.push_str(&format!(" · {g}"));
    }
    title.push(' ');
    let title = fit(&title, inner).into_owned();
    f.render_widget(Paragraph::new(lines).block(pane(title, focused)), area);
}
