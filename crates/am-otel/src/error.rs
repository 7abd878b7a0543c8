//! The crate's error type, for configuration and setup only: export failures at run time
//! are counted ([`SpanStats`](crate::SpanStats)), never returned into the machine.

/// A setup or configuration error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A state filter regex did not compile.
    #[error("invalid regex in {name}")]
    Regex {
        /// Where it came from (an env variable or builder method).
        name: String,
        /// The regex error.
        #[source]
        source: regex::Error,
    },
    /// An `AM_OTEL_*` or `OTEL_*` variable's value cannot be used.
    #[error(transparent)]
    Env(#[from] am_core::env::EnvError),
    /// The transport asked for is not compiled in.
    #[error("OTLP transport {0} needs the `{0}` cargo feature of am-otel")]
    TransportDisabled(&'static str),
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` or a builder value is not a supported protocol.
    #[error("unsupported OTLP protocol {0:?} (use grpc, http/protobuf or http/json)")]
    Protocol(String),
    /// TLS settings that cannot be used: a certificate file (named with its variable), an
    /// `https://` endpoint or a certificate in a build without the `tls` feature.
    #[error(transparent)]
    Tls(#[from] am_core::exporter::TlsError),
    /// The exporter could not be built.
    #[error("building the OTLP exporter: {0}")]
    Exporter(String),
    /// The background runtime could not start.
    #[error("starting the export runtime")]
    Runtime(#[from] std::io::Error),
}
