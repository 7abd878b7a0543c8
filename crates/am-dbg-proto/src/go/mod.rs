//! The Go `am-dbg` wire protocol (feature `go`): gob-encoded net/rpc calls, one connection
//! per machine, as asyncmachine-go's debugger and its clients speak it (spec §2.3–§2.9).
//!
//! - [`wire`] — the Go message types by Go field name, and conversions to the native ones,
//! - [`conn`] — gob streams over tokio I/O,
//! - [`server`] — Go clients served beside native ones on the same port,
//! - [`client`] — the tracer's transport to a Go `am-dbg` (`gob://` addresses),
//! - [`ws`] — the same over WebSocket (`ws://` addresses),
//! - [`recording`] — `.gob.br` recordings, both ways.

pub(crate) mod client;
pub(crate) mod conn;
pub(crate) mod recording;
pub(crate) mod server;
pub(crate) mod wire;
pub(crate) mod ws;
