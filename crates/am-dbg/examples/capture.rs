//! Prints what the TUI shows for a recording, as text: the README's TUI capture
//! (`cargo xtask captures` regenerates it from `docs/captures/demo.jsonl`). Drawn by the TUI's
//! own `draw` into ratatui's `TestBackend`, so the same recording gives the same text, every
//! time (a live terminal's status bar shows the frame rate too).
//!
//! `cargo run -p am-dbg --example capture -- FILE [WIDTH HEIGHT [MACHINE]]`

use am_dbg::app::App;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = args.first().ok_or("usage: capture FILE [WIDTH HEIGHT [MACHINE]]")?;
    let num = |i: usize, d: u16| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
    let (w, h) = (num(1, 100), num(2, 24));
    let msgs = am_dbg_proto::read_recording(std::path::Path::new(file))?;
    let mut app = App::from_messages(msgs, 10_000);
    if let Some(id) = args.get(3) {
        app.select_id(id);
    }
    let name = std::path::Path::new(file).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    app.status.source = name;
    app.size = (w, h);
    print!("{}", am_dbg::view::screen_text(&app, w, h));
    Ok(())
}
