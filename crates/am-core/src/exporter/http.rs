//! The one HTTP client factory of the exporters that push over HTTP (Loki, the Pushgateway,
//! Grafana, OTLP over HTTP): one place for the user agent, timeouts and TLS (feature
//! `exporter-http`; `exporter-tls` adds rustls).
//!
//! TLS is rustls with the platform's verifier (`rustls-platform-verifier`): the system's
//! trust store, which is where operators put a corporate CA and what hosted backends' public
//! certificates chain to; a CA of your own comes on top through [`TlsSettings`]. The crypto
//! provider is aws-lc-rs, the one reqwest's `rustls` feature brings, so one provider serves
//! HTTP and gRPC.

use std::time::Duration;

use super::tls::{TlsError, TlsSettings};

/// What an exporter's HTTP client is built with.
#[derive(Clone, Debug, Default)]
pub struct HttpClientOptions<'a> {
    /// `User-Agent`, e.g. `am-loki/0.1.0`.
    pub user_agent: &'a str,
    /// Bound of a whole request; `None`: the caller bounds each request itself.
    pub timeout: Option<Duration>,
    /// Bound of connecting (TCP and TLS handshake).
    pub connect_timeout: Option<Duration>,
    /// What to trust and present.
    pub tls: TlsSettings,
}

/// Builds the client. A CA or client certificate in a build without `exporter-tls` is an
/// error ([`TlsError::NoTls`]), and so is a certificate or key the TLS library refuses.
///
/// ```
/// use am_core::exporter::http::{HttpClientOptions, client};
/// let c = client(&HttpClientOptions { user_agent: "doc/1", ..Default::default() })?;
/// # let _ = c;
/// # Ok::<(), am_core::exporter::TlsError>(())
/// ```
pub fn client(o: &HttpClientOptions<'_>) -> Result<reqwest::Client, TlsError> {
    o.tls.check_available(None, "a CA or client certificate")?;
    let mut b = reqwest::Client::builder();
    if !o.user_agent.is_empty() {
        b = b.user_agent(o.user_agent);
    }
    if let Some(t) = o.timeout {
        b = b.timeout(t);
    }
    if let Some(t) = o.connect_timeout {
        b = b.connect_timeout(t);
    }
    #[cfg(feature = "exporter-tls")]
    {
        if let Some(pem) = &o.tls.ca_pem {
            let certs =
                reqwest::Certificate::from_pem_bundle(pem).map_err(|e| TlsError::Invalid(format!("CA: {e}")))?;
            b = b.tls_certs_merge(certs);
        }
        if let Some((cert, key)) = &o.tls.identity_pem {
            let mut pem = cert.clone();
            pem.push(b'\n');
            pem.extend_from_slice(key);
            let id =
                reqwest::Identity::from_pem(&pem).map_err(|e| TlsError::Invalid(format!("client certificate: {e}")))?;
            b = b.identity(id);
        }
    }
    // reqwest's builder errors hide the cause in their sources
    b.build().map_err(|e| TlsError::Invalid(crate::ErrorChain(&e).to_string()))
}
