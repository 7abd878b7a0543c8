//! The crate's one error type.

/// What can go wrong building a dashboard or talking to Grafana. Messages never contain the
/// API token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The machine ID list is empty.
    #[error("no machine IDs given: a dashboard needs at least one")]
    NoMachines,
    /// A machine ID is empty or given twice.
    #[error("machine ID {id:?} is {reason}")]
    InvalidId {
        /// The offending ID.
        id: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A setting has a value Grafana would refuse.
    #[error("invalid {what}: {reason}")]
    InvalidSetting {
        /// The setting (`name`, `folder`, `uid`, …).
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A name Kubernetes would refuse (a Service, namespace or object name, a label or a
    /// port name), found before any object is written.
    #[error("invalid Kubernetes {what} {name:?}: {reason}{}", did_you_mean(.hint.as_deref()))]
    InvalidName {
        /// What the name is for (`Service name`, `namespace`, `label key`, …).
        what: &'static str,
        /// The refused name.
        name: String,
        /// Which rule it breaks.
        reason: String,
        /// A valid spelling close to it (`checkout_api` → `checkout-api`), if there is one.
        hint: Option<String>,
    },
    /// No Grafana URL from the builder or the environment.
    #[error("no Grafana URL: call `.url(..)` or set AM_GRAFANA_URL")]
    MissingUrl,
    /// No API token from the builder or the environment.
    #[error("no Grafana API token: call `.token(..)` or set AM_GRAFANA_TOKEN (the CLI also reads GRAFANA_TOKEN)")]
    MissingToken,
    /// The Grafana URL does not start with `http://` or `https://`.
    #[error("invalid Grafana URL {0:?}: it must start with http:// or https://")]
    InvalidUrl(String),
    /// 401 or 403: the token is wrong, expired, or lacks permissions.
    #[error(
        "Grafana refused the credentials ({status}) on {endpoint}: check the service-account token \
         (AM_GRAFANA_TOKEN) and that it may edit dashboards and folders"
    )]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// Method and path, e.g. `POST /api/dashboards/db`.
        endpoint: String,
    },
    /// 412: the dashboard changed on the server (version mismatch) or its name clashes.
    #[error(
        "Grafana refused {endpoint} with 412 Precondition Failed: the dashboard's version changed on \
         the server, or another dashboard in the folder has the same title ({message})"
    )]
    PreconditionFailed {
        /// Method and path.
        endpoint: String,
        /// Grafana's own message.
        message: String,
    },
    /// 5xx: Grafana failed; retrying later may help.
    #[error("Grafana server error {status} on {endpoint} ({message}); try again later")]
    Server {
        /// The 5xx status.
        status: u16,
        /// Method and path.
        endpoint: String,
        /// Grafana's own message.
        message: String,
    },
    /// Any other non-success status (e.g. 400 for an invalid model).
    #[error("Grafana answered {status} on {endpoint}: {message}")]
    Status {
        /// The status.
        status: u16,
        /// Method and path.
        endpoint: String,
        /// Grafana's own message.
        message: String,
    },
    /// The request never got an answer (connection refused, timeout, TLS).
    #[error("cannot reach Grafana for {endpoint}: {reason}")]
    Transport {
        /// Method and path.
        endpoint: String,
        /// The transport error, with its causes.
        reason: String,
    },
    /// Grafana answered 2xx with a body this crate cannot read.
    #[error("unexpected answer from Grafana on {endpoint}: {reason}")]
    BadResponse {
        /// Method and path.
        endpoint: String,
        /// What was wrong.
        reason: String,
    },
    /// An `AM_GRAFANA_*` variable's value cannot be used (the token is never shown).
    #[error(transparent)]
    Env(#[from] am_core::env::EnvError),
    /// The background upload thread or runtime could not be started.
    #[error("cannot start the Grafana upload worker: {0}")]
    Worker(String),
    /// TLS settings that cannot be used: a certificate file (named with its variable), or
    /// TLS in a build without the `tls` feature.
    #[error(transparent)]
    Tls(#[from] am_core::exporter::TlsError),
}

fn did_you_mean(hint: Option<&str>) -> String {
    hint.map(|h| format!("; did you mean {h:?}?")).unwrap_or_default()
}
