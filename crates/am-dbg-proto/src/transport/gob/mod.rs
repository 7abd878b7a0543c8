//! The Go `am-dbg` wire protocol (feature `go`): gob-encoded net/rpc calls, one connection
//! per machine, as asyncmachine-go's debugger and its clients speak it.
//!
//! - [`wire`] — the Go message types by Go field name, and conversions to the native ones,
//! - [`conn`] — gob streams over tokio I/O,
//! - [`client`] — the tracer's transport to a Go `am-dbg` (`gob://`, and `ws://` through
//!   [`ws`](super::ws)),
//! - [`server`] — Go clients served beside native ones on the same port (raw TCP, or
//!   WebSocket through [`ws`](super::ws)),
//! - [`recording`] — `.gob.br` recordings, both ways.

pub(crate) mod client;
pub(crate) mod conn;
pub(crate) mod recording;
pub(crate) mod server;
pub(crate) mod wire;

pub(crate) use client::Client;
pub(crate) use server::{Protocol, serve_stream};
