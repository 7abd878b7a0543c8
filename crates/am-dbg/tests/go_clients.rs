//! Go clients in the `am-dbg` binary: `record` takes them raw and over WebSocket (`/dbg.ws`
//! on the same port), their transitions get the receive time (the Go client sends none, as
//! the Go debugger stamps them), so `export --gob-br` carries real times; and `summary` in a
//! pipe that closes early (`| head -1`) exits quietly.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use am_dbg_proto::{DbgMsg, read_gob_br, read_recording};
use am_testkit::TempDir;

#[path = "support/bin.rs"]
mod bin;
use bin::{am_dbg, spawn_listening};

#[test]
fn go_clients_recorded_by_am_dbg_record_have_times() {
    let Some(peer) = am_testkit::go::peer(env!("CARGO_TARGET_TMPDIR")) else { return };
    let dir = TempDir::new("dbg-go-clients");
    let (out, br) = (dir.join("go.jsonl"), dir.join("go.gob.br"));
    // a schema and 3 transitions from each client: 8 messages
    let (mut child, mut stderr, addr) = spawn_listening(
        am_dbg().args(["record", "--quiet", "--listen", "127.0.0.1:0", "--max-messages", "8", "--out"]).arg(&out),
    );
    let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    for (mode, to, id) in [("client", addr.clone(), "go-raw"), ("wsclient", format!("ws://{addr}/dbg.ws"), "go-ws")] {
        let o = Command::new(peer).args([mode, &to, id, "3"]).output().unwrap();
        assert!(o.status.success(), "{mode}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{rest}");
    let end = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;

    let msgs = read_recording(&out).unwrap();
    let txs: Vec<_> = msgs.iter().filter_map(|m| if let DbgMsg::Tx(t) = m { Some(t) } else { None }).collect();
    assert_eq!(txs.len(), 6, "{msgs:#?}");
    for t in &txs {
        let time = t.time.unwrap_or_else(|| panic!("{} {} has no time", t.machine_id, t.id));
        assert!((start..=end).contains(&time), "{} received between {start} and {end}, not {time}", t.id);
    }
    assert!(txs.iter().any(|t| t.machine_id == "go-ws"), "the WebSocket client was recorded");

    let o = am_dbg().args(["export", "--gob-br"]).arg(&out).arg(&br).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let back = read_gob_br(std::fs::File::open(&br).unwrap()).unwrap();
    let times: Vec<u64> = back.iter().filter_map(|m| if let DbgMsg::Tx(t) = m { t.time } else { None }).collect();
    assert_eq!(times.len(), 6);
    assert!(times.iter().all(|t| (start..=end).contains(t)), "real times in the export, not 1970: {times:?}");
}

#[test]
fn summary_in_a_pipe_closed_early_exits_quietly() {
    let dir = TempDir::new("dbg-pipe");
    let file = dir.join("many.jsonl");
    // a summary far longer than a pipe's buffer
    let msgs: Vec<DbgMsg> = (0..3000)
        .map(|i| {
            DbgMsg::Schema(am_dbg_proto::DbgMsgStruct {
                id: format!("machine-{i:05}"),
                states_index: vec!["A".into()],
                ..Default::default()
            })
        })
        .collect();
    am_dbg_proto::write_recording(&msgs, std::fs::File::create(&file).unwrap()).unwrap();
    let mut child = am_dbg().arg("summary").arg(&file).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap(); // then `head` goes away
    assert!(first.starts_with("machines: 3000,"), "{first}");
    let status = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "exit {status}: {err}");
    assert!(err.is_empty(), "nothing on stderr: {err}");
}
