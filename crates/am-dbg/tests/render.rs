//! The TUI drawn into ratatui's `TestBackend` from a fixed fixture, driven by the same key
//! handler as the terminal: what each pane shows on narrow (80×24) and wide terminals, with no
//! machines, a disconnected machine, time travel, filters on, and the help.

use am_dbg::app::{App, Flow, Overlay};
use am_dbg::view::draw;
use am_dbg_proto::{DbgLogEntry, DbgMsg, DbgMsgStruct, DbgMsgTx, DbgStep, ServerEvent, StateDef};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn schema(id: &str, parent: &str) -> DbgMsg {
    let mut states: std::collections::BTreeMap<String, StateDef> =
        ["Start", "Ready", "Exception"].iter().map(|s| (s.to_string(), StateDef::default())).collect();
    states.insert("Ready".into(), StateDef { auto: true, require: vec!["Start".into()], ..Default::default() });
    DbgMsg::Schema(DbgMsgStruct {
        id: id.into(),
        parent: parent.into(),
        states_index: vec!["Start".into(), "Ready".into(), "Exception".into()],
        states,
        ..Default::default()
    })
}

fn tx(id: &str, n: u64, clocks: [u64; 3], called: i64, accepted: bool) -> DbgMsg {
    DbgMsg::Tx(DbgMsgTx {
        machine_id: id.into(),
        id: format!("{id}-tx{n}"),
        clocks: clocks.to_vec(),
        called_states_idxs: vec![called],
        accepted,
        seq: n,
        queue: 1,
        steps: vec![DbgStep { step_type: 32, to_state: "Start".into(), from_state_idx: -1, ..Default::default() }],
        log_entries: vec![DbgLogEntry { level: 2, text: format!("[state] line of {n}") }],
        pre_log_entries: vec![DbgLogEntry { level: 1, text: "said before".into() }],
        args: [("job".to_string(), n.to_string())].into(),
        trace_id: if n == 4 { "4bf92f3577b34da6a3ce929d0e0e4736".into() } else { String::new() },
        ..Default::default()
    })
}

fn fixture() -> App {
    let mut m = App::new(am_dbg::store::Store::new(1000));
    m.message(Some(1), schema("app", ""));
    m.message(Some(2), schema("worker", "app"));
    m.message(Some(1), tx("app", 1, [0, 0, 0], 1, false)); // Ready canceled: requires Start
    m.message(Some(1), tx("app", 2, [1, 0, 0], 0, true));
    m.message(Some(1), tx("app", 3, [1, 1, 0], 1, true));
    m.message(Some(1), tx("app", 4, [1, 1, 1], 2, true)); // Exception
    m.message(Some(2), tx("worker", 1, [1, 0, 0], 0, true));
    m.event(ServerEvent::Disconnected { conn: 2, peer: "127.0.0.1:9".parse().unwrap(), error: None });
    m.select_id("app");
    m
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, app)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn press(app: &mut App, code: KeyCode) -> Flow {
    app.key(KeyEvent::new(code, KeyModifiers::NONE))
}

#[test]
fn wide_terminal_shows_every_pane() {
    let mut model = fixture();
    model.status.source = "listening on 127.0.0.1:6831".into();
    let s = screen(&model, 160, 45);
    assert!(s.contains("machines (2)"), "{s}");
    let row = |name: &str| -> Vec<String> {
        let l = s.lines().find(|l| l.contains(name)).unwrap_or_default();
        l.split('│').nth(1).unwrap_or_default().split_whitespace().map(String::from).collect()
    };
    assert!(s.contains("machine       tx err    /s  last    q"), "the table's header:\n{s}");
    assert_eq!(row("● app")[..4], ["●", "app", "4", "1"], "connected root with 4 transitions and 1 error:\n{s}");
    assert!(s.contains("│  ○ worker "), "the disconnected child, indented:\n{s}");
    assert_eq!(row("○ worker")[..3], ["○", "worker", "1"], "{s}");
    assert!(s.contains("app @ now"), "{s}");
    assert!(s.contains("■ Exception"), "Exception active after the last transition:\n{s}");
    assert!(s.contains("Ready") && s.contains(" A "), "the auto mark:\n{s}");
    assert!(s.contains("timeline 4/4 · following"), "{s}");
    assert!(s.contains("cancel") && s.contains("Ready"), "the canceled transition:\n{s}");
    assert!(s.contains("app-tx4 add [Exception] accepted"), "the detail header:\n{s}");
    assert!(s.contains("step requested Start") && s.contains("log  [state] line of 4"), "{s}");
    assert!(s.contains("pre  said before") && s.contains("args job=4"), "{s}");
    assert!(s.contains("trace 4bf92f3577b34da6a3ce929d0e0e4736"), "the trace ID, to copy:\n{s}");
    assert!(s.contains("listening on 127.0.0.1:6831") && s.contains("filters: none"), "{s}");
}

#[test]
fn narrow_terminal_still_draws_and_time_travel_moves_the_states() {
    let mut model = fixture();
    press(&mut model, KeyCode::Up); // from following: one back, to tx3
    press(&mut model, KeyCode::Up); // tx2: Start only
    let s = screen(&model, 80, 24);
    assert!(s.contains("app @ #2"), "{s}");
    assert!(s.contains("■ Start") && s.contains("□ Ready") && s.contains("□ Exception"), "{s}");
    assert!(s.contains("time travel"), "{s}");
    press(&mut model, KeyCode::Char('f'));
    assert!(model.following());
    press(&mut model, KeyCode::Home);
    press(&mut model, KeyCode::Char('e'));
    assert_eq!(model.current(), Some(3), "next error: tx4");
}

#[test]
fn filters_show_in_the_status_bar_and_hide_entries() {
    let mut model = fixture();
    press(&mut model, KeyCode::Char('c'));
    let s = screen(&model, 160, 45);
    assert!(s.contains("filters: hiding canceled"), "{s}");
    assert!(s.contains("timeline 3/4"), "{s}");
    assert!(!s.contains("cancel "), "no canceled entry left:\n{s}");
}

#[test]
fn search_machines_and_switch_panes() {
    let mut model = fixture();
    press(&mut model, KeyCode::Char('/'));
    for c in "work".chars() {
        press(&mut model, KeyCode::Char(c));
    }
    press(&mut model, KeyCode::Enter);
    let s = screen(&model, 160, 45);
    assert!(s.contains("machines /work"), "{s}");
    press(&mut model, KeyCode::Down); // focus is on machines after `/`
    assert_eq!(model.selected().map(|m| m.id()), Some("worker"));
    let s = screen(&model, 160, 45);
    assert!(s.contains("worker @ "), "{s}");
    // states pane: the highlighted state's relations, both ways
    press(&mut model, KeyCode::Tab);
    press(&mut model, KeyCode::Down); // Ready
    let s = screen(&model, 160, 45);
    assert!(s.contains("→ require Start"), "{s}");
    press(&mut model, KeyCode::Up); // Start
    let s = screen(&model, 160, 45);
    assert!(s.contains("← Ready requires it"), "{s}");
}

#[test]
fn empty_model_help_and_quit() {
    let mut model = App::new(am_dbg::store::Store::new(10));
    model.status.source = "listening on 127.0.0.1:7000".into();
    let s = screen(&model, 80, 24);
    assert!(s.contains("waiting for machines") && s.contains("machines (0)"), "{s}");
    press(&mut model, KeyCode::Char('?'));
    let s = screen(&model, 80, 24);
    assert!(s.contains(" keys ") && s.contains("time travel"), "{s}");
    assert_eq!(press(&mut model, KeyCode::Char('x')), Flow::Continue, "any key closes the help");
    assert_eq!(model.overlay, Overlay::None);
    assert_eq!(press(&mut model, KeyCode::Char('q')), Flow::Quit);
    assert_eq!(model.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)), Flow::Quit);
}

#[test]
fn log_level_and_mouse_wheel() {
    let mut model = fixture();
    for _ in 0..4 {
        press(&mut model, KeyCode::Char('l')); // 5 → 1
    }
    let s = screen(&model, 160, 45);
    assert!(s.contains("log ≤1"), "{s}");
    assert!(s.contains("pre  said before"), "a level-1 line stays:\n{s}");
    assert!(!s.contains("line of 4"), "level-2 lines are hidden:\n{s}");
    press(&mut model, KeyCode::Char('l')); // back to all
    assert!(screen(&model, 160, 45).contains("line of 4"));
    let wheel =
        |kind| ratatui::crossterm::event::MouseEvent { kind, column: 100, row: 5, modifiers: KeyModifiers::NONE };
    model.mouse(wheel(ratatui::crossterm::event::MouseEventKind::ScrollUp));
    assert_eq!(model.current(), Some(2), "the wheel time-travels in the timeline");
    model.mouse(wheel(ratatui::crossterm::event::MouseEventKind::ScrollDown));
    assert_eq!(model.current(), Some(3));
    press(&mut model, KeyCode::Char('m'));
    assert!(model.status.mouse, "m toggles the wheel (it starts off outside a terminal)");
}

#[test]
fn a_queued_mutation_shows_where_it_was_queued_from_and_when() {
    let mut model = fixture();
    model.message(
        Some(1),
        DbgMsg::Tx(DbgMsgTx {
            machine_id: "app".into(),
            id: "app-tx4-0".into(),
            clocks: vec![1, 1, 1],
            called_states_idxs: vec![0],
            accepted: true,
            is_queued: true,
            seq: 5,
            time: Some(1_796_270_707_000_000_000), // 2026-12-03T04:05:07Z
            stack_trace: "   0: my_app::worker::run\n             at ./src/worker.rs:42:9\n   1: my_app::main".into(),
            ..Default::default()
        }),
    );
    let s = screen(&model, 160, 45);
    assert!(s.contains("(queued)"), "{s}");
    assert!(s.contains("time 04:05:07.000 UTC"), "{s}");
    assert!(
        s.contains("stack") && s.contains("0: my_app::worker::run") && s.contains("at ./src/worker.rs:42:9"),
        "{s}"
    );
}

#[test]
fn at_80x24_the_clocks_and_the_help_key_stay_and_long_names_are_cut() {
    let mut model = fixture();
    let long = "AStateNameMuchLongerThanItsColumn";
    model.message(
        Some(1),
        DbgMsg::Schema(DbgMsgStruct {
            id: "app".into(),
            states_index: vec!["Start".into(), "Ready".into(), "Exception".into(), long.into()],
            states: [("Start".to_string(), StateDef::default())].into(),
            ..Default::default()
        }),
    );
    model.message(Some(1), tx("app", 5, [1, 1, 1], 0, true));
    model.status.source = "listening on 127.0.0.1:6831, recording to /tmp/a/very/long/path/rec.jsonl".into();
    let s = screen(&model, 80, 24);
    let states: Vec<&str> = s.lines().filter(|l| l.contains("■ ") || l.contains("□ ")).collect();
    assert!(states.iter().any(|l| l.contains("□ AStateNameMuch…")), "the long name is cut:\n{s}");
    let col = |l: &str| l.find(" 1│").or(l.find(" 0│")).map(|b| l[..b].chars().count());
    let cols: Vec<Option<usize>> = states.iter().map(|l| col(l)).collect();
    assert!(cols.iter().all(|c| c.is_some() && *c == cols[0]), "every tick in one column:\n{s}");
    let status = s.lines().nth(23).unwrap();
    assert!(status.ends_with("? help · q quit "), "the help key stays:\n{status}");
    assert!(status.contains("filters: none") && status.contains("…"), "the source is cut, not the filters:\n{status}");
}

#[test]
fn after_eviction_titles_and_rows_count_from_the_machine_s_first_transition() {
    let mut model = App::new(am_dbg::store::Store::new(3));
    model.message(Some(1), schema("app", ""));
    for n in 1..=10 {
        model.message(Some(1), tx("app", n, [n, 0, 0], 0, true));
    }
    press(&mut model, KeyCode::Up);
    let s = screen(&model, 160, 45);
    assert!(s.contains("app @ #9 ") && s.contains("transition #9 "), "{s}");
    assert!(s.contains("timeline 3/3 · time travel · 7 oldest dropped"), "{s}");
    let row = s.lines().find(|l| l.contains(" 9  t")).unwrap_or_default();
    assert!(row.contains("ok"), "row 9 is the selected one:\n{s}");
}

#[test]
fn stepping_draws_one_relation_line_per_relation_even_when_go_follows_it_twice() {
    let mut model = fixture();
    let rel = DbgStep { step_type: 1, rel_type: 2, from_state_idx: 1, to_state_idx: 0, ..Default::default() };
    let mut t = match tx("app", 5, [1, 1, 0], 1, true) {
        DbgMsg::Tx(t) => t,
        _ => unreachable!(),
    };
    t.steps =
        vec![rel.clone(), rel, DbgStep { step_type: 4, to_state_idx: 1, from_state_idx: -1, ..Default::default() }];
    model.message(Some(1), DbgMsg::Tx(t));
    for _ in 0..3 {
        press(&mut model, KeyCode::Char(']'));
    }
    let s = screen(&model, 160, 45);
    assert!(s.contains("app @ #5 · step 2/3"), "{s}");
    let cell = |name: &str| -> String {
        s.lines()
            .flat_map(|l| l.split('│'))
            .find(|c| c.len() > 2 && c[c.char_indices().nth(2).unwrap().0..].starts_with(name))
            .expect(&s)
            .to_string()
    };
    let (start, ready) = (cell("Start "), cell("Ready "));
    assert_eq!((start.trim_end().chars().last(), ready.trim_end().chars().last()), (Some('┐'), Some('r')), "{s}");
    assert_eq!(start.matches('┐').count() + ready.matches(" r").count(), 2, "one line: Ready requires Start\n{s}");
    press(&mut model, KeyCode::Char(']'));
    let s = screen(&model, 160, 45);
    assert!(
        s.contains("app @ #5 · step 3/3") && s.contains("■ Ready     A + 1"),
        "the activation step applied (+):\n{s}"
    );
}
