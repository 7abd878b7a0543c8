//! Building the OTLP exporters of each signal for the enabled transports (gRPC, HTTP
//! protobuf, HTTP JSON), each running its exports on the pipeline's runtime.

use super::*;

/// One signal's exporter over the chosen transport: the three signals' OTLP builders
/// share no trait for `with_tonic` / `with_http`, so the match is written once here.
macro_rules! exporter {
    ($self:ident, $rt:ident, $builder:expr, $signal:literal) => {{
        let b = $builder;
        let built = match $self.protocol {
            #[cfg(feature = "grpc")]
            Protocol::Grpc => $self.grpc(b.with_tonic(), $signal)?.build(),
            #[cfg(feature = "http")]
            Protocol::HttpProtobuf => {
                $self.http(b.with_http(), opentelemetry_otlp::Protocol::HttpBinary, $signal)?.build()
            }
            #[cfg(feature = "http-json")]
            Protocol::HttpJson => $self.http(b.with_http(), opentelemetry_otlp::Protocol::HttpJson, $signal)?.build(),
            #[allow(unreachable_patterns)]
            p => return Err(Error::TransportDisabled(p.feature())),
        };
        built.map(|e| KeepRuntime::new(e, $rt)).map_err(|e| Error::Exporter(e.to_string()))
    }};
}

/// An exporter holding the [`ExportRuntime`] its exports run on.
#[derive(Debug)]
pub(super) struct KeepRuntime<E> {
    inner: E,
    _rt: Arc<ExportRuntime>,
}

impl<E> KeepRuntime<E> {
    fn new(inner: E, rt: &Arc<ExportRuntime>) -> Self {
        KeepRuntime { inner, _rt: rt.clone() }
    }
}

impl<E: SpanExporter> SpanExporter for KeepRuntime<E> {
    async fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) -> OTelSdkResult {
        self.inner.export(batch).await
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown()
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}

impl<E: LogExporter> LogExporter for KeepRuntime<E> {
    async fn export(&self, batch: opentelemetry_sdk::logs::LogBatch<'_>) -> OTelSdkResult {
        self.inner.export(batch).await
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown()
    }
    fn event_enabled(&self, level: opentelemetry::logs::Severity, target: &str, name: Option<&str>) -> bool {
        self.inner.event_enabled(level, target, name)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}

#[cfg(feature = "metrics")]
impl<E: opentelemetry_sdk::metrics::exporter::PushMetricExporter>
    opentelemetry_sdk::metrics::exporter::PushMetricExporter for KeepRuntime<E>
{
    async fn export(&self, metrics: &opentelemetry_sdk::metrics::data::ResourceMetrics) -> OTelSdkResult {
        self.inner.export(metrics).await
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown()
    }
    fn temporality(&self) -> opentelemetry_sdk::metrics::Temporality {
        self.inner.temporality()
    }
}

impl Export {
    /// Endpoint (with the signal's path for HTTP) and timeout, when given.
    fn configure<B: opentelemetry_otlp::WithExportConfig>(&self, mut b: B, signal: &str) -> B {
        if let Some(e) = &self.endpoint {
            b = b.with_endpoint(match self.protocol {
                Protocol::Grpc => e.clone(),
                Protocol::HttpProtobuf | Protocol::HttpJson => {
                    format!("{}/v1/{signal}", e.trim_end_matches('/'))
                }
            });
        }
        if let Some(t) = self.timeout {
            b = b.with_timeout(t);
        }
        b
    }

    fn policy(&self) -> opentelemetry_otlp::RetryPolicy {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        opentelemetry_otlp::RetryPolicy {
            max_retries: self.retry.max_retries,
            initial_delay_ms: ms(self.retry.initial_delay),
            max_delay_ms: ms(self.retry.max_delay),
            jitter_ms: ms(self.retry.jitter),
        }
    }

    /// The traces exporter's URL, for reports.
    pub(super) fn traces_url(&self) -> String {
        self.resolved_endpoint("traces")
    }

    /// The URL the signal's exporter will use: the builder's, else the signal's variable,
    /// else the generic one (with `/v1/<signal>` for HTTP), else the SDK's default.
    fn resolved_endpoint(&self, signal: &str) -> String {
        let http = !matches!(self.protocol, Protocol::Grpc);
        let base = |e: &str| if http { format!("{}/v1/{signal}", e.trim_end_matches('/')) } else { e.to_string() };
        if let Some(e) = &self.endpoint {
            return base(e);
        }
        if let Some(e) = am_core::env::value(env::signal_endpoint_var(signal)) {
            return e;
        }
        match am_core::env::value(env::OTEL_EXPORTER_OTLP_ENDPOINT) {
            Some(e) => base(&e),
            None if http => format!("http://localhost:4318/v1/{signal}"),
            None => "http://localhost:4317".into(),
        }
    }

    /// The signal's TLS settings: the builder's, else its variables; refused (naming the
    /// feature) for an `https://` endpoint in a build without TLS.
    fn tls_for(&self, signal: &str, endpoint: &str) -> Result<am_core::exporter::TlsSettings, Error> {
        let tls = match &self.tls {
            Some(t) => t.clone(),
            None => am_core::exporter::TlsSettings::from_env(&env::tls_vars(signal))?,
        };
        tls.check_available(Some(endpoint), "an https:// OTLP endpoint")?;
        Ok(tls)
    }

    #[cfg(feature = "grpc")]
    fn grpc<B: opentelemetry_otlp::WithExportConfig + opentelemetry_otlp::WithTonicConfig>(
        &self,
        b: B,
        signal: &str,
    ) -> Result<B, Error> {
        let endpoint = self.resolved_endpoint(signal);
        let tls = self.tls_for(signal, &endpoint)?;
        let b = self.configure(b, signal).with_retry_policy(self.policy());
        #[cfg(feature = "tls")]
        if endpoint.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://")) {
            return Ok(b.with_tls_config(grpc_tls(&tls)));
        }
        let _ = tls;
        Ok(b)
    }

    #[cfg(any(feature = "http", feature = "http-json"))]
    fn http<B: opentelemetry_otlp::WithExportConfig + opentelemetry_otlp::WithHttpConfig>(
        &self,
        b: B,
        protocol: opentelemetry_otlp::Protocol,
        signal: &str,
    ) -> Result<B, Error> {
        let endpoint = self.resolved_endpoint(signal);
        let tls = self.tls_for(signal, &endpoint)?;
        let b = self.configure(b, signal).with_protocol(protocol).with_retry_policy(self.policy());
        if tls.is_default() {
            // the SDK's own client: the system's roots (with `tls`), its timeout
            return Ok(b);
        }
        let timeout = self.timeout.or_else(env_timeout).unwrap_or(Duration::from_secs(10));
        let client = am_core::exporter::http::client(&am_core::exporter::http::HttpClientOptions {
            user_agent: concat!("am-otel/", env!("CARGO_PKG_VERSION")),
            timeout: Some(timeout),
            tls,
            ..Default::default()
        })?;
        Ok(b.with_http_client(client))
    }

    pub(super) fn span_exporter(
        &self,
        rt: &Arc<ExportRuntime>,
    ) -> Result<KeepRuntime<opentelemetry_otlp::SpanExporter>, Error> {
        exporter!(self, rt, opentelemetry_otlp::SpanExporter::builder(), "traces")
    }

    pub(super) fn log_exporter(
        &self,
        rt: &Arc<ExportRuntime>,
    ) -> Result<KeepRuntime<opentelemetry_otlp::LogExporter>, Error> {
        exporter!(self, rt, opentelemetry_otlp::LogExporter::builder(), "logs")
    }

    #[cfg(feature = "metrics")]
    pub(super) fn metric_exporter(
        &self,
        rt: &Arc<ExportRuntime>,
    ) -> Result<KeepRuntime<opentelemetry_otlp::MetricExporter>, Error> {
        exporter!(self, rt, opentelemetry_otlp::MetricExporter::builder(), "metrics")
    }
}

/// `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds), when set and valid.
#[cfg(any(feature = "http", feature = "http-json"))]
fn env_timeout() -> Option<Duration> {
    am_core::env::parse(env::OTEL_EXPORTER_OTLP_TIMEOUT, |v| am_core::env::parse_count(v, 1))
        .ok()
        .flatten()
        .map(Duration::from_millis)
}

/// tonic's TLS config from our settings: the system's roots (as every other exporter's
/// client), a CA of your own on top, the client certificate; HTTP/2 assumed when a proxy
/// does not negotiate it.
#[cfg(all(feature = "grpc", feature = "tls"))]
fn grpc_tls(tls: &am_core::exporter::TlsSettings) -> opentelemetry_otlp::tonic_types::transport::ClientTlsConfig {
    use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig, Identity};
    let mut c = ClientTlsConfig::new().with_native_roots().assume_http2(true);
    if let Some(ca) = &tls.ca_pem {
        c = c.ca_certificate(Certificate::from_pem(ca));
    }
    if let Some((cert, key)) = &tls.identity_pem {
        c = c.identity(Identity::from_pem(cert, key));
    }
    c
}
