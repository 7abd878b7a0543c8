//! The store's unit tests: the tree, retention, the flags derived at ingest, the timeline
//! under filters, queued ↔ executed pairing, and the lints.

use am_dbg_proto::{DbgLogEntry, DbgMsg, DbgMsgDropped, DbgMsgTx, ServerEvent};

use super::warnings::{check, lints};
use super::*;

use crate::fixtures::{schema, tx};

fn sample() -> Store {
    Store::from_messages(crate::fixtures::sample(), 100)
}

fn rows(s: &Store, f: &Filters, group: Option<Vec<i64>>) -> Vec<u64> {
    let mut t = Timeline::default();
    let m = s.by_id("root");
    t.sync(m, f, TimelineKey { machine: m.map(|m| m.key), group, ..TimelineKey::default() });
    t.rows().iter().copied().collect()
}

#[test]
fn the_tree_puts_children_under_parents_in_linear_time_even_with_cycles() {
    let s = sample();
    assert_eq!(s.tree(), [TreeRow { idx: 0, depth: 0 }, TreeRow { idx: 1, depth: 1 }]);
    let mut s = Store::from_messages([schema("a", "b"), schema("b", "a"), schema("c", "")], 10);
    assert_eq!(s.tree().len(), 3, "a cycle still shows every machine once");
    let c = s.by_id("c").unwrap().key;
    s.remove(c);
    assert_eq!(s.tree().len(), 2);
    assert!(s.by_id("c").is_none() && s.get(c).is_none());
}

#[test]
fn flags_are_derived_at_ingest() {
    let s = sample();
    let m = s.by_id("root").unwrap();
    assert!(m.meta(3).has(TxMeta::ERROR), "tx 4 activated Exception");
    assert!(m.meta(2).has(TxMeta::HEALTH));
    assert_eq!(m.errors, 1);
    assert_eq!(m.stats.transitions, 5);
    assert_eq!(m.stats.exception_since, Some((4_000_000_000, 3)));
}

#[test]
fn filters_hide_what_they_say() {
    let mut s = sample();
    let f = Filters::default();
    assert_eq!(rows(&s, &f, None).len(), 5);
    assert_eq!(rows(&s, &Filters { health: true, ..f }, None), [0, 1, 3, 4], "the Healthcheck transition");
    s.message(None, tx("root", 6, [2, 1, 1, 1], &[0]));
    assert_eq!(rows(&s, &Filters { empty: true, ..f }, None).len(), 5, "one changed nothing");
    assert_eq!(rows(&s, &f, Some(vec![0, 1])), [0, 1, 4, 5], "group ab: transitions calling A or B");
    assert_eq!(Filters { empty: true, ..f }.describe(None), "hiding empty");
    assert_eq!(Filters { empty: true, ..f }.describe(Some("ab")), "hiding empty; only group ab");
}

#[test]
fn one_row_per_mutation_unless_both_are_asked_for() {
    let mut s = Store::from_messages([schema("root", "")], 100);
    let q = |n: u64, tick: u64| {
        DbgMsg::Tx(DbgMsgTx {
            machine_id: "root".into(),
            is_queued: true,
            mut_queue_tick: tick,
            accepted: true,
            seq: n,
            queue: 1,
            ..Default::default()
        })
    };
    s.message(None, q(1, 2));
    s.message(None, q(2, 3));
    let mut t = tx("root", 3, [1, 0, 0, 0], &[0]);
    if let DbgMsg::Tx(t) = &mut t {
        t.queue_tick = 2;
    }
    // incrementally: the queued row is there, then goes when its transition arrives
    let f = Filters::default();
    let key = TimelineKey { machine: s.by_id("root").map(|m| m.key), ..TimelineKey::default() };
    let mut tl = Timeline::default();
    tl.sync(s.by_id("root"), &f, key.clone());
    assert_eq!(tl.rows().len(), 2);
    s.message(None, t);
    assert!(!tl.sync(s.by_id("root"), &f, key), "appended, not rebuilt");
    assert_eq!(tl.rows().iter().copied().collect::<Vec<_>>(), [1, 2], "queued 0 ran as 2; queued 1 still waits");
    let m = s.by_id("root").unwrap();
    assert_eq!((m.meta(0).linked(), m.meta(2).linked()), (Some(2), Some(0)));
    assert_eq!(rows(&s, &Filters { both_rows: true, ..f }, None), [0, 1, 2]);
    assert_eq!(rows(&s, &Filters { queued: true, ..f }, None), [2]);
}

#[test]
fn retention_drops_the_oldest_and_keeps_absolute_numbers() {
    let mut s = Store::from_messages([schema("m", "")], 3);
    for n in 1..=4 {
        s.message(None, tx("m", n, [n, 0, 0, 0], &[0]));
    }
    let m = s.by_id("m").unwrap();
    assert_eq!((m.txs.len(), m.evicted, m.total()), (3, 1, 4));
    assert!(m.tx(0).is_none());
    assert_eq!(m.tx(1).unwrap().clocks[0], 2, "absolute 1 is still transition 2");
    s.message(None, DbgMsg::Dropped(DbgMsgDropped { machine_id: "m".into(), count: 7, ..Default::default() }));
    assert_eq!(s.by_id("m").unwrap().dropped, 7);
}

#[test]
fn max_mem_evicts_from_the_largest_machine() {
    let mut s = Store::from_messages([schema("big", ""), schema("small", "")], 1_000_000);
    s.max_bytes = Some(200_000);
    for n in 1..=2_000 {
        s.message(None, tx("big", n, [n, 0, 0, 0], &[0]));
    }
    s.message(None, tx("small", 1, [1, 0, 0, 0], &[0]));
    assert!(s.bytes() <= 200_000, "{}", s.bytes());
    assert!(s.by_id("big").unwrap().evicted > 0);
    assert_eq!(s.by_id("small").unwrap().txs.len(), 1);
}

#[test]
fn old_go_messages_naming_their_called_states_count_as_errors_and_health() {
    let mut s = Store::from_messages([schema("m", "")], 10);
    let old = |n: u64, clocks: [u64; 4], called: &str| {
        DbgMsg::Tx(DbgMsgTx {
            machine_id: "m".into(),
            clocks: clocks.to_vec(),
            called_states: vec![called.to_string()],
            accepted: true,
            seq: n,
            ..Default::default()
        })
    };
    s.message(None, old(1, [0, 0, 1, 0], "Exception"));
    s.message(None, old(2, [0, 0, 1, 1], "Healthcheck"));
    let m = s.by_id("m").unwrap();
    assert_eq!(m.errors, 1);
    assert_eq!(m.txs[0].called_states_idxs, [2], "read by name, kept by index as Go does");
    let mut t = Timeline::default();
    t.sync(Some(m), &Filters { health: true, ..Filters::default() }, TimelineKey::default());
    assert_eq!(t.rows().iter().copied().collect::<Vec<_>>(), [0]);
}

#[test]
fn disconnects_gaps_and_reconnects_are_counted_and_linted() {
    let mut s = Store::new(10);
    s.message(Some(1), schema("a", ""));
    s.message(Some(2), schema("b", ""));
    s.event(ServerEvent::Disconnected { conn: 1, peer: "127.0.0.1:1".parse().unwrap(), error: None });
    assert!(!s.machines()[0].connected && s.machines()[1].connected);
    s.message(Some(3), schema("a", ""));
    s.message(Some(3), tx("a", 1, [1, 0, 0, 0], &[0]));
    s.message(Some(3), DbgMsg::Dropped(DbgMsgDropped { machine_id: "a".into(), count: 2, ..Default::default() }));
    s.message(Some(3), tx("a", 5, [3, 0, 0, 0], &[0])); // 2..=4 missing, 2 covered by the notice
    let mut t = tx("a", 6, [3, 0, 0, 0], &[0]);
    if let DbgMsg::Tx(t) = &mut t {
        t.log_entries.push(DbgLogEntry { level: 2, text: "[error] handler timeout: AState ran for 3s".into() });
    }
    s.message(Some(3), t);
    let a = s.by_id("a").unwrap();
    assert_eq!((a.stats.reconnects, a.stats.seq_gaps, a.dropped, a.stats.timeouts), (1, 1, 2, 1));
    let found = check(&lints(), s.machines(), 6_000_000_000);
    let kinds: Vec<&str> = found.iter().map(|w| w.kind).collect();
    assert_eq!(kinds, ["handler timeouts", "lost messages", "reconnects"], "{found:?}");
    assert_eq!(found[0].tx, Some(2), "the timeout jumps to its transition");
}

#[test]
fn a_growing_queue_and_a_lasting_exception_are_linted() {
    let mut s = Store::from_messages([schema("m", "")], 1000);
    s.message(None, tx("m", 1, [0, 0, 1, 0], &[2]));
    for n in 0..25 {
        s.message(
            None,
            DbgMsg::Tx(DbgMsgTx {
                machine_id: "m".into(),
                is_queued: true,
                queue: n + 1,
                seq: n as u64 + 2,
                clocks: vec![0, 0, 1, 0],
                time: Some(2_000_000_000),
                ..Default::default()
            }),
        );
    }
    let found = check(&lints(), s.machines(), 30_000_000_000);
    let texts: Vec<&str> = found.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(texts, ["queue 1 → 25 over 25 mutations, no transition ran", "Exception active for 29s"]);
}
