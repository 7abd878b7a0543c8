//! A debugger server: accepts many clients and hands decoded messages, in per-connection
//! order, to a callback or a channel. A connection that sends a malformed, truncated or
//! unknown frame, a wrong protocol version, or a batch before its handshake is closed with
//! one log line (target `am_dbg_proto`); the others go on.
//!
//! With the `go` feature (default) the same port also serves Go clients, which speak the Go
//! `am-dbg` protocol (net/rpc with gob); the first bytes of a connection tell them apart.

use am_core::exporter::Unpoison;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tarpc::context::Context;
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_util::codec::LengthDelimitedCodec;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::error::Error;
use crate::messages::{Batch, ClientIdentity, DbgMsg, Hello, PROTOCOL_VERSION, Refusal, Welcome};
use crate::service::{Ack, DbgService, MAX_FRAME_LEN, ServerCodec};

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
    async fn emit_all(&self, conn: ConnId, msgs: Vec<DbgMsg>) {
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
    pub(crate) clients: AtomicU64,
    pub(crate) messages: AtomicU64,
    dropped_reported: AtomicU64,
    seq_gaps: AtomicU64,
    pub(crate) closed_on_error: AtomicU64,
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
    let mut conns = JoinSet::new();
    let mut next: ConnId = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    next += 1;
                    counters.connections.fetch_add(1, Relaxed);
                    conns.spawn(connection(stream, peer, next, sink.clone(), counters.clone()));
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

#[derive(Default)]
struct ConnState {
    client: Option<ClientIdentity>,
    fatal: Option<String>,
    last_seq: HashMap<String, u64>,
}

#[derive(Clone)]
struct ConnService {
    conn: ConnId,
    peer: SocketAddr,
    state: Arc<Mutex<ConnState>>,
    sink: Sink,
    counters: Arc<Counters>,
}

impl ConnService {
    fn state(&self) -> std::sync::MutexGuard<'_, ConnState> {
        self.state.lock().unpoison()
    }
    fn refuse(&self, r: Refusal) -> Refusal {
        self.state().fatal = Some(r.to_string());
        r
    }
}

impl DbgService for ConnService {
    async fn hello(self, _: Context, hello: Hello) -> Result<Welcome, Refusal> {
        if self.state().client.is_some() {
            return Err(self.refuse(Refusal::DuplicateHello));
        }
        if hello.protocol != PROTOCOL_VERSION {
            return Err(self.refuse(Refusal::VersionMismatch { client: hello.protocol, server: PROTOCOL_VERSION }));
        }
        self.state().client = Some(hello.client.clone());
        self.counters.clients.fetch_add(1, Relaxed);
        self.sink.emit(ServerEvent::Connected { conn: self.conn, peer: self.peer, client: hello.client }).await;
        Ok(Welcome { protocol: PROTOCOL_VERSION, server: format!("am-dbg-proto {}", env!("CARGO_PKG_VERSION")) })
    }

    async fn push(self, _: Context, batch: Batch) -> Result<Ack, Refusal> {
        if self.state().client.is_none() {
            return Err(self.refuse(Refusal::NoHandshake));
        }
        let n = batch.messages.len() as u64;
        {
            let mut st = self.state();
            for msg in &batch.messages {
                match msg {
                    DbgMsg::Tx(t) => {
                        let last = st.last_seq.entry(t.machine_id.clone()).or_default();
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
        self.counters.messages.fetch_add(n, Relaxed);
        self.sink.emit_all(self.conn, batch.messages).await;
        Ok(Ack { received: n })
    }
}

/// Describes why reading from a connection failed, for the log line.
fn read_failure(e: &tarpc::ChannelError<std::io::Error>) -> String {
    use std::io::ErrorKind;
    let tarpc::ChannelError::Read(io) = e else {
        let src = std::error::Error::source(e).map(|s| format!(": {s}")).unwrap_or_default();
        return format!("{e}{src}");
    };
    // the codec's error is wrapped in one or more io::Errors; look at every layer
    let mut kinds = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&**io);
    while let Some(err) = cur {
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(ioe) => {
                kinds.push(ioe.kind());
                ioe.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static))
            }
            None => err.source(),
        };
    }
    let text = io.to_string();
    if kinds.contains(&ErrorKind::UnexpectedEof) || text.contains("bytes remaining") {
        format!("truncated frame: {text}")
    } else if kinds.contains(&ErrorKind::InvalidData) || text.contains("frame size too big") {
        format!("malformed or unknown frame: {text}")
    } else {
        format!("read failed: {text}")
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, conn: ConnId, sink: Sink, counters: Arc<Counters>) {
    #[cfg(feature = "go")]
    {
        // a Go client (net/rpc, gob) on the same port: told apart by its first bytes
        if crate::go::server::is_gob(&stream).await {
            return crate::go::server::connection(stream, peer, conn, sink, counters).await;
        }
    }
    let _ = stream.set_nodelay(true);
    let framed = LengthDelimitedCodec::builder().max_frame_length(MAX_FRAME_LEN).new_framed(stream);
    let transport = tarpc::serde_transport::new(framed, ServerCodec::default());
    let svc = ConnService {
        conn,
        peer,
        state: Arc::new(Mutex::new(ConnState::default())),
        sink: sink.clone(),
        counters: counters.clone(),
    };
    let mut requests = BaseChannel::with_defaults(transport).requests();
    let error = loop {
        match requests.next().await {
            None => break None,
            Some(Err(e)) => break Some(read_failure(&e)),
            Some(Ok(req)) => {
                // one request at a time: batches are handled in the order they were sent
                req.execute(svc.clone().serve()).await;
                let fatal = svc.state().fatal.clone();
                if let Some(f) = fatal {
                    // let the refusal reach the client, then hang up
                    let _ = tokio::time::timeout(Duration::from_millis(200), async {
                        while let Some(Ok(_)) = requests.next().await {}
                    })
                    .await;
                    break Some(f);
                }
            }
        }
    };
    if svc.state().client.is_some() {
        counters.clients.fetch_sub(1, Relaxed);
    }
    if let Some(reason) = &error {
        counters.closed_on_error.fetch_add(1, Relaxed);
        tracing::warn!(target: "am_dbg_proto", %peer, conn, "am-dbg server: closing connection {conn} from {peer}: {reason}");
    }
    sink.emit(ServerEvent::Disconnected { conn, peer, error }).await;
}
