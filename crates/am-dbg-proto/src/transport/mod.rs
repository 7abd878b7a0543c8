//! How messages reach a debugger: one module per protocol, each with a client side
//! ([`ClientTransport`]: the tracer's sender and `replay` drive it) and a server side
//! ([`ServerProtocol`]: the server picks one per connection by its first bytes). The
//! sender's outbox, counters and reconnect loop and the server's connection bookkeeping
//! ([`ConnCtx`](crate::server::ConnCtx)) know no protocol, so counters mean the same for
//! every one.
//!
//! - [`native`] — this crate's own protocol (tarpc with bincode),
//! - `gob` (feature `go`) — the Go `am-dbg`'s net/rpc with gob, one connection per machine,
//!   and the Go message types (also for `.gob.br` recordings),
//! - `ws` (feature `go`) — the gob stream over WebSocket (RFC 6455), both roles,
//! - `detect` (feature `go`) — `host:port` addresses: native, or gob for a peer that speaks
//!   only that (the Go `am-dbg`), found out once per tracer.
//!
//! A new protocol is a module with both sides, an arm in [`AnyClient`] and an entry in
//! [`server_protocols`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::addr::DbgAddr;
#[cfg(feature = "go")]
use crate::addr::TransportKind;
use crate::messages::{ClientIdentity, DbgMsg};
use crate::server::ConnCtx;
use crate::service::EncodedBatch;

#[cfg(feature = "go")]
mod detect;
#[cfg(feature = "go")]
pub(crate) mod gob;
pub(crate) mod native;
#[cfg(feature = "go")]
pub(crate) mod ws;

/// The step that timed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Connect,
    Handshake,
    Call,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connect",
            Phase::Handshake => "handshake",
            Phase::Call => "call",
        })
    }
}

/// Why a transport could not connect or send.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum TransportError {
    /// No connection (refused, unreachable, DNS).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// A step took longer than the call timeout.
    #[error("{0} timed out")]
    Timeout(Phase),
    /// The peer closed the connection (or it broke) before answering.
    #[error("connection closed: {0}")]
    Closed(String),
    /// The peer answered, and said no.
    #[error("refused: {0}")]
    Refused(String),
    /// The peer answered something else than the protocol.
    #[cfg_attr(not(feature = "go"), allow(dead_code))]
    #[error("{0}")]
    Protocol(String),
}

impl TransportError {
    /// The connection was made and then the handshake broke off without a refusal: the
    /// peer may speak another protocol (the Go `am-dbg` closes a native handshake at once).
    #[cfg_attr(not(feature = "go"), allow(dead_code))]
    pub(crate) fn after_connect(&self) -> bool {
        matches!(self, TransportError::Closed(_) | TransportError::Protocol(_))
    }
}

impl From<TransportError> for crate::Error {
    fn from(e: TransportError) -> Self {
        crate::Error::Rpc(e.to_string())
    }
}

/// What a client transport is made from.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    pub(crate) addr: DbgAddr,
    pub(crate) client: ClientIdentity,
    pub(crate) call_timeout: Duration,
}

/// A batch went out: `dropped` of its transition messages were left out by the transport
/// (the Go protocol: a transition whose machine has no schema on the connection).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sent {
    pub(crate) dropped: u64,
}

/// How much of a batch arrived before it failed: its first `msgs` messages, `txs` of them
/// transition messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Arrived {
    pub(crate) msgs: usize,
    pub(crate) txs: u64,
}

impl Arrived {
    /// One more message arrived.
    #[cfg_attr(not(feature = "go"), allow(dead_code))]
    pub(crate) fn add(&mut self, msg: &DbgMsg) {
        self.msgs += 1;
        if matches!(msg, DbgMsg::Tx(_)) {
            self.txs += 1;
        }
    }
}

/// A batch failed part-way (or at once: `arrived` is zero).
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) error: TransportError,
    pub(crate) arrived: Arrived,
}

impl Failed {
    pub(crate) fn at(arrived: Arrived, error: TransportError) -> Self {
        Failed { error, arrived }
    }
}

/// The client side of a protocol. One value lives as long as its sender: `connect` opens a
/// session (again after a failure, dropping the old one); `send` delivers a batch in order,
/// every machine's schema before its transitions (after a connect, all schemas come first).
pub(crate) trait ClientTransport: Send {
    /// Opens a session: connects and does the protocol's handshake.
    fn connect(&mut self) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Sends messages in order; on failure, says how many arrived.
    fn send(&mut self, batch: Vec<DbgMsg>) -> impl Future<Output = Result<Sent, Failed>> + Send;
    /// Whether [`send_encoded`](Self::send_encoded) works on this session (the native
    /// protocol with a server that takes encoded pushes).
    fn takes_encoded(&self) -> bool {
        false
    }
    /// Sends a batch already encoded ([`EncodedBatch`]); only when [`takes_encoded`](Self::takes_encoded).
    fn send_encoded(&mut self, batch: EncodedBatch) -> impl Future<Output = Result<Sent, Failed>> + Send {
        let _ = batch;
        async { Err(Failed::at(Arrived::default(), TransportError::Protocol("no encoded pushes".into()))) }
    }
    /// Connections opened so far (the Go protocol opens one per machine).
    fn connections(&self) -> u64;
}

/// The client transport of an address: the one place an address kind picks a module. One
/// per sender, so the size difference of the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum AnyClient {
    /// Without the Go protocol, `host:port` is native only.
    #[cfg(not(feature = "go"))]
    Native(native::Client),
    #[cfg(feature = "go")]
    Detect(detect::Client),
    #[cfg(feature = "go")]
    Gob(gob::Client),
}

impl AnyClient {
    pub(crate) fn new(link: Link) -> Self {
        match link.addr.kind() {
            #[cfg(feature = "go")]
            TransportKind::Native => AnyClient::Detect(detect::Client::new(link)),
            #[cfg(feature = "go")]
            _ => AnyClient::Gob(gob::Client::new(link)),
            // the address parser refuses Go addresses without the feature
            #[cfg(not(feature = "go"))]
            _ => AnyClient::Native(native::Client::new(link)),
        }
    }
}

impl ClientTransport for AnyClient {
    async fn connect(&mut self) -> Result<(), TransportError> {
        match self {
            #[cfg(not(feature = "go"))]
            AnyClient::Native(c) => c.connect().await,
            #[cfg(feature = "go")]
            AnyClient::Detect(c) => c.connect().await,
            #[cfg(feature = "go")]
            AnyClient::Gob(c) => c.connect().await,
        }
    }
    async fn send(&mut self, batch: Vec<DbgMsg>) -> Result<Sent, Failed> {
        match self {
            #[cfg(not(feature = "go"))]
            AnyClient::Native(c) => c.send(batch).await,
            #[cfg(feature = "go")]
            AnyClient::Detect(c) => c.send(batch).await,
            #[cfg(feature = "go")]
            AnyClient::Gob(c) => c.send(batch).await,
        }
    }
    fn takes_encoded(&self) -> bool {
        match self {
            #[cfg(not(feature = "go"))]
            AnyClient::Native(c) => c.takes_encoded(),
            #[cfg(feature = "go")]
            AnyClient::Detect(c) => c.takes_encoded(),
            #[cfg(feature = "go")]
            AnyClient::Gob(c) => c.takes_encoded(),
        }
    }
    async fn send_encoded(&mut self, batch: EncodedBatch) -> Result<Sent, Failed> {
        match self {
            #[cfg(not(feature = "go"))]
            AnyClient::Native(c) => c.send_encoded(batch).await,
            #[cfg(feature = "go")]
            AnyClient::Detect(c) => c.send_encoded(batch).await,
            #[cfg(feature = "go")]
            AnyClient::Gob(c) => c.send_encoded(batch).await,
        }
    }
    fn connections(&self) -> u64 {
        match self {
            #[cfg(not(feature = "go"))]
            AnyClient::Native(c) => c.connections(),
            #[cfg(feature = "go")]
            AnyClient::Detect(c) => c.connections(),
            #[cfg(feature = "go")]
            AnyClient::Gob(c) => c.connections(),
        }
    }
}

/// What a new connection's first bytes say about a protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sniff {
    Yes,
    No,
    /// Too few bytes to tell yet.
    NeedMore,
}

/// A connection being served; a protocol's `serve` ends with `Err(reason)` when it closes
/// the connection for a protocol error, `Ok` when the client hung up.
pub(crate) type Serving = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// The server side of a protocol.
pub(crate) trait ServerProtocol: Send + Sync {
    /// Whether a connection starting with `first` speaks this protocol.
    fn sniff(&self, first: &[u8]) -> Sniff;
    /// Serves the connection (its first bytes still unread) until it ends.
    fn serve(&self, stream: TcpStream, peer: SocketAddr, ctx: Arc<ConnCtx>) -> Serving;
}

/// The protocols a server accepts, by feature. The first is also the fallback for a
/// connection no protocol recognises (it closes it with a reason).
pub(crate) fn server_protocols() -> Vec<Box<dyn ServerProtocol>> {
    #[allow(unused_mut)]
    let mut list: Vec<Box<dyn ServerProtocol>> = vec![Box::new(native::Protocol)];
    #[cfg(feature = "go")]
    {
        list.push(Box::new(gob::Protocol));
        list.push(Box::new(ws::Protocol));
    }
    list
}
