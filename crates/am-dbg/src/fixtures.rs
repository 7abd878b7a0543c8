//! Messages the store's and the app's unit tests share: two machines (`root`, its submachine
//! `child`) with states A, B (requires A), Exception and Healthcheck in a group `ab`, and five
//! transitions of `root`, one of `child`.

use am_dbg_proto::{DbgMsg, DbgMsgStruct, DbgMsgTx, StateDef};

/// A machine's schema message.
pub(crate) fn schema(id: &str, parent: &str) -> DbgMsg {
    let names = ["A", "B", "Exception", "Healthcheck"];
    let mut states: std::collections::BTreeMap<String, StateDef> =
        names.iter().map(|s| (s.to_string(), StateDef::default())).collect();
    states.insert("B".into(), StateDef { require: vec!["A".into()], ..Default::default() });
    DbgMsg::Schema(DbgMsgStruct {
        id: id.into(),
        parent: parent.into(),
        states_index: names.iter().map(|s| s.to_string()).collect(),
        states,
        groups: [("ab".to_string(), vec![0, 1])].into(),
        ..Default::default()
    })
}

/// An accepted transition `n` of machine `id`, at `n` seconds.
pub(crate) fn tx(id: &str, n: u64, clocks: [u64; 4], called: &[i64]) -> DbgMsg {
    DbgMsg::Tx(DbgMsgTx {
        machine_id: id.into(),
        id: format!("{id}-{n}"),
        clocks: clocks.to_vec(),
        called_states_idxs: called.to_vec(),
        accepted: true,
        seq: n,
        time: Some(n * 1_000_000_000),
        ..Default::default()
    })
}

/// The shared sample: both schemas, five transitions of `root`, one of `child`.
pub(crate) fn sample() -> Vec<DbgMsg> {
    vec![
        schema("root", ""),
        schema("child", "root"),
        tx("root", 1, [1, 0, 0, 0], &[0]),
        tx("root", 2, [1, 1, 0, 0], &[1]),
        tx("root", 3, [1, 1, 0, 1], &[3]),
        tx("root", 4, [1, 1, 1, 1], &[2]),
        tx("root", 5, [2, 1, 1, 1], &[0]),
        tx("child", 1, [1, 0, 0, 0], &[0]),
    ]
}
