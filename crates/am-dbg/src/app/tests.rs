//! The app driven by actions, without a terminal: time travel, jumps, step-through, search,
//! the cursor kept on visible rows, removal, play.

use std::time::{Duration, Instant};

use am_dbg_proto::{DbgMsg, DbgMsgTx, DbgStep};

use super::*;
use crate::action::Action;
use crate::store::FilterKind;

use crate::fixtures::{schema, tx};

fn sample() -> App {
    App::from_messages(crate::fixtures::sample(), 100)
}

#[test]
fn time_travel_shows_the_clocks_after_the_selected_transition() {
    let mut a = sample();
    assert!(a.following());
    assert_eq!(a.clocks(), [2, 1, 1, 1], "following: the last transition");
    a.handle(Action::Move(-1));
    assert!(!a.following());
    assert_eq!(a.clocks(), [1, 1, 1, 1]);
    a.handle(Action::Home);
    assert_eq!(a.clocks(), [1, 0, 0, 0]);
    a.handle(Action::Page(1));
    assert_eq!(a.current(), Some(4), "+100 stops at the end");
    a.handle(Action::Tx(-100));
    assert_eq!(a.current(), Some(0));
    a.handle(Action::Follow);
    assert!(a.following());
}

#[test]
fn jumps_to_errors_and_changes_both_ways() {
    let mut a = sample();
    a.handle(Action::Home);
    a.handle(Action::Error(true));
    assert_eq!(a.current(), Some(3));
    a.handle(Action::Error(true));
    assert_eq!(a.status.notice, "no later Exception");
    a.handle(Action::End);
    a.handle(Action::Error(false));
    assert_eq!(a.current(), Some(3));
    a.handle(Action::Home);
    a.handle(Action::Change(true)); // A: ticks 1 1 1 1 2
    assert_eq!(a.current(), Some(4));
    a.handle(Action::Change(false));
    assert_eq!(a.current(), Some(0), "A last changed at the first transition");
}

#[test]
fn the_cursor_never_rests_on_a_hidden_row() {
    let mut a = sample();
    a.handle(Action::Home);
    a.handle(Action::Move(2)); // the Healthcheck transition
    assert_eq!(a.current(), Some(2));
    a.handle(Action::Toggle(FilterKind::Health));
    assert_eq!(a.current(), Some(1), "moved to the nearest visible row");
    assert!(a.timeline().position(a.current().unwrap()).is_ok());
}

#[test]
fn search_selects_the_match_and_never_shows_a_hidden_machine() {
    let mut a = sample();
    a.handle(Action::Search);
    assert_eq!((a.overlay, a.focus), (Overlay::Search(PaneId::Machines), PaneId::Machines));
    for c in "chi".chars() {
        a.key(ratatui::crossterm::event::KeyEvent::from(ratatui::crossterm::event::KeyCode::Char(c)));
    }
    assert_eq!(a.selected().map(|m| m.id()), Some("child"), "the match is selected as you type");
    assert_eq!(a.rows().len(), 2, "with its ancestor");
    a.key(ratatui::crossterm::event::KeyEvent::from(ratatui::crossterm::event::KeyCode::Esc));
    assert!(a.search.is_empty() && a.overlay == Overlay::None, "Esc clears");
}

#[test]
fn groups_narrow_the_states_and_the_timeline() {
    let mut a = sample();
    a.handle(Action::Group);
    assert_eq!(a.group().map(|g| g.0), Some("ab"));
    assert_eq!(a.visible_states(), [0, 1]);
    assert_eq!(a.timeline().rows().iter().copied().collect::<Vec<_>>(), [0, 1, 4]);
    a.handle(Action::Toggle(FilterKind::Group));
    assert_eq!(a.timeline().rows().len(), 5, "the group filter off: every transition");
    a.handle(Action::Group);
    assert!(a.group().is_none());
}

#[test]
fn stepping_walks_steps_then_moves_on() {
    let mut a = App::from_messages([schema("m", "")], 10);
    let mut t = DbgMsgTx { machine_id: "m".into(), clocks: vec![1, 1, 0, 0], accepted: true, ..Default::default() };
    let step = |kind: u8, from: i64, to: i64, rel: u8| DbgStep {
        step_type: kind,
        from_state_idx: from,
        to_state_idx: to,
        rel_type: rel,
        ..Default::default()
    };
    t.steps = vec![step(32, -1, 1, 0), step(1, 1, 0, 2), step(4, -1, 0, 0), step(4, -1, 1, 0)];
    a.message(None, DbgMsg::Tx(t.clone()));
    a.message(None, DbgMsg::Tx(DbgMsgTx { clocks: vec![2, 1, 0, 0], steps: vec![], ..t }));
    a.handle(Action::Home);
    a.handle(Action::Step(1));
    let v = a.step_view().unwrap();
    assert_eq!((v.applied, v.total, v.active.clone()), (0, 4, vec![false; 4]), "before the transition");
    a.handle(Action::Step(1));
    a.handle(Action::Step(1));
    let v = a.step_view().unwrap();
    assert_eq!(v.relations, [RelLine { from: 1, to: 0, rel: am_core::Relation::Require }]);
    assert_eq!(v.marks[1] & mark::CALLED, mark::CALLED);
    a.handle(Action::Step(1));
    a.handle(Action::Step(1));
    assert_eq!(a.step_view().unwrap().active, [true, true, false, false]);
    a.handle(Action::Step(1));
    assert_eq!((a.current(), a.nav().step), (Some(1), Some(0)), "on to the next transition");
    a.handle(Action::Step(-1));
    assert_eq!((a.current(), a.nav().step), (Some(0), Some(4)), "back to the last step of the one before");
    a.handle(Action::Escape);
    assert!(a.step_view().is_none());
}

#[test]
fn removing_a_machine_asks_twice_when_it_is_connected() {
    let mut a = App::default();
    a.message(Some(1), schema("live", ""));
    a.message(None, schema("old", ""));
    assert!(a.select_id("live"));
    a.handle(Action::Remove);
    assert_eq!(a.store.machines().len(), 2);
    a.handle(Action::Remove);
    assert_eq!(a.store.machines().len(), 1);
    assert_eq!(a.selected().map(|m| m.id()), Some("old"));
    a.handle(Action::Remove);
    assert!(a.store.machines().is_empty() && a.selected().is_none());
}

#[test]
fn play_replays_a_recording_at_its_pace_and_live_pause_holds_the_view() {
    let mut a = sample();
    a.handle(Action::Home);
    let t0 = Instant::now();
    a.play(t0);
    assert!(a.player.playing);
    assert!(!a.tick(t0 + Duration::from_millis(500)), "the next is a second later");
    assert!(a.tick(t0 + Duration::from_millis(1000)));
    assert_eq!(a.current(), Some(1));
    a.handle(Action::Speed(1));
    assert_eq!(a.status.notice, "play speed ×2");
    assert!(a.tick(t0 + Duration::from_secs(60)));
    assert!(!a.player.playing && a.current() == Some(4), "played to the end");
    a.play(t0);
    assert_eq!(a.current(), Some(0), "from the end, play starts over");
    a.handle(Action::Tx(1));
    assert!(!a.player.playing, "moving by hand stops it");

    let mut live = sample();
    live.status.live = true;
    live.handle(Action::Play);
    assert_eq!(live.current(), Some(4));
    live.message(None, tx("root", 6, [3, 1, 1, 1], &[0]));
    assert_eq!(live.current(), Some(4), "held while messages arrive");
    live.handle(Action::Play);
    assert_eq!(live.current(), Some(5), "following again");
}

#[test]
fn filters_for_checks_auto_canceled_and_disconnected_machines() {
    let mut a = App::default();
    a.message(Some(1), schema("live", ""));
    a.message(Some(2), schema("gone", ""));
    a.event(am_dbg_proto::ServerEvent::Disconnected { conn: 2, peer: "127.0.0.1:1".parse().unwrap(), error: None });
    let mk = |n: u64, auto: bool, accepted: bool, check: bool| {
        DbgMsg::Tx(DbgMsgTx {
            machine_id: "gone".into(),
            seq: n,
            is_auto: auto,
            accepted,
            is_check: check,
            ..Default::default()
        })
    };
    for (n, (auto, ok, check)) in
        [(true, false, false), (true, true, false), (false, true, true), (false, false, false)].into_iter().enumerate()
    {
        a.message(Some(2), mk(n as u64 + 1, auto, ok, check));
    }
    assert!(a.select_id("gone"));
    assert_eq!(a.timeline().rows().len(), 4);
    a.handle(Action::Toggle(FilterKind::AutoCanceled));
    a.handle(Action::Toggle(FilterKind::Checks));
    assert_eq!(a.timeline().rows().iter().copied().collect::<Vec<_>>(), [1, 3], "the canceled auto and the check go");
    assert_eq!(a.status.notice, "");
    a.handle(Action::Toggle(FilterKind::Disconnected));
    assert_eq!(a.rows().len(), 1);
    assert_eq!(a.selected().map(|m| m.id()), Some("live"), "the selection leaves a hidden machine");
}

#[test]
fn machines_sort_by_a_column_as_a_flat_list_and_reverse() {
    let mut a = sample();
    let ids = |a: &App| a.rows().iter().map(|r| a.store.machines()[r.idx].id().to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&a), ["root", "child"]);
    assert_eq!(a.rows()[1].depth, 1, "the tree indents the child");
    a.handle(Action::Sort); // name
    assert_eq!((ids(&a), a.sort.0), (vec!["child".to_string(), "root".into()], Sort::Name));
    a.handle(Action::Sort); // transitions, most first
    assert_eq!(ids(&a), ["root", "child"]);
    assert_eq!(a.rows()[1].depth, 0, "a sorted list is flat");
    a.handle(Action::InvertSort);
    assert_eq!(ids(&a), ["child", "root"]);
    let root = a.store.by_id("root").unwrap();
    assert_eq!((root.stats.transitions, root.errors), (5, 1));
    assert_eq!(root.stats.rate.per_sec(a.now()), 0.5, "5 transitions in the last 10 s");
}
