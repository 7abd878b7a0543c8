//! The warnings pane.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::Paragraph;

use crate::app::App;

use super::pane;

/// Draws the warnings pane.
pub fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let _ = app;
    f.render_widget(Paragraph::new("").block(pane(" warnings ", false)), area);
}
