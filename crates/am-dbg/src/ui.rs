//! Drawing the [`Model`]: machines (tree), states (as of the selected transition, with the
//! highlighted state's relations both ways), the timeline, the selected transition's detail
//! (steps, log, pre-log, args) and a status bar with the filters and the keys. Colors are
//! the terminal's own named ones plus bold and reverse, so dark and light themes stay
//! readable; nothing needs graphics, so it works over SSH.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};

use am_dbg_proto::DbgMsgTx;

use crate::model::{MachineView, Model};

/// Which pane the arrow keys move in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Focus {
    /// The machines tree.
    Machines,
    /// The states list.
    States,
    /// The timeline (default).
    #[default]
    Timeline,
}

/// What the UI shows besides the model: focus, help, search input, a notice line.
#[derive(Debug, Default)]
pub struct View {
    /// The pane the arrow keys move in.
    pub focus: Focus,
    /// The help overlay is open.
    pub help: bool,
    /// Typing goes into the machine search.
    pub searching: bool,
    /// Where it listens or what file it shows, for the title.
    pub source: String,
    /// A line for the status bar (what a key did, errors).
    pub notice: String,
    /// Frames drawn in the last second (live).
    pub fps: u32,
    /// The mouse wheel scrolls (off: the terminal's own text selection, e.g. to copy a
    /// trace ID; most terminals also select with Shift while it is on).
    pub mouse: bool,
}

/// Every key, for the help overlay and the docs.
pub const KEYS: &[(&str, &str)] = &[
    ("Tab / Shift-Tab", "move focus: machines → states → timeline"),
    ("↑ ↓  (k j)", "move; in the timeline: time travel"),
    ("PgUp PgDn", "timeline: 100 transitions back / forward"),
    ("Home End  (g G)", "timeline: first / last transition"),
    ("f", "follow new transitions (tail)"),
    ("e", "next transition that raised Exception"),
    ("n", "next change of the highlighted state"),
    ("/", "search machines as you type (Enter or Esc ends)"),
    ("c a u z h", "hide canceled, auto, queued, empty, health"),
    ("l", "log level shown in the detail: 5 → 1, then all again"),
    ("m", "mouse wheel scrolling on/off (off: select text to copy)"),
    ("?", "this help (any key closes it)"),
    ("q / Ctrl-C", "quit (the terminal is restored)"),
];

fn pane<'a>(title: impl Into<Line<'a>>, focused: bool) -> Block<'a> {
    let b = Block::default().borders(Borders::ALL).title(title);
    if focused { b.border_style(Style::default().add_modifier(Modifier::BOLD).fg(Color::Cyan)) } else { b }
}

/// Draws everything.
pub fn draw(f: &mut Frame<'_>, model: &Model, view: &View) {
    let area = f.area();
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Min(8), Constraint::Length(12), Constraint::Length(1)])
        .split(area);
    let top = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(25), Constraint::Percentage(30), Constraint::Percentage(45)])
        .split(rows[0]);
    machines(f, top[0], model, view);
    states(f, top[1], model, view);
    timeline(f, top[2], model, view);
    detail(f, rows[1], model);
    status(f, rows[2], model, view);
    if view.help {
        help(f, area);
    }
}

fn machines(f: &mut Frame<'_>, area: Rect, model: &Model, view: &View) {
    let tree = model.tree();
    let selected = model.selected().map(|m| m.id().to_string());
    let items: Vec<ListItem<'_>> = tree
        .iter()
        .map(|&(i, depth)| {
            let m = &model.machines()[i];
            let mark = if m.connected { "●" } else { "○" };
            let mut spans = vec![Span::raw(format!("{}{mark} {} ", "  ".repeat(depth), m.id()))];
            spans.push(Span::styled(
                format!("{}", m.txs.len() as u64 + m.evicted),
                Style::default().fg(Color::DarkGray),
            ));
            if m.errors > 0 {
                spans.push(Span::styled(format!(" !{}", m.errors), Style::default().fg(Color::Red)));
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    let mut state = ListState::default();
    state.select(tree.iter().position(|&(i, _)| Some(model.machines()[i].id().to_string()) == selected));
    let title = if view.searching || !model.search.is_empty() {
        format!(" machines /{}{} ", model.search, if view.searching { "▏" } else { "" })
    } else {
        format!(" machines ({}) ", model.machines().len())
    };
    let list = List::new(items)
        .block(pane(title, view.focus == Focus::Machines))
        .highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    f.render_stateful_widget(list, area, &mut state);
}

/// The relations of `state` in both directions, as display lines.
fn relations(m: &MachineView, state: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(def) = m.schema.states.get(state) {
        for (name, list) in
            [("require", &def.require), ("add", &def.add), ("remove", &def.remove), ("after", &def.after)]
        {
            if !list.is_empty() {
                out.push(format!("→ {name} {}", list.join(" ")));
            }
        }
    }
    for (other, def) in &m.schema.states {
        for (name, list) in
            [("require", &def.require), ("add", &def.add), ("remove", &def.remove), ("after", &def.after)]
        {
            if list.iter().any(|s| s == state) {
                out.push(format!("← {other} {name}s it"));
            }
        }
    }
    out
}

fn states(f: &mut Frame<'_>, area: Rect, model: &Model, view: &View) {
    let Some(m) = model.selected() else {
        f.render_widget(Paragraph::new("waiting for machines…").block(pane(" states ", false)), area);
        return;
    };
    let clocks = model.clocks();
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
            style = style.add_modifier(Modifier::BOLD).fg(if name == "Exception" || name.starts_with("Err") {
                Color::Red
            } else {
                Color::Green
            });
        }
        if view.focus == Focus::States && i == model.state_cursor {
            style = style.add_modifier(Modifier::REVERSED);
        }
        let dot = if active { "■" } else { "□" };
        lines.push(Line::styled(format!("{dot} {name:<18} {flags} {tick:>6}"), style));
    }
    if let Some(name) = m.schema.states_index.get(model.state_cursor) {
        lines.push(Line::raw(""));
        lines.push(Line::styled(format!("{name}:"), Style::default().add_modifier(Modifier::BOLD)));
        lines.extend(relations(m, name).into_iter().map(Line::raw));
    }
    let when = if model.following() {
        "now".to_string()
    } else {
        model.current().map_or("-".into(), |c| format!("#{}", c + 1))
    };
    let title = format!(" {} @ {when} ", m.id());
    f.render_widget(Paragraph::new(lines).block(pane(title, view.focus == Focus::States)), area);
}

/// Called states' names, for the timeline and detail.
fn called(m: &MachineView, t: &DbgMsgTx) -> String {
    m.called(t).collect::<Vec<_>>().join(" ")
}

/// Stack trace lines shown in the detail at most.
const STACK_LINES: usize = 16;

fn kind(t: &DbgMsgTx) -> &'static str {
    match t.mutation_type {
        am_dbg_proto::MutationType::Add => "add",
        am_dbg_proto::MutationType::Remove => "remove",
        am_dbg_proto::MutationType::Set => "set",
    }
}

fn timeline(f: &mut Frame<'_>, area: Rect, model: &Model, view: &View) {
    let Some(m) = model.selected() else {
        f.render_widget(Paragraph::new("").block(pane(" timeline ", view.focus == Focus::Timeline)), area);
        return;
    };
    let tl = model.timeline();
    let cur = model.current();
    let rows = area.height.saturating_sub(2) as usize;
    // a window of the filtered timeline around the cursor
    let at = cur.and_then(|c| tl.iter().position(|&i| i == c)).unwrap_or(tl.len().saturating_sub(1));
    let start = at.saturating_sub(rows.saturating_sub(1) / 2).min(tl.len().saturating_sub(rows));
    let items: Vec<ListItem<'_>> = tl
        .iter()
        .skip(start)
        .take(rows)
        .map(|&i| {
            let t = &m.txs[i];
            let n = m.evicted + i as u64 + 1;
            let result = if t.is_queued {
                "queued"
            } else if t.accepted {
                "ok"
            } else {
                "cancel"
            };
            let text = format!(
                "{n:>6} t{:<5} {:<6} {:<6}{} {}",
                t.clocks.iter().sum::<u64>(),
                kind(t),
                result,
                if t.is_auto { " auto" } else { "" },
                called(m, t)
            );
            let mut style = Style::default();
            if t.is_queued {
                style = style.fg(Color::DarkGray);
            } else if !t.accepted {
                style = style.fg(Color::Yellow);
            }
            if Some(i) == cur {
                style = style.add_modifier(Modifier::REVERSED);
            }
            ListItem::new(Line::styled(text, style))
        })
        .collect();
    let follow = if model.following() { " · following" } else { " · time travel" };
    let evicted = if m.evicted > 0 { format!(" · {} oldest dropped (retention)", m.evicted) } else { String::new() };
    let title = format!(" timeline {}/{}{follow}{evicted} ", tl.len(), m.txs.len());
    f.render_widget(List::new(items).block(pane(title, view.focus == Focus::Timeline)), area);
}

fn detail(f: &mut Frame<'_>, area: Rect, model: &Model) {
    let (Some(m), Some(c)) = (model.selected(), model.current()) else {
        f.render_widget(Paragraph::new("").block(pane(" transition ", false)), area);
        return;
    };
    let Some(t) = m.txs.get(c) else { return };
    let mut lines: Vec<Line<'_>> = Vec::new();
    let head = format!(
        "{} {} [{}] {}{}{}  queue {}  tick {}",
        t.id,
        kind(t),
        called(m, t),
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
        let dim = Style::default().fg(Color::DarkGray);
        let frames: Vec<&str> = t.stack_trace.lines().collect();
        for l in frames.iter().take(STACK_LINES) {
            lines.push(Line::styled(format!("  {}", l.trim_start()), dim));
        }
        if frames.len() > STACK_LINES {
            lines.push(Line::styled(format!("  … {} more lines", frames.len() - STACK_LINES), dim));
        }
    }
    for s in &t.steps {
        let what = match s.step_type {
            t if t & 64 != 0 => "cancel",
            t if t & 32 != 0 => "requested",
            t if t & 1 != 0 => "relation",
            t if t & 2 != 0 => "handler",
            t if t & 4 != 0 => "activate",
            t if t & 8 != 0 => "deactivate",
            t if t & 16 != 0 => "deactivate (passive)",
            _ => "step",
        };
        let rel = if s.step_type & 1 != 0 {
            match s.rel_type {
                0 => " after",
                1 => " add",
                2 => " require",
                _ => " remove",
            }
        } else {
            ""
        };
        let from = if s.from_state.is_empty() { String::new() } else { format!("{} → ", s.from_state) };
        lines.push(Line::raw(format!("  step {what}{rel} {from}{}", s.to_state)));
    }
    let shown = |l: &&am_dbg_proto::DbgLogEntry| l.level <= model.log_level;
    for l in t.pre_log_entries.iter().filter(shown) {
        lines.push(Line::styled(format!("  pre  {}", l.text), Style::default().fg(Color::DarkGray)));
    }
    for l in t.log_entries.iter().filter(shown) {
        lines.push(Line::raw(format!("  log  {}", l.text)));
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(pane(" transition ", false)), area);
}

/// Unix nanoseconds as `HH:MM:SS.mmm` UTC.
fn human_time(ns: u64) -> String {
    let ms = ns / 1_000_000;
    let (s, ms) = (ms / 1000, ms % 1000);
    format!("{:02}:{:02}:{:02}.{ms:03} UTC", (s / 3600) % 24, (s / 60) % 60, s % 60)
}

fn status(f: &mut Frame<'_>, area: Rect, model: &Model, view: &View) {
    let text = format!(
        " {} · {} msgs{} · filters: {}{} · ? help · q quit {}",
        view.source,
        model.received,
        if view.fps > 0 { format!(" · {} fps", view.fps) } else { String::new() },
        model.filters.describe(),
        if model.log_level < 5 { format!(" · log ≤{}", model.log_level) } else { String::new() },
        if view.notice.is_empty() { String::new() } else { format!("· {}", view.notice) }
    );
    f.render_widget(Paragraph::new(text).style(Style::default().add_modifier(Modifier::REVERSED)), area);
}

fn help(f: &mut Frame<'_>, area: Rect) {
    let w = area.width.min(78);
    let h = (KEYS.len() as u16 + 4).min(area.height);
    let r = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    let lines: Vec<Line<'_>> = KEYS.iter().map(|(k, what)| Line::raw(format!(" {k:<20} {what}"))).collect();
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" keys ")), r);
}
