//! [`OtlpPipeline`]: OTLP exporters, batch processors and providers, with their own export
//! runtime, so machines driven from plain threads (no tokio) are traced the same way.

use am_core::exporter::Unpoison;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{BatchLogProcessor, LogExporter, SdkLoggerProvider};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider, SpanExporter};

use crate::direct::{DirectQueue, SharedExporter};
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
/// Spans the batch processor holds for export, used when neither the builder nor
/// `OTEL_BSP_MAX_QUEUE_SIZE` sets one. Four times the SDK's 2,048: with Go's batch size of
/// 50, a machine making 100,000 transitions a second with transition spans fills 2,048 in
/// about 14 ms, so a batch thread that misses a few time slices dropped spans. The queue is
/// allocated up front (about 3 MiB).
pub const DEFAULT_QUEUE_SIZE: usize = 8192;

/// OTLP transport. Every variant exists in every build; building a pipeline for one whose
/// cargo feature is off fails with [`Error::TransportDisabled`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// gRPC (tonic), default port 4317. Feature `grpc` (default).
    Grpc,
    /// HTTP with protobuf bodies, default port 4318. Feature `http`.
    HttpProtobuf,
    /// HTTP with JSON bodies (the OTLP/JSON encoding), default port 4318. Feature `http-json`.
    HttpJson,
}

impl Protocol {
    /// Parses an `OTEL_EXPORTER_OTLP_PROTOCOL` value: `grpc`, `http/protobuf` (or `http`) or
    /// `http/json`.
    ///
    /// ```
    /// use am_otel::Protocol;
    /// assert_eq!(Protocol::parse("http/json")?, Protocol::HttpJson);
    /// assert!(Protocol::parse("thrift").is_err());
    /// # Ok::<(), am_otel::Error>(())
    /// ```
    pub fn parse(s: &str) -> Result<Protocol, Error> {
        match s.trim() {
            "grpc" => Ok(Protocol::Grpc),
            "http/protobuf" | "http" => Ok(Protocol::HttpProtobuf),
            "http/json" => Ok(Protocol::HttpJson),
            other => Err(Error::Protocol(other.to_string())),
        }
    }

    /// The `OTEL_EXPORTER_OTLP_PROTOCOL` spelling.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }

    /// The cargo feature of am-otel that compiles this transport in.
    fn feature(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http",
            Protocol::HttpJson => "http-json",
        }
    }
}

/// How a failed export is retried: exponential backoff with jitter, by the OTLP exporter of
/// every signal (spans, logs, metrics) and every transport.
///
/// gRPC (as the OTLP specification says): retried are `UNAVAILABLE`, `CANCELLED`,
/// `DEADLINE_EXCEEDED` (the request timed out), `ABORTED`, `OUT_OF_RANGE`, `DATA_LOSS` and
/// connection errors (collector down); `RESOURCE_EXHAUSTED` only when the collector attaches
/// `RetryInfo`, whose delay then replaces the backoff delay for that retry, even beyond
/// [`max_delay`](Self::max_delay) (opentelemetry-otlp caps it at 10 minutes; it still counts
/// against [`max_retries`](Self::max_retries)). Other codes are not retried.
///
/// HTTP (`http/protobuf`, `http/json`): opentelemetry-otlp 0.32's HTTP client reports every
/// non-2xx answer as a transport error, so every failed request is retried with the backoff
/// whatever its status (a 400 too, where the OTLP specification retries only 429, 502, 503
/// and 504), and `Retry-After` is not honoured; connection errors are retried as well. Fixed
/// upstream after 0.32 (opentelemetry-rust pull requests 3627 and 3632).
///
/// Each attempt is bounded by the export timeout, so one batch can take up to
/// `(max_retries + 1) × timeout` plus the delays. Meanwhile new spans wait in the bounded
/// queue and beyond it are dropped and counted ([`SpanStats`]); a batch that still fails
/// counts as [`failed`](SpanStats::failed).
///
/// There is no standard environment variable for retries (neither the OTel specification
/// nor the Go exporter define one), so it is set on the builder only.
///
/// ```
/// use am_otel::{OtlpPipeline, Retry};
/// use std::time::Duration;
///
/// assert_eq!(Retry::default(), Retry::DEFAULT);
/// assert_eq!(Retry::DEFAULT.max_retries(), 3);
/// // up to 5 retries, after 50 ms, 100 ms, 200 ms, 200 ms, 200 ms (plus up to 20 ms jitter)
/// let retry = Retry::new(5, Duration::from_millis(50), Duration::from_millis(200))
///     .with_jitter(Duration::from_millis(20));
/// let p = OtlpPipeline::builder().service("demo").endpoint("http://127.0.0.1:9").retry(retry);
/// # drop(p);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    max_retries: usize,
    initial_delay: Duration,
    max_delay: Duration,
    jitter: Duration,
}

impl Retry {
    /// opentelemetry-otlp's own default: 3 retries (4 attempts), the first after 100 ms,
    /// doubling up to 1.6 s, each delay plus up to 100 ms of jitter: 0.7 to 1 s of waiting
    /// (plus the attempts themselves) before a batch counts as failed.
    pub const DEFAULT: Retry = Retry {
        max_retries: 3,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(1600),
        jitter: Duration::from_millis(100),
    };
    /// No retries: a failed export counts as failed at once.
    pub const NONE: Retry = Retry { max_retries: 0, ..Retry::DEFAULT };

    /// Up to `max_retries` retries after the first attempt. The first waits `initial_delay`,
    /// each next one twice as long as the one before, and none longer than `max_delay`
    /// (jitter included; raised to `initial_delay` if lower). Jitter as in
    /// [`DEFAULT`](Self::DEFAULT) (100 ms) unless set with [`with_jitter`](Self::with_jitter).
    /// Delays have millisecond resolution.
    pub const fn new(max_retries: usize, initial_delay: Duration, max_delay: Duration) -> Retry {
        let max_delay = if max_delay.as_nanos() < initial_delay.as_nanos() { initial_delay } else { max_delay };
        Retry { max_retries, initial_delay, max_delay, jitter: Retry::DEFAULT.jitter }
    }
    /// At most `jitter` of random time added to each backoff delay (zero: none).
    pub const fn with_jitter(mut self, jitter: Duration) -> Retry {
        self.jitter = jitter;
        self
    }
    /// Retries after the first attempt.
    pub const fn max_retries(&self) -> usize {
        self.max_retries
    }
    /// Delay before the first retry.
    pub const fn initial_delay(&self) -> Duration {
        self.initial_delay
    }
    /// Longest backoff delay, jitter included.
    pub const fn max_delay(&self) -> Duration {
        self.max_delay
    }
    /// Most random time added to a backoff delay.
    pub const fn jitter(&self) -> Duration {
        self.jitter
    }
}

impl Default for Retry {
    /// [`Retry::DEFAULT`].
    fn default() -> Self {
        Retry::DEFAULT
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
    retry: Retry,
    batch_delay: Option<Duration>,
    batch_size: Option<usize>,
    queue_size: Option<usize>,
    logs: Option<bool>,
    #[cfg(feature = "metrics")]
    metrics: Option<Duration>,
    tls: Option<am_core::exporter::TlsSettings>,
}

fn resource(service: &str) -> Resource {
    // schema URL first: `with_schema_url` gives the builder's attributes precedence
    Resource::builder().with_schema_url([], SCHEMA_URL).with_service_name(service.to_string()).build()
}

impl OtlpPipelineBuilder {
    /// `service.name` (else [`am_core::env::service`]: `AM_SERVICE`, `OTEL_SERVICE_NAME`, the
    /// executable's name).
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
    /// What the TLS client trusts and presents, for every signal: a CA of your own, a client
    /// certificate. Default: the standard `OTEL_EXPORTER_OTLP_[SIGNAL_]CERTIFICATE`,
    /// `..._CLIENT_CERTIFICATE`, `..._CLIENT_KEY` variables, else the system's roots. Used
    /// for `https://` endpoints; needs the `tls` feature.
    pub fn tls(mut self, tls: am_core::exporter::TlsSettings) -> Self {
        self.tls = Some(tls);
        self
    }
    /// Transport (else `OTEL_EXPORTER_OTLP_PROTOCOL`, else gRPC).
    pub fn protocol(mut self, p: Protocol) -> Self {
        self.protocol = Some(p);
        self
    }
    /// Export request timeout (else `OTEL_EXPORTER_OTLP_TIMEOUT`, else 10 s), per attempt.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }
    /// How failed exports of spans, logs and metrics are retried (default
    /// [`Retry::DEFAULT`]: 3 retries after 100 ms, 200 ms, 400 ms plus jitter;
    /// [`Retry::NONE`] turns retries off).
    pub fn retry(mut self, r: Retry) -> Self {
        self.retry = r;
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
    /// `OTEL_BSP_MAX_QUEUE_SIZE`, else [`DEFAULT_QUEUE_SIZE`]).
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

    fn batch_config(&self) -> Batching {
        let set = |name| am_core::env::value(name).is_some();
        let env_num = |name| am_core::env::value(name).and_then(|v| v.trim().parse::<u64>().ok());
        let mut b = BatchConfigBuilder::default();
        if let Some(d) = self.batch_delay.or((!set(env::OTEL_BSP_SCHEDULE_DELAY)).then_some(DEFAULT_BATCH_DELAY)) {
            b = b.with_scheduled_delay(d);
        }
        if let Some(n) = self.batch_size.or((!set(env::OTEL_BSP_MAX_EXPORT_BATCH_SIZE)).then_some(DEFAULT_BATCH_SIZE)) {
            b = b.with_max_export_batch_size(n);
        }
        let from_env =
            || am_core::env::parse(env::OTEL_BSP_MAX_QUEUE_SIZE, |v| am_core::env::parse_count(v, 1)).ok().flatten();
        let queue = self.queue_size.or_else(|| from_env().map(|n| n as usize)).unwrap_or(DEFAULT_QUEUE_SIZE).max(1);
        // what the SDK's builder makes of the same settings, for the pipeline's own queue
        let delay = self
            .batch_delay
            .or_else(|| env_num(env::OTEL_BSP_SCHEDULE_DELAY).map(Duration::from_millis))
            .unwrap_or(DEFAULT_BATCH_DELAY);
        let size = self
            .batch_size
            .or_else(|| env_num(env::OTEL_BSP_MAX_EXPORT_BATCH_SIZE).map(|n| n as usize))
            .unwrap_or(DEFAULT_BATCH_SIZE)
            .clamp(1, queue);
        Batching { config: b.with_max_queue_size(queue).build(), queue, size, delay }
    }

    /// Starts the export runtime and builds the exporters and providers. Works inside or
    /// outside a tokio runtime. Nothing connects yet: an absent collector shows up as
    /// failed exports in [`OtlpPipeline::span_stats`].
    pub fn build(self) -> Result<OtlpPipeline, Error> {
        let service = self.service.clone().unwrap_or_else(|| am_core::env::service().name);
        let protocol = match self.protocol {
            Some(p) => p,
            None => am_core::env::parse(env::OTEL_EXPORTER_OTLP_PROTOCOL, |v| {
                Protocol::parse(v).map_err(|e| e.to_string())
            })?
            .unwrap_or(Protocol::Grpc),
        };
        let endpoint = match &self.endpoint {
            Some(e) => Some(env::parse_endpoint(e).map_err(|reason| {
                Error::Env(am_core::env::EnvError::new("OtlpPipelineBuilder::endpoint", e, reason))
            })?),
            None => None,
        };
        let rt = Arc::new(ExportRuntime::start("am-otel-export")?);
        let handle = rt.handle().clone();
        let _enter = handle.enter();
        let export = Export { protocol, endpoint, timeout: self.timeout, retry: self.retry, tls: self.tls.clone() };
        let span_exporter = export.span_exporter(&rt)?;
        let mut pipeline = OtlpPipeline::assemble(span_exporter, Some(handle.clone()), &service, self.batch_config());
        if self.logs.unwrap_or_else(|| am_core::env::is_on(env::AM_OTEL_LOG)) {
            let exporter = export.log_exporter(&rt)?;
            let rtx = RtLogExporter { inner: exporter, rt: handle.clone() };
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
            let exporter = export.metric_exporter(&rt)?;
            pipeline.meters =
                Some(crate::metrics::meter_provider(exporter, handle.clone(), interval, resource(&service)));
        }
        drop(_enter);
        pipeline.rt = Some(rt);
        let mut signals = vec!["traces"];
        if pipeline.logs.is_some() {
            signals.push("logs");
        }
        #[cfg(feature = "metrics")]
        if pipeline.meters.is_some() {
            signals.push("metrics");
        }
        pipeline.destination = format!("{} {} ({})", protocol.name(), export.traces_url(), signals.join(", "));
        Ok(pipeline)
    }
}

/// The batch settings: the SDK's config for the provider's batch processor, and the same
/// values for the pipeline's own queue.
struct Batching {
    config: opentelemetry_sdk::trace::BatchConfig,
    queue: usize,
    size: usize,
    delay: Duration,
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
    /// The machine tracers' export queue (`None` when its thread could not start: they then
    /// build SDK spans).
    direct: Option<Arc<DirectQueue>>,
    logs: Option<SdkLoggerProvider>,
    #[cfg(feature = "metrics")]
    meters: Option<opentelemetry_sdk::metrics::SdkMeterProvider>,
    rt: Option<Arc<ExportRuntime>>,
    shutdown_timeout: Duration,
    stopped: bool,
    /// Where it exports, for reports.
    destination: String,
}

impl OtlpPipeline {
    /// A builder.
    pub fn builder() -> OtlpPipelineBuilder {
        OtlpPipelineBuilder::default()
    }

    /// A pipeline exporting spans to `exporter` (an in-process exporter, for tests and
    /// benches) through the same gate and batch processor as OTLP.
    pub fn with_exporter<E: SpanExporter + 'static>(exporter: E, service: &str) -> OtlpPipeline {
        Self::assemble(exporter, None, service, OtlpPipelineBuilder::default().batch_config())
    }

    fn assemble<E: SpanExporter + 'static>(
        mut exporter: E,
        rt: Option<tokio::runtime::Handle>,
        service: &str,
        batching: Batching,
    ) -> OtlpPipeline {
        let Batching { config: cfg, queue, size, delay } = batching;
        let counter = SpanCounter::default();
        counter.0.limit.store(queue as u64, std::sync::atomic::Ordering::Relaxed);
        // one exporter for the provider's batch processor (spans of the application's SDK
        // tracers) and the pipeline's own queue (the machine tracers' spans)
        exporter.set_resource(&resource(service));
        let shared = SharedExporter { inner: Arc::new(exporter), rt: rt.clone() };
        let direct = DirectQueue::start(Box::new(shared.clone()), counter.clone(), size, delay).ok();
        let bsp = BatchSpanProcessor::new(CountingExporter::new(shared, counter.clone(), rt), cfg);
        let mut gate = SpanGate::new(bsp, counter.clone(), queue);
        gate.direct = direct.clone();
        let traces = SdkTracerProvider::builder()
            .with_span_processor(gate)
            .with_id_generator(crate::AmIdGenerator::default())
            .with_resource(resource(service))
            .build();
        OtlpPipeline {
            service: service.to_string(),
            traces,
            counter,
            direct,
            logs: None,
            #[cfg(feature = "metrics")]
            meters: None,
            rt: None,
            shutdown_timeout: Duration::from_secs(5),
            stopped: false,
            destination: "an exporter of the process".into(),
        }
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.service
    }
    /// Where it exports, for people: the transport, the traces URL and the signals, e.g.
    /// `grpc http://localhost:4317 (traces, logs)`.
    pub fn destination(&self) -> &str {
        &self.destination
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
        b.direct = self.direct();
        b
    }

    /// The pipeline's own export queue and scope name, for a tracer built over it.
    pub(crate) fn direct(&self) -> Option<(Arc<DirectQueue>, &'static str)> {
        self.direct.clone().map(|q| (q, intern(&self.service)))
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
    /// queued (bounded by the SDK's flush timeout), and reports what happened to every span
    /// so far ([`Delivery::complete`](am_core::Delivery::complete) when all reached the
    /// collector; a flush that finished while every export failed is not).
    pub fn force_flush(&self) -> am_core::Delivery {
        let in_time = self.flusher()();
        self.counter.stats().delivery(in_time)
    }

    /// [`force_flush`](Self::force_flush) as a closure over the providers, to run without
    /// holding whatever holds the pipeline; true when it finished: the SDK said so, or it
    /// reported an error (a failed export, a timeout) and no span is left waiting — a failed
    /// export is in the counts, not here.
    pub(crate) fn flusher(&self) -> impl FnOnce() -> bool + Send + 'static {
        let (traces, logs, counter) = (self.traces.clone(), self.logs.clone(), self.counter.clone());
        move || {
            let logs = logs.as_ref().is_none_or(|l| l.force_flush().is_ok());
            (traces.force_flush().is_ok() && logs) || counter.stats().queued == 0
        }
    }
    /// Flushes and shuts every provider down within `timeout`, then stops the runtime, and
    /// reports what happened to every span (`pending`: still queued when it gave up).
    pub fn shutdown(mut self, timeout: Duration) -> am_core::Delivery {
        self.shutdown_timeout = timeout;
        let in_time = self.stop();
        self.counter.stats().delivery(in_time)
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
        // the SDK reports failed exports and timeouts alike (wrapped per processor): what
        // counts is whether a span is still waiting; the failures are in the counts
        ok |= self.counter.stats().queued == 0;
        // the runtime stops once no exporter uses it any more (see `ExportRuntime`)
        self.rt = None;
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
    let mut g = NAMES.lock().unpoison();
    if let Some(n) = g.iter().find(|n| **n == name) {
        return n;
    }
    let n: &'static str = Box::leak(name.to_owned().into_boxed_str());
    g.push(n);
    n
}

/// The pipeline's export runtime ([`OwnedRuntime`](am_core::exporter::OwnedRuntime), one
/// worker named `am-otel-export`). The pipeline and each exporter hold it; the last one
/// dropped shuts it down, in the background (so that works in async code as well). An export
/// still retrying when `shutdown` stops waiting thus keeps its timers (which would panic on
/// a shut-down runtime) until the SDK's batch thread is done with it.
type ExportRuntime = am_core::exporter::OwnedRuntime;

/// What every signal's OTLP exporter is built with.
// without any transport feature only `protocol` is read (to name the missing feature)
#[cfg_attr(not(any(feature = "grpc", feature = "http", feature = "http-json")), allow(dead_code))]
struct Export {
    protocol: Protocol,
    /// gRPC: the collector address; HTTP: the base URL of `/v1/<signal>`.
    endpoint: Option<String>,
    timeout: Option<Duration>,
    retry: Retry,
    /// The builder's TLS settings (else each signal's variables).
    tls: Option<am_core::exporter::TlsSettings>,
}

/// The OTLP exporters of the transports compiled in.
#[cfg(any(feature = "grpc", feature = "http", feature = "http-json"))]
mod transport;
#[cfg(not(any(feature = "grpc", feature = "http", feature = "http-json")))]
#[path = "transport_off.rs"]
mod transport;
