//! The server side of the Go protocol: a Go client (`AM_DBG_ADDR` of an asyncmachine-go
//! service) speaks net/rpc with gob to the same port as native clients; its schema and
//! transition calls become [`ServerEvent`]s like any other.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::net::TcpStream;

use super::conn::{GobReader, GobWriter};
use super::wire::{GoMsgStruct, GoMsgTx, METHOD_SCHEMA, METHOD_TX, Request, Response};
use crate::error::Error;
use crate::messages::{ClientIdentity, DbgMsg};
use crate::server::{ConnId, Counters, ServerEvent, Sink};

/// Whether a new connection speaks gob (a Go net/rpc client), from its first bytes, peeked:
/// a native (tarpc) frame starts with a 4-byte big-endian length whose first byte is 0 for
/// any frame the server accepts. A Go client's first message is the gob definition of
/// net/rpc's `Request` type: a short length (1–127), a negative (odd) type ID, and the name
/// `Request` within the first bytes. Anything else — including garbage that starts like a
/// gob length — is left to the native path, which closes it with its reason.
pub(crate) async fn is_gob(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 32];
    let until = tokio::time::Instant::now() + std::time::Duration::from_millis(200);
    loop {
        let n = match stream.peek(&mut buf).await {
            Ok(n) if n > 0 => n,
            _ => return false,
        };
        let seen = &buf[..n];
        // the type ID is a gob signed int: odd when negative (a definition), or a byte count
        let id_ok = |b: &u8| *b >= 0xF8 || b % 2 == 1;
        if !(1..0x80).contains(&seen[0]) || seen.get(1).is_some_and(|b| !id_ok(b)) {
            return false;
        }
        if seen.windows(7).any(|w| w == b"Request") {
            return true;
        }
        if n == buf.len() || tokio::time::Instant::now() >= until {
            return false;
        }
        // a definition split across segments: wait for the rest briefly
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Who a Go client is, as far as the protocol tells (it has no handshake).
fn identity(peer: SocketAddr, conn: ConnId) -> ClientIdentity {
    ClientIdentity {
        name: "asyncmachine-go".into(),
        host: peer.ip().to_string(),
        pid: 0,
        session: conn,
        library: "go (net/rpc, gob)".into(),
    }
}

/// Serves one Go client until it hangs up or sends something that is not the protocol.
pub(crate) async fn connection(stream: TcpStream, peer: SocketAddr, conn: ConnId, sink: Sink, counters: Arc<Counters>) {
    let _ = stream.set_nodelay(true);
    counters.clients.fetch_add(1, Relaxed);
    sink.emit(ServerEvent::Connected { conn, peer, client: identity(peer, conn) }).await;
    let error = serve(stream, conn, &sink, &counters).await.err().map(|e| e.to_string());
    counters.clients.fetch_sub(1, Relaxed);
    if let Some(reason) = &error {
        counters.closed_on_error.fetch_add(1, Relaxed);
        tracing::warn!(target: "am_dbg_proto", %peer, conn, "am-dbg server: closing Go connection {conn} from {peer}: {reason}");
    }
    sink.emit(ServerEvent::Disconnected { conn, peer, error }).await;
}

async fn serve(mut stream: TcpStream, conn: ConnId, sink: &Sink, counters: &Counters) -> Result<(), Error> {
    let (mut rd, mut wr) = stream.split();
    let mut reader = GobReader::default();
    let mut writer = GobWriter::default();
    while let Some(req) = reader.next::<Request, _>(&mut rd).await? {
        let (msg, error) = match req.service_method.as_str() {
            METHOD_SCHEMA => match reader.next::<GoMsgStruct, _>(&mut rd).await? {
                Some(s) => (Some(DbgMsg::Schema(s.into())), String::new()),
                None => return Ok(()),
            },
            METHOD_TX => match reader.next::<GoMsgTx, _>(&mut rd).await? {
                Some(t) => (Some(DbgMsg::Tx(t.into_native())), String::new()),
                None => return Ok(()),
            },
            other => {
                // forwarding (`*Fwd`) and unknown methods: read the argument, answer as
                // net/rpc does for a method it does not have
                if !reader.skip(&mut rd).await? {
                    return Ok(());
                }
                (None, format!("rpc: can't find method {other}"))
            }
        };
        if let Some(msg) = msg {
            counters.messages.fetch_add(1, Relaxed);
            sink.emit(ServerEvent::Message { conn, msg }).await;
        }
        // net/rpc answers every call: the header, then the reply (an empty string; on an
        // error, a value the client discards)
        let ok = error.is_empty();
        writer.push(&Response { service_method: req.service_method, seq: req.seq, error })?;
        if ok {
            writer.push("")?;
        } else {
            writer.push(&EmptyReply::default())?;
        }
        writer.flush(&mut wr).await?;
    }
    Ok(())
}

/// What net/rpc sends as the reply of a failed call (`invalidRequest`, an empty struct).
#[derive(gobwire::Gob, Debug, Default)]
struct EmptyReply {}
