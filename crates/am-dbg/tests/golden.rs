//! Whole screens, compared with golden files (`tests/golden/*.txt`; `AM_UPDATE_GOLDEN=1`
//! rewrites them): every view of one fixed session at 80×24 and 200×50, so a layout
//! regression anywhere on the screen fails, not only where a test looks.

mod support;

use am_dbg::action::Action;
use am_dbg::view::screen_text;
use support::{golden, session};

fn both(name: &str, app: &mut am_dbg::app::App) {
    for (w, h) in [(80, 24), (200, 50)] {
        app.size = (w, h);
        golden(&format!("{name}-{w}x{h}"), &screen_text(app, w, h));
    }
}

#[test]
fn default_view() {
    both("default", &mut session());
}

#[test]
fn help_overlay() {
    let mut app = session();
    app.handle(Action::Help);
    both("help", &mut app);
}

#[test]
fn time_travel_with_filters() {
    let mut app = session();
    app.handle(Action::Tx(-3));
    app.handle(Action::Toggle(am_dbg::store::FilterKind::Canceled));
    both("time-travel", &mut app);
}

#[test]
fn log_pane_focused_with_a_line_selected() {
    let mut app = session();
    app.handle(Action::FocusNext); // machines
    app.handle(Action::FocusPrev); // timeline
    app.handle(Action::FocusNext); // log
    app.handle(Action::Move(-2));
    both("log", &mut app);
}

#[test]
fn stepping_through_a_transition_draws_relation_lines() {
    let mut app = session();
    app.handle(Action::Tx(-4)); // shop-5: Connected, with relations
    for _ in 0..4 {
        app.handle(Action::Step(1));
    }
    both("steps", &mut app);
}

#[test]
fn matrix_in_place_of_the_timeline() {
    let mut app = session();
    app.handle(Action::ToggleMatrix);
    app.handle(Action::Tx(-2));
    both("matrix", &mut app);
}

#[test]
fn a_group_narrows_the_states_the_matrix_and_the_timeline() {
    let mut app = session();
    app.handle(Action::Group); // connection
    app.handle(Action::ToggleMatrix);
    both("group", &mut app);
}

#[test]
fn warnings_pane() {
    let mut app = session();
    // shop-worker-1 lost messages: a drop notice and a gap in its sequence
    app.message(
        Some(2),
        am_dbg_proto::DbgMsg::Dropped(am_dbg_proto::DbgMsgDropped {
            machine_id: "shop-worker-1".into(),
            count: 2,
            ..Default::default()
        }),
    );
    let t = support::Tx { n: 9, called: &[0], clocks: [7, 0, 0, 0, 0, 0, 0, 0, 0], ..Default::default() };
    app.message(Some(2), support::tx("shop-worker-1", t));
    app.handle(Action::ToggleWarnings);
    both("warnings", &mut app);
    app.handle(Action::Enter);
    assert_eq!(app.selected().map(|m| m.id()), Some("shop-worker-1"));
    assert_eq!(app.focus, am_dbg::app::PaneId::Timeline);
}

#[test]
fn histograms_in_place_of_the_detail() {
    let mut app = session();
    app.handle(Action::ToggleStats);
    both("histograms", &mut app);
}
