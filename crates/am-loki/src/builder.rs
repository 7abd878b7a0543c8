//! [`LokiTracerBuilder`]: every setting of a [`LokiTracer`], each with its `AM_LOKI_*`
//! fallback, and the build that starts the sender.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::encode::PushFormat;
use crate::env::{
    self, AM_LOKI_ADDR, AM_LOKI_FORMAT, AM_LOKI_PASSWORD, AM_LOKI_TENANT, AM_LOKI_TOKEN, AM_LOKI_USERNAME,
};
use crate::error::Error;
use crate::queue::Queue;
use crate::sender::{self, Auth, Secret, SenderConfig, Shared};
use crate::tracer::{Inner, LokiTracer};

/// Default Loki address when neither the builder nor `AM_LOKI_ADDR` gives one.
pub const DEFAULT_ADDR: &str = "http://localhost:3100";

/// Builds a [`LokiTracer`]. Precedence: builder call > `AM_LOKI_*` / `AM_SERVICE` env
/// variable > default.
pub struct LokiTracerBuilder {
    addr: Option<String>,
    service: Option<String>,
    tenant: Option<String>,
    basic: Option<(Secret, Secret)>,
    bearer: Option<Secret>,
    format: Option<PushFormat>,
    batch_entries: usize,
    batch_bytes: usize,
    interval: Duration,
    capacity: usize,
    max_machines: usize,
    request_timeout: Duration,
    backoff: (Duration, Duration),
    max_retries: u32,
    shutdown_timeout: Duration,
    inherit: bool,
    states: bool,
    handle: Option<Handle>,
    tls: Option<am_core::exporter::TlsSettings>,
}

impl std::fmt::Debug for LokiTracerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LokiTracerBuilder")
            .field("addr", &self.addr)
            .field("service", &self.service)
            .field("tenant", &self.tenant)
            .field("basic_auth", &self.basic.as_ref().map(|_| "***"))
            .field("bearer_token", &self.bearer.as_ref().map(|_| "***"))
            .field("format", &self.format)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Default for LokiTracerBuilder {
    fn default() -> Self {
        LokiTracerBuilder {
            addr: None,
            service: None,
            tenant: None,
            basic: None,
            bearer: None,
            format: None,
            batch_entries: 1000,
            batch_bytes: 1 << 20,
            interval: Duration::from_secs(1),
            capacity: 10_000,
            max_machines: 1000,
            request_timeout: Duration::from_secs(10),
            backoff: (Duration::from_millis(100), Duration::from_secs(5)),
            max_retries: 10,
            shutdown_timeout: Duration::from_secs(5),
            inherit: true,
            states: false,
            handle: None,
            tls: None,
        }
    }
}

impl LokiTracerBuilder {
    /// Loki base address, e.g. `localhost:3100` or `https://logs.example.com`; `http://`
    /// is prepended without a scheme. Default: `AM_LOKI_ADDR`, else [`DEFAULT_ADDR`].
    pub fn addr(mut self, addr: impl Into<String>) -> Self {
        self.addr = Some(addr.into());
        self
    }
    /// Service name, normalised into the `service_name` label. Default: `AM_SERVICE`.
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self
    }
    /// Tenant sent as `X-Scope-OrgID`. Default: `AM_LOKI_TENANT`, else none.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }
    /// HTTP basic auth. Default: `AM_LOKI_USERNAME` + `AM_LOKI_PASSWORD`, else none.
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic = Some((Secret(user.into()), Secret(password.into())));
        self
    }
    /// Bearer token. Default: `AM_LOKI_TOKEN`, else none. Basic auth wins when both are set.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer = Some(Secret(token.into()));
        self
    }
    /// Push format. Default: `AM_LOKI_FORMAT`, else [`PushFormat::Protobuf`].
    pub fn format(mut self, format: PushFormat) -> Self {
        self.format = Some(format);
        self
    }
    /// A batch is pushed when it holds this many entries (default 1,000)…
    pub fn batch_entries(mut self, n: usize) -> Self {
        self.batch_entries = n.max(1);
        self
    }
    /// …or about this many bytes of lines and metadata (default 1 MiB)…
    pub fn batch_bytes(mut self, n: usize) -> Self {
        self.batch_bytes = n.max(1);
        self
    }
    /// …or when this long passed since the last push (default 1 s), whichever comes first.
    pub fn batch_interval(mut self, d: Duration) -> Self {
        self.interval = d.max(Duration::from_millis(1));
        self
    }
    /// Most entries held while Loki is slow or away (default 10,000); beyond it the oldest
    /// are dropped and counted. The batch being pushed is held outside this count.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.capacity = n.max(1);
        self
    }
    /// Most distinct machine IDs (label sets) at once (default 1,000); entries of further
    /// machines are dropped and counted. Disposed machines free their slot.
    pub fn max_machines(mut self, n: usize) -> Self {
        self.max_machines = n.max(1);
        self
    }
    /// Timeout of one push request (default 10 s); a hung server counts as a failed try.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }
    /// Retry backoff: first delay and cap (default 100 ms, doubling up to 5 s).
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff = (min, max.max(min));
        self
    }
    /// Retries of a batch after connection errors, timeouts, 429 and 5xx (default 10);
    /// then the batch is dropped and counted as failed.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }
    /// How long [`LokiTracer::shutdown`] (and dropping a [`LokiGuard`](crate::LokiGuard)) waits for queued
    /// entries to go out (default 5 s).
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = d;
        self
    }
    /// Whether submachines inherit the tracer, each with its own `asyncmachine_id` (default
    /// on).
    pub fn inherit(mut self, on: bool) -> Self {
        self.inherit = on;
        self
    }
    /// Adds the machine's active states to each entry's structured metadata (`states`;
    /// default off: it costs a lock and a string per entry).
    pub fn states(mut self, on: bool) -> Self {
        self.states = on;
        self
    }
    /// Runs the sender on this runtime. Default: the current runtime, else a background
    /// thread with its own single-threaded runtime.
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.handle = Some(handle);
        self
    }
    /// What the HTTPS client trusts and presents: a CA of your own, a client certificate.
    /// Default: `AM_LOKI_CERTIFICATE` / `AM_LOKI_CLIENT_CERTIFICATE` / `AM_LOKI_CLIENT_KEY`,
    /// else the `AM_TLS_*` ones, else the system's roots. Needs the `tls` feature (so does
    /// an `https://` address).
    pub fn tls(mut self, tls: am_core::exporter::TlsSettings) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Starts the sender and returns the tracer. Fails on a malformed address, a missing
    /// service name, an unknown `AM_LOKI_FORMAT`, or when no runtime can be started.
    pub fn build(self) -> Result<LokiTracer, Error> {
        let addr = self.addr.or_else(|| am_core::env::value(AM_LOKI_ADDR)).unwrap_or_else(|| DEFAULT_ADDR.into());
        let base = env::base_url(&addr)?;
        let service = am_core::env::normalize_id(&self.service.unwrap_or_else(|| am_core::env::service().name));
        let format = match self.format {
            Some(f) => f,
            None => am_core::env::parse(AM_LOKI_FORMAT, |v| {
                PushFormat::parse(v).ok_or_else(|| format!("{v:?} is neither `protobuf` nor `json`"))
            })?
            .unwrap_or(PushFormat::Protobuf),
        };
        let basic = self.basic.or_else(|| {
            let user = am_core::env::value(AM_LOKI_USERNAME)?;
            Some((Secret(user), Secret(std::env::var(AM_LOKI_PASSWORD).unwrap_or_default())))
        });
        let auth = match basic {
            Some((user, password)) => Some(Auth::Basic { user, password }),
            None => self.bearer.or_else(|| am_core::env::value(AM_LOKI_TOKEN).map(Secret)).map(Auth::Bearer),
        };
        let (tenant, option) = match self.tenant {
            Some(t) => (Some(t), "tenant"),
            None => (am_core::env::value(AM_LOKI_TENANT), AM_LOKI_TENANT),
        };
        if let Some(t) = &tenant
            && reqwest::header::HeaderValue::from_str(t).is_err()
        {
            return Err(Error::InvalidOption { option, reason: "not a valid header value".into() });
        }
        let tls = match self.tls {
            Some(t) => t,
            None => am_core::exporter::TlsSettings::from_env(&env::TLS_VARS)?,
        };
        tls.check_available(Some(base.as_str()), "an https:// Loki address")?;
        let client = am_core::exporter::http::client(&am_core::exporter::http::HttpClientOptions {
            user_agent: concat!("am-loki/", env!("CARGO_PKG_VERSION")),
            connect_timeout: Some(self.request_timeout),
            tls,
            ..Default::default()
        })?;
        let url = env::push_url(&base);
        let config = SenderConfig {
            url: url.clone(),
            format,
            tenant,
            auth,
            batch_entries: self.batch_entries,
            batch_bytes: self.batch_bytes,
            interval: self.interval,
            request_timeout: self.request_timeout,
            backoff_min: self.backoff.0,
            backoff_max: self.backoff.1,
            max_retries: self.max_retries,
        };
        let shared = Arc::new(Shared::new(Queue::new(service.clone(), self.capacity, self.max_machines), config));
        am_core::exporter::register_stats("loki", &shared);
        am_core::exporter::spawn("am-loki-sender", self.handle, sender::run(shared.clone(), client))
            .map_err(Error::Runtime)?;
        let wake_at = self.batch_entries.min(self.capacity);
        Ok(LokiTracer(Arc::new(Inner {
            shared,
            url,
            service,
            inherit: self.inherit,
            states: self.states,
            wake_at,
            shutdown_timeout: self.shutdown_timeout,
        })))
    }
}
