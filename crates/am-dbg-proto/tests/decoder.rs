//! The stable-toolchain guard for the server's decoder (the `fuzz/` target needs nightly):
//! random, truncated and mutated frames never panic, and valid frames round-trip.

use std::collections::BTreeMap;

use am_dbg_proto::{
    Batch, DbgLogEntry, DbgMsg, DbgMsgDropped, DbgMsgStruct, DbgMsgTx, DbgServiceRequest, DbgStep, MutationType,
    RequestFrame, StateDef, decode_request_frame, encode_request_frame,
};
use proptest::prelude::*;

fn tx() -> impl Strategy<Value = DbgMsg> {
    (
        "[a-z]{0,8}",
        prop::collection::vec(any::<u64>(), 0..8),
        any::<u64>(),
        0u8..3,
        prop::collection::vec(-1i64..50, 0..4),
        prop::collection::vec(("[A-Za-z]{0,6}", 0u8..128), 0..3),
        prop::collection::vec((0u8..6, ".{0,20}"), 0..3),
        any::<(bool, bool, bool, bool)>(),
        prop::collection::btree_map("[a-z]{1,4}", ".{0,8}", 0..3),
    )
        .prop_map(|(id, clocks, seq, t, called, steps, logs, flags, args)| {
            DbgMsg::Tx(DbgMsgTx {
                machine_id: id.clone(),
                id: format!("{id}-tx"),
                clocks,
                queue_tick: seq / 3,
                mut_queue_token: seq % 7,
                mut_queue_tick: seq % 11,
                mutation_type: MutationType::try_from(t).unwrap_or_default(),
                called_states_idxs: called,
                steps: steps
                    .into_iter()
                    .map(|(name, ty)| DbgStep {
                        step_type: ty,
                        from_state: name,
                        to_state_idx: -1,
                        ..Default::default()
                    })
                    .collect(),
                log_entries: logs.into_iter().map(|(level, text)| DbgLogEntry { level, text }).collect(),
                is_auto: flags.0,
                accepted: flags.1,
                is_check: flags.2,
                is_queued: flags.3,
                args,
                seq,
                time: Some(seq),
                ..Default::default()
            })
        })
}

fn msg() -> impl Strategy<Value = DbgMsg> {
    prop_oneof![
        tx(),
        ("[a-z]{1,8}", prop::collection::vec("[A-Z][a-z]{0,5}", 0..5)).prop_map(|(id, names)| {
            let states: BTreeMap<_, _> = names.iter().map(|n| (n.clone(), StateDef::default())).collect();
            DbgMsg::Schema(DbgMsgStruct { id, states_index: names, states, ..Default::default() })
        }),
        ("[a-z]{1,8}", any::<u64>(), any::<u64>()).prop_map(|(machine_id, count, first_seq)| {
            DbgMsg::Dropped(DbgMsgDropped { machine_id, count, first_seq, last_seq: first_seq.saturating_add(count) })
        }),
    ]
}

fn frame(messages: Vec<DbgMsg>) -> RequestFrame {
    tarpc::ClientMessage::Request(tarpc::Request {
        context: tarpc::context::current(),
        id: 7,
        message: DbgServiceRequest::Push { batch: Batch { messages } },
    })
}

fn batch_of(f: RequestFrame) -> Option<Batch> {
    match f {
        tarpc::ClientMessage::Request(r) => match r.message {
            DbgServiceRequest::Push { batch } => Some(batch),
            DbgServiceRequest::PushEncoded { batch } => batch.decode().ok(),
            DbgServiceRequest::Hello { .. } => None,
        },
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_request_frame(&bytes);
    }

    #[test]
    fn valid_frames_round_trip_and_truncations_fail(msgs in prop::collection::vec(msg(), 0..6), cut in any::<prop::sample::Index>()) {
        let bytes = encode_request_frame(&frame(msgs.clone())).unwrap();
        let back = batch_of(decode_request_frame(&bytes).unwrap()).unwrap();
        prop_assert_eq!(back.messages, msgs);
        let n = cut.index(bytes.len());
        prop_assert!(decode_request_frame(&bytes[..n]).is_err(), "a strict prefix of {} bytes decoded", n);
    }

    #[test]
    fn mutated_frames_never_panic(msgs in prop::collection::vec(msg(), 1..4), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = encode_request_frame(&frame(msgs)).unwrap();
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        let _ = decode_request_frame(&bytes);
    }
}

/// Transitions with strings that need escaping (quotes, backslashes, control characters,
/// non-ASCII) in every string field.
fn tx_escapes() -> impl Strategy<Value = DbgMsg> {
    (tx(), "\\PC{0,6}[\"\\\\\\x00-\\x1f\\x7f]?\\PC{0,4}", prop::option::of(any::<u64>())).prop_map(
        |(m, s, dur)| match m {
            DbgMsg::Tx(mut t) => {
                t.machine_id.push_str(&s);
                t.id = s.clone();
                t.called_states = vec![s.clone(), "A".into()];
                t.queue_dump = vec![s.clone()];
                t.stack_trace = s.clone();
                t.args.insert(s.clone(), s.clone());
                t.duration_ns = dur;
                t.time = dur.map(|d| d / 2);
                t.source =
                    dur.map(|d| am_dbg_proto::TxSource { machine_id: s.clone(), tx_id: "x".into(), machine_time: d });
                DbgMsg::Tx(t)
            }
            other => other,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The recorder's hand-written lines are exactly serde_json's.
    #[test]
    fn json_lines_are_serde_json(m in prop_oneof![msg(), tx_escapes()]) {
        let mut fast = Vec::new();
        am_dbg_proto::write_json(&m, &mut fast);
        let slow = serde_json::to_vec(&m).unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&slow));
        let back: DbgMsg = serde_json::from_slice(&fast).unwrap();
        prop_assert_eq!(back, m);
    }
}
