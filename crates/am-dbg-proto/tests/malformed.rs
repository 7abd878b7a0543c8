//! Bad peers: malformed, truncated and oversized frames, a wrong protocol version, an
//! unknown message and a batch before the handshake each get their connection closed with a
//! reason, while a well-behaved client on the same server keeps streaming.

use std::time::Duration;

use am_core::{Machine, Schema};
use am_dbg_proto::{
    Batch, ClientIdentity, DbgMsg, DbgServiceClient, DbgTracer, Hello, PROTOCOL_VERSION, Refusal, Server, ServerEvent,
};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tarpc::tokio_serde::formats::Bincode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::Receiver;

/// Waits for the next `Disconnected` event and returns its reason; keeps the sequence
/// numbers of transitions seen on the way.
async fn next_close(rx: &mut Receiver<ServerEvent>, seqs: &mut Vec<u64>) -> Option<String> {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("an event").expect("open");
        match ev {
            ServerEvent::Disconnected { error, .. } => return error,
            ServerEvent::Message { msg: DbgMsg::Tx(t), .. } => seqs.push(t.seq),
            _ => {}
        }
    }
}

/// The server hangs up: a read returns EOF (or a reset).
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

async fn raw(addr: &str, bytes: &[u8], half_close: bool) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    if half_close {
        s.shutdown().await.unwrap();
    }
    s
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn hello(protocol: u32) -> Hello {
    Hello { protocol, client: ClientIdentity { name: "bad".into(), ..Default::default() } }
}

fn ctx() -> tarpc::context::Context {
    tarpc::context::current()
}

/// A request type laid out like the service's, plus a variant the server does not know.
#[derive(Serialize, Deserialize)]
enum FakeRequest {
    Hello { hello: Hello },
    Push { batch: Batch },
    Shutdown { now: bool },
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_peers_are_closed_and_others_keep_going() {
    let (server, mut rx) = Server::bind_channel("127.0.0.1:0", 100_000).await.unwrap();
    let addr = server.local_addr().to_string();

    // a good client streams in the background the whole time
    let tracer = DbgTracer::builder().addr(addr.clone()).queued(false).build().unwrap();
    let m =
        Machine::builder(Schema::builder().states(["A"]).build().unwrap()).id("good").tracer(tracer.clone()).build();
    let good = {
        let m = m.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                m.toggle(&["A"]).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let mut reasons = Vec::new();
    let mut seqs = Vec::new();

    // garbage inside a well-formed length prefix
    let mut s = raw(&addr, &frame(&[0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0x13]), false).await;
    assert!(closed_by_server(&mut s).await);
    reasons.push(("garbage", next_close(&mut rx, &mut seqs).await));

    // a frame cut short by the peer
    let mut s = raw(&addr, &[0, 0, 0, 100, 1, 2, 3], true).await;
    assert!(closed_by_server(&mut s).await);
    reasons.push(("truncated", next_close(&mut rx, &mut seqs).await));

    // a length prefix over the limit
    let mut s = raw(&addr, &[0x7f, 0xff, 0xff, 0xff, 0], false).await;
    assert!(closed_by_server(&mut s).await);
    reasons.push(("oversized", next_close(&mut rx, &mut seqs).await));

    // a real client speaking another protocol version
    let transport = tarpc::serde_transport::tcp::connect(&addr, Bincode::default).await.unwrap();
    let client = DbgServiceClient::new(Default::default(), transport).spawn();
    let r = client.hello(ctx(), hello(PROTOCOL_VERSION + 98)).await.unwrap();
    assert_eq!(r, Err(Refusal::VersionMismatch { client: PROTOCOL_VERSION + 98, server: PROTOCOL_VERSION }));
    reasons.push(("version", next_close(&mut rx, &mut seqs).await));
    assert!(client.hello(ctx(), hello(PROTOCOL_VERSION)).await.is_err(), "connection is gone");

    // a batch before the handshake
    let transport = tarpc::serde_transport::tcp::connect(&addr, Bincode::default).await.unwrap();
    let client = DbgServiceClient::new(Default::default(), transport).spawn();
    assert_eq!(client.push(ctx(), Batch::default()).await.unwrap(), Err(Refusal::NoHandshake));
    reasons.push(("no-hello", next_close(&mut rx, &mut seqs).await));

    // a valid handshake, then a message the server does not know
    let mut t = tarpc::serde_transport::tcp::connect::<_, tarpc::Response<serde_json::Value>, _, _, _>(
        &addr,
        Bincode::<tarpc::Response<serde_json::Value>, tarpc::ClientMessage<FakeRequest>>::default,
    )
    .await
    .unwrap();
    let req = |id, message| tarpc::ClientMessage::Request(tarpc::Request { context: ctx(), id, message });
    t.send(req(0, FakeRequest::Hello { hello: hello(PROTOCOL_VERSION) })).await.unwrap();
    t.send(req(1, FakeRequest::Shutdown { now: true })).await.unwrap();
    let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(10), t.collect::<Vec<_>>()).await.unwrap();
    assert!(rest.len() <= 1, "at most the handshake answer, then closed");
    reasons.push(("unknown", next_close(&mut rx, &mut seqs).await));

    // a valid handshake, then an encoded push that is not a batch
    let transport = tarpc::serde_transport::tcp::connect(&addr, Bincode::default).await.unwrap();
    let client = DbgServiceClient::new(Default::default(), transport).spawn();
    let welcome = client.hello(ctx(), hello(PROTOCOL_VERSION)).await.unwrap().unwrap();
    assert_eq!(welcome.protocol, am_dbg_proto::ENCODED_PUSH_VERSION, "this server takes encoded pushes");
    let r = client.push_encoded(ctx(), am_dbg_proto::EncodedBatch(vec![0xff; 9])).await.unwrap();
    assert!(matches!(r, Err(Refusal::Malformed(_))), "{r:?}");
    reasons.push(("encoded", next_close(&mut rx, &mut seqs).await));

    let version_refused = format!("protocol version {} not supported", PROTOCOL_VERSION + 98);
    for (what, reason) in &reasons {
        let reason = reason.as_deref().unwrap_or_else(|| panic!("{what}: closed without a reason"));
        let expected = match *what {
            "garbage" | "oversized" | "unknown" => "malformed or unknown frame",
            "truncated" => "truncated frame",
            "version" => version_refused.as_str(),
            "no-hello" => "batch before handshake",
            "encoded" => "malformed encoded batch",
            _ => unreachable!(),
        };
        assert!(reason.contains(expected), "{what}: {reason}");
    }
    assert_eq!(server.stats().closed_on_error, 7);

    good.join().unwrap();
    assert!(tracer.flush(Duration::from_secs(10)).in_time);
    while let Ok(ev) = rx.try_recv() {
        if let ServerEvent::Message { msg: DbgMsg::Tx(t), .. } = ev {
            seqs.push(t.seq);
        }
    }
    assert_eq!(seqs, (1..=200).collect::<Vec<u64>>(), "the good client lost nothing, in order");
    assert_eq!(tracer.stats().connects, 1, "and was never disconnected");
}
