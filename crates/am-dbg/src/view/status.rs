//! The status bar: what the last key did (or the search prompt), the filters, the log
//! level, the player, messages and frames per second, the source — and, always at the
//! right, the help key. When it does not all fit, the least useful parts go first and the
//! source is cut with an ellipsis.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::Paragraph;

use crate::app::{App, Overlay};

use super::fit;

/// The keys always shown.
const KEYS: &str = " ? help · q quit ";

/// The status bar's text for a width.
pub(crate) fn text(app: &App, width: usize) -> String {
    let s = &app.status;
    let level = app.filters.log_level as u8;
    let notice = match app.overlay {
        Overlay::Search(_) => "typing a search: Enter keeps it, Esc clears it".to_string(),
        _ => s.notice.clone(),
    };
    // (priority, text); higher stays longer
    let mut parts: Vec<(u8, String)> = vec![
        (1, s.source.clone()),
        (4, format!("{} msgs", app.store.received)),
        (2, if s.fps > 0 { format!("{} fps", s.fps) } else { String::new() }),
        (6, format!("filters: {}", app.filters.describe(app.group().map(|g| g.0)))),
        (5, if level < 5 { format!("log ≤{level}") } else { String::new() }),
        (3, if app.filters.both_rows { "queued rows: both".into() } else { String::new() }),
        (7, notice),
    ];
    parts.retain(|(_, t)| !t.is_empty());
    let room = width.saturating_sub(KEYS.chars().count());
    let join = |p: &[(u8, String)]| p.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join(" · ");
    while parts.len() > 1 && join(&parts).chars().count() + 1 > room {
        let (i, _) = parts.iter().enumerate().min_by_key(|(_, (p, _))| *p).unwrap_or((0, &(0, String::new())));
        // the source is cut rather than dropped while it is the only thing too long
        if parts[i].0 == 1 && join(&parts[1..]).chars().count() + 12 < room {
            let keep = room.saturating_sub(join(&parts[1..]).chars().count() + 4);
            parts[i].1 = fit(&parts[i].1, keep).into_owned();
            break;
        }
        parts.remove(i);
    }
    let left = fit(&join(&parts), room.saturating_sub(1)).into_owned();
    let pad = room.saturating_sub(left.chars().count() + 1);
    format!(" {left}{}{KEYS}", " ".repeat(pad))
}

/// Draws the status bar.
pub fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let t = text(app, area.width as usize);
    f.render_widget(Paragraph::new(t).style(Style::default().add_modifier(Modifier::REVERSED)), area);
}
