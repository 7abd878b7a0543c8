//! The transition detail: the selected entry's header (kind, called states, result, queue,
//! tick), time, trace ID, source, args, the stack trace of where it was queued, its steps
//! and its log lines; and in its place on `D`, the machine's histograms.

use am_core::{Relation, StepKind};
use am_dbg_proto::DbgStep;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::App;

use super::{dim, human_time, kind, pane};

/// Stack trace lines shown at most.
const STACK_LINES: usize = 16;

/// A step's kind as the detail names it.
pub(crate) fn step_name(k: Option<StepKind>) -> &'static str {
    match k {
        Some(StepKind::Cancel) => "cancel",
        Some(StepKind::Requested) => "requested",
        Some(StepKind::Relation) => "relation",
        Some(StepKind::Handler) => "handler",
        Some(StepKind::Activate) => "activate",
        Some(StepKind::Deactivate) => "deactivate",
        Some(StepKind::DeactivatePassive) => "deactivate (passive)",
        None => "step",
    }
}

/// A relation's name.
pub(crate) fn relation_name(r: Relation) -> &'static str {
    match r {
        Relation::After => "after",
        Relation::Add => "add",
        Relation::Require => "require",
        Relation::Remove => "remove",
    }
}

/// One step as a line of text.
pub(crate) fn step_text(s: &DbgStep) -> String {
    let rel = s.relation().map_or(String::new(), |r| format!(" {}", relation_name(r)));
    let from = if s.from_state.is_empty() { String::new() } else { format!("{} → ", s.from_state) };
    format!("step {}{rel} {from}{}", step_name(s.kind()), s.to_state)
}

/// Draws the detail.
pub fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let (Some(m), Some(t)) = (app.selected(), app.current_tx()) else {
        f.render_widget(Paragraph::new("").block(pane(" transition ", false)), area);
        return;
    };
    let called = m.called(t).collect::<Vec<_>>().join(" ");
    let mut lines: Vec<Line<'_>> = Vec::new();
    let head = format!(
        "{} {} [{called}] {}{}{}  queue {}  tick {}",
        t.id,
        kind(t),
        if t.accepted { "accepted" } else { "canceled" },
        if t.is_auto { " auto" } else { "" },
        if t.is_queued { " (queued)" } else { "" },
        t.queue,
        t.queue_tick
    );
    lines.push(Line::styled(head, Style::default().add_modifier(Modifier::BOLD)));
    if let Some(time) = t.time {
        lines.push(Line::raw(format!("time {}", human_time(time))));
    }
    if !t.trace_id.is_empty() {
        lines.push(Line::raw(format!("trace {}", t.trace_id)));
    }
    if let Some(s) = &t.source {
        lines.push(Line::raw(format!("source {} tx {} (machine time {})", s.machine_id, s.tx_id, s.machine_time)));
    }
    if !t.args.is_empty() {
        let args: Vec<String> = t.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        lines.push(Line::raw(format!("args {}", args.join(" "))));
    }
    if !t.stack_trace.is_empty() {
        // where the mutation was queued from (tracers with stack traces on)
        lines.push(Line::raw("stack"));
        let frames: Vec<&str> = t.stack_trace.lines().collect();
        for l in frames.iter().take(STACK_LINES) {
            lines.push(Line::styled(format!("  {}", l.trim_start()), dim()));
        }
        if frames.len() > STACK_LINES {
            lines.push(Line::styled(format!("  … {} more lines", frames.len() - STACK_LINES), dim()));
        }
    }
    for s in &t.steps {
        lines.push(Line::raw(format!("  {}", step_text(s))));
    }
    let level = app.filters.log_level as u8;
    for l in t.pre_log_entries.iter().filter(|l| l.level <= level) {
        lines.push(Line::styled(format!("  pre  {}", l.text), dim()));
    }
    for l in t.log_entries.iter().filter(|l| l.level <= level) {
        lines.push(Line::raw(format!("  log  {}", l.text)));
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(pane(" transition ", false)), area);
}

/// Draws the machine's histograms in the detail's place.
pub fn draw_stats(f: &mut Frame<'_>, area: Rect, app: &App) {
    let _ = app;
    f.render_widget(Paragraph::new("").block(pane(" histograms ", false)), area);
}
