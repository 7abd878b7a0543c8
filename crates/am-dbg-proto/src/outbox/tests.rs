//! The outbox's unit tests: overflow, sharing clocks, machine slots, conversion.
use super::*;
use crate::clock::Clock;
use crate::messages::DbgMsgTx;
use am_core::Machine;
use am_core::{MutationKind, Schema};

fn rec(id: RecId) -> TxRecord {
    let queued = matches!(id, RecId::Queued(..));
    TxRecord {
        id,
        seq: 0,
        queue: 0,
        kind: MutationKind::Add,
        auto: false,
        accepted: true,
        check: false,
        queued,
        dropped: false,
        extra: 0,
        slot: 0,
        at: ArenaSpan::default(),
    }
}

fn machine(id: &str) -> Machine {
    let schema = Schema::builder().states(["A", "B"]).build().unwrap_or_else(|e| panic!("{e}"));
    Machine::builder(schema).id(id).build()
}

fn drain(o: &mut Outbox) -> Vec<DbgMsg> {
    let clock = Clock::new();
    let mut out = Vec::new();
    loop {
        let mut t = o.take();
        if t.is_empty() && o.is_empty() {
            return out;
        }
        t.write_messages(&mut out, &clock.anchor());
        o.done(t);
    }
}

#[test]
fn overflow_drops_oldest_across_chunks_and_stays_bounded() {
    let m = machine("m");
    let mut o = Outbox::new(5, 3);
    let mut dropped = 0;
    for i in 0..1000u64 {
        let p = o.push(&m, u32::MAX, rec(RecId::Tx(i + 1)), None, TxNumbers::default(), Some(&[i, i + 1]), &[0]);
        dropped += p.dropped;
        assert!(o.len() <= 5);
        // the schema chunk, at most two full chunks and the tail
        assert!(o.chunks.len() <= 4, "chunks pile up: {}", o.chunks.len());
    }
    assert_eq!(dropped, 995);
    let msgs = drain(&mut o);
    assert!(matches!(&msgs[0], DbgMsg::Dropped(d) if d.count == 995 && d.first_seq == 1 && d.last_seq == 995));
    assert!(matches!(&msgs[1], DbgMsg::Schema(s) if s.id == "m"));
    let txs: Vec<&DbgMsgTx> = msgs
        .iter()
        .filter_map(|m| match m {
            DbgMsg::Tx(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(txs.iter().map(|t| t.seq).collect::<Vec<_>>(), [996, 997, 998, 999, 1000]);
    assert_eq!(txs[4].clocks, [999, 1000]);
    assert_eq!(txs[4].called_states_idxs, [0]);
    assert!(o.is_empty());
    assert_eq!(o.len(), 0);
}

#[test]
fn queued_records_carry_last_clocks_and_derived_ids() {
    // before any transition: zero clocks (the schema has `Exception` too)
    let (a, b) = (machine("a"), machine("b"));
    let mut o = Outbox::new(100, 4);
    let id = a.tx_ids().id(3);
    o.push(&a, u32::MAX, rec(RecId::Queued(0, 0)), None, TxNumbers::default(), None, &[1]);
    o.push(&a, u32::MAX, rec(RecId::Tx(3)), None, TxNumbers::default(), Some(&[3, 4]), &[1]);
    o.push(&b, u32::MAX, rec(RecId::Queued(0, 0)), None, TxNumbers::default(), None, &[0, 1]);
    o.push(&a, u32::MAX, rec(RecId::Queued(0, 0)), None, TxNumbers::default(), None, &[0]);
    o.push(&a, u32::MAX, rec(RecId::Queued(0, 0)), None, TxNumbers::default(), None, &[]);
    let msgs = drain(&mut o);
    let txs: Vec<&DbgMsgTx> = msgs
        .iter()
        .filter_map(|m| match m {
            DbgMsg::Tx(t) => Some(t),
            _ => None,
        })
        .collect();
    let got: Vec<(&str, u64, &str, &[u64])> =
        txs.iter().map(|t| (t.machine_id.as_str(), t.seq, t.id.as_str(), &t.clocks[..])).collect();
    let after = format!("{}-0", id.as_str());
    let after2 = format!("{}-1", id.as_str());
    assert_eq!(
        got,
        [
            ("a", 1, "-0", &[0u64, 0, 0][..]),
            ("a", 2, id.as_str(), &[3, 4][..]),
            ("b", 1, "-0", &[0, 0, 0][..]),
            ("a", 3, after.as_str(), &[3, 4][..]),
            ("a", 4, after2.as_str(), &[3, 4][..]),
        ]
    );
    assert_eq!(txs[2].called_states_idxs, [0, 1]);
    // both schemas went first, each before its machine's first message
    let schema_at = |id: &str| msgs.iter().position(|m| matches!(m, DbgMsg::Schema(s) if s.id == id));
    assert!(schema_at("a") < msgs.iter().position(|m| matches!(m, DbgMsg::Tx(_))));
    assert!(schema_at("b").is_some());
}

#[test]
fn queued_records_share_clocks_even_with_their_source_dropped() {
    let m = machine("m");
    // at most 3 transition messages, 4 records a chunk
    let mut o = Outbox::new(3, 4);
    let (id1, id2) = (1, 2);
    let mut dropped = 0;
    for (r, clocks) in [
        (rec(RecId::Tx(id1)), Some(&[1u64, 0][..])),
        (rec(RecId::Queued(0, 0)), None),
        (rec(RecId::Queued(0, 0)), None),
        (rec(RecId::Tx(id2)), Some(&[2, 0][..])),
        (rec(RecId::Queued(0, 0)), None),
    ] {
        dropped += o.push(&m, u32::MAX, r, None, TxNumbers::default(), clocks, &[0]).dropped;
    }
    assert_eq!(dropped, 2);
    let msgs = drain(&mut o);
    assert!(matches!(&msgs[0], DbgMsg::Dropped(d) if d.count == 2 && d.first_seq == 1 && d.last_seq == 2));
    let got: Vec<(u64, bool, Vec<u64>)> = msgs
        .iter()
        .filter_map(|m| match m {
            DbgMsg::Tx(t) => Some((t.seq, t.is_queued, t.clocks.clone())),
            _ => None,
        })
        .collect();
    // the first queued message shares the clocks of the dropped transition before it
    assert_eq!(got, [(3, true, vec![1, 0]), (4, false, vec![2, 0]), (5, true, vec![2, 0])]);

    // the first record of a machine in a new chunk stores its own copy
    let mut o = Outbox::new(3, 4);
    o.push(&m, u32::MAX, rec(RecId::Tx(id1)), None, TxNumbers::default(), Some(&[7, 1]), &[0]);
    for _ in 0..6 {
        o.push(&m, u32::MAX, rec(RecId::Queued(0, 0)), None, TxNumbers::default(), None, &[1]);
    }
    let clocks: Vec<(u64, Vec<u64>)> = drain(&mut o)
        .iter()
        .filter_map(|m| match m {
            DbgMsg::Tx(t) => Some((t.seq, t.clocks.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(clocks, [(5, vec![7, 1]), (6, vec![7, 1]), (7, vec![7, 1])]);
}

#[test]
fn disposed_machine_is_forgotten_once_sent_and_slot_reused() {
    let mut o = Outbox::new(100, 8);
    let a = machine("a");
    o.push(&a, u32::MAX, rec(RecId::Tx(1)), None, TxNumbers::default(), Some(&[1, 0]), &[0]);
    o.dispose("a");
    assert_eq!(o.machines(), 1, "kept while its records wait");
    let clock = Clock::new();
    let mut t = o.take();
    assert_eq!(o.machines(), 0, "forgotten once taken");
    let b = machine("b");
    o.push(&b, u32::MAX, rec(RecId::Tx(1)), None, TxNumbers::default(), Some(&[0, 1]), &[1]);
    let mut out = Vec::new();
    t.write_messages(&mut out, &clock.anchor());
    assert!(matches!(&out[1], DbgMsg::Tx(t) if t.machine_id == "a"), "{out:?}");
    o.done(t);
    let msgs = drain(&mut o);
    assert!(matches!(&msgs[1], DbgMsg::Tx(t) if t.machine_id == "b" && t.seq == 1));
}

/// The transition messages' sequence numbers and IDs.
fn seqs_and_ids(msgs: Vec<DbgMsg>) -> Vec<(u64, String)> {
    msgs.into_iter()
        .filter_map(|m| match m {
            DbgMsg::Tx(t) => Some((t.seq, t.id)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_machine_built_again_keeps_the_ids_of_the_disposed_ones_records() {
    let mut o = Outbox::new(100, 8);
    let old = machine("m");
    o.push(&old, u32::MAX, rec(RecId::Tx(1)), None, TxNumbers::default(), Some(&[1, 0]), &[0]);
    o.push(&old, u32::MAX, rec(RecId::Queued(0, 0)), None, TxNumbers::default(), None, &[0]);
    o.dispose("m");
    // the same ID, a new instance, while the old one's records wait
    let new = machine("m");
    o.register(&new);
    o.push(&new, u32::MAX, rec(RecId::Queued(0, 0)), None, TxNumbers::default(), None, &[1]);
    o.push(&new, u32::MAX, rec(RecId::Tx(1)), None, TxNumbers::default(), Some(&[1, 1]), &[1]);
    assert_eq!(o.machines(), 1);
    let txs = seqs_and_ids(drain(&mut o));
    let (old1, new1) = (old.tx_ids().id(1).to_string(), new.tx_ids().id(1).to_string());
    assert_ne!(old1, new1);
    // the sequence carries on; queued IDs start over with the new instance
    assert_eq!(txs, [(1, old1.clone()), (2, format!("{old1}-0")), (3, "-0".to_string()), (4, new1)]);
    assert_eq!(o.machines(), 1, "the new instance stays");
    // the old slot is gone, the new one is found by instance and by ID
    o.push(&new, u32::MAX, rec(RecId::Tx(2)), None, TxNumbers::default(), Some(&[2, 1]), &[1]);
    o.dispose("m");
    assert_eq!(drain(&mut o).len(), 1);
    assert_eq!(o.machines(), 0);
}

#[test]
fn two_live_machines_with_one_id_share_a_stream_with_their_own_tx_ids() {
    let mut o = Outbox::new(100, 8);
    let (a, b) = (machine("m"), machine("m"));
    o.register(&a);
    o.register(&b);
    o.push(&a, u32::MAX, rec(RecId::Tx(1)), None, TxNumbers::default(), Some(&[1, 0]), &[0]);
    o.push(&b, u32::MAX, rec(RecId::Tx(1)), None, TxNumbers::default(), Some(&[1, 0]), &[0]);
    o.push(&a, u32::MAX, rec(RecId::Tx(2)), None, TxNumbers::default(), Some(&[2, 0]), &[0]);
    let txs = seqs_and_ids(drain(&mut o));
    let id = |m: &Machine, seq: u64| m.tx_ids().id(seq).to_string();
    assert_eq!(txs, [(1, id(&a, 1)), (2, id(&b, 1)), (3, id(&a, 2))]);
    assert_eq!(o.machines(), 1);
}

#[test]
fn a_record_is_one_cache_line() {
    assert_eq!(std::mem::size_of::<Record>(), 64);
    assert_eq!(std::mem::align_of::<Record>(), 64);
}

#[test]
fn clocks_of_machines_with_more_than_65535_states_arrive_whole() {
    // a u16 span length would have cut these to 65,535
    let m = machine("big");
    let mut o = Outbox::new(10, 4);
    let clocks: Vec<u64> = (0..70_000).collect();
    let called: Vec<usize> = vec![0, 69_999];
    o.push(&m, u32::MAX, rec(RecId::Tx(1)), None, TxNumbers::default(), Some(&clocks), &called);
    let msgs = drain(&mut o);
    let tx = msgs.iter().find_map(|m| match m {
        DbgMsg::Tx(t) => Some(t),
        _ => None,
    });
    let tx = tx.unwrap_or_else(|| panic!("no transition in {msgs:?}"));
    assert_eq!(tx.clocks.len(), 70_000);
    assert_eq!(tx.clocks.last(), Some(&69_999));
    assert_eq!(tx.called_states_idxs, [0, 69_999]);
}

#[test]
fn a_trace_context_travels_only_when_set() {
    let m = machine("traced");
    let mut o = Outbox::new(10, 4);
    let ctx = am_core::TraceContext {
        trace_id: *b"\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36",
        span_id: [0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
    };
    let traced = TxNumbers { trace: Some(ctx), ..TxNumbers::default() };
    o.push(&m, u32::MAX, rec(RecId::Tx(1)), None, traced, Some(&[1, 0]), &[0]);
    o.push(&m, u32::MAX, rec(RecId::Tx(2)), None, TxNumbers::default(), Some(&[1, 1]), &[1]);
    let txs: Vec<DbgMsgTx> = drain(&mut o)
        .into_iter()
        .filter_map(|m| match m {
            DbgMsg::Tx(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(txs[0].trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(txs[0].called_states_idxs, [0], "the called states are read before the trace words");
    assert_eq!(txs[1].trace_id, "");
    assert_eq!(txs[1].clocks, [1, 1]);
}

#[test]
fn a_batch_failing_part_way_notes_only_what_did_not_arrive() {
    use crate::transport::Arrived;
    let m = machine("m");
    let mut o = Outbox::new(100, 100);
    let clock = Clock::new();
    for i in 0..10u64 {
        o.push(&m, u32::MAX, rec(RecId::Tx(i + 1)), None, TxNumbers::default(), Some(&[i, 0]), &[0]);
    }
    let mut t = o.take();
    let mut msgs = Vec::new();
    assert_eq!(t.write_messages(&mut msgs, &clock.anchor()), 10);
    // the schema and 4 transitions arrived, then the connection broke
    o.fail(&t, Arrived { msgs: 5, txs: 4 });
    o.done(t);
    let next = drain(&mut o);
    assert!(
        matches!(&next[0], DbgMsg::Dropped(d) if (d.count, d.first_seq, d.last_seq) == (6, 5, 10)),
        "only seq 5..=10 are reported lost: {next:?}"
    );
    // a notice that arrived is not reported again; one that did not, is
    o.push(&m, u32::MAX, rec(RecId::Tx(11)), None, TxNumbers::default(), Some(&[10, 0]), &[0]);
    let mut t = o.take();
    assert_eq!(t.notices.len(), 0);
    t.notices.push(DbgMsgDropped { machine_id: "m".into(), count: 2, first_seq: 20, last_seq: 21 });
    o.fail(&t, Arrived { msgs: 0, txs: 0 });
    o.done(t);
    assert!(matches!(&drain(&mut o)[0], DbgMsg::Dropped(d) if d.count == 3), "the notice again, plus seq 11");
}

/// Fills an outbox with every kind of record the encoded form has to get right.
fn varied(o: &mut Outbox, a: &Machine, b: &Machine) {
    let ctx = am_core::TraceContext { trace_id: [0x4b; 16], span_id: [7; 8] };
    let nums = |i: u64| TxNumbers {
        queue_tick: i,
        mut_queue_token: i * 3,
        mut_queue_tick: i * 5,
        time: OptU64::some(1_000 + i),
        duration_ns: OptU64::from(i.is_multiple_of(2).then_some(i * 7)),
        trace: i.is_multiple_of(3).then_some(ctx),
    };
    for i in 0..40u64 {
        let m = if i % 4 == 0 { b } else { a };
        // a transition, then a queued mutation sharing its clocks, on either machine
        let mut r = rec(RecId::Tx(i + 1));
        r.kind = [MutationKind::Add, MutationKind::Remove, MutationKind::Set][(i % 3) as usize];
        r.auto = i % 5 == 0;
        r.accepted = i % 7 != 0;
        r.check = i % 11 == 0;
        r.queue = (i % 4) as u32;
        let extra = (i % 9 == 0).then(|| Extra {
            steps: vec![am_core::Step {
                kind: am_core::StepKind::Activate,
                from: None,
                to: Some(1),
                relation: None,
                is_final: false,
                is_enter: false,
                is_self: false,
            }],
            args: vec![("k".into(), "v".into()), ("a".into(), "1".into()), ("k".into(), "w".into())],
            source: (i % 2 == 1).then(|| am_core::Source {
                machine_id: "b".into(),
                tx_id: "t".into(),
                machine_time: i,
            }),
            ..Extra::default()
        });
        // log lines on most transitions (without any rare field on most of them)
        let log = [
            am_core::LogEntry { level: am_core::LogLevel::Changes, text: format!("[{}] [state] +A ✓{i}", m.id()) },
            am_core::LogEntry { level: am_core::LogLevel::Ops, text: "no prefix".into() },
        ];
        let pre = [am_core::LogEntry { level: am_core::LogLevel::External, text: "[b] hi".into() }];
        let logged = Logged { pre: if i % 3 == 0 { &pre } else { &[] }, log: &log[..(i % 3) as usize] };
        let (called, clocks) = (&[(i % 2) as usize, 1], Some(&[i, i + 1][..]));
        o.push_logged(m, u32::MAX, r, extra.and_then(Extra::boxed), nums(i), clocks, called, logged);
        o.push(m, u32::MAX, rec(RecId::Queued(i + 1, (i % 3) as u32)), None, nums(i), None, &[0]);
    }
    o.push(a, u32::MAX, rec(RecId::Queued(0, 2)), None, TxNumbers::default(), None, &[1]);
}

#[test]
fn the_encoded_batch_is_the_batch_of_the_converted_messages() {
    use crate::messages::Batch;
    let (a, b) = (machine("a"), machine("b"));
    let clock = Clock::new();
    let anchor = clock.anchor();
    // twice the same records (a small capacity: drop notices too), one outbox per form
    let (mut o1, mut o2) = (Outbox::new(50, 16), Outbox::new(50, 16));
    varied(&mut o1, &a, &b);
    varied(&mut o2, &a, &b);
    let mut batches = 0;
    loop {
        let (mut t1, t2) = (o1.take(), o2.take());
        if t1.is_empty() && o1.is_empty() {
            break;
        }
        let mut msgs = Vec::new();
        let n = t1.write_messages(&mut msgs, &anchor);
        let (bytes, n2) = t2.encode(&anchor).unwrap();
        assert_eq!(n, n2, "transition messages");
        let decoded = crate::EncodedBatch(bytes.clone()).decode().unwrap();
        assert_eq!(decoded.messages, msgs);
        let want = {
            use tarpc::tokio_serde::Serializer;
            let mut codec = tarpc::tokio_serde::formats::Bincode::<(), Batch>::default();
            std::pin::Pin::new(&mut codec).serialize(&Batch { messages: msgs }).unwrap().to_vec()
        };
        assert_eq!(bytes, want, "byte for byte");
        o1.done(t1);
        o2.done(t2);
        batches += 1;
    }
    assert!(batches > 2, "several chunks: {batches}");
}

#[test]
fn log_lines_keep_their_text_level_and_place_and_a_huge_one_is_cut_at_a_character() {
    use am_core::{LogEntry, LogLevel};
    let m = machine("m");
    let mut o = Outbox::new(100, 16);
    // the line of a huge value: over the limit, a 3-byte character across it
    let mut huge = "x".repeat(LogWord::MAX_LEN - 1);
    huge.push('✓');
    let log = [
        LogEntry { level: LogLevel::Changes, text: "[m] [state] +A".into() },
        LogEntry { level: LogLevel::Everything, text: huge },
    ];
    let pre = [LogEntry { level: LogLevel::External, text: "[m] before".into() }];
    let logged = Logged { pre: &pre, log: &log };
    o.push_logged(&m, u32::MAX, rec(RecId::Tx(1)), None, TxNumbers::default(), Some(&[1, 0]), &[0], logged);
    // a record without lines after it reads none of them
    o.push(&m, u32::MAX, rec(RecId::Tx(2)), None, TxNumbers::default(), Some(&[2, 0]), &[0]);
    let msgs = drain(&mut o);
    let txs: Vec<&DbgMsgTx> = msgs.iter().filter_map(|m| if let DbgMsg::Tx(t) = m { Some(t) } else { None }).collect();
    let lines = |v: &[crate::messages::DbgLogEntry]| v.iter().map(|e| (e.level, e.text.len())).collect::<Vec<_>>();
    assert_eq!(txs[0].pre_log_entries[0].text, "before");
    assert_eq!(txs[0].log_entries[0].text, "[state] +A");
    assert_eq!(lines(&txs[0].log_entries), [(2, 10), (5, LogWord::MAX_LEN - 1)], "cut before the ✓");
    assert!(txs[1].log_entries.is_empty() && txs[1].pre_log_entries.is_empty());
    let w = LogWord::new(7, 3, LogLevel::Decisions, true).unwrap();
    assert_eq!((w.text("0123456789ab"), w.level(), w.pre()), ("789", 4, true));
    assert!(LogWord::new(1 << 32, 1, LogLevel::Ops, false).is_none(), "beyond 32 bits of text");
}
