//! The states pane: the selected machine's states as of the selected transition (time
//! travel) with their ticks and auto / multi marks, and the highlighted state's relations in
//! both directions.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use crate::app::{App, PaneId};
use crate::store::MachineView;

use super::{fit, pane};

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

/// Draws the states pane.
pub fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let Some(m) = app.selected() else {
        f.render_widget(Paragraph::new("waiting for machines…").block(pane(" states ", false)), area);
        return;
    };
    let clocks = app.clocks();
    let cursor = app.nav().state;
    let mut lines: Vec<Line<'_>> = Vec::new();
    for (i, name) in m.schema.states_index.iter().enumerate() {
        let tick = clocks.get(i).copied().unwrap_or(0);
        let active = tick % 2 == 1;
        let def = m.schema.states.get(name);
        let flags = format!(
            "{}{}",
            if def.is_some_and(|d| d.auto) { "A" } else { " " },
            if def.is_some_and(|d| d.multi) { "M" } else { " " }
        );
        let mut style = Style::default();
        if active {
            let err = name == am_core::EXCEPTION || name.starts_with("Err");
            style = style.add_modifier(Modifier::BOLD).fg(if err { Color::Red } else { Color::Green });
        }
        if app.focus == PaneId::States && i == cursor {
            style = style.add_modifier(Modifier::REVERSED);
        }
        let dot = if active { "■" } else { "□" };
        lines.push(Line::styled(format!("{dot} {:<18} {flags} {tick:>6}", fit(name, 18)), style));
    }
    if let Some(name) = m.schema.states_index.get(cursor) {
        lines.push(Line::raw(""));
        lines.push(Line::styled(format!("{name}:"), Style::default().add_modifier(Modifier::BOLD)));
        lines.extend(relations(m, name).into_iter().map(Line::raw));
    }
    let when =
        if app.following() { "now".to_string() } else { app.current().map_or("-".into(), |c| format!("#{}", c + 1)) };
    let title = format!(" {} @ {when} ", m.id());
    f.render_widget(Paragraph::new(lines).block(pane(title, app.focus == PaneId::States)), area);
}
