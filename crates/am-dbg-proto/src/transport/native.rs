//! This crate's own protocol: the tarpc [`DbgService`](crate::DbgService) over TCP, one
//! connection per tracer, a `hello` handshake, then one `push` per batch (each waits for its
//! answer, so batches stay in order).

use am_core::exporter::Unpoison;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tarpc::client::RpcError;
use tarpc::context::Context;
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::Bincode;
use tarpc::tokio_util::codec::LengthDelimitedCodec;
use tokio::net::TcpStream;

use super::{Arrived, ClientTransport, Failed, Link, Phase, Sent, ServerProtocol, Serving, Sniff, TransportError};
use crate::messages::{Batch, ClientIdentity, DbgMsg, Hello, PROTOCOL_VERSION, Refusal, Welcome};
use crate::server::ConnCtx;
use crate::service::{
    Ack, DbgService, DbgServiceClient, ENCODED_PUSH_VERSION, EncodedBatch, MAX_FRAME_LEN, ServerCodec,
};

/// The client side: one tarpc connection.
pub(crate) struct Client {
    link: Link,
    rpc: Option<DbgServiceClient>,
    opened: u64,
    /// The server answered [`ENCODED_PUSH_VERSION`] or later.
    encoded: bool,
}

impl Client {
    pub(crate) fn new(link: Link) -> Self {
        Client { link, rpc: None, opened: 0, encoded: false }
    }

    fn ctx(&self) -> Context {
        let mut c = tarpc::context::current();
        c.deadline = Instant::now() + self.link.call_timeout;
        c
    }
}

fn rpc_error(e: RpcError, phase: Phase) -> TransportError {
    match e {
        RpcError::DeadlineExceeded => TransportError::Timeout(phase),
        e => TransportError::Closed(e.to_string()),
    }
}

impl ClientTransport for Client {
    async fn connect(&mut self) -> Result<(), TransportError> {
        self.rpc = None;
        let addr = self.link.addr.authority().to_string();
        let mut conn = tarpc::serde_transport::tcp::connect(addr.as_str(), Bincode::default);
        conn.config_mut().max_frame_length(MAX_FRAME_LEN);
        let transport = tokio::time::timeout(self.link.call_timeout, conn)
            .await
            .map_err(|_| TransportError::Timeout(Phase::Connect))?
            .map_err(|source| TransportError::Connect { addr, source })?;
        let rpc = DbgServiceClient::new(tarpc::client::Config::default(), transport).spawn();
        let hello = Hello { protocol: PROTOCOL_VERSION, client: self.link.client.clone() };
        match rpc.hello(self.ctx(), hello).await {
            Ok(Ok(welcome)) => self.encoded = welcome.protocol >= ENCODED_PUSH_VERSION,
            Ok(Err(refusal)) => return Err(TransportError::Refused(refusal.to_string())),
            Err(e) => return Err(rpc_error(e, Phase::Handshake)),
        }
        self.opened += 1;
        self.rpc = Some(rpc);
        Ok(())
    }

    async fn send(&mut self, batch: Vec<DbgMsg>) -> Result<Sent, Failed> {
        // one call: the batch arrived whole or (as far as this side can tell) not at all
        let fail = |e| Failed::at(Arrived::default(), e);
        let Some(rpc) = &self.rpc else { return Err(fail(TransportError::Closed("not connected".into()))) };
        match rpc.push(self.ctx(), Batch { messages: batch }).await {
            Ok(Ok(_)) => Ok(Sent::default()),
            Ok(Err(refusal)) => Err(fail(TransportError::Refused(refusal.to_string()))),
            Err(e) => Err(fail(rpc_error(e, Phase::Call))),
        }
    }

    fn takes_encoded(&self) -> bool {
        self.encoded && self.rpc.is_some()
    }

    async fn send_encoded(&mut self, batch: EncodedBatch) -> Result<Sent, Failed> {
        let fail = |e| Failed::at(Arrived::default(), e);
        let Some(rpc) = &self.rpc else { return Err(fail(TransportError::Closed("not connected".into()))) };
        match rpc.push_encoded(self.ctx(), batch).await {
            Ok(Ok(_)) => Ok(Sent::default()),
            Ok(Err(refusal)) => Err(fail(TransportError::Refused(refusal.to_string()))),
            Err(e) => Err(fail(rpc_error(e, Phase::Call))),
        }
    }

    fn connections(&self) -> u64 {
        self.opened
    }
}

/// The server side.
pub(crate) struct Protocol;

impl ServerProtocol for Protocol {
    /// A native frame starts with a 4-byte big-endian length, whose first byte is 0 for any
    /// frame the server accepts ([`MAX_FRAME_LEN`] is 16 MiB).
    fn sniff(&self, first: &[u8]) -> Sniff {
        match first.first() {
            None => Sniff::NeedMore,
            Some(0) => Sniff::Yes,
            Some(_) => Sniff::No,
        }
    }

    fn serve(&self, stream: TcpStream, _peer: SocketAddr, ctx: Arc<ConnCtx>) -> Serving {
        Box::pin(serve(stream, ctx))
    }
}

#[derive(Default)]
struct ConnState {
    client: Option<ClientIdentity>,
    fatal: Option<String>,
}

#[derive(Clone)]
struct ConnService {
    state: Arc<Mutex<ConnState>>,
    ctx: Arc<ConnCtx>,
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
        self.ctx.connected(hello.client).await;
        // this server also takes encoded pushes
        Ok(Welcome { protocol: ENCODED_PUSH_VERSION, server: format!("am-dbg-proto {}", env!("CARGO_PKG_VERSION")) })
    }

    async fn push(self, _: Context, batch: Batch) -> Result<Ack, Refusal> {
        if self.state().client.is_none() {
            return Err(self.refuse(Refusal::NoHandshake));
        }
        let n = batch.messages.len() as u64;
        self.ctx.messages(batch.messages).await;
        Ok(Ack { received: n })
    }

    async fn push_encoded(self, cx: Context, batch: EncodedBatch) -> Result<Ack, Refusal> {
        match batch.decode() {
            Ok(batch) => self.push(cx, batch).await,
            Err(e) => Err(self.refuse(Refusal::Malformed(e.to_string()))),
        }
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

async fn serve(stream: TcpStream, ctx: Arc<ConnCtx>) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let framed = LengthDelimitedCodec::builder().max_frame_length(MAX_FRAME_LEN).new_framed(stream);
    let transport = tarpc::serde_transport::new(framed, ServerCodec::default());
    let svc = ConnService { state: Arc::new(Mutex::new(ConnState::default())), ctx };
    let mut requests = BaseChannel::with_defaults(transport).requests();
    loop {
        match requests.next().await {
            None => return Ok(()),
            Some(Err(e)) => return Err(read_failure(&e)),
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
                    return Err(f);
                }
            }
        }
    }
}
