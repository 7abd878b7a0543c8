//! The crate's error type.

/// Errors of configuration, binding, the server and the CLI. Run-time send failures of the
/// tracer are never returned: they are counted (see [`DbgStats`](crate::DbgStats)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An address could not be parsed or resolved.
    #[error("bad debugger address {addr:?}: {reason}")]
    Address {
        /// The address as given.
        addr: String,
        /// Why it is bad.
        reason: String,
    },
    /// `AM_DBG_ADDR` has a value that is no address.
    #[error(transparent)]
    Env(#[from] am_core::env::EnvError),
    /// No tokio runtime was given or current, and starting a background one failed.
    #[error("cannot start the background runtime")]
    Runtime(#[source] std::io::Error),
    /// A socket or file operation failed.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A frame or a recording line could not be decoded.
    #[error("cannot decode: {0}")]
    Decode(String),
    /// The server refused the handshake or a call.
    #[error("refused by the server")]
    Refused(#[from] crate::messages::Refusal),
    /// An RPC failed.
    #[error("rpc failed: {0}")]
    Rpc(String),
    /// Bad command-line usage.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }
}
