//! A debugger server: accepts many clients and hands decoded messages, in per-connection
//! order, to a callback or a channel. A connection that sends a malformed, truncated or
//! unknown frame, a wrong protocol version, or a batch before its handshake is closed with
//! one log line (target `am_dbg_proto`); the others go on.
//!
//! With the `go` feature (default) the same port also serves Go clients, which speak the Go
//! `am-dbg` protocol (net/rpc with gob), raw or over WebSocket (`GET /dbg.ws`); the first
//! bytes of a connection pick the protocol ([`transport`](crate::transport)). Whatever the
//! protocol, [`ConnCtx`] does the bookkeeping: events, counters, sequence gaps, and the
//! receive time of transitions that arrive without one (as the Go debugger stamps them).

use am_core::exporter::Unpoison;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::error::Error;
use crate::messages::{ClientIdentity, DbgMsg};
use crate::transport::{ServerProtocol, Sniff};

/// A connection number, unique per server.
pub type ConnId = u64;

/// What the server hands to its consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // messages are the common case
pub enum ServerEvent {
    /// A client completed the handshake.
    Connected {
        /// Connection number.
        conn: ConnId,
        /// Remote address.
        peer: SocketAddr,
        /// Who it is.
        client: ClientIdentity,
    },
    /// A decoded message, in the order the client sent it.
    Message {
        /// Connection number.
        conn: ConnId,
        /// The message.
        msg: DbgMsg,
    },
    /// A connection ended; `error` says why the server closed it, `None` when the client
    /// hung up.
    Disconnected {
        /// Connection number.
        conn: ConnId,
        /// Remote address.
        peer: SocketAddr,
        /// The reason, when the server closed it.
        error: Option<String>,
    },
}

#[derive(Clone)]
pub(crate) enum Sink {
    Callback(Arc<dyn Fn(ServerEvent) + Send + Sync>),
    Channel(mpsc::Sender<ServerEvent>),
    /// A batch's messages as one event list (one channel operation per batch).
    Batches(mpsc::Sender<Vec<ServerEvent>>),
}

impl Sink {
    pub(crate) async fn emit(&self, ev: ServerEvent) {
        match self {
            Sink::Callback(f) => f(ev),
            // a full channel holds the connection back: backpressure to that client only
            Sink::Channel(tx) => {
                let _ = tx.send(ev).await;
            }
            Sink::Batches(tx) => {
                let _ = tx.send(vec![ev]).await;
            }
        }
    }
    pub(crate) async fn emit_all(&self, conn: ConnId, msgs: Vec<DbgMsg>) {
        match self {
            Sink::Batches(tx) => {
                let evs = msgs.into_iter().map(|msg| ServerEvent::Message { conn, msg }).collect();
                let _ = tx.send(evs).await;
            }
            _ => {
                for msg in msgs {
                    self.emit(ServerEvent::Message { conn, msg }).await;
                }
            }
        }
    }
}

/// Server-wide counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections accepted.
    pub connections: u64,
    /// Clients connected now (handshake done).
    pub clients: u64,
    /// Messages received.
    pub messages: u64,
    /// Messages dropped by clients, as reported in their drop notices.
    pub dropped_reported: u64,
    /// Sequence numbers missing, counted per machine and connection (drop notices say how
    /// many of them the clients dropped knowingly).
    pub seq_gaps: u64,
    /// Connections closed by the server for a protocol error.
    pub closed_on_error: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    connections: AtomicU64,
    clients: AtomicU64,
    messages: AtomicU64,
    dropped_reported: AtomicU64,
    seq_gaps: AtomicU64,
    closed_on_error: AtomicU64,
}

/// A running server; dropping it (or [`shutdown`](Server::shutdown)) closes the listener
/// and every connection.
pub struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Listens on `addr` and calls `f` for every event, from the connection tasks (keep it
    /// short). Must run inside a tokio runtime.
    pub async fn bind(addr: &str, f: impl Fn(ServerEvent) + Send + Sync + 'static) -> Result<Server, Error> {
        Self::start(addr, Sink::Callback(Arc::new(f))).await
    }

    /// Listens on `addr` and sends every event into a bounded channel; a full channel slows
    /// the sending clients down (they drop and count on their side).
    pub async fn bind_channel(addr: &str, capacity: usize) -> Result<(Server, mpsc::Receiver<ServerEvent>), Error> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        Ok((Self::start(addr, Sink::Channel(tx)).await?, rx))
    }

    pub(crate) async fn start(addr: &str, sink: Sink) -> Result<Server, Error> {
        let listener = TcpListener::bind(addr).await.map_err(|e| Error::io(format!("listen on {addr}"), e))?;
        let local = listener.local_addr().map_err(|e| Error::io("local address", e))?;
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(accept_loop(listener, sink, counters.clone()));
        Ok(Server { addr: local, task, counters })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counters.
    pub fn stats(&self) -> ServerStats {
        let c = &self.counters;
        ServerStats {
            connections: c.connections.load(Relaxed),
            clients: c.clients.load(Relaxed),
            messages: c.messages.load(Relaxed),
            dropped_reported: c.dropped_reported.load(Relaxed),
            seq_gaps: c.seq_gaps.load(Relaxed),
            closed_on_error: c.closed_on_error.load(Relaxed),
        }
    }

    /// Stops listening and closes every connection, without waiting.
    pub(crate) fn close(&self) {
        self.task.abort();
    }

    /// Stops listening and closes every connection.
    pub async fn shutdown(self) {
        self.task.abort();
        let mut s = self;
        let _ = (&mut s.task).await;
    }
}

async fn accept_loop(listener: TcpListener, sink: Sink, counters: Arc<Counters>) {
    let protocols: Arc<[Box<dyn ServerProtocol>]> = crate::transport::server_protocols().into();
    let mut conns = JoinSet::new();
    let mut next: ConnId = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    next += 1;
                    counters.connections.fetch_add(1, Relaxed);
                    let ctx = Arc::new(ConnCtx::new(next, peer, sink.clone(), counters.clone()));
                    conns.spawn(connection(stream, peer, protocols.clone(), ctx));
                }
                Err(e) => {
                    tracing::warn!(target: "am_dbg_proto", "am-dbg server: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Picks the protocol of a new connection from its first bytes, peeked (waiting briefly
/// for more while one cannot tell yet); the first protocol is the fallback.
async fn pick(stream: &TcpStream, protocols: &[Box<dyn ServerProtocol>]) -> usize {
    let mut buf = [0u8; 32];
    let until = tokio::time::Instant::now() + Duration::from_millis(200);
    loop {
        let n = match stream.peek(&mut buf).await {
            Ok(n) if n > 0 => n,
            _ => return 0,
        };
        let seen: Vec<Sniff> = protocols.iter().map(|p| p.sniff(&buf[..n])).collect();
        if let Some(i) = seen.iter().position(|s| *s == Sniff::Yes) {
            return i;
        }
        if !seen.contains(&Sniff::NeedMore) || n == buf.len() || tokio::time::Instant::now() >= until {
            return 0;
        }
        // a first message split across segments: wait for the rest briefly
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, protocols: Arc<[Box<dyn ServerProtocol>]>, ctx: Arc<ConnCtx>) {
    let i = pick(&stream, &protocols).await;
    let result = protocols[i].serve(stream, peer, ctx.clone()).await;
    ctx.finish(result.err()).await;
}

/// One connection's bookkeeping, the same for every protocol: it reports the client
/// ([`connected`](Self::connected)) and its messages ([`messages`](Self::messages)) as
/// [`ServerEvent`]s, counts them, finds sequence gaps and drop notices, and stamps the
/// receive time on transitions that carry none; the server ends it once the protocol is done.
pub(crate) struct ConnCtx {
    conn: ConnId,
    peer: SocketAddr,
    sink: Sink,
    counters: Arc<Counters>,
    connected: AtomicBool,
    last_seq: Mutex<HashMap<String, u64>>,
}

impl ConnCtx {
    fn new(conn: ConnId, peer: SocketAddr, sink: Sink, counters: Arc<Counters>) -> Self {
        ConnCtx { conn, peer, sink, counters, connected: AtomicBool::new(false), last_seq: Mutex::default() }
    }

    /// The connection number.
    #[cfg_attr(not(feature = "go"), allow(dead_code))]
    pub(crate) fn conn(&self) -> ConnId {
        self.conn
    }

    /// The client identified itself (native: its handshake; Go: its first bytes).
    pub(crate) async fn connected(&self, client: ClientIdentity) {
        if !self.connected.swap(true, Relaxed) {
            self.counters.clients.fetch_add(1, Relaxed);
        }
        self.sink.emit(ServerEvent::Connected { conn: self.conn, peer: self.peer, client }).await;
    }

    /// Messages, in the order the client sent them.
    pub(crate) async fn messages(&self, mut msgs: Vec<DbgMsg>) {
        let mut now = None;
        {
            let mut last_seq = self.last_seq.lock().unpoison();
            for msg in &mut msgs {
                match msg {
                    DbgMsg::Tx(t) => {
                        // Go clients leave the time to the server (Go's debugger stamps its
                        // receive time); so do Rust clients with timing off
                        if t.time.is_none() {
                            t.time = Some(*now.get_or_insert_with(crate::clock::unix_nanos));
                        }
                        let last = last_seq.entry(t.machine_id.clone()).or_default();
                        // the first message of a machine on a connection sets the base (a
                        // reconnecting client continues its numbering)
                        if *last != 0 && t.seq > *last + 1 {
                            self.counters.seq_gaps.fetch_add(t.seq - *last - 1, Relaxed);
                        }
                        *last = (*last).max(t.seq);
                    }
                    DbgMsg::Dropped(d) => {
                        self.counters.dropped_reported.fetch_add(d.count, Relaxed);
                    }
                    DbgMsg::Schema(_) => {}
                }
            }
        }
        self.counters.messages.fetch_add(msgs.len() as u64, Relaxed);
        self.sink.emit_all(self.conn, msgs).await;
    }

    /// The connection ended: `error` is why the server closed it, `None` when the client
    /// hung up.
    async fn finish(&self, error: Option<String>) {
        if self.connected.load(Relaxed) {
            self.counters.clients.fetch_sub(1, Relaxed);
        }
        let (conn, peer) = (self.conn, self.peer);
        if let Some(reason) = &error {
            self.counters.closed_on_error.fetch_add(1, Relaxed);
            tracing::warn!(target: "am_dbg_proto", %peer, conn, "am-dbg server: closing connection {conn} from {peer}: {reason}");
        }
        self.sink.emit(ServerEvent::Disconnected { conn, peer, error }).await;
    }
}
