//! Interop with the Go `am-dbg` protocol, against a real Go peer (`tests/go/peer.go`, standard
//! library only: net/rpc and encoding/gob with the Go message types by field name):
//!
//! - Rust machines streamed over `gob://` arrive in a Go net/rpc server, one connection per
//!   machine, schema first, every field equal to what the native transport carries; after
//!   the server restarts, the tracer reconnects and sends the schemas again. Over `ws://`
//!   (the Go debugger's WebSocket variant) they arrive the same way.
//! - A Go client's schema and transitions reach our server (and recorder) beside a Rust
//!   machine's.
//! - `.gob.br` recordings: ours decode in Go, and Go's decode here (the `am-dbg export` /
//!   `import` commands are tested with the tool, in `crates/am-dbg`).
//! - A plain `host:port` finds out that the peer is the Go `am-dbg` and speaks gob to it;
//!   `replay` reaches a Go debugger at `host:port`, `gob://` and `ws://`.
//! - Go clients over WebSocket reach our server at `/dbg.ws`, as our own WebSocket client
//!   does; their transitions get the receive time.
//! - A batch that fails part-way counts only what did not arrive.
#![cfg(feature = "go")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use am_core::{Args, LogLevel, Machine, MutResult, Schema, State};
use am_dbg_proto::{DbgMsg, DbgTracer, Server, ServerEvent, read_gob_br, write_gob_br, write_json};
use serde_json::Value;

/// The Go peer, built once per test binary; `None` (test skipped, said so) without Go
/// outside CI.
fn peer() -> Option<&'static Path> {
    am_testkit::go::peer(env!("CARGO_TARGET_TMPDIR"))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// A running `peer server`: its address and the JSON lines it prints.
struct GoServer {
    child: Child,
    addr: String,
    lines: mpsc::Receiver<Value>,
}

impl GoServer {
    fn start(peer: &Path, addr: &str) -> GoServer {
        Self::start_as(peer, "server", addr)
    }

    fn start_as(peer: &Path, mode: &str, addr: &str) -> GoServer {
        Self::start_with(peer, &[mode, addr])
    }

    fn start_with(peer: &Path, args: &[&str]) -> GoServer {
        let mut child = Command::new(peer)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start the Go peer: {e}"));
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let addr = first.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("peer said {first:?}")).to_string();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("peer printed {line:?}: {e}"));
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        GoServer { child, addr, lines }
    }

    /// Lines until one matches `done` (included) or 10 s passed.
    fn take_until(&self, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let until = Instant::now() + Duration::from_secs(10);
        let mut out = Vec::new();
        while let Ok(v) = self.lines.recv_timeout(until.saturating_duration_since(Instant::now())) {
            let last = done(&v);
            out.push(v);
            if last {
                break;
            }
        }
        out
    }

    /// Lines that arrive within `d`.
    fn take_for(&self, d: Duration) -> Vec<Value> {
        let until = Instant::now() + d;
        let mut out = Vec::new();
        while let Ok(v) = self.lines.recv_timeout(until.saturating_duration_since(Instant::now())) {
            out.push(v);
        }
        out
    }

    /// Lines until `n` arrived or 10 s passed.
    fn take(&self, n: usize) -> Vec<Value> {
        let until = Instant::now() + Duration::from_secs(10);
        let mut out = Vec::new();
        while out.len() < n {
            match self.lines.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(v) => out.push(v),
                Err(_) => break,
            }
        }
        out
    }
}

impl Drop for GoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON value with Go's empties (null, [], {}, "", 0, false) removed, so Go's output
/// (nil slices as null) and ours (empty fields left out) compare equal.
fn trim(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), trim(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect::<serde_json::Map<_, _>>(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(trim).collect()),
        other => other.clone(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// The fields of a native message that the Go protocol carries, as Go prints them.
fn go_fields(msg: &DbgMsg) -> Value {
    let mut line = Vec::new();
    write_json(msg, &mut line);
    let v: Value = serde_json::from_slice(&line).unwrap();
    let (_, inner) = v.as_object().and_then(|o| o.iter().next()).map(|(k, v)| (k.clone(), v.clone())).unwrap();
    let mut inner = trim(&inner);
    if let Value::Object(m) = &mut inner {
        // native only: sequence numbers, durations, sources, and the send time (the Go
        // server stamps its own)
        for k in ["Seq", "DurationNs", "Source", "Time"] {
            m.remove(k);
        }
        // Go's Step has no `Data` worth comparing; ours never sets it either
    }
    inner
}

fn schema() -> Schema {
    Schema::builder()
        .state("Start", State::new())
        .state("Ready", State::new().auto().require(["Start"]))
        .state("Busy", State::new().remove(["Ready"]))
        .build()
        .unwrap()
}

#[test]
fn rust_machines_appear_in_a_go_server_with_every_field_and_after_it_restarts() {
    let Some(peer) = peer() else { return };
    let rt = rt();
    let go = GoServer::start(peer, "127.0.0.1:0");
    // the same machines also stream natively, as the reference of what must arrive
    let (server, mut native) = rt.block_on(Server::bind_channel("127.0.0.1:0", 10_000)).unwrap();
    let build = |addr: String| {
        DbgTracer::builder()
            .addr(addr)
            .runtime(rt.handle().clone())
            .args(true)
            .checks(false)
            .backoff(Duration::from_millis(20), Duration::from_millis(100))
            .build()
            .unwrap()
    };
    let gob = build(format!("gob://{}", go.addr));
    let tarpc = build(server.local_addr().to_string());
    let m1 = Machine::builder(schema())
        .id("rust-1")
        .log_level(LogLevel::Decisions)
        .log_steps(true)
        .args_mapper(|a| a.get("job").map(|v| vec![("job".to_string(), v.to_string())]).unwrap_or_default())
        .build();
    let m2 = Machine::builder(schema()).id("rust-2").tags(["lang:rust"]).build();
    for m in [&m1, &m2] {
        gob.bind(m);
        tarpc.bind(m);
    }
    assert_eq!(m1.add(&["Start"]).unwrap(), MutResult::Executed); // Ready follows (auto)
    assert_eq!(m1.add_args(&["Busy"], Args::new().with("job", "42")).unwrap(), MutResult::Executed);
    assert_eq!(m2.add(&["Ready"]).unwrap(), MutResult::Canceled); // requires Start
    m2.add(&["Start"]).unwrap();
    m1.log("a line between transitions");
    m1.remove(&["Busy"]).unwrap();
    assert!(gob.flush(Duration::from_secs(10)).in_time && tarpc.flush(Duration::from_secs(10)).in_time);

    let mut want: Vec<DbgMsg> = Vec::new();
    while let Ok(ev) = native.try_recv() {
        if let ServerEvent::Message { msg, .. } = ev {
            want.push(msg);
        }
    }
    let schemas = want.iter().filter(|m| matches!(m, DbgMsg::Schema(_))).count();
    let txs = want.iter().filter(|m| matches!(m, DbgMsg::Tx(_))).count();
    assert_eq!(schemas, 2);
    assert!(txs >= 6, "{want:#?}");
    let got = go.take(schemas + txs);
    assert_eq!(got.len(), schemas + txs, "the Go server got {got:#?}");

    // one connection per machine, its schema first
    let mut conns: BTreeMap<String, u64> = BTreeMap::new();
    for line in &got {
        let msg = &line["msg"];
        let id = msg.get("MachineID").or_else(|| msg.get("ID")).and_then(Value::as_str).unwrap().to_string();
        let conn = line["conn"].as_u64().unwrap();
        match line["method"].as_str().unwrap() {
            "DbgMsgSchema" => assert!(conns.insert(id.clone(), conn).is_none(), "second schema for {id}"),
            _ => assert_eq!(conns.get(&id), Some(&conn), "{id}'s transition not on its schema's connection"),
        }
    }
    assert_eq!(conns.len(), 2);
    assert_ne!(conns["rust-1"], conns["rust-2"]);

    // every field the Go protocol has, equal to the native stream's, in the same order
    let go_msgs: Vec<Value> = got.iter().map(|l| trim(&l["msg"])).collect();
    let native_msgs: Vec<Value> = want.iter().map(go_fields).collect();
    for id in ["rust-1", "rust-2"] {
        let of = |v: &&Value| v.get("MachineID").or_else(|| v.get("ID")).and_then(Value::as_str) == Some(id);
        let a: Vec<&Value> = go_msgs.iter().filter(of).collect();
        let b: Vec<&Value> = native_msgs.iter().filter(of).collect();
        assert_eq!(a, b, "what the Go server decoded for {id} differs from the native stream");
    }
    let busy = go_msgs.iter().find(|m| m["Args"]["job"] == "42" && m["IsQueued"].is_null()).expect("the args arrived");
    assert!(busy["Steps"].as_array().is_some_and(|s| !s.is_empty()), "steps arrived: {busy}");
    assert!(
        go_msgs.iter().any(|m| m["PreLogEntries"].to_string().contains("a line between")),
        "pre-log entries arrived"
    );

    // the Go server restarts on the same port: the tracer reconnects and sends the schemas again
    let addr = go.addr.clone();
    drop(go);
    m1.add(&["Busy"]).unwrap(); // sent into the void, or held until the reconnect
    let go = GoServer::start(peer, &addr);
    let until = Instant::now() + Duration::from_secs(10);
    while gob.stats().connects < 4 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    m2.remove(&["Start"]).unwrap();
    assert!(gob.flush(Duration::from_secs(10)).in_time);
    // (the transition made while it was down arrives too, or is counted as dropped)
    let again = go.take_until(|l| l["method"] == "DbgMsgTx" && l["msg"]["MachineID"] == "rust-2");
    let schemas_again: Vec<&str> =
        again.iter().filter(|l| l["method"] == "DbgMsgSchema").filter_map(|l| l["msg"]["ID"].as_str()).collect();
    assert!(schemas_again.contains(&"rust-1") && schemas_again.contains(&"rust-2"), "after the restart: {again:#?}");
    let last = again.last().expect("lines after the restart");
    assert_eq!(
        (&last["method"], &last["msg"]["MachineID"]),
        (&Value::from("DbgMsgTx"), &Value::from("rust-2")),
        "{again:#?}"
    );
    let first_tx = again.iter().position(|l| l["method"] == "DbgMsgTx").unwrap_or(0);
    assert!(first_tx >= 2, "both schemas come before any transition on the new connections: {again:#?}");
    assert!(gob.stats().connects >= 4, "{:?}", gob.stats());
}

#[test]
fn rust_machines_reach_a_go_server_over_websocket() {
    let Some(peer) = peer() else { return };
    let rt = rt();
    let go = GoServer::start_as(peer, "wsserver", "127.0.0.1:0");
    let tracer = DbgTracer::builder()
        .addr(format!("ws://{}/dbg.ws", go.addr))
        .runtime(rt.handle().clone())
        .queued(false)
        .build()
        .unwrap();
    let m = Machine::builder(schema()).id("over-ws").tracer(tracer.clone()).build();
    for _ in 0..50 {
        m.add(&["Start"]).unwrap();
        m.remove(&["Start"]).unwrap();
    }
    assert!(tracer.flush(Duration::from_secs(10)).in_time, "{:?}", tracer.stats());
    let got = go.take(1 + 150);
    assert_eq!(got.first().map(|l| l["method"].clone()), Some(Value::from("DbgMsgSchema")), "{got:#?}");
    assert_eq!(got[0]["msg"]["ID"], "over-ws");
    let txs: Vec<&Value> = got.iter().filter(|l| l["method"] == "DbgMsgTx").collect();
    // 50 × (add Start, Ready follows as auto, remove Start) = 150 transitions, in order
    assert_eq!(txs.len(), 150, "{:?}", tracer.stats());
    assert!(txs.iter().all(|l| l["conn"] == got[0]["conn"]), "one connection");
    let ticks: Vec<u64> = txs.iter().filter_map(|l| l["msg"]["QueueTick"].as_u64()).collect();
    assert!(ticks.windows(2).all(|w| w[0] <= w[1]), "in order: {ticks:?}");
    assert_eq!(tracer.stats().dropped, 0);
}

#[test]
fn go_clients_are_served_and_recorded_beside_rust_ones() {
    let Some(peer) = peer() else { return };
    let rt = rt();
    let (server, mut rx) = rt.block_on(Server::bind_channel("127.0.0.1:0", 10_000)).unwrap();
    let addr = server.local_addr().to_string();
    let rust = DbgTracer::builder().addr(addr.clone()).runtime(rt.handle().clone()).build().unwrap();
    let m = Machine::builder(schema()).id("rust-side").tracer(rust.clone()).build();
    m.add(&["Start"]).unwrap();
    let out = Command::new(peer).args(["client", &addr, "go-side", "3"]).output().unwrap();
    assert!(out.status.success(), "Go client: {}", String::from_utf8_lossy(&out.stderr));
    assert!(rust.flush(Duration::from_secs(10)).in_time);

    let until = Instant::now() + Duration::from_secs(10);
    let mut events = Vec::new();
    while Instant::now() < until {
        match rt.block_on(async { tokio::time::timeout(Duration::from_millis(300), rx.recv()).await }) {
            Ok(Some(ev)) => events.push(ev),
            _ => {
                if events.iter().filter(|e| matches!(e, ServerEvent::Disconnected { .. })).count() >= 1 {
                    break;
                }
            }
        }
    }
    let go_conn = events
        .iter()
        .find_map(|e| match e {
            ServerEvent::Connected { conn, client, .. } if client.name == "asyncmachine-go" => Some(*conn),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Go client connected: {events:#?}"));
    let msgs: Vec<&DbgMsg> = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Message { conn, msg } if *conn == go_conn => Some(msg),
            _ => None,
        })
        .collect();
    assert_eq!(msgs.len(), 4, "{msgs:#?}");
    let DbgMsg::Schema(s) = msgs[0] else { panic!("schema first: {msgs:#?}") };
    assert_eq!(s.id, "go-side");
    assert_eq!(s.states_index, ["Exception", "Ready", "Start"]);
    assert!(s.states["Ready"].auto && s.states["Ready"].require == ["Start"]);
    assert_eq!(s.states["Start"].tags, ["go"]);
    assert_eq!(s.groups["self"], [0, 1, 2]);
    assert_eq!(s.tags, ["lang:go"]);
    let DbgMsg::Tx(t) = msgs[2] else { panic!("{msgs:#?}") };
    assert_eq!((t.machine_id.as_str(), t.id.as_str()), ("go-side", "go-tx-2"));
    assert_eq!(t.clocks, [0, 2, 2]);
    assert_eq!(t.queue_tick, 2);
    assert_eq!(u8::from(t.mutation_type), 2);
    assert_eq!(t.called_states_idxs, [2]);
    assert_eq!(t.steps.len(), 2);
    assert_eq!((t.steps[1].step_type, t.steps[1].rel_type), (5, 2));
    assert_eq!((t.steps[1].from_state.as_str(), t.steps[1].to_state.as_str()), ("Ready", "Start"));
    assert_eq!(t.steps[0].from_state_idx, -1);
    assert_eq!(t.log_entries[0].text, "[state] +Start 2");
    assert_eq!((t.pre_log_entries[0].level, t.pre_log_entries[0].text.as_str()), (3, "before"));
    assert_eq!(t.queue, 1);
    assert!(t.is_auto && t.accepted && !t.is_queued && !t.is_check);
    assert_eq!(t.args.get("n").map(String::as_str), Some("2"));
    assert_eq!(t.stack_trace, "main.client");
    // and the Rust machine on its own connection
    assert!(events.iter().any(|e| matches!(e, ServerEvent::Message { conn, msg: DbgMsg::Schema(s) } if *conn != go_conn && s.id == "rust-side")));
    assert_eq!(server.stats().closed_on_error, 0, "{:?}", server.stats());
}

#[test]
fn gob_br_recordings_open_in_go_and_go_exports_open_here() {
    let Some(peer) = peer() else { return };
    let dir = tempdir("gob-br");
    // ours → Go: brotli is a standard format; the Go side (stdlib has no brotli) reads the gob
    let schema_msg = |id: &str| {
        DbgMsg::Schema(am_dbg_proto::DbgMsgStruct {
            id: id.into(),
            states_index: vec!["A".into(), "Exception".into()],
            parent: if id == "child" { "root".into() } else { String::new() },
            ..Default::default()
        })
    };
    let tx = |id: &str, n: u64| {
        DbgMsg::Tx(am_dbg_proto::DbgMsgTx {
            machine_id: id.into(),
            id: format!("{id}-{n}"),
            clocks: vec![n, 0],
            accepted: n % 2 == 1,
            time: Some(1_780_000_000_000_000_000 + n),
            args: [("k".to_string(), n.to_string())].into(),
            seq: n,
            ..Default::default()
        })
    };
    let ours = vec![schema_msg("root"), tx("root", 1), schema_msg("child"), tx("child", 1), tx("root", 2)];
    let mut br = Vec::new();
    let stats = write_gob_br(&ours, &mut br).unwrap();
    assert_eq!((stats.machines, stats.txs), (2, 3));
    let mut gob = Vec::new();
    brotli::Decompressor::new(&br[..], 4096).read_to_end(&mut gob).unwrap();
    let raw = dir.join("ours.gob");
    std::fs::write(&raw, &gob).unwrap();
    let out = Command::new(peer).arg("readgob").arg(&raw).output().unwrap();
    assert!(out.status.success(), "Go could not decode it: {}", String::from_utf8_lossy(&out.stderr));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["MsgStruct"]["ID"], "root");
    assert_eq!(list[0]["MsgTxs"].as_array().map(Vec::len), Some(2));
    assert_eq!(list[1]["MsgStruct"]["Parent"], "root");
    assert_eq!(list[0]["MsgTxs"][1]["Args"]["k"], "2");
    assert_eq!(list[0]["MsgTxs"][1]["Time"], "2026-05-28T20:26:40.000000002Z", "times survive as Go times");
    assert!(list[0]["Version"].as_str().is_some_and(|v| v.starts_with("am-dbg-proto")));
    // and back: every field the Go format has
    assert_eq!(
        read_gob_br(&br[..]).unwrap(),
        ours.iter().filter(|m| !matches!(m, DbgMsg::Dropped(_))).cloned().collect::<Vec<_>>().sorted_by_machine()
    );

    // Go → ours
    let go_raw = dir.join("go.gob");
    let st = Command::new(peer).arg("writegob").arg(&go_raw).status().unwrap();
    assert!(st.success());
    let mut br = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
        w.write_all(&std::fs::read(&go_raw).unwrap()).unwrap();
    }
    let msgs = read_gob_br(&br[..]).unwrap();
    let ids: Vec<String> = msgs
        .iter()
        .map(|m| match m {
            DbgMsg::Schema(s) => format!("schema {}", s.id),
            DbgMsg::Tx(t) => format!("tx {} seq {}", t.id, t.seq),
            DbgMsg::Dropped(_) => "dropped".into(),
        })
        .collect();
    assert_eq!(
        ids,
        [
            "schema go-a",
            "tx go-a-0 seq 1",
            "tx go-a-1 seq 2",
            "schema go-b",
            "tx go-b-0 seq 1",
            "tx go-b-1 seq 2",
            "tx go-b-2 seq 3"
        ]
    );
    let DbgMsg::Tx(t) = &msgs[2] else { unreachable!() };
    // 2026-12-03T04:05:07.000007Z
    assert_eq!(t.time, Some(1_796_270_707_000_007_000));
    assert_eq!(
        (t.clocks.as_slice(), t.mutation_type as u8, t.called_states_idxs.as_slice()),
        (&[2u64, 0][..], 0, &[0i64][..])
    );
    assert_eq!(t.log_entries[0].text, "hi");
    let DbgMsg::Tx(q) = &msgs[1] else { unreachable!() };
    assert!(q.is_queued && q.mut_queue_tick == 7);
    let DbgMsg::Schema(s) = &msgs[0] else { unreachable!() };
    assert_eq!(s.states["A"].add, ["Exception"]);
}

fn tempdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("go-interop-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Messages grouped per machine (schema, then its transitions), as a `.gob.br` holds them.
trait SortedByMachine {
    fn sorted_by_machine(self) -> Vec<DbgMsg>;
}

impl SortedByMachine for Vec<DbgMsg> {
    fn sorted_by_machine(self) -> Vec<DbgMsg> {
        let mut order: Vec<String> = Vec::new();
        let mut by: BTreeMap<String, Vec<DbgMsg>> = BTreeMap::new();
        for m in self {
            let id = match &m {
                DbgMsg::Schema(s) => s.id.clone(),
                DbgMsg::Tx(t) => t.machine_id.clone(),
                DbgMsg::Dropped(d) => d.machine_id.clone(),
            };
            if !order.contains(&id) {
                order.push(id.clone());
            }
            by.entry(id).or_default().push(m);
        }
        order.into_iter().flat_map(|id| by.remove(&id).unwrap_or_default()).collect()
    }
}

fn one_state() -> Schema {
    Schema::builder().states(["A"]).build().unwrap()
}

#[test]
fn host_port_finds_the_go_am_dbg_and_speaks_gob_to_it() {
    let Some(peer) = peer() else { return };
    let rt = rt();
    let go = GoServer::start(peer, "127.0.0.1:0");
    // no scheme: what Go's docs tell users (AM_DBG_ADDR=1 is this address's default)
    let tracer = DbgTracer::builder().addr(go.addr.clone()).runtime(rt.handle().clone()).queued(false).build().unwrap();
    let m = Machine::builder(one_state()).id("found").tracer(tracer.clone()).build();
    for _ in 0..3 {
        m.toggle(&["A"]).unwrap();
    }
    assert!(tracer.flush(Duration::from_secs(10)).complete(), "{:?}", tracer.stats());
    let got = go.take(4);
    let methods: Vec<&str> = got.iter().filter_map(|l| l["method"].as_str()).collect();
    assert_eq!(methods, ["DbgMsgSchema", "DbgMsgTx", "DbgMsgTx", "DbgMsgTx"], "{got:#?}");
    assert_eq!(got[0]["msg"]["ID"], "found");
    assert_eq!(tracer.stats().dropped, 0);
    // found out once: after the Go server restarts it speaks gob again at once (what was
    // sent while it was away is counted as dropped)
    let addr = go.addr.clone();
    drop(go);
    let go = GoServer::start(peer, &addr);
    let until = Instant::now() + Duration::from_secs(10);
    let mut again = Vec::new();
    while Instant::now() < until && !again.iter().any(|l: &Value| l["method"] == "DbgMsgTx") {
        m.toggle(&["A"]).unwrap();
        tracer.flush(Duration::from_secs(5));
        again.extend(go.take_for(Duration::from_millis(100)));
    }
    assert_eq!(again.first().map(|l| l["method"].clone()), Some(Value::from("DbgMsgSchema")), "{again:#?}");
    assert!(again.iter().any(|l| l["method"] == "DbgMsgTx"), "{again:#?}");
    let st = tracer.stats();
    assert_eq!(st.sent + st.dropped, st.enqueued, "{st:?}");
}

#[test]
fn replay_reaches_a_go_debugger_at_any_address_form() {
    let Some(peer) = peer() else { return };
    let rt = rt();
    let dir = tempdir("replay");
    let file = dir.join("rec.jsonl");
    let schema =
        am_dbg_proto::DbgMsgStruct { id: "replayed".into(), states_index: vec!["A".into()], ..Default::default() };
    let tx = |n: u64| {
        DbgMsg::Tx(am_dbg_proto::DbgMsgTx {
            machine_id: "replayed".into(),
            id: format!("t{n}"),
            clocks: vec![n],
            accepted: true,
            seq: n,
            ..Default::default()
        })
    };
    let msgs = vec![DbgMsg::Schema(schema), tx(1), tx(2)];
    am_dbg_proto::write_recording(&msgs, std::fs::File::create(&file).unwrap()).unwrap();
    let go = GoServer::start(peer, "127.0.0.1:0");
    let ws = GoServer::start_as(peer, "wsserver", "127.0.0.1:0");
    for (to, server) in
        [(format!("gob://{}", go.addr), &go), (go.addr.clone(), &go), (format!("ws://{}/dbg.ws", ws.addr), &ws)]
    {
        let n = rt.block_on(am_dbg_proto::replay(&file, &to)).unwrap_or_else(|e| panic!("{to}: {e}"));
        assert_eq!(n, 3, "{to}");
        let got = server.take(3);
        let ids: Vec<&str> =
            got.iter().map(|l| l["msg"].get("MachineID").unwrap_or(&l["msg"]["ID"]).as_str().unwrap()).collect();
        assert_eq!(ids, ["replayed"; 3], "{to}: {got:#?}");
        assert_eq!(got[2]["msg"]["ID"], "t2", "{to}: in order");
    }
}

#[test]
fn a_batch_failing_part_way_counts_only_what_did_not_arrive() {
    let Some(peer) = peer() else { return };
    let rt = rt();
    // the first connection closes right after its 6th reply: the schema and 5 transitions
    let go = GoServer::start_with(peer, &["serverlimit", "127.0.0.1:0", "6"]);
    let tracer = DbgTracer::builder()
        .addr(format!("gob://{}", go.addr))
        .runtime(rt.handle().clone())
        .queued(false)
        // one batch: the schema and all 20 transitions
        .linger(Duration::from_millis(300))
        .backoff(Duration::from_millis(20), Duration::from_millis(100))
        .build()
        .unwrap();
    let m = Machine::builder(one_state()).id("cut").tracer(tracer.clone()).build();
    for _ in 0..20 {
        m.toggle(&["A"]).unwrap();
    }
    assert!(tracer.flush(Duration::from_secs(10)).in_time, "{:?}", tracer.stats());
    let first = go.take_until(|l| l["conn"] == 2);
    let arrived = first.iter().filter(|l| l["method"] == "DbgMsgTx").count();
    assert_eq!(arrived, 5, "{first:#?}");
    let st = tracer.stats();
    assert_eq!((st.enqueued, st.sent, st.dropped), (20, 5, 15), "only what did not arrive is lost: {st:?}");
    // and the reconnect sends the schema again, nothing twice
    assert_eq!(first.last().map(|l| l["method"].clone()), Some(Value::from("DbgMsgSchema")), "{first:#?}");
}

#[test]
fn go_and_rust_websocket_clients_reach_our_server() {
    let Some(peer) = peer() else { return };
    let rt = rt();
    let (server, mut rx) = rt.block_on(Server::bind_channel("127.0.0.1:0", 10_000)).unwrap();
    let addr = server.local_addr().to_string();
    let url = format!("ws://{addr}/dbg.ws");
    // Go's own client code over a WebSocket (net/rpc on a hand-made RFC 6455 stream)
    let out = Command::new(peer).args(["wsclient", &url, "go-ws", "3"]).output().unwrap();
    assert!(out.status.success(), "Go WebSocket client: {}", String::from_utf8_lossy(&out.stderr));
    // ours
    let tracer = DbgTracer::builder().addr(url.clone()).runtime(rt.handle().clone()).queued(false).build().unwrap();
    let m = Machine::builder(one_state()).id("rust-ws").tracer(tracer.clone()).build();
    m.add(&["A"]).unwrap();
    assert!(tracer.flush(Duration::from_secs(10)).complete(), "{:?}", tracer.stats());

    let mut events = Vec::new();
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until && events.iter().filter(|e| matches!(e, ServerEvent::Message { .. })).count() < 6 {
        if let Ok(Some(ev)) = rt.block_on(async { tokio::time::timeout(Duration::from_millis(200), rx.recv()).await }) {
            events.push(ev);
        }
    }
    let go_conn = events
        .iter()
        .find_map(|e| match e {
            ServerEvent::Connected { conn, client, .. } if client.library.contains("WebSocket") => Some(*conn),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Go WebSocket client: {events:#?}"));
    let go_msgs: Vec<&DbgMsg> = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Message { conn, msg } if *conn == go_conn => Some(msg),
            _ => None,
        })
        .collect();
    assert_eq!(go_msgs.len(), 4, "{go_msgs:#?}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    for msg in &go_msgs[1..] {
        let DbgMsg::Tx(t) = msg else { panic!("{msg:?}") };
        let time = t.time.expect("the receive time, as the Go debugger stamps it");
        assert!(now - time < 60_000_000_000, "a time of now, not {time}");
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ServerEvent::Message { msg: DbgMsg::Tx(t), .. } if t.machine_id == "rust-ws")),
        "{events:#?}"
    );

    // the handshake as any WebSocket client sees it, and a request elsewhere refused
    let raw = |req: &str| {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let head = raw("GET /dbg.ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{head}");
    let head = raw("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
}
