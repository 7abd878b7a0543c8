//! A fixed debugging session for the whole-screen tests: a live shop machine with two
//! workers (one disconnected) and an unrelated root; queued and executed entries, a canceled
//! transition, an auto one, a health check, an Exception, steps with relations, log lines,
//! args and times; a state name too long for its column; two schema groups.

#![allow(dead_code)]

use am_dbg::app::App;
use am_dbg::store::Store;
use am_dbg_proto::{DbgLogEntry, DbgMsg, DbgMsgStruct, DbgMsgTx, DbgStep, ServerEvent, StateDef};

pub const STATES: [&str; 9] = [
    "Start",
    "Connecting",
    "Connected",
    "Ready",
    "Working",
    "ErrNetwork",
    "Exception",
    "Healthcheck",
    "WaitingForUpstreamConfirmation",
];

pub fn schema(id: &str, parent: &str) -> DbgMsg {
    let def = |f: fn(&mut StateDef)| {
        let mut d = StateDef::default();
        f(&mut d);
        d
    };
    let mut states: std::collections::BTreeMap<String, StateDef> =
        STATES.iter().map(|s| (s.to_string(), StateDef::default())).collect();
    states.insert("Connecting".into(), def(|d| d.remove = vec!["Connected".into()]));
    states.insert("Connected".into(), def(|d| d.remove = vec!["Connecting".into()]));
    states.insert(
        "Ready".into(),
        def(|d| {
            d.auto = true;
            d.require = vec!["Connected".into()];
        }),
    );
    states.insert(
        "Working".into(),
        def(|d| {
            d.multi = true;
            d.require = vec!["Ready".into()];
            d.after = vec!["Ready".into()];
        }),
    );
    states.insert("ErrNetwork".into(), def(|d| d.add = vec!["Exception".into()]));
    states.insert("Exception".into(), def(|d| d.multi = true));
    DbgMsg::Schema(DbgMsgStruct {
        id: id.into(),
        parent: parent.into(),
        states_index: STATES.iter().map(|s| s.to_string()).collect(),
        states,
        groups: [("connection".to_string(), vec![1, 2]), ("work".to_string(), vec![3, 4])].into(),
        groups_order: vec!["connection".into(), "work".into()],
        ..Default::default()
    })
}

/// A step: kind, from, to (indexes; -1 none), relation.
pub fn step(kind: u8, from: i64, to: i64, rel: u8) -> DbgStep {
    let name = |i: i64| usize::try_from(i).ok().map_or(String::new(), |i| STATES[i].to_string());
    DbgStep {
        step_type: kind,
        rel_type: rel,
        from_state: name(from),
        to_state: name(to),
        from_state_idx: from,
        to_state_idx: to,
        ..Default::default()
    }
}

pub struct Tx {
    pub n: u64,
    pub clocks: [u64; 9],
    pub called: &'static [i64],
    pub accepted: bool,
    pub auto: bool,
    pub queued: bool,
    pub queue_tick: u64,
    pub mut_tick: u64,
    pub steps: Vec<DbgStep>,
    pub log: &'static [&'static str],
}

impl Default for Tx {
    fn default() -> Self {
        Tx {
            n: 0,
            clocks: [0; 9],
            called: &[],
            accepted: true,
            auto: false,
            queued: false,
            queue_tick: 0,
            mut_tick: 0,
            steps: vec![],
            log: &[],
        }
    }
}

pub fn tx(id: &str, t: Tx) -> DbgMsg {
    DbgMsg::Tx(DbgMsgTx {
        machine_id: id.into(),
        id: format!("{id}-{}", t.n),
        clocks: t.clocks.to_vec(),
        called_states_idxs: t.called.to_vec(),
        accepted: t.accepted,
        is_auto: t.auto,
        is_queued: t.queued,
        queue_tick: t.queue_tick,
        mut_queue_tick: t.mut_tick,
        queue: if t.queued { 1 } else { 0 },
        seq: t.n,
        // 2026-12-03 04:05:00 UTC plus n × 250 ms
        time: Some(1_796_270_700_000_000_000 + t.n * 250_000_000),
        duration_ns: (!t.queued).then_some(20_000 * t.n),
        steps: t.steps,
        log_entries: t.log.iter().map(|l| DbgLogEntry { level: 2, text: l.to_string() }).collect(),
        pre_log_entries: if t.n == 3 {
            vec![DbgLogEntry { level: 1, text: "dialing upstream".into() }]
        } else {
            vec![]
        },
        args: if t.n == 9 { [("err".to_string(), "connection reset".to_string())].into() } else { Default::default() },
        ..Default::default()
    })
}

/// The session.
pub fn session() -> App {
    let mut s = Store::new(1000);
    s.message(Some(1), schema("shop", ""));
    s.message(Some(2), schema("shop-worker-1", "shop"));
    s.message(Some(3), schema("shop-worker-2", "shop"));
    s.message(None, schema("other", ""));
    let c = |v: [u64; 9]| v;
    let shop = [
        Tx { n: 1, called: &[0], queued: true, mut_tick: 1, clocks: c([0; 9]), ..Tx::default() },
        Tx {
            n: 2,
            called: &[0],
            queue_tick: 1,
            clocks: c([1, 0, 0, 0, 0, 0, 0, 0, 0]),
            steps: vec![step(32, -1, 0, 0), step(4, -1, 0, 0), step(2, 0, -1, 0)],
            log: &["[state] +Start"],
            ..Tx::default()
        },
        Tx {
            n: 3,
            called: &[1],
            queue_tick: 2,
            clocks: c([1, 1, 0, 0, 0, 0, 0, 0, 0]),
            log: &["[state] +Connecting"],
            ..Tx::default()
        },
        Tx {
            n: 4,
            called: &[3],
            accepted: false,
            auto: true,
            queue_tick: 3,
            clocks: c([1, 1, 0, 0, 0, 0, 0, 0, 0]),
            steps: vec![step(32, -1, 3, 0), step(1, 3, 2, 2), step(64, -1, 3, 0)],
            log: &["[cancel:reject] Ready requires Connected"],
            ..Tx::default()
        },
        Tx {
            n: 5,
            called: &[2],
            queue_tick: 4,
            clocks: c([1, 2, 1, 1, 0, 0, 0, 0, 0]),
            steps: vec![
                step(32, -1, 2, 0),
                step(1, 2, 1, 3),
                step(1, 3, 2, 2),
                step(8, -1, 1, 0),
                step(4, -1, 2, 0),
                step(4, -1, 3, 0),
                step(2, 2, -1, 0),
            ],
            log: &["[state] +Connected +Ready -Connecting", "[handler:0] ConnectedState"],
            ..Tx::default()
        },
        Tx { n: 6, called: &[7], queue_tick: 5, clocks: c([1, 2, 1, 1, 0, 0, 0, 1, 0]), ..Tx::default() },
        Tx { n: 7, called: &[4], queued: true, mut_tick: 6, clocks: c([1, 2, 1, 1, 0, 0, 0, 1, 0]), ..Tx::default() },
        Tx {
            n: 8,
            called: &[4],
            queue_tick: 6,
            clocks: c([1, 2, 1, 1, 1, 0, 0, 1, 0]),
            log: &["[state] +Working"],
            ..Tx::default()
        },
        Tx {
            n: 9,
            called: &[5, 6],
            queue_tick: 7,
            clocks: c([1, 2, 1, 1, 1, 1, 1, 1, 0]),
            steps: vec![step(32, -1, 5, 0), step(1, 5, 6, 1), step(4, -1, 5, 0), step(4, -1, 6, 0)],
            log: &["[state] +ErrNetwork +Exception", "[error] connection reset"],
            ..Tx::default()
        },
        Tx { n: 10, called: &[8], queued: true, mut_tick: 9, clocks: c([1, 2, 1, 1, 1, 1, 1, 1, 0]), ..Tx::default() },
    ];
    for t in shop {
        s.message(Some(1), tx("shop", t));
    }
    for n in 1..=3 {
        let t = Tx { n, called: &[0], clocks: c([n * 2 - 1, 0, 0, 0, 0, 0, 0, 0, 0]), ..Tx::default() };
        s.message(Some(2), tx("shop-worker-1", t));
    }
    s.message(
        Some(3),
        tx("shop-worker-2", Tx { n: 1, called: &[0], clocks: c([1, 0, 0, 0, 0, 0, 0, 0, 0]), ..Tx::default() }),
    );
    s.event(ServerEvent::Disconnected { conn: 3, peer: "127.0.0.1:9".parse().unwrap(), error: None });
    let mut app = App::new(s);
    app.status.source = "listening on 127.0.0.1:6831".into();
    app.select_id("shop");
    app
}

/// Compares a screen with `tests/golden/NAME.txt`; `AM_UPDATE_GOLDEN=1` rewrites it.
pub fn golden(name: &str, screen: &str) {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.txt"));
    if std::env::var_os("AM_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, screen).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        want == screen,
        "{name}: the screen differs from {} (AM_UPDATE_GOLDEN=1 rewrites it):\n{screen}",
        path.display()
    );
}
