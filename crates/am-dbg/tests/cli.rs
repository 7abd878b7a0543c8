//! Record → replay → record gives identical files; the summary counts what happened; the
//! `am-dbg` binary records, replays, summarises and prints help.

use std::io::BufReader;
use std::process::{Command, Stdio};
use std::time::Duration;

use am_core::{Machine, Schema, State};
use am_dbg_proto::{DbgMsg, DbgTracer, RecordOptions, Recorder, Summary, read_recording, replay};
use am_testkit::TempDir;

#[path = "support/bin.rs"]
mod bin;
use bin::{am_dbg, spawn_listening};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Drives a root machine and a submachine through known transitions.
fn drive(tracer: &DbgTracer) {
    let schema = Schema::builder()
        .state("Start", State::new())
        .state("Ready", State::new().require(["Start"]))
        .state("Work", State::new().multi())
        .build()
        .unwrap();
    let root = Machine::builder(schema.clone()).id("app").tracer(tracer.clone()).build();
    let sub = Machine::builder(schema).id("worker").parent(&root).build();
    root.add(&["Ready"]).unwrap(); // canceled
    root.add(&["Start", "Ready"]).unwrap();
    for _ in 0..5 {
        sub.add(&["Work"]).unwrap();
    }
    sub.add_err(am_core::err_msg("boom")).unwrap();
    root.remove(&["Start"]).unwrap(); // Ready goes too
}

#[test]
fn record_replay_record_is_identical() {
    let rt = rt();
    let dir = TempDir::new("dbg-cli");
    let (first, second) = (dir.join("first.jsonl"), dir.join("second.jsonl"));

    let rec = rt.block_on(Recorder::start("127.0.0.1:0", &first, RecordOptions::default())).unwrap();
    let tracer = DbgTracer::builder().addr(rec.local_addr().to_string()).runtime(rt.handle().clone()).build().unwrap();
    drive(&tracer);
    assert!(tracer.flush(Duration::from_secs(10)).complete());
    let stats = rt.block_on(rec.stop()).unwrap();
    assert_eq!(stats.clients, 1);
    assert_eq!(stats.dropped_reported, 0);

    let msgs = read_recording(&first).unwrap();
    assert_eq!(msgs.len() as u64, stats.messages);
    assert!(matches!(&msgs[0], DbgMsg::Schema(s) if s.id == "app"));
    assert!(matches!(&msgs[1], DbgMsg::Schema(s) if s.id == "worker" && s.parent == "app"));

    let rec2 = rt.block_on(Recorder::start("127.0.0.1:0", &second, RecordOptions::default())).unwrap();
    let sent = rt.block_on(replay(&first, &rec2.local_addr().to_string())).unwrap();
    assert_eq!(sent, stats.messages);
    let stats2 = rt.block_on(rec2.stop()).unwrap();
    assert_eq!(stats2.messages, stats.messages);
    assert_eq!(std::fs::read(&first).unwrap(), std::fs::read(&second).unwrap(), "byte-identical recordings");

    let s = Summary::from_file(&second).unwrap();
    let app = &s.machines["app"];
    assert_eq!((app.transitions, app.accepted, app.canceled), (3, 2, 1));
    assert_eq!(app.activations["Start"], 1);
    assert_eq!(app.activations["Ready"], 1);
    assert_eq!(app.queued, 3);
    let worker = &s.machines["worker"];
    assert_eq!(worker.parent, "app");
    assert_eq!(worker.activations["Work"], 5, "multi state activations");
    assert_eq!(worker.exceptions, 1);
    assert_eq!((worker.dropped, worker.seq_gaps), (0, 0));
    let text = s.to_string();
    assert!(text.starts_with("machines: 2, transitions: 9, exceptions: 1, dropped: 0"), "{text}");
}

#[test]
fn cli_help_and_usage_errors() {
    for args in [&["--help"][..], &["help"], &["record", "--help"], &["replay", "-h"], &["summary", "--help"], &[]] {
        let out = am_dbg().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("USAGE:"), "{args:?}: {text}");
    }
    let out = am_dbg().args(["record", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--listen ADDR"));
    let out = am_dbg().args(["record"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--out FILE is required"));
    let out = am_dbg().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = am_dbg().args(["summary", "/nonexistent/file.jsonl"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn tui_help_lists_the_go_filter_flags_and_the_keys_and_flags_parse() {
    let out = am_dbg().args(["tui", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--filter-auto ",
        "--filter-auto-canceled",
        "--filter-canceled",
        "--filter-checks",
        "--filter-disconn",
        "--filter-empty",
        "--filter-group",
        "--filter-health",
        "--filter-log-level N",
        "--filter-queued",
        "--max-mem MB",
        "--max-transitions N",
    ] {
        assert!(text.contains(flag), "{flag} missing:\n{text}");
    }
    for key in am_dbg::keys::BINDINGS.iter().filter(|b| !b.shown.is_empty()) {
        assert!(text.contains(key.help), "{key:?} missing:\n{text}");
    }
    assert!(text.contains("LEGEND:") && text.contains("relation line"), "{text}");

    use am_dbg::cli::{Command, parse};
    let args = "tui rec.jsonl --filter-canceled --filter-auto-canceled --filter-health --filter-group=false \
                --filter-log-level 2 --max-mem 64 --view matrix --dir /tmp";
    let Ok(Command::Tui(o)) = parse(args.split_whitespace().map(String::from).collect()) else { panic!() };
    let f = o.filters;
    assert!(f.canceled && f.auto_canceled && f.health && !f.group && !f.auto && !f.queued);
    assert_eq!((f.log_level as u8, o.max_mem_mb, o.matrix), (2, Some(64), true));
    let bad = parse(["tui", "--filter-nope"].map(String::from).to_vec());
    assert!(bad.is_err_and(|e| e.to_string().contains("unknown filter --filter-nope")));
}

#[test]
fn cli_record_replay_summary() {
    let rt = rt();
    let dir = TempDir::new("dbg-cli");
    let (src, out) = (dir.join("cli-src.jsonl"), dir.join("cli-out.jsonl"));
    // a source recording made through the library
    let rec = rt.block_on(Recorder::start("127.0.0.1:0", &src, RecordOptions::default())).unwrap();
    let tracer = DbgTracer::builder().addr(rec.local_addr().to_string()).runtime(rt.handle().clone()).build().unwrap();
    drive(&tracer);
    assert!(tracer.flush(Duration::from_secs(10)).complete());
    let n = rt.block_on(rec.stop()).unwrap().messages;

    let (mut child, mut stderr, addr) = spawn_listening(
        am_dbg()
            .args(["record", "--listen", "127.0.0.1:0", "--out"])
            .arg(&out)
            .args(["--max-messages", &n.to_string()]),
    );

    let status = am_dbg().args(["replay"]).arg(&src).args(["--to", &addr]).status().unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(rest.contains(&format!("wrote {n} messages from 1 clients")), "{rest}");
    assert_eq!(std::fs::read(&src).unwrap(), std::fs::read(&out).unwrap());

    let summary = am_dbg().args(["summary"]).arg(&out).output().unwrap();
    assert!(summary.status.success());
    let text = String::from_utf8(summary.stdout).unwrap();
    assert!(text.contains("worker (parent app)"), "{text}");
    assert!(text.contains("exceptions 1"), "{text}");
}

/// `am-dbg record --quiet` on a free port: the child, its stderr, and the address it prints.
fn spawn_recorder(out: &std::path::Path) -> (std::process::Child, BufReader<std::process::ChildStderr>, String) {
    spawn_listening(am_dbg().args(["record", "--quiet", "--listen", "127.0.0.1:0", "--out"]).arg(out))
}

/// (lines, transition lines) of a recording: the tracer's `sent` counts transition
/// messages, the file also holds each machine's schema.
fn lines(file: &std::path::Path) -> (u64, u64) {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    (text.lines().count() as u64, text.lines().filter(|l| l.starts_with(r#"{"Tx""#)).count() as u64)
}

fn sigterm(child: &std::process::Child) {
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill -TERM failed");
}

#[test]
fn recorder_writes_what_arrived_within_a_second_while_running() {
    let rt = rt();
    let dir = TempDir::new("dbg-cli");
    let out = dir.join("flush.jsonl");
    let (mut child, mut stderr, addr) = spawn_recorder(&out);
    let tracer = DbgTracer::builder().addr(addr).runtime(rt.handle().clone()).build().unwrap();
    drive(&tracer);
    assert!(tracer.flush(Duration::from_secs(10)).complete());
    let n = tracer.stats().sent;
    assert!(n > 10, "{n}");
    // the stream (the connection) goes on; the file already holds everything
    std::thread::sleep(Duration::from_millis(1500));
    let (total, txs) = lines(&out);
    assert_eq!(txs, n, "the recorder held messages back");
    sigterm(&child);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(rest.contains("SIGTERM") && rest.contains(&format!("wrote {total} messages")), "{rest}");
    assert_eq!(lines(&out), (total, n));
    drop(tracer);
}

#[test]
fn sigterm_right_after_a_stream_writes_every_acknowledged_message() {
    let rt = rt();
    let dir = TempDir::new("dbg-cli");
    let out = dir.join("sigterm.jsonl");
    let (mut child, mut stderr, addr) = spawn_recorder(&out);
    let tracer = DbgTracer::builder().addr(addr).runtime(rt.handle().clone()).build().unwrap();
    for _ in 0..20 {
        drive(&tracer);
    }
    assert!(tracer.flush(Duration::from_secs(10)).complete());
    let n = tracer.stats().sent;
    sigterm(&child); // no pause: the last batches may still be in the recorder's buffer
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let (total, txs) = lines(&out);
    assert_eq!(txs, n, "every message the recorder acknowledged is in the file");
    assert!(rest.contains(&format!("wrote {total} messages")), "{rest}");
    drop(tracer);
}

#[test]
fn am_dbg_export_and_import_round_trip_a_recording() {
    let dir = TempDir::new("dbg-cli");
    let rec = dir.join("rec.jsonl");
    let dir = rec.parent().unwrap().to_path_buf();
    let msgs = vec![
        DbgMsg::Schema(am_dbg_proto::DbgMsgStruct {
            id: "m".into(),
            states_index: vec!["A".into()],
            ..Default::default()
        }),
        DbgMsg::Tx(am_dbg_proto::DbgMsgTx {
            machine_id: "m".into(),
            id: "t1".into(),
            clocks: vec![1],
            time: Some(10),
            seq: 1,
            steps: vec![am_dbg_proto::DbgStep {
                step_type: 32,
                to_state: "A".into(),
                from_state_idx: -1,
                ..Default::default()
            }],
            log_entries: vec![am_dbg_proto::DbgLogEntry { level: 2, text: "[state] +A".into() }],
            ..Default::default()
        }),
    ];
    am_dbg_proto::write_recording(&msgs, std::fs::File::create(&rec).unwrap()).unwrap();
    let am_dbg = env!("CARGO_BIN_EXE_am-dbg");
    let br = dir.join("rec.gob.br");
    let o = Command::new(am_dbg).args(["export", "--gob-br"]).arg(&rec).arg(&br).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 machines, 1 transitions"));
    let back = dir.join("back.jsonl");
    let o = Command::new(am_dbg).arg("import").arg(&br).arg(&back).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(am_dbg_proto::read_recording(&back).unwrap(), msgs);
    // summary reads a .gob.br directly
    let o = Command::new(am_dbg).arg("summary").arg(&br).output().unwrap();
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains('m'));
    // a file that is not one says so
    std::fs::write(dir.join("bad.gob.br"), b"not brotli").unwrap();
    let o = Command::new(am_dbg).arg("import").arg(dir.join("bad.gob.br")).arg(dir.join("x")).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.gob.br"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn diagram_prints_a_mermaid_graph_of_a_recorded_machine() {
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/captures/demo.jsonl");
    let out = am_dbg()
        .arg("diagram")
        .arg(&demo)
        .args(["--machine", "worker-1", "--format", "mermaid", "--tx", "last"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("flowchart LR\n"), "{text}");
    assert!(
        text.contains("s1 --o|require| s0") && text.contains("s1 --x|remove| s2"),
        "Connecting requires Start, removes Connected:\n{text}"
    );
    assert!(text.contains("subgraph g_connection"), "the schema's groups:\n{text}");
    assert!(text.contains("class s0,s2,s4 active"), "Start, Connected, Working after the last transition:\n{text}");
    let dir = TempDir::new("dbg-diagram");
    for format in ["d2", "svg"] {
        let file = dir.join(format!("w.{format}"));
        let out = am_dbg()
            .arg("diagram")
            .arg(&demo)
            .args(["-M", "worker-1", "-f", format, "-o"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(std::fs::read_to_string(&file).unwrap().contains("Connecting"), "{format}");
    }
    let out = am_dbg().arg("diagram").arg(&demo).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("pick one with --machine"));
}

#[test]
fn diagram_of_a_live_machine_waits_for_its_schema() {
    let (child, _stderr, addr) = spawn_listening(
        am_dbg().args(["diagram", "127.0.0.1:0", "--machine", "worker", "--tx", "last"]).stdout(Stdio::piped()),
    );
    let rt = rt();
    let tracer = DbgTracer::builder().addr(addr).runtime(rt.handle().clone()).build().unwrap();
    drive(&tracer);
    assert!(tracer.flush(Duration::from_secs(10)).complete());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("%% worker — am-dbg diagram") && text.contains("s1 --o|require| s0"), "{text}");
    assert!(text.contains("class s2,s3 active"), "Work and Exception active after the last transition:\n{text}");
}
