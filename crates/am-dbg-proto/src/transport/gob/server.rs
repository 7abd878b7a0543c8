//! The server side of the Go protocol: a Go client (`AM_DBG_ADDR` of an asyncmachine-go
//! service) speaks net/rpc with gob to the same port as native clients, on a raw TCP
//! connection or inside a WebSocket; its schema and transition calls become
//! [`ServerEvent`](crate::ServerEvent)s like any other.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::conn::{GobReader, GobWriter};
use super::wire::{GoMsgStruct, GoMsgTx, METHOD_SCHEMA, METHOD_TX, Request, Response};
use crate::error::Error;
use crate::messages::{ClientIdentity, DbgMsg};
use crate::server::ConnCtx;
use crate::transport::{ServerProtocol, Serving, Sniff};

/// Raw TCP Go clients.
pub(crate) struct Protocol;

impl ServerProtocol for Protocol {
    /// A Go client's first message is the gob definition of net/rpc's `Request` type: a short
    /// length (1–127), a negative (odd) type ID, and the name `Request` within the first
    /// bytes. Anything else — including garbage that starts like a gob length — is left to
    /// the fallback, which closes it with its reason.
    fn sniff(&self, first: &[u8]) -> Sniff {
        let Some(&len) = first.first() else { return Sniff::NeedMore };
        // the type ID is a gob signed int: odd when negative (a definition), or a byte count
        let id_ok = |b: &u8| *b >= 0xF8 || b % 2 == 1;
        if !(1..0x80).contains(&len) || first.get(1).is_some_and(|b| !id_ok(b)) {
            return Sniff::No;
        }
        if first.windows(7).any(|w| w == b"Request") {
            Sniff::Yes
        } else if first.len() >= 32 {
            Sniff::No
        } else {
            Sniff::NeedMore
        }
    }

    fn serve(&self, stream: TcpStream, peer: SocketAddr, ctx: Arc<ConnCtx>) -> Serving {
        let _ = stream.set_nodelay(true);
        Box::pin(serve_stream(stream, peer, ctx, "go (net/rpc, gob)"))
    }
}

/// Who a Go client is, as far as the protocol tells (it has no handshake).
fn identity(peer: SocketAddr, conn: u64, library: &str) -> ClientIdentity {
    ClientIdentity {
        name: "asyncmachine-go".into(),
        host: peer.ip().to_string(),
        pid: 0,
        session: conn,
        library: library.into(),
    }
}

/// Serves one Go client on any byte stream until it hangs up or sends something that is
/// not the protocol.
pub(crate) async fn serve_stream<S>(stream: S, peer: SocketAddr, ctx: Arc<ConnCtx>, library: &str) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    ctx.connected(identity(peer, ctx.conn(), library)).await;
    serve(stream, &ctx).await.map_err(|e| e.to_string())
}

async fn serve<S: AsyncRead + AsyncWrite>(stream: S, ctx: &ConnCtx) -> Result<(), Error> {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut reader = GobReader::default();
    let mut writer = GobWriter::default();
    // the states of each machine whose schema came on this connection, to read old clients'
    // called states and steps by name
    let mut index: HashMap<String, Vec<String>> = HashMap::new();
    while let Some(req) = reader.next::<Request, _>(&mut rd).await? {
        let (msg, error) = match req.service_method.as_str() {
            METHOD_SCHEMA => match reader.next::<GoMsgStruct, _>(&mut rd).await? {
                Some(s) => {
                    index.insert(s.id.clone(), s.states_index.clone());
                    (Some(DbgMsg::Schema(s.into())), String::new())
                }
                None => return Ok(()),
            },
            METHOD_TX => match reader.next::<GoMsgTx, _>(&mut rd).await? {
                Some(t) => {
                    let mut t = t.into_native();
                    if let Some(states) = index.get(&t.machine_id) {
                        t.normalize(states);
                    }
                    (Some(DbgMsg::Tx(t)), String::new())
                }
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
            ctx.messages(vec![msg]).await;
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
