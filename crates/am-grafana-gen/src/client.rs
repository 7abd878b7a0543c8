//! Uploads to Grafana's HTTP API: find or create the folder, then
//! `POST /api/dashboards/db` with overwrite (spec §8.4).

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

use crate::env::{AM_GRAFANA_TOKEN, AM_GRAFANA_URL, GRAFANA_TOKEN};
use crate::{Dashboard, Error};

/// Default timeout of one request.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest Grafana message kept in an error.
const MESSAGE_MAX: usize = 300;

/// A token that never prints.
#[derive(Clone)]
struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// A Grafana HTTP API client holding the base URL and the service-account token.
///
/// Its `Debug` output, its errors and its log lines never contain the token.
///
/// ```
/// let c = am_grafana_gen::GrafanaClient::builder().url("http://127.0.0.1:3000/").token("glsa_secret").build()?;
/// assert_eq!(c.url(), "http://127.0.0.1:3000");
/// assert!(!format!("{c:?}").contains("glsa_secret"));
/// # Ok::<(), am_grafana_gen::Error>(())
/// ```
#[derive(Clone)]
pub struct GrafanaClient {
    base: String,
    token: Token,
    http: reqwest::Client,
}

impl fmt::Debug for GrafanaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrafanaClient").field("url", &self.base).field("token", &self.token).finish()
    }
}

/// Settings of a [`GrafanaClient`]. Precedence: builder > env > error.
#[derive(Default)]
#[must_use]
pub struct GrafanaClientBuilder {
    url: Option<String>,
    token: Option<Token>,
    timeout: Option<Duration>,
    tls: Option<am_core::exporter::TlsSettings>,
}

impl fmt::Debug for GrafanaClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrafanaClientBuilder")
            .field("url", &self.url)
            .field("token", &self.token)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What Grafana answered to a saved dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The dashboard uid.
    pub uid: String,
    /// Grafana's path of the dashboard, e.g. `/d/am-demo/am-demo`.
    pub url: String,
    /// The dashboard version after the save.
    pub version: u64,
    /// The uid of the folder it was saved in.
    pub folder_uid: String,
}

impl GrafanaClientBuilder {
    /// Grafana base URL. Default: `AM_GRAFANA_URL`.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }
    /// Service-account token. Default: `AM_GRAFANA_TOKEN`, then `GRAFANA_TOKEN`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Token(token.into()));
        self
    }
    /// Timeout of each request. Default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// What the HTTPS client trusts and presents: a CA of your own, a client certificate.
    /// Default: `AM_GRAFANA_CERTIFICATE` / `AM_GRAFANA_CLIENT_CERTIFICATE` /
    /// `AM_GRAFANA_CLIENT_KEY`, else the `AM_TLS_*` ones, else the system's roots. Needs the
    /// `tls` feature (so does an `https://` URL).
    pub fn tls(mut self, tls: am_core::exporter::TlsSettings) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Builds the client; fails without a URL or a token.
    pub fn build(self) -> Result<GrafanaClient, Error> {
        let url = self.url.or_else(|| am_core::env::value(AM_GRAFANA_URL)).ok_or(Error::MissingUrl)?;
        let url = url.trim().trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::InvalidUrl(strip_userinfo(&url)));
        }
        let token = self
            .token
            .filter(|t| !t.0.trim().is_empty())
            .or_else(|| am_core::env::value(AM_GRAFANA_TOKEN).map(Token))
            .or_else(|| am_core::env::value(GRAFANA_TOKEN).map(Token))
            .ok_or(Error::MissingToken)?;
        let tls = match self.tls {
            Some(t) => t,
            None => am_core::exporter::TlsSettings::from_env(&crate::env::TLS_VARS)?,
        };
        tls.check_available(Some(&url), "an https:// Grafana URL")?;
        let http = am_core::exporter::http::client(&am_core::exporter::http::HttpClientOptions {
            user_agent: concat!("am-grafana-gen/", env!("CARGO_PKG_VERSION")),
            timeout: Some(self.timeout.unwrap_or(DEFAULT_TIMEOUT)),
            tls,
            ..Default::default()
        })?;
        Ok(GrafanaClient { base: url, token, http })
    }
}

impl GrafanaClient {
    /// Starts a client; see [`GrafanaClientBuilder`].
    pub fn builder() -> GrafanaClientBuilder {
        GrafanaClientBuilder::default()
    }

    /// The base URL, without a trailing `/`.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Finds or creates the dashboard's folder, then saves the dashboard with overwrite.
    pub async fn upload(&self, d: &Dashboard) -> Result<Uploaded, Error> {
        self.upload_model(d.to_json(), d.folder(), d.folder_uid()).await
    }

    /// Saves a dashboard model (e.g. a generated file read back) into the folder titled
    /// `folder`, created with uid `folder_uid` when no folder of that title exists.
    pub async fn upload_model(&self, mut model: Value, folder: &str, folder_uid: &str) -> Result<Uploaded, Error> {
        let folder_uid = self.ensure_folder(folder, folder_uid).await?;
        model["id"] = Value::Null;
        let body = json!({
            "dashboard": model,
            "folderUid": folder_uid,
            "message": "am-grafana-gen",
            "overwrite": true
        });
        let endpoint = "POST /api/dashboards/db";
        let (status, v) = self.send(endpoint, self.http.post(self.path("/api/dashboards/db")).json(&body)).await?;
        if status != 200 {
            return Err(self.status_error(endpoint, status, &v));
        }
        let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let bad = |reason: &str| Error::BadResponse { endpoint: endpoint.into(), reason: reason.into() };
        Ok(Uploaded {
            uid: field("uid").ok_or_else(|| bad("no `uid` in the answer"))?,
            url: field("url").unwrap_or_default(),
            version: v.get("version").and_then(Value::as_u64).unwrap_or(0),
            folder_uid,
        })
    }

    /// The uid of the folder titled `title` (case-insensitive), creating it when missing.
    pub async fn ensure_folder(&self, title: &str, uid: &str) -> Result<String, Error> {
        let endpoint = "GET /api/search";
        let url = format!("{}?type=dash-folder&query={}", self.path("/api/search"), percent_encode(title));
        let (status, v) = self.send(endpoint, self.http.get(url)).await?;
        if status != 200 {
            return Err(self.status_error(endpoint, status, &v));
        }
        let hits = v
            .as_array()
            .ok_or_else(|| Error::BadResponse { endpoint: endpoint.into(), reason: "expected a JSON array".into() })?;
        let found = hits.iter().find(|h| {
            h.get("title").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(title))
                && h.get("type").and_then(Value::as_str).is_none_or(|t| t == "dash-folder")
        });
        if let Some(uid) = found.and_then(|h| h.get("uid")).and_then(Value::as_str) {
            return Ok(uid.to_string());
        }
        let endpoint = "POST /api/folders";
        let body = json!({"title": title, "uid": uid});
        let (status, v) = self.send(endpoint, self.http.post(self.path("/api/folders")).json(&body)).await?;
        match status {
            200 => Ok(v.get("uid").and_then(Value::as_str).unwrap_or(uid).to_string()),
            // A folder with our fixed uid already exists (under another title): use it.
            409 | 412 => Ok(uid.to_string()),
            _ => Err(self.status_error(endpoint, status, &v)),
        }
    }

    fn path(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }

    async fn send(&self, endpoint: &str, req: reqwest::RequestBuilder) -> Result<(u16, Value), Error> {
        let transport = |e: reqwest::Error| Error::Transport {
            endpoint: endpoint.to_string(),
            reason: self.redact(&chain(&e.without_url())),
        };
        let resp = req.bearer_auth(&self.token.0).send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(transport)?;
        let v =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        if (200..300).contains(&status) && v.is_string() {
            return Err(Error::BadResponse { endpoint: endpoint.into(), reason: "the body is not JSON".into() });
        }
        Ok((status, v))
    }

    fn status_error(&self, endpoint: &str, status: u16, body: &Value) -> Error {
        let endpoint = endpoint.to_string();
        let message = body.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| match body {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let mut message = self.redact(message.trim());
        if message.len() > MESSAGE_MAX {
            let mut end = MESSAGE_MAX;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        if message.is_empty() {
            message = "no message".into();
        }
        match status {
            401 | 403 => Error::Unauthorized { status, endpoint },
            412 => Error::PreconditionFailed { endpoint, message },
            500..=599 => Error::Server { status, endpoint, message },
            _ => Error::Status { status, endpoint, message },
        }
    }

    /// Removes the token from text that came from outside (a body echoing a header).
    fn redact(&self, s: &str) -> String {
        if self.token.0.is_empty() { s.to_string() } else { s.replace(&self.token.0, "<redacted>") }
    }
}

/// An error's message followed by its causes.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

/// `scheme://user:pass@host/…` → `scheme://host/…`.
fn strip_userinfo(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}{}", &url[..s + 3], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_and_userinfo() {
        assert_eq!(percent_encode("my folder/ä"), "my%20folder%2F%C3%A4");
        assert_eq!(strip_userinfo("http://a:b@h:3000/x"), "http://h:3000/x");
    }

    #[test]
    fn builder_rules() {
        let b = || GrafanaClient::builder().token("t");
        assert!(matches!(b().url("ftp://x").build(), Err(Error::InvalidUrl(_))));
        let e = GrafanaClient::builder().url("http://127.0.0.1:1").token(" ").build();
        // A blank builder token falls back to the env, which tests leave unset.
        if std::env::var_os(AM_GRAFANA_TOKEN).is_none() && std::env::var_os(GRAFANA_TOKEN).is_none() {
            assert!(matches!(e, Err(Error::MissingToken)));
        }
        let c = b().url("http://h/").build().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.url(), "http://h");
        // https needs the `tls` feature, and says so without it
        match b().url("https://h/").build() {
            Ok(c) => assert!(cfg!(feature = "tls") && c.url() == "https://h"),
            Err(e) => assert!(!cfg!(feature = "tls") && e.to_string().contains("feature `tls`"), "{e}"),
        }
    }
}
