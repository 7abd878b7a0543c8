//! The crate's one error type, for build and configuration errors. Export failures at run
//! time are never returned: they are counted in [`LokiStats`](crate::LokiStats).

/// A Loki tracer could not be built. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Loki address does not parse, has an unsupported scheme, or carries credentials.
    #[error("invalid Loki address {addr:?}: {reason}")]
    InvalidAddr {
        /// The address, with any user info removed.
        addr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `AM_LOKI_*` variable's value cannot be used (secrets are never shown).
    #[error(transparent)]
    Env(#[from] am_core::env::EnvError),
    /// An option has a value that cannot work (e.g. an unknown format name).
    #[error("invalid {option}: {reason}")]
    InvalidOption {
        /// The option or env variable.
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// TLS settings that cannot be used: a certificate file (named with its variable), or
    /// TLS in a build without the `tls` feature.
    #[error(transparent)]
    Tls(#[from] am_core::exporter::TlsError),
    /// The background sender thread or runtime could not be started.
    #[error("cannot start the background sender")]
    Runtime(#[source] std::io::Error),
}
