//! The crate's error type: configuration and bind-time errors. Export failures at run time
//! are never returned into the machine; they are counted (see [`PromStats`](crate::PromStats)).

/// A configuration or bind error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A builder setting could not be used.
    #[error("invalid {name} value {value:?}: {reason}")]
    Invalid {
        /// The variable or setting.
        name: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The scrape endpoint could not bind its address.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// An `AM_PROM_*` variable's value cannot be used.
    #[error(transparent)]
    Env(#[from] am_core::env::EnvError),
    /// In Go-compatible mode, two machine IDs that normalise to the same metric names (or
    /// to a labelled family's name).
    #[error(
        "machine {id:?}: its Go-compatible metric {name} is already used by {other}; \
         IDs must differ after normalisation (lower case, runs of other characters than [a-z0-9_] become `_`)"
    )]
    IdCollision {
        /// The machine being bound.
        id: String,
        /// The machine (or family) already using the name.
        other: String,
        /// The metric name.
        name: String,
    },
    /// The background thread or runtime could not be started.
    #[error("cannot start the am-prom background runtime")]
    Runtime(#[source] std::io::Error),
    /// TLS settings that cannot be used: a certificate file (named with its variable), or
    /// TLS in a build without the `tls` feature.
    #[error(transparent)]
    Tls(#[from] am_core::exporter::TlsError),
    /// A cargo feature the setting needs is not compiled in.
    #[error("{0} needs am-prom's cargo feature `{1}`")]
    Feature(&'static str, &'static str),
}
