//! The client side of the Go protocol (`gob://host:port`, or `ws://host:port/dbg.ws`
//! through [`ws`](crate::transport::ws)): one connection per machine, its schema first on
//! every connection (the Go server drops transitions of a machine whose schema did not
//! arrive on that same connection).
//!
//! Calls are not pipelined: Go's net/rpc server runs each call of a connection in a goroutine
//! of its own, so only a call that waits for the reply of the one before keeps a machine's
//! transitions in order on the server (which the debugger's timeline needs).

use std::collections::HashMap;
use std::time::Duration;

use am_core::exporter::LogLimiter;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::conn::{GobReader, GobWriter};
use super::wire::{GoMsgStruct, GoMsgTx, METHOD_SCHEMA, METHOD_TX, Request, Response};
use crate::addr::TransportKind;
use crate::messages::{DbgMsg, DbgMsgDropped, DbgMsgStruct};
use crate::transport::{Arrived, ClientTransport, Failed, Link, Phase, Sent, TransportError};

/// A method no Go server has: its answer ("can't find method") proves a net/rpc peer.
const METHOD_PROBE: &str = "RPCServer.AmDbgProtocolProbe";

/// One machine's connection: TCP, or a WebSocket turned into a byte stream.
struct MachConn {
    rd: Box<dyn AsyncRead + Unpin + Send>,
    wr: Box<dyn AsyncWrite + Unpin + Send>,
    reader: GobReader,
    writer: GobWriter,
    seq: u64,
}

fn io_err(e: crate::Error) -> TransportError {
    match e {
        crate::Error::Io { source, .. } => TransportError::Closed(source.to_string()),
        e => TransportError::Protocol(e.to_string()),
    }
}

impl MachConn {
    /// Opens a connection (no call yet).
    async fn dial(link: &Link) -> Result<MachConn, TransportError> {
        let addr = link.addr.authority();
        let connect = async {
            type Halves = (Box<dyn AsyncRead + Unpin + Send>, Box<dyn AsyncWrite + Unpin + Send>);
            let halves: Halves = match link.addr.kind() {
                TransportKind::Ws => {
                    let (rd, wr) = tokio::io::split(crate::transport::ws::connect(addr, link.addr.path()).await?);
                    (Box::new(rd), Box::new(wr))
                }
                _ => {
                    let stream = TcpStream::connect(addr)
                        .await
                        .map_err(|source| TransportError::Connect { addr: addr.to_string(), source })?;
                    let _ = stream.set_nodelay(true);
                    let (rd, wr) = stream.into_split();
                    (Box::new(rd), Box::new(wr))
                }
            };
            Ok::<Halves, TransportError>(halves)
        };
        let (rd, wr) = tokio::time::timeout(link.call_timeout, connect)
            .await
            .map_err(|_| TransportError::Timeout(Phase::Connect))??;
        Ok(MachConn { rd, wr, reader: GobReader::default(), writer: GobWriter::default(), seq: 0 })
    }

    /// One net/rpc call (the request header, then the argument), waiting for its reply; a
    /// reply with an error is [`TransportError::Refused`].
    async fn call<T: gobwire::Encode + ?Sized>(
        &mut self,
        method: &str,
        arg: &T,
        timeout: Duration,
    ) -> Result<(), TransportError> {
        self.writer.push(&Request { service_method: method.to_string(), seq: self.seq }).map_err(io_err)?;
        self.writer.push(arg).map_err(io_err)?;
        self.seq += 1;
        let MachConn { rd, wr, reader, writer, .. } = self;
        let work = async {
            writer.flush(wr).await.map_err(io_err)?;
            let closed = || TransportError::Closed("no reply".into());
            let resp = reader.next::<Response, _>(rd).await.map_err(io_err)?.ok_or_else(closed)?;
            if !reader.skip(rd).await.map_err(io_err)? {
                return Err(closed());
            }
            match resp.error.is_empty() {
                true => Ok(()),
                false => Err(TransportError::Refused(format!("{}: {}", resp.service_method, resp.error))),
            }
        };
        tokio::time::timeout(timeout, work).await.map_err(|_| TransportError::Timeout(Phase::Call))?
    }
}

/// The client side: per-machine connections, and the schemas they are opened with.
pub(crate) struct Client {
    link: Link,
    conns: HashMap<String, MachConn>,
    schemas: HashMap<String, DbgMsgStruct>,
    /// Opened by `connect`; the first machine to need a connection takes it.
    spare: Option<MachConn>,
    /// `connect` makes sure the peer speaks net/rpc (a call of a method no server has).
    probe: bool,
    opened: u64,
    gaps: LogLimiter,
}

impl Client {
    pub(crate) fn new(link: Link) -> Self {
        Client {
            link,
            conns: HashMap::new(),
            schemas: HashMap::new(),
            spare: None,
            probe: false,
            opened: 0,
            gaps: LogLimiter::default(),
        }
    }

    /// A client whose `connect` fails unless the peer answers as a net/rpc server.
    pub(crate) fn probing(link: Link) -> Self {
        Client { probe: true, ..Self::new(link) }
    }

    /// Opens a machine's connection (its schema first) unless it is open; `None` when the
    /// machine's schema is unknown.
    async fn connection(&mut self, id: &str) -> Result<Option<&mut MachConn>, TransportError> {
        if !self.conns.contains_key(id) {
            let Some(schema) = self.schemas.get(id) else { return Ok(None) };
            let mut c = match self.spare.take() {
                Some(c) => c,
                None => MachConn::dial(&self.link).await?,
            };
            c.call(METHOD_SCHEMA, &GoMsgStruct::from(schema), self.link.call_timeout).await?;
            self.opened += 1;
            self.conns.insert(id.to_string(), c);
        }
        Ok(self.conns.get_mut(id))
    }

    /// Go has no drop notice: the loss is logged here, each gap once (counted in
    /// [`DbgStats::dropped`](crate::DbgStats) by the sender).
    fn gap(&self, d: &DbgMsgDropped) {
        if let Some(held) = self.gaps.allow() {
            tracing::warn!(
                target: "am_dbg_proto",
                addr = %self.link.addr,
                machine = d.machine_id,
                held_back = held,
                "am-dbg: {} messages of {} (seq {}..={}) were lost before reaching the Go am-dbg, whose protocol has no drop notice",
                d.count,
                d.machine_id,
                d.first_seq,
                d.last_seq
            );
        }
    }

    async fn send_one(&mut self, msg: &DbgMsg, left_out: &mut u64) -> Result<(), TransportError> {
        let timeout = self.link.call_timeout;
        match msg {
            DbgMsg::Schema(s) => {
                self.schemas.insert(s.id.clone(), s.clone());
                match self.conns.get_mut(&s.id) {
                    // a schema change on the same connection
                    Some(c) => c.call(METHOD_SCHEMA, &GoMsgStruct::from(s), timeout).await?,
                    None => {
                        self.connection(&s.id).await?;
                    }
                }
            }
            DbgMsg::Tx(t) => match self.connection(&t.machine_id).await? {
                Some(c) => c.call(METHOD_TX, &GoMsgTx::from_native(t, false), timeout).await?,
                None => *left_out += 1,
            },
            DbgMsg::Dropped(d) => self.gap(d),
        }
        Ok(())
    }
}

impl ClientTransport for Client {
    async fn connect(&mut self) -> Result<(), TransportError> {
        self.conns.clear();
        self.schemas.clear();
        self.spare = None;
        let mut c = MachConn::dial(&self.link).await?;
        if self.probe {
            match c.call(METHOD_PROBE, "", self.link.call_timeout).await {
                Ok(()) | Err(TransportError::Refused(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.spare = Some(c);
        Ok(())
    }

    /// Sends in order, one call at a time on each machine's connection; a transition whose
    /// machine has no schema is left out (the Go server would drop it).
    async fn send(&mut self, batch: Vec<DbgMsg>) -> Result<Sent, Failed> {
        let mut arrived = Arrived::default();
        let mut left_out = 0;
        for msg in &batch {
            let before = left_out;
            if let Err(e) = self.send_one(msg, &mut left_out).await {
                return Err(Failed::at(arrived, e));
            }
            if left_out == before {
                arrived.add(msg);
            } else {
                arrived.msgs += 1;
            }
        }
        Ok(Sent { dropped: left_out })
    }

    fn connections(&self) -> u64 {
        self.opened
    }
}
