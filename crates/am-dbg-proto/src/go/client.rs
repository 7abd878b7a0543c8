//! The tracer's transport to a Go `am-dbg` (`gob://host:port`, or `ws://host:port/dbg.ws`
//! through [`ws`](super::ws)): what the native sender does —
//! take whole chunks from the outbox, convert them off the machine's thread, count what is
//! sent and dropped, reconnect with backoff — but speaking net/rpc with gob, one TCP
//! connection per machine, its schema first on every connection (the Go server drops
//! transitions of a machine whose schema did not arrive on that same connection).
//!
//! Calls are not pipelined: Go's net/rpc server runs each call of a connection in a goroutine
//! of its own, so only a call that waits for the reply of the one before keeps a machine's
//! transitions in order on the server (which the debugger's timeline needs).
//!
//! Unlike the Go client it reconnects (with backoff, re-sending every schema), never blocks
//! a transition (the outbox is bounded and drops the oldest, counted), and drains the outbox
//! on shutdown.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::conn::{GobReader, GobWriter};
use super::wire::{GoMsgStruct, GoMsgTx, METHOD_SCHEMA, METHOD_TX, Request, Response};
use crate::error::Error;
use crate::messages::{DbgMsg, DbgMsgStruct};
use crate::sender::{SenderConfig, Shared, warn};

/// One machine's connection: TCP, or a WebSocket turned into a byte stream.
struct MachConn {
    rd: Box<dyn AsyncRead + Unpin + Send>,
    wr: Box<dyn AsyncWrite + Unpin + Send>,
    reader: GobReader,
    writer: GobWriter,
    seq: u64,
}

impl MachConn {
    async fn open(cfg: &SenderConfig, schema: &DbgMsgStruct) -> Result<MachConn, Error> {
        type Halves = (Box<dyn AsyncRead + Unpin + Send>, Box<dyn AsyncWrite + Unpin + Send>);
        let connect = async {
            let halves: Halves = match cfg.transport {
                crate::addr::Transport::GoWs => {
                    let (authority, path) = cfg.addr.split_at(cfg.addr.find('/').unwrap_or(cfg.addr.len()));
                    let (rd, wr) = tokio::io::split(super::ws::connect(authority, path).await?);
                    (Box::new(rd), Box::new(wr))
                }
                _ => {
                    let stream = TcpStream::connect(cfg.addr.as_str())
                        .await
                        .map_err(|e| Error::io(format!("connect to {}", cfg.addr), e))?;
                    let _ = stream.set_nodelay(true);
                    let (rd, wr) = stream.into_split();
                    (Box::new(rd), Box::new(wr))
                }
            };
            Ok::<Halves, Error>(halves)
        };
        let (rd, wr) = tokio::time::timeout(cfg.call_timeout, connect)
            .await
            .map_err(|_| Error::Rpc("connect timed out".into()))??;
        let mut c = MachConn { rd, wr, reader: GobReader::default(), writer: GobWriter::default(), seq: 0 };
        c.call(METHOD_SCHEMA, &GoMsgStruct::from(schema), cfg.call_timeout).await?;
        Ok(c)
    }

    /// One net/rpc call (the request header, then the argument), waiting for its reply.
    async fn call<T: gobwire::Encode>(&mut self, method: &str, arg: &T, timeout: Duration) -> Result<(), Error> {
        self.writer.push(&Request { service_method: method.to_string(), seq: self.seq })?;
        self.writer.push(arg)?;
        self.seq += 1;
        let MachConn { rd, wr, reader, writer, .. } = self;
        let work = async {
            writer.flush(wr).await?;
            let closed = || Error::Rpc("connection closed".into());
            let resp = reader.next::<Response, _>(rd).await?.ok_or_else(closed)?;
            if !reader.skip(rd).await? {
                return Err(closed());
            }
            match resp.error.is_empty() {
                true => Ok(()),
                false => Err(Error::Rpc(format!("{}: {}", resp.service_method, resp.error))),
            }
        };
        tokio::time::timeout(timeout, work).await.map_err(|_| Error::Rpc("call timed out".into()))?
    }
}

/// The sender's main loop for the Go protocol; returns when the tracer is dropped.
pub(crate) async fn run(shared: Arc<Shared>) {
    let cfg = shared.config.clone();
    let mut backoff = cfg.backoff_min;
    let mut schemas: HashMap<String, DbgMsgStruct> = HashMap::new();
    while !shared.is_shutdown() {
        let mut conns: HashMap<String, MachConn> = HashMap::new();
        match serve(&shared, &mut schemas, &mut conns).await {
            Ok(()) => return,
            Err(e) => {
                shared.counters.connected.store(false, Relaxed);
                shared.counters.send_errors.fetch_add(1, Relaxed);
                warn(&shared, &cfg.addr, &format_args!("Go am-dbg: {e}; reconnecting"));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shared.stop.notified() => {}
        }
        backoff = (backoff * 2).min(cfg.backoff_max);
    }
}

/// Opens a machine's connection (its schema first) unless it is open.
async fn connection<'a>(
    shared: &Shared,
    conns: &'a mut HashMap<String, MachConn>,
    schemas: &HashMap<String, DbgMsgStruct>,
    id: &str,
) -> Result<Option<&'a mut MachConn>, Error> {
    if !conns.contains_key(id) {
        let Some(schema) = schemas.get(id) else { return Ok(None) };
        let c = MachConn::open(&shared.config, schema).await?;
        shared.counters.connects.fetch_add(1, Relaxed);
        conns.insert(id.to_string(), c);
    }
    Ok(conns.get_mut(id))
}

async fn serve(
    shared: &Shared,
    schemas: &mut HashMap<String, DbgMsgStruct>,
    conns: &mut HashMap<String, MachConn>,
) -> Result<(), Error> {
    let cfg = &shared.config;
    // every known schema, on a connection of its own, before any transition
    for msg in shared.outbox().take_schemas() {
        if let DbgMsg::Schema(s) = msg {
            schemas.insert(s.id.clone(), s);
        }
    }
    let ids: Vec<String> = schemas.keys().cloned().collect();
    for id in ids {
        connection(shared, conns, schemas, &id).await?;
    }
    shared.counters.connected.store(true, Relaxed);
    let mut messages = Vec::with_capacity(cfg.max_batch);
    loop {
        let Some(mut taken) = crate::sender::next_chunk(shared).await else { return Ok(()) };
        let n = taken.write_messages(&mut messages, &shared.clock.anchor());
        let sent = send(shared, schemas, conns, std::mem::take(&mut messages)).await;
        match sent {
            Ok(unknown) => shared.batch_sent(taken, n - unknown, unknown),
            Err(e) => {
                shared.batch_failed(&taken, n);
                return Err(e);
            }
        }
    }
}

/// Sends a batch in order, one call at a time on each machine's connection; returns how many
/// transitions had no schema to go with (dropped: the Go server would drop them).
async fn send(
    shared: &Shared,
    schemas: &mut HashMap<String, DbgMsgStruct>,
    conns: &mut HashMap<String, MachConn>,
    messages: Vec<DbgMsg>,
) -> Result<u64, Error> {
    let timeout = shared.config.call_timeout;
    let mut unknown = 0;
    for msg in messages {
        match msg {
            DbgMsg::Schema(s) => {
                let id = s.id.clone();
                let known = conns.contains_key(&id);
                schemas.insert(id.clone(), s);
                if known {
                    // a schema change on the same connection
                    if let (Some(c), Some(s)) = (conns.get_mut(&id), schemas.get(&id)) {
                        c.call(METHOD_SCHEMA, &GoMsgStruct::from(s), timeout).await?;
                    }
                } else {
                    connection(shared, conns, schemas, &id).await?;
                }
            }
            DbgMsg::Tx(t) => match connection(shared, conns, schemas, &t.machine_id).await? {
                Some(c) => c.call(METHOD_TX, &GoMsgTx::from_native(&t, false), timeout).await?,
                None => unknown += 1,
            },
            // Go has no drop notices; drops are counted in DbgStats
            DbgMsg::Dropped(_) => {}
        }
    }
    Ok(unknown)
}
