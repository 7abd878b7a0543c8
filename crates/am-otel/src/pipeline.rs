//! [`OtlpPipeline`]: OTLP exporters, batch processors and providers, with their own export
//! runtime, so machines driven from plain threads (no tokio) are traced the same way.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
#[cfg(feature = "http")] // `with_protocol`
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{BatchLogProcessor, SdkLoggerProvider};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider, SpanExporter};

use crate::env;
use crate::error::Error;
use crate::logs::OtelLogTracer;
use crate::options::OtelTracerBuilder;
use crate::stats::{CountingExporter, RtLogExporter, SpanCounter, SpanGate, SpanStats};

/// The semconv schema the resource claims (as the Go exporter).
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.25.0";
/// Go-parity batch delay, used when neither the builder nor `OTEL_BSP_SCHEDULE_DELAY` sets one.
pub const DEFAULT_BATCH_DELAY: Duration = Duration::from_millis(100);
/// Go-parity batch size, used when neither the builder nor `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` sets one.
pub const DEFAULT_BATCH_SIZE: usize = 50;
/// SDK default queue size.
pub const DEFAULT_QUEUE_SIZE: usize = 2048;

/// OTLP transport.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// gRPC (tonic), default port 4317. Feature `grpc`.
    Grpc,
    /// HTTP with protobuf bodies, default port 4318. Feature `http`.
    HttpProtobuf,
}

impl Protocol {
    /// Parses `grpc` or `http/protobuf`.
    pub fn parse(s: &str) -> Result<Protocol, Error> {
        match s.trim() {
            "grpc" => Ok(Protocol::Grpc),
            "http/protobuf" | "http" => Ok(Protocol::HttpProtobuf),
            other => Err(Error::Protocol(other.to_string())),
        }
    }
}

/// Builds an [`OtlpPipeline`]. Unset options fall back to the standard `OTEL_*` variables,
/// then to the Go-parity defaults.
#[derive(Debug, Default)]
pub struct OtlpPipelineBuilder {
    service: Option<String>,
    endpoint: Option<String>,
    protocol: Option<Protocol>,
    timeout: Option<Duration>,
    batch_delay: Option<Duration>,
    batch_size: Option<usize>,
    queue_size: Option<usize>,
    logs: Option<bool>,
    #[cfg(feature = "metrics")]
    metrics: Option<Duration>,
}

fn resource(service: &str) -> Resource {
    // schema URL first: `with_schema_url` gives the builder's attributes precedence
    Resource::builder().with_schema_url([], SCHEMA_URL).with_service_name(service.to_string()).build()
}

impl OtlpPipelineBuilder {
    /// `service.name` (else `AM_SERVICE`, else `OTEL_SERVICE_NAME`; required).
    pub fn service(mut self, s: impl Into<String>) -> Self {
        self.service = Some(s.into());
        self
    }
    /// Collector address. gRPC: used as is (`http://127.0.0.1:4317`); HTTP: a base URL to
    /// which `/v1/traces`, `/v1/logs`, `/v1/metrics` are appended. Default: the
    /// `OTEL_EXPORTER_OTLP_*ENDPOINT` variables, else `localhost:4317` / `:4318`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }
    /// Transport (else `OTEL_EXPORTER_OTLP_PROTOCOL`, else gRPC).
    pub fn protocol(mut self, p: Protocol) -> Self {
        self.protocol = Some(p);
        self
    }
    /// Export request timeout (else `OTEL_EXPORTER_OTLP_TIMEOUT`, else 10 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }
    /// Batch delay (else `OTEL_BSP_SCHEDULE_DELAY`, else 100 ms).
    pub fn batch_delay(mut self, d: Duration) -> Self {
        self.batch_delay = Some(d);
        self
    }
    /// Spans per export (else `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, else 50).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = Some(n.max(1));
        self
    }
    /// Spans waiting for export at most; more are dropped and counted (else
    /// `OTEL_BSP_MAX_QUEUE_SIZE`, else 2,048).
    pub fn queue_size(mut self, n: usize) -> Self {
        self.queue_size = Some(n.max(1));
        self
    }
    /// Also export logs (else `AM_OTEL_LOG`); see [`OtlpPipeline::log_tracer`].
    pub fn logs(mut self, on: bool) -> Self {
        self.logs = Some(on);
        self
    }
    /// Also export metrics every `interval` (feature `metrics`); see
    /// [`OtlpPipeline::metrics_tracer`].
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, interval: Duration) -> Self {
        self.metrics = Some(interval);
        self
    }

    fn batch_config(&self) -> (opentelemetry_sdk::trace::BatchConfig, usize) {
        let set = |name| am_core::env::value(name).is_some();
        let mut b = BatchConfigBuilder::default();
        if let Some(d) = self.batch_delay.or((!set(env::OTEL_BSP_SCHEDULE_DELAY)).then_some(DEFAULT_BATCH_DELAY)) {
            b = b.with_scheduled_delay(d);
        }
        if let Some(n) = self.batch_size.or((!set(env::OTEL_BSP_MAX_EXPORT_BATCH_SIZE)).then_some(DEFAULT_BATCH_SIZE)) {
            b = b.with_max_export_batch_size(n);
        }
        let queue =
            self.queue_size.or_else(|| env::number(env::OTEL_BSP_MAX_QUEUE_SIZE)).unwrap_or(DEFAULT_QUEUE_SIZE).max(1);
        (b.with_max_queue_size(queue).build(), queue)
    }

    /// Starts the export runtime and builds the exporters and providers. Works inside or
    /// outside a tokio runtime. Nothing connects yet: an absent collector shows up as
    /// failed exports in [`OtlpPipeline::span_stats`].
    pub fn build(self) -> Result<OtlpPipeline, Error> {
        let service = self.service.clone().or_else(env::service_name).ok_or(Error::NoService)?;
        let protocol = match self.protocol {
            Some(p) => p,
            None => match am_core::env::value(env::OTEL_EXPORTER_OTLP_PROTOCOL) {
                Some(v) => Protocol::parse(&v)?,
                None => Protocol::Grpc,
            },
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("am-otel-export")
            .enable_all()
            .build()?;
        let _enter = rt.enter();
        let ep = |signal: &str| {
            self.endpoint.as_ref().map(|e| match protocol {
                Protocol::Grpc => e.clone(),
                Protocol::HttpProtobuf => format!("{}/v1/{signal}", e.trim_end_matches('/')),
            })
        };
        let span_exporter = transport::span_exporter(protocol, ep("traces"), self.timeout)?;
        let (cfg, queue) = self.batch_config();
        let mut pipeline = OtlpPipeline::assemble(span_exporter, Some(rt.handle().clone()), &service, cfg, queue);
        if self.logs.unwrap_or_else(|| am_core::env::is_on(env::AM_OTEL_LOG)) {
            let exporter = transport::log_exporter(protocol, ep("logs"), self.timeout)?;
            let rtx = RtLogExporter { inner: exporter, rt: rt.handle().clone() };
            let logs = SdkLoggerProvider::builder()
                .with_log_processor(BatchLogProcessor::builder(rtx).build())
                .with_resource(resource(&service))
                .build();
            pipeline.logs = Some(logs);
        }
        #[cfg(feature = "metrics")]
        if let Some(interval) =
            self.metrics.or_else(|| am_core::env::is_on(env::AM_OTEL_METRICS).then_some(Duration::from_secs(10)))
        {
            let exporter = transport::metric_exporter(protocol, ep("metrics"), self.timeout)?;
            pipeline.meters =
                Some(crate::metrics::meter_provider(exporter, rt.handle().clone(), interval, resource(&service)));
        }
        drop(_enter);
        pipeline.rt = Some(rt);
        Ok(pipeline)
    }
}

/// Exporters, batch processors and providers for one service, with the runtime their
/// exports run on. Keep it alive while machines are traced; dropping it (or
/// [`shutdown`](Self::shutdown)) flushes within the timeout and stops exporting.
///
/// ```
/// use am_otel::OtlpPipeline;
/// use std::time::Duration;
/// // nothing listens there: exports fail and are counted, the machine never notices
/// let p = OtlpPipeline::builder().service("demo").endpoint("http://127.0.0.1:9").build()?;
/// let tracer = p.tracer_builder().transitions(true).build()?;
/// # drop(tracer);
/// p.shutdown(Duration::from_secs(1));
/// # Ok::<(), am_otel::Error>(())
/// ```
#[derive(Debug)]
pub struct OtlpPipeline {
    service: String,
    traces: SdkTracerProvider,
    counter: SpanCounter,
    logs: Option<SdkLoggerProvider>,
    #[cfg(feature = "metrics")]
    meters: Option<opentelemetry_sdk::metrics::SdkMeterProvider>,
    rt: Option<tokio::runtime::Runtime>,
    shutdown_timeout: Duration,
    stopped: bool,
}

impl OtlpPipeline {
    /// A builder.
    pub fn builder() -> OtlpPipelineBuilder {
        OtlpPipelineBuilder::default()
    }

    /// A pipeline exporting spans to `exporter` (an in-process exporter, for tests and
    /// benches) through the same gate and batch processor as OTLP.
    pub fn with_exporter<E: SpanExporter + 'static>(exporter: E, service: &str) -> OtlpPipeline {
        let (cfg, queue) = OtlpPipelineBuilder::default().batch_config();
        Self::assemble(exporter, None, service, cfg, queue)
    }

    fn assemble<E: SpanExporter + 'static>(
        exporter: E,
        rt: Option<tokio::runtime::Handle>,
        service: &str,
        cfg: opentelemetry_sdk::trace::BatchConfig,
        queue: usize,
    ) -> OtlpPipeline {
        let counter = SpanCounter::default();
        let bsp = BatchSpanProcessor::new(CountingExporter::new(exporter, counter.clone(), rt), cfg);
        let traces = SdkTracerProvider::builder()
            .with_span_processor(SpanGate::new(bsp, counter.clone(), queue))
            .with_id_generator(crate::AmIdGenerator::default())
            .with_resource(resource(service))
            .build();
        OtlpPipeline {
            service: service.to_string(),
            traces,
            counter,
            logs: None,
            #[cfg(feature = "metrics")]
            meters: None,
            rt: None,
            shutdown_timeout: Duration::from_secs(5),
            stopped: false,
        }
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.service
    }
    /// The tracer provider (e.g. to install as the global one, or for `tracing-opentelemetry`).
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.traces
    }
    /// Installs the tracer provider as the process-global one and W3C TraceContext as the
    /// global propagator (what the Go exporter does on setup), for code using
    /// `opentelemetry::global`.
    pub fn install_global(&self) {
        opentelemetry::global::set_tracer_provider(self.traces.clone());
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    }
    /// The logger provider, when logs are on.
    pub fn logger_provider(&self) -> Option<&SdkLoggerProvider> {
        self.logs.as_ref()
    }
    /// An SDK tracer whose instrumentation scope is the service name (as Go).
    pub fn sdk_tracer(&self) -> SdkTracer {
        self.traces.tracer(intern(&self.service))
    }
    /// A machine tracer builder over this pipeline, shutting it down when the last
    /// top-level machine is disposed.
    pub fn tracer_builder(&self) -> OtelTracerBuilder {
        let mut b = OtelTracerBuilder::new(self.sdk_tracer())
            .provider(self.traces.clone())
            .shutdown_on_dispose(self.shutdown_timeout);
        b.counter = Some(self.counter.clone());
        b
    }
    /// A tracer exporting machine log entries as OTel log records; `None` unless logs are on.
    pub fn log_tracer(&self) -> Option<OtelLogTracer> {
        self.logs.as_ref().map(|p| OtelLogTracer::new(p, &self.service))
    }
    /// A tracer recording machine metrics; `None` unless metrics are on.
    #[cfg(feature = "metrics")]
    pub fn metrics_tracer(&self) -> Option<crate::OtelMetricsTracer> {
        self.meters.as_ref().map(crate::OtelMetricsTracer::new)
    }
    /// Span counts: ended, exported, failed, dropped (queue full), discarded, queued.
    pub fn span_stats(&self) -> SpanStats {
        self.counter.stats()
    }
    /// A handle to the span counts.
    pub fn span_counter(&self) -> SpanCounter {
        self.counter.clone()
    }
    /// Builds the spans tracers over this pipeline have buffered, then exports what is
    /// queued (bounded by the SDK's flush timeout).
    pub fn force_flush(&self) -> bool {
        let logs = self.logs.as_ref().is_none_or(|l| l.force_flush().is_ok());
        self.traces.force_flush().is_ok() && logs
    }
    /// Flushes and shuts every provider down within `timeout`, then stops the runtime.
    pub fn shutdown(mut self, timeout: Duration) -> bool {
        self.shutdown_timeout = timeout;
        self.stop()
    }

    fn stop(&mut self) -> bool {
        self.stopped = true;
        // tracers' buffered records become spans while the provider still takes them
        self.counter.drain_tracers();
        let t = self.shutdown_timeout;
        let mut ok = !matches!(self.traces.shutdown_with_timeout(t), Err(e) if !matches!(e, opentelemetry_sdk::error::OTelSdkError::AlreadyShutdown));
        if let Some(l) = &self.logs {
            ok &= l.shutdown_with_timeout(t).is_ok();
        }
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.meters {
            ok &= m.shutdown_with_timeout(t).is_ok();
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
        ok
    }
}

impl Drop for OtlpPipeline {
    fn drop(&mut self) {
        if !self.stopped {
            self.stop();
        }
    }
}

/// The SDK clones the scope name into every exported span: a `'static` name makes that
/// clone free. Names are interned, so memory grows only with distinct service names.
fn intern(name: &str) -> &'static str {
    static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut g = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = g.iter().find(|n| **n == name) {
        return n;
    }
    let n: &'static str = Box::leak(name.to_owned().into_boxed_str());
    g.push(n);
    n
}

mod transport {
    use super::*;

    /// Endpoint and timeout, when given, on any signal's OTLP exporter builder.
    #[allow(dead_code)] // unused when both transport features are off
    fn configure<B: opentelemetry_otlp::WithExportConfig>(
        mut b: B,
        ep: Option<String>,
        timeout: Option<Duration>,
    ) -> B {
        if let Some(e) = ep {
            b = b.with_endpoint(e);
        }
        if let Some(t) = timeout {
            b = b.with_timeout(t);
        }
        b
    }

    #[allow(unused_variables)]
    pub(super) fn span_exporter(
        p: Protocol,
        ep: Option<String>,
        timeout: Option<Duration>,
    ) -> Result<opentelemetry_otlp::SpanExporter, Error> {
        let b = opentelemetry_otlp::SpanExporter::builder();
        match p {
            #[cfg(feature = "grpc")]
            Protocol::Grpc => {
                let b = configure(b.with_tonic(), ep, timeout);
                b.build().map_err(|e| Error::Exporter(e.to_string()))
            }
            #[cfg(feature = "http")]
            Protocol::HttpProtobuf => {
                let b = configure(b.with_http().with_protocol(opentelemetry_otlp::Protocol::HttpBinary), ep, timeout);
                b.build().map_err(|e| Error::Exporter(e.to_string()))
            }
            #[allow(unreachable_patterns)]
            Protocol::Grpc => Err(Error::TransportDisabled("grpc")),
            #[allow(unreachable_patterns)]
            Protocol::HttpProtobuf => Err(Error::TransportDisabled("http")),
        }
    }

    #[allow(unused_variables)]
    pub(super) fn log_exporter(
        p: Protocol,
        ep: Option<String>,
        timeout: Option<Duration>,
    ) -> Result<opentelemetry_otlp::LogExporter, Error> {
        let b = opentelemetry_otlp::LogExporter::builder();
        match p {
            #[cfg(feature = "grpc")]
            Protocol::Grpc => {
                let b = configure(b.with_tonic(), ep, timeout);
                b.build().map_err(|e| Error::Exporter(e.to_string()))
            }
            #[cfg(feature = "http")]
            Protocol::HttpProtobuf => {
                let b = configure(b.with_http().with_protocol(opentelemetry_otlp::Protocol::HttpBinary), ep, timeout);
                b.build().map_err(|e| Error::Exporter(e.to_string()))
            }
            #[allow(unreachable_patterns)]
            Protocol::Grpc => Err(Error::TransportDisabled("grpc")),
            #[allow(unreachable_patterns)]
            Protocol::HttpProtobuf => Err(Error::TransportDisabled("http")),
        }
    }

    #[cfg(feature = "metrics")]
    #[allow(unused_variables)]
    pub(super) fn metric_exporter(
        p: Protocol,
        ep: Option<String>,
        timeout: Option<Duration>,
    ) -> Result<opentelemetry_otlp::MetricExporter, Error> {
        let b = opentelemetry_otlp::MetricExporter::builder();
        match p {
            #[cfg(feature = "grpc")]
            Protocol::Grpc => {
                let b = configure(b.with_tonic(), ep, timeout);
                b.build().map_err(|e| Error::Exporter(e.to_string()))
            }
            #[cfg(feature = "http")]
            Protocol::HttpProtobuf => {
                let b = configure(b.with_http().with_protocol(opentelemetry_otlp::Protocol::HttpBinary), ep, timeout);
                b.build().map_err(|e| Error::Exporter(e.to_string()))
            }
            #[allow(unreachable_patterns)]
            Protocol::Grpc => Err(Error::TransportDisabled("grpc")),
            #[allow(unreachable_patterns)]
            Protocol::HttpProtobuf => Err(Error::TransportDisabled("http")),
        }
    }
}
