//! The transition detail: the selected entry's header (kind, called states, result, queue,
//! tick), time, trace ID, source, args, the stack trace of where it was queued, its steps
//! and its log lines; and in its place on `D`, the machine's histograms.

use am_core::{Relation, StepKind};
use am_dbg_proto::DbgStep;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::App;
use crate::store::Hist;

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
    let states = match (s.from_state.as_str(), s.to_state.as_str()) {
        ("", to) => to.to_string(),
        (from, "") => from.to_string(),
        (from, to) => format!("{from} → {to}"),
    };
    format!("step {}{rel} {states}", step_name(s.kind()))
}

/// A duration in ns, short: `850ns`, `12.5µs`, `3.2ms`, `1.50s`.
pub(crate) fn dur(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{:.1}µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}ms", ns as f64 / 1e6),
        _ => format!("{:.2}s", ns as f64 / 1e9),
    }
}

/// Draws the detail.
pub fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let (Some(m), Some(cur), Some(t)) = (app.selected(), app.current(), app.current_tx()) else {
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
    let mut when = Vec::new();
    if let Some(time) = t.time {
        when.push(format!("time {}", human_time(time)));
    }
    if let Some(d) = t.duration_ns {
        when.push(format!("took {}", dur(d)));
    }
    // the other half of a queued ↔ executed pair
    if let Some(other) = m.meta(cur).linked() {
        let o = m.tx(other);
        let wait = match (o.and_then(|o| o.time), t.time) {
            (Some(a), Some(b)) => format!(", {} apart", dur(a.abs_diff(b))),
            _ => String::new(),
        };
        when.push(if t.is_queued {
            format!("ran as #{}{wait}", other + 1)
        } else {
            format!("queued as #{} (queue {}){wait}", other + 1, o.map_or(0, |o| o.queue))
        });
    }
    if !when.is_empty() {
        lines.push(Line::raw(when.join(" · ")));
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
    // a merged transition shows where its mutation was queued from
    let stack = if t.stack_trace.is_empty() {
        m.meta(cur).linked().and_then(|q| m.tx(q)).map_or("", |q| q.stack_trace.as_str())
    } else {
        &t.stack_trace
    };
    if !stack.is_empty() {
        lines.push(Line::raw("stack"));
        let frames: Vec<&str> = stack.lines().collect();
        for l in frames.iter().take(STACK_LINES) {
            lines.push(Line::styled(format!("  {}", l.trim_start()), dim()));
        }
        if frames.len() > STACK_LINES {
            lines.push(Line::styled(format!("  … {} more lines", frames.len() - STACK_LINES), dim()));
        }
    }
    let stepping = app.nav().step;
    let mut focus_line = 0;
    for (i, s) in t.steps.iter().enumerate() {
        let (mark, style) = match stepping {
            Some(k) if i + 1 == k => {
                focus_line = lines.len();
                ("▶ ", Style::default().add_modifier(Modifier::BOLD))
            }
            Some(k) if i >= k => ("  ", dim()),
            _ => ("  ", Style::default()),
        };
        lines.push(Line::styled(format!("{mark}{}", step_text(s)), style));
    }
    let level = app.filters.log_level as u8;
    for l in t.pre_log_entries.iter().filter(|l| l.level <= level) {
        lines.push(Line::styled(format!("  pre  {}", l.text), dim()));
    }
    for l in t.log_entries.iter().filter(|l| l.level <= level) {
        lines.push(Line::raw(format!("  log  {}", l.text)));
    }
    // keep the current step in view
    let rows = area.height.saturating_sub(2) as usize;
    let scroll = focus_line.saturating_sub(rows.saturating_sub(2)) as u16;
    let title = match stepping {
        Some(k) => format!(" transition #{} · step {k}/{} ", cur + 1, t.steps.len()),
        None => format!(" transition #{} ", cur + 1),
    };
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).scroll((scroll, 0)).block(pane(title, false)),
        area,
    );
}

/// A histogram as lines: one bar per bucket from the lowest to the highest used, labelled
/// with the bucket's upper bound by `unit`.
fn hist_lines(h: &Hist, width: usize, unit: fn(u64) -> String) -> Vec<Line<'static>> {
    if h.count == 0 {
        return Vec::new();
    }
    let span = h.span();
    let most = span.clone().map(|b| h.buckets[b]).max().unwrap_or(1).max(1);
    let bar_w = width.saturating_sub(16).max(4);
    span.map(|b| {
        let n = h.buckets[b];
        let upper = if b == 0 { 0 } else { (1u64 << (b - 1)).saturating_mul(2) - 1 };
        let len = (n as f64 / most as f64 * bar_w as f64).ceil() as usize;
        Line::from(vec![
            Span::styled(format!("{:>8} ", format!("≤{}", unit(upper))), dim()),
            Span::styled("█".repeat(len), Style::default().fg(Color::Cyan)),
            Span::raw(format!(" {n}")),
        ])
    })
    .collect()
}

/// Draws the machine's histograms in the detail's place: transition durations (when its
/// client sends them) and queue length at transition end.
pub fn draw_stats(f: &mut Frame<'_>, area: Rect, app: &App) {
    let Some(m) = app.selected() else {
        f.render_widget(Paragraph::new("").block(pane(" histograms ", false)), area);
        return;
    };
    let width = area.width.saturating_sub(2) as usize;
    let (d, q) = (&m.stats.duration_hist, &m.stats.queue_hist);
    let summary = |h: &Hist, unit: fn(u64) -> String| {
        format!(
            "p50 {} p90 {} p99 {} max {} n {}",
            unit(h.quantile(0.5)),
            unit(h.quantile(0.9)),
            unit(h.quantile(0.99)),
            unit(h.max),
            h.count
        )
    };
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut left = vec![Line::styled("transition duration", bold)];
    if d.count == 0 {
        left.push(Line::styled("none sent: DbgTracer::builder().durations(true)", dim()));
    } else {
        left.push(Line::raw(summary(d, dur)));
        left.extend(hist_lines(d, width / 2, dur));
    }
    let mut right = vec![Line::styled("queue length at transition end", bold)];
    right.push(Line::raw(summary(q, |n| n.to_string())));
    right.extend(hist_lines(q, width / 2, |n| n.to_string()));
    let title = format!(" histograms · {} (D: back to the transition) ", m.id());
    let block = pane(title, false);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let half = Rect { width: (inner.width / 2).saturating_sub(2), ..inner };
    let rest = Rect { x: inner.x + inner.width / 2, width: inner.width - inner.width / 2, ..inner };
    f.render_widget(Paragraph::new(left).wrap(Wrap { trim: false }), half);
    f.render_widget(Paragraph::new(right).wrap(Wrap { trim: false }), rest);
}
