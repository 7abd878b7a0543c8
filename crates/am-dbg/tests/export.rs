//! Export from the UI (`s`, then 1–5): the selected machine or all of them as `.gob.br` (read
//! back as the Go am-dbg reads it) or JSON lines (read back as a recording), and the screen
//! as text, into `--dir`; the status bar says where.

mod support;

use am_dbg::action::Action;
use am_dbg::app::Overlay;
use am_dbg_proto::{DbgMsg, read_recording};
use am_testkit::TempDir;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

fn press(app: &mut am_dbg::app::App, c: char) {
    app.key(KeyEvent::from(KeyCode::Char(c)));
}

fn written(app: &am_dbg::app::App) -> std::path::PathBuf {
    let n = &app.status.notice;
    assert!(n.starts_with("exported "), "{n}");
    n.split(" to ").last().unwrap().into()
}

#[test]
fn the_menu_writes_a_machine_all_machines_and_the_screen() {
    let dir = TempDir::new("dbg-export");
    let mut app = support::session();
    app.export_dir = dir.path().to_path_buf();
    app.size = (100, 30);
    app.handle(Action::Export);
    assert_eq!(app.overlay, Overlay::Export);
    let menu = am_dbg::view::screen_text(&app, 100, 30);
    assert!(menu.contains("1  this machine, .gob.br") && menu.contains("5  the screen, as text"), "{menu}");
    press(&mut app, '1');
    assert_eq!(app.overlay, Overlay::None);
    let gob = written(&app);
    assert!(gob.to_string_lossy().contains("am-dbg-shop-") && gob.extension().unwrap() == "br", "{gob:?}");
    let msgs = read_recording(&gob).unwrap();
    assert!(matches!(&msgs[0], DbgMsg::Schema(s) if s.id == "shop"));
    assert_eq!(msgs.iter().filter(|m| matches!(m, DbgMsg::Tx(_))).count(), 10, "every kept entry");
    assert!(msgs.iter().all(|m| m.machine_id() == "shop"));

    app.handle(Action::Export);
    press(&mut app, '4');
    let all = read_recording(&written(&app)).unwrap();
    assert_eq!(all.iter().filter(|m| matches!(m, DbgMsg::Schema(_))).count(), 4);
    assert_eq!(all.len(), 4 + 10 + 3 + 1);

    app.handle(Action::Export);
    press(&mut app, '5');
    let text = std::fs::read_to_string(written(&app)).unwrap();
    assert_eq!(text.lines().count(), 30);
    assert!(text.contains("machines (4)") && text.contains("timeline"), "{text}");

    app.handle(Action::Export);
    press(&mut app, 'x');
    assert_eq!(app.overlay, Overlay::None, "any other key cancels");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}
