//! A machine with a submachine streams to a server: schemas first, then every transition and
//! queued mutation with its fields, in order, with no sequence gaps.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use am_core::{Args, LogLevel, Machine, MutResult, Schema, State};
use am_dbg_proto::{DbgMsg, DbgMsgTx, DbgTracer, MutationType, Server, ServerEvent};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn drain(rx: &mut tokio::sync::mpsc::Receiver<ServerEvent>) -> Vec<ServerEvent> {
    let mut out = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        out.push(ev);
    }
    out
}

#[test]
fn machine_and_submachine_round_trip() {
    let rt = rt();
    let (server, mut rx) = rt.block_on(Server::bind_channel("127.0.0.1:0", 100_000)).unwrap();
    let tracer = DbgTracer::builder()
        .addr(server.local_addr().to_string())
        .runtime(rt.handle().clone())
        .args(true)
        .durations(true)
        .checks(false)
        .client_name("round-trip")
        .build()
        .unwrap();

    let root_schema = Schema::builder()
        .state("A", State::new())
        .state("B", State::new().require(["C"]))
        .state("C", State::new())
        .build()
        .unwrap();
    let sub_schema = Schema::builder().state("X", State::new()).state("Y", State::new().multi()).build().unwrap();
    let root = Machine::builder(root_schema)
        .id("root")
        .tracer(tracer.clone())
        .log_steps(true)
        .log_level(LogLevel::Ops)
        .build();
    let sub = Machine::builder(sub_schema).id("sub").parent(&root).tags(["t:1"]).build();
    assert!(sub.tracers().iter().any(|t| t.id() == am_core::Tracer::id(&tracer)), "submachine inherits the tracer");

    let unix = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let started = unix();
    assert_eq!(root.add(&["A"]).unwrap(), MutResult::Executed);
    assert_eq!(root.add(&["B"]).unwrap(), MutResult::Canceled);
    assert_eq!(
        sub.add_args(&["X"], Args::new().with("addr", "10.0.0.1").with("secret", "s")).unwrap(),
        MutResult::Executed
    );
    sub.add(&["Y"]).unwrap();
    sub.add(&["Y"]).unwrap();
    root.log("hello from outside");
    assert_eq!(root.remove(&["A"]).unwrap(), MutResult::Executed);
    assert!(root.can_add(&["B"]).is_ok()); // a check: not sent (checks off)

    let ended = unix();
    let d = tracer.flush(Duration::from_secs(10));
    assert!(d.complete() && d.balanced(), "flushed: {d}: {:?}", tracer.stats());
    let events = drain(&mut rx);
    assert!(matches!(&events[0], ServerEvent::Connected { client, .. } if client.name == "round-trip"));
    let msgs: Vec<DbgMsg> = events
        .into_iter()
        .filter_map(|e| match e {
            ServerEvent::Message { msg, .. } => Some(msg),
            _ => None,
        })
        .collect();

    // schemas first: root, then sub
    let DbgMsg::Schema(rs) = &msgs[0] else { panic!("first message is not a schema: {:?}", msgs[0]) };
    let DbgMsg::Schema(ss) = &msgs[1] else { panic!("second message is not a schema: {:?}", msgs[1]) };
    assert_eq!(rs.id, "root");
    assert_eq!(rs.states_index, root.schema().names());
    assert_eq!(rs.states["B"].require, ["C"]);
    assert_eq!(rs.parent, "");
    assert_eq!(ss.id, "sub");
    assert_eq!(ss.parent, "root");
    assert_eq!(ss.tags, ["t:1"]);
    assert!(ss.states["Y"].multi);
    assert!(msgs[2..].iter().all(|m| matches!(m, DbgMsg::Tx(_))), "only transitions after the schemas");

    let txs = |id: &str| -> Vec<DbgMsgTx> {
        msgs.iter()
            .filter_map(|m| match m {
                DbgMsg::Tx(t) if t.machine_id == id => Some(t.clone()),
                _ => None,
            })
            .collect()
    };
    let root_txs = txs("root");
    let sub_txs = txs("sub");
    // no gaps, in order; stamped with when they happened (1 ms slack: the wall clock may be
    // stepped or slewed while the test runs)
    for list in [&root_txs, &sub_txs] {
        let seqs: Vec<u64> = list.iter().map(|t| t.seq).collect();
        assert_eq!(seqs, (1..=list.len() as u64).collect::<Vec<_>>());
        let times: Vec<u64> = list.iter().map(|t| t.time.unwrap_or(0)).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "times in order: {times:?}");
        assert!(
            times.iter().all(|&t| t + 1_000_000 >= started && t <= ended + 1_000_000),
            "times within the test ({started}..{ended}): {times:?}"
        );
    }
    // each mutation: a queued message, then its transition
    assert_eq!(root_txs.len(), 6, "{root_txs:#?}");
    assert_eq!(sub_txs.len(), 6);
    let idx = |m: &Machine, s: &str| m.schema().index(s).unwrap() as i64;

    let (q, t) = (&root_txs[0], &root_txs[1]);
    assert!(q.is_queued && q.accepted && q.id == "-0");
    assert_eq!(q.called_states_idxs, [idx(&root, "A")]);
    assert_eq!(q.mutation_type, MutationType::Add);
    assert!(q.mut_queue_tick > 0);
    assert!(!t.is_queued && t.accepted && !t.is_auto && !t.is_check);
    assert_eq!(t.id.len(), 16);
    assert_eq!(t.queue_tick, q.mut_queue_tick, "the queued entry links to its transition");
    assert_eq!(t.clocks[idx(&root, "A") as usize], 1);
    assert!(!t.steps.is_empty(), "steps are recorded");
    assert!(t.time.is_some() && t.duration_ns.is_some());
    assert!(q.time.is_some() && q.time <= t.time, "queued before its transition ended: {:?} {:?}", q.time, t.time);
    assert!(!t.log_entries.is_empty());
    assert!(t.log_entries.iter().all(|e| !e.text.starts_with("[root]")), "prefix stripped: {:?}", t.log_entries);

    let (q2, canceled) = (&root_txs[2], &root_txs[3]);
    assert_eq!(q2.id, format!("{}-0", t.id));
    assert_eq!(q2.clocks, t.clocks, "queued messages carry the last known clocks");
    assert!(!canceled.accepted);
    assert_eq!(canceled.clocks, t.clocks, "a canceled transition keeps the clocks");
    assert_eq!(canceled.called_states_idxs, [idx(&root, "B")]);
    assert!(
        canceled.steps.iter().any(|s| s.step_type == 64 || s.to_state == "C" || s.from_state == "B"),
        "cancel steps name states: {:?}",
        canceled.steps
    );

    let removed = &root_txs[5];
    assert_eq!(removed.mutation_type, MutationType::Remove);
    assert_eq!(removed.clocks[idx(&root, "A") as usize], 2);
    assert!(
        removed.pre_log_entries.iter().any(|e| e.text == "hello from outside"),
        "pre-log entries carry lines logged between transitions: {:?}",
        removed.pre_log_entries
    );

    let x = &sub_txs[1];
    assert!(x.accepted);
    let expected: HashMap<&str, &str> = [("addr", "10.0.0.1")].into();
    assert_eq!(x.args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<HashMap<_, _>>(), expected);
    assert_eq!(sub_txs[5].clocks[idx(&sub, "Y") as usize], 3, "multi state re-activated");
    assert!(sub_txs.iter().all(|t| t.steps.is_empty()), "steps off on the submachine");

    let st = server.stats();
    assert_eq!(st.seq_gaps, 0);
    assert_eq!(st.dropped_reported, 0);
    assert_eq!(tracer.stats().dropped, 0);
    assert_eq!(tracer.stats().sent, 12);
}

#[test]
fn errors_travel_as_err_arg_and_exceptions_are_transitions() {
    let rt = rt();
    let (server, mut rx) = rt.block_on(Server::bind_channel("127.0.0.1:0", 10_000)).unwrap();
    let tracer = DbgTracer::builder()
        .addr(server.local_addr().to_string())
        .runtime(rt.handle().clone())
        .args(false)
        .queued(false)
        .build()
        .unwrap();
    let m = Machine::builder(Schema::builder().states(["A"]).build().unwrap()).id("err").tracer(tracer.clone()).build();
    m.add_err(am_core::err_msg("disk full")).unwrap();
    assert!(tracer.flush(Duration::from_secs(10)).in_time);
    let txs: Vec<DbgMsgTx> = drain(&mut rx)
        .into_iter()
        .filter_map(|e| match e {
            ServerEvent::Message { msg: DbgMsg::Tx(t), .. } => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(txs.len(), 1, "queued messages off");
    assert_eq!(txs[0].args.get("err").map(String::as_str), Some("disk full"));
    assert_eq!(txs[0].clocks[m.schema().exception()], 1);
    // by default: a wall-clock time on every message, no duration
    assert!(txs[0].time.is_some_and(|t| t > 1_600_000_000_000_000_000) && txs[0].duration_ns.is_none());
}

/// A server of protocol 2 (before encoded pushes) gets plain pushes: the tracer sends the
/// encoded form only to a server that said it takes it.
#[test]
fn a_server_without_encoded_pushes_gets_plain_ones() {
    use am_dbg_proto::{Ack, Batch, DbgService, EncodedBatch, Hello, Refusal, Welcome};
    use futures::StreamExt;
    use std::sync::{Arc, Mutex};
    use tarpc::server::{BaseChannel, Channel};

    #[derive(Clone, Default)]
    struct Old(Arc<Mutex<(u64, u64)>>);
    impl DbgService for Old {
        async fn hello(self, _: tarpc::context::Context, h: Hello) -> Result<Welcome, Refusal> {
            Ok(Welcome { protocol: h.protocol.min(2), server: "old".into() })
        }
        async fn push(self, _: tarpc::context::Context, b: Batch) -> Result<Ack, Refusal> {
            let n = b.messages.iter().filter(|m| matches!(m, DbgMsg::Tx(_))).count() as u64;
            self.0.lock().unwrap().0 += n;
            Ok(Ack { received: b.messages.len() as u64 })
        }
        async fn push_encoded(self, _: tarpc::context::Context, _: EncodedBatch) -> Result<Ack, Refusal> {
            self.0.lock().unwrap().1 += 1;
            Err(Refusal::Malformed("an old server does not know this call".into()))
        }
    }

    let rt = rt();
    let old = Old::default();
    let listener = rt
        .block_on(tarpc::serde_transport::tcp::listen("127.0.0.1:0", tarpc::tokio_serde::formats::Bincode::default))
        .unwrap();
    let addr = listener.local_addr();
    let svc = old.clone();
    rt.spawn(listener.filter_map(|r| futures::future::ready(r.ok())).for_each(move |t| {
        let svc = svc.clone();
        async move {
            let mut requests = BaseChannel::with_defaults(t).requests();
            while let Some(Ok(req)) = requests.next().await {
                req.execute(svc.clone().serve()).await;
            }
        }
    }));
    let tracer =
        DbgTracer::builder().addr(addr.to_string()).runtime(rt.handle().clone()).queued(false).build().unwrap();
    let m = Machine::builder(Schema::builder().states(["A"]).build().unwrap()).id("m").tracer(tracer.clone()).build();
    for _ in 0..50 {
        m.toggle(&["A"]).unwrap();
    }
    let d = tracer.flush(Duration::from_secs(10));
    assert!(d.complete(), "{d}");
    assert_eq!(*old.0.lock().unwrap(), (50, 0), "50 transitions in plain pushes, no encoded push tried");
}
