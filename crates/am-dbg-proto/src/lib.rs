//! The asyncmachine live-debugger protocol: plain serde message types that keep every field
//! of the Go `DbgMsgStruct` / `DbgMsgTx`, a versioned [tarpc] service over TCP
//! (bincode codec, see [`service`](crate::DbgService)), a client [`DbgTracer`] that never
//! blocks a transition, a [`Server`] library, and recordings ([`Recorder`], [`Summary`],
//! [`replay`]). The `am-dbg` tool (terminal UI, `record`, `replay`, `summary`, `export`,
//! `import`) is the crate `am-dbg`, as `tokio-console` is apart from `console-api`.
//!
//! This is the native Rust protocol; it keeps the Go debugger's message fields so either
//! world's tools can read the other's messages.
//!
//! # Protocol
//!
//! A client opens one TCP connection per tracer (not per machine), calls `hello` with
//! [`PROTOCOL_VERSION`] and its [`ClientIdentity`], then `push`es [`Batch`]es, one call at a
//! time. A server that answers [`ENCODED_PUSH_VERSION`] in its [`Welcome`] (this crate's
//! does) also takes `push_encoded`: the same [`Batch`] in the codec's bincode, which the
//! tracer writes straight from its outbox (no message values made per transition); the
//! tracer uses it only with such a server, so older servers keep getting `push`. On every
//! (re)connect the schemas of all known machines go first; a machine's schema also precedes
//! its transitions after a schema change. Every transition or queued mutation message
//! carries a per-machine sequence number ([`DbgMsgTx::seq`]); after an overflow or a failed
//! send a [`DbgMsgDropped`] notice says how many were lost.
//!
//! # Example
//!
//! ```
//! use am_core::{Machine, Schema, State};
//! use am_dbg_proto::{DbgMsg, DbgTracer, Server, ServerEvent};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rt = tokio::runtime::Runtime::new()?;
//! let (server, mut events) = rt.block_on(Server::bind_channel("127.0.0.1:0", 1024))?;
//!
//! // the tracer runs its sender on `rt`; the machine is driven from this plain thread
//! let tracer = DbgTracer::builder().addr(server.local_addr().to_string()).runtime(rt.handle().clone()).build()?;
//! let schema = Schema::builder().state("Ready", State::new()).build()?;
//! let m = Machine::builder(schema).id("app").tracer(tracer.clone()).build();
//! m.add(&["Ready"])?;
//! assert!(tracer.flush(std::time::Duration::from_secs(5)).complete()); // all sent, in time
//!
//! let mut got = Vec::new();
//! while let Ok(ev) = events.try_recv() {
//!     if let ServerEvent::Message { msg, .. } = ev {
//!         got.push(msg);
//!     }
//! }
//! assert!(matches!(&got[0], DbgMsg::Schema(s) if s.id == "app"));
//! assert!(got.iter().any(|m| matches!(m, DbgMsg::Tx(t) if t.accepted && !t.is_queued)));
//! # Ok(())
//! # }
//! ```
//!
//! # The Go `am-dbg`
//!
//! With the `go` feature (default) this crate also speaks the Go debugger's own protocol
//! (net/rpc with gob), both ways:
//!
//! - **Rust machines in the Go `am-dbg`**: `AM_DBG_ADDR=1` (or any `host:port`) finds out
//!   that the peer is the Go `am-dbg` and switches to its protocol (logged once);
//!   `AM_DBG_ADDR=gob://localhost:6831` (or `DbgTracer::builder().addr("gob://…")`) uses it
//!   from the start. Every machine streams on a connection of its own, schema first, with
//!   every field the Go debugger derives its views from; unlike the Go client it reconnects
//!   with backoff (re-sending schemas), drops the oldest on overflow (counted, and logged as
//!   Go's protocol has no drop notice) and never blocks a transition.
//! - **Go machines in our tools**: [`Server`] (and so `am-dbg record` and the TUI) accepts
//!   Go clients on the same port as native ones, raw or over WebSocket (`/dbg.ws`), told
//!   apart by their first bytes, and stamps their transitions with the receive time as the Go
//!   debugger does.
//! - **Recordings**: [`write_gob_br`] / `am-dbg export --gob-br` write the `.gob.br` file
//!   `am-dbg --import-data` opens; [`read_gob_br`] / `am-dbg import` read one (and `summary`,
//!   `replay` take `.gob.br` files directly).
//!
//! The WebSocket variant works the same way with `ws://host:port/dbg.ws` (`ws://1`: the Go
//! server's HTTP port, 6832), as browser (WASM) clients of the Go debugger use it; `replay`
//! sends to any of these addresses.
//!
//! # Lifecycle
//!
//! The three steps every exporter of this workspace follows (drawn in the repository's
//! `docs/architecture.md`):
//!
//! 1. **Build**: [`DbgTracer::builder`] (address from `AM_DBG_ADDR` unless given) starts the
//!    sender on the current tokio runtime or a thread of its own; it connects and reconnects
//!    by itself.
//! 2. **Bind / attach**: [`DbgTracer::bind`]; the machine attaches one per-machine handle
//!    (its outbox slot; its schema goes out first); submachines inherit it.
//! 3. **Shut down**: [`DbgTracer::flush`] with a deadline, then drop the tracer (the sender
//!    drains what it can and exits), or a [`DbgGuard`] which does both.
//!
//! [`bind_env`] does steps 1 and 2 from the environment and returns the guard for step 3.
//!
//! # Environment
//!
//! [`bind_env`] binds a tracer when [`AM_DBG_ADDR`] is set (`1` means [`DEFAULT_ADDR`]) and
//! `AM_TEST_RUNNER` is off. [`AM_DBG_TRACE`] turns on a stack trace per queued mutation
//! ([`AM_DBG_NO_TRACE`] keeps them off, as in Go). Builder calls win over the environment,
//! which wins over defaults.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod addr;
mod clock;
mod error;
mod json;
mod messages;
mod outbox;
mod recording;
mod sender;
mod server;
mod service;
mod stack;
mod tracer;
mod transport;

pub use addr::{AM_DBG_ADDR, DEFAULT_ADDR, DbgAddr, GOB_SCHEME, TransportKind, WS_SCHEME, env_addr, expand_addr};
pub use error::Error;
pub use json::write_json;
pub use messages::{
    Batch, ClientIdentity, DbgLogEntry, DbgMsg, DbgMsgDropped, DbgMsgStruct, DbgMsgTx, DbgStep, Hello, MutationType,
    PROTOCOL_VERSION, Refusal, StateDef, TxSource, Welcome,
};
pub use recording::{
    MachineSummary, RecordOptions, RecordStats, Recorder, RecordingWriter, Summary, parse_recording, read_recording,
    replay, write_recording,
};
pub use server::{ConnId, Server, ServerEvent, ServerStats};
pub use service::{
    Ack, DbgService, DbgServiceClient, DbgServiceRequest, DbgServiceResponse, ENCODED_PUSH_VERSION, EncodedBatch,
    MAX_FRAME_LEN, RequestFrame, ResponseFrame, ServeDbgService, decode_request_frame, encode_request_frame,
};
pub use tracer::{
    AM_DBG_NO_TRACE, AM_DBG_TRACE, DEFAULT_CAPACITY, DbgGuard, DbgStats, DbgTracer, DbgTracerBuilder, bind_env,
};
#[cfg(feature = "go")]
pub use transport::gob::recording::{GOB_BR_VERSION, GobBrStats, read_gob_br, write_gob_br};
