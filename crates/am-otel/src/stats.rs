//! Span accounting in front of the SDK's batch processor, and the exporter wrapper that runs
//! exports on the pipeline's own tokio runtime.
//!
//! The SDK's `BatchSpanProcessor` drops spans silently when its queue is full (its counter
//! is private). [`SpanGate`] keeps its own bounded count of spans handed over and not yet
//! exported, drops (and counts) beyond that bound itself, so the SDK queue never overflows
//! and every span is accounted for: `ended = exported + failed + dropped + queued`.

use am_core::exporter::Unpoison;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

/// Attribute key marking a span the tracer decided not to export (a canceled or empty
/// transition under `skip_canceled` / `skip_empty`); [`SpanGate`] discards such spans.
pub const DISCARD_KEY: &str = "am.discard";

#[derive(Debug, Default)]
pub(crate) struct Counters {
    ended: AtomicU64,
    exported: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    discarded: AtomicU64,
    queued: AtomicU64,
    pub(crate) overflow: AtomicU64,
    /// The pipeline's queue bound (spans handed over and not yet exported).
    pub(crate) limit: AtomicU64,
    /// Unix ms of the last successful export (0: none yet).
    last_ok_ms: AtomicU64,
    /// One warning per interval about failed exports and drops.
    pub(crate) log: am_core::exporter::LogLimiter,
    /// Tracers whose buffered records a flush turns into spans first.
    tracers: Mutex<Vec<Weak<dyn Drain>>>,
}

/// A tracer that buffers records and builds spans later.
pub(crate) trait Drain: Send + Sync + std::fmt::Debug {
    /// Builds the spans of everything buffered now.
    fn drain(&self);
}

/// Span counts of one pipeline since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpanStats {
    /// Spans ended and handed to the batch processor.
    pub ended: u64,
    /// Spans the exporter delivered.
    pub exported: u64,
    /// Spans in batches the exporter failed to deliver (receiver down, timeout, rejected).
    pub failed: u64,
    /// Spans dropped because the export queue was full.
    pub dropped: u64,
    /// Spans discarded on purpose (skipped canceled / empty transitions).
    pub discarded: u64,
    /// Spans waiting for export now.
    pub queued: u64,
    /// Records tracers dropped before they became spans, because a machine's buffer was full
    /// (the tracer's span thread fell behind); not part of `ended`.
    pub overflow: u64,
}

/// A shared handle to a pipeline's span counters. Each new one is registered as the `otel`
/// exporter's health ([`am_core::exporter::register_stats`]).
#[derive(Clone, Debug)]
pub struct SpanCounter(pub(crate) Arc<Counters>);

impl Default for SpanCounter {
    fn default() -> Self {
        let c = Arc::new(Counters::default());
        am_core::exporter::register_stats("otel", &c);
        SpanCounter(c)
    }
}

impl am_core::exporter::StatsSource for Counters {
    fn exporter_stats(&self) -> am_core::exporter::ExporterStats {
        am_core::exporter::ExporterStats {
            produced: self.ended.load(Relaxed) + self.overflow.load(Relaxed),
            sent: self.exported.load(Relaxed),
            dropped: self.dropped.load(Relaxed) + self.overflow.load(Relaxed),
            failed: self.failed.load(Relaxed),
            queued: self.queued.load(Relaxed),
            connected: None,
            last_success_ms: am_core::exporter::last_ms(self.last_ok_ms.load(Relaxed)),
        }
    }
}

impl SpanStats {
    /// The counts as a [`Delivery`](am_core::Delivery) of spans: produced = ended +
    /// overflow (records that never became spans are lost spans, counted as dropped);
    /// discarded spans were never meant to leave and are not in it. "Sent" means the
    /// collector answered the export (gRPC OK, HTTP 2xx).
    pub fn delivery(&self, in_time: bool) -> am_core::Delivery {
        am_core::Delivery {
            produced: self.ended + self.overflow,
            sent: self.exported,
            dropped: self.dropped + self.overflow,
            failed: self.failed,
            pending: self.queued,
            in_time,
            ..am_core::Delivery::new("spans")
        }
    }
}

impl SpanCounter {
    /// A snapshot of the counts.
    pub fn stats(&self) -> SpanStats {
        let c = &self.0;
        SpanStats {
            ended: c.ended.load(Relaxed),
            exported: c.exported.load(Relaxed),
            failed: c.failed.load(Relaxed),
            dropped: c.dropped.load(Relaxed),
            discarded: c.discarded.load(Relaxed),
            queued: c.queued.load(Relaxed),
            overflow: c.overflow.load(Relaxed),
        }
    }

    /// Counts `n` spans ended and queues as many as the bound `limit` allows (the rest are
    /// dropped and counted); returns how many were queued.
    pub(crate) fn admit_up_to(&self, n: u64, limit: u64) -> u64 {
        let c = &self.0;
        c.ended.fetch_add(n, Relaxed);
        // never above the limit, not even for a moment: spans end on several threads
        let mut taken = 0;
        let _ = c.queued.fetch_update(Relaxed, Relaxed, |q| {
            taken = n.min(limit.saturating_sub(q));
            (taken > 0).then_some(q + taken)
        });
        if taken < n {
            c.dropped.fetch_add(n - taken, Relaxed);
            if let Some(held) = c.log.allow() {
                tracing::warn!(target: "am_otel", held_back = held, "span export queue full: dropping spans (counted in SpanStats::dropped)");
            }
        }
        taken
    }

    /// [`admit_up_to`](Self::admit_up_to) the pipeline's queue bound for `n` spans, plus
    /// `refused` spans ended and dropped at once (the queue stopped).
    pub(crate) fn admit(&self, n: u64, refused: u64) -> u64 {
        if refused > 0 {
            self.0.ended.fetch_add(refused, Relaxed);
            self.0.dropped.fetch_add(refused, Relaxed);
        }
        if n == 0 { 0 } else { self.admit_up_to(n, self.0.limit.load(Relaxed)) }
    }

    /// Spans built and not exported on purpose.
    pub(crate) fn discarded(&self, n: u64) {
        self.0.discarded.fetch_add(n, Relaxed);
    }

    /// An export of `n` queued spans finished with `res`.
    pub(crate) fn settle(&self, n: u64, res: &OTelSdkResult) {
        let c = &self.0;
        c.queued.fetch_sub(n.min(c.queued.load(Relaxed)), Relaxed);
        match res {
            Ok(()) => {
                c.last_ok_ms.store(am_core::exporter::unix_ms(), Relaxed);
                c.exported.fetch_add(n, Relaxed);
            }
            Err(e) => {
                c.failed.fetch_add(n, Relaxed);
                if let Some(held) = c.log.allow() {
                    tracing::warn!(target: "am_otel", error = %e, held_back = held, "span export failed (counted in SpanStats::failed)");
                }
            }
        }
    }

    /// Lets a flush of the pipeline build the tracer's buffered spans first.
    pub(crate) fn register(&self, t: Weak<dyn Drain>) {
        let mut g = self.0.tracers.lock().unpoison();
        g.retain(|w| w.strong_count() > 0);
        g.push(t);
    }

    /// Builds the buffered spans of every live tracer registered here.
    pub(crate) fn drain_tracers(&self) {
        let live: Vec<_> = {
            let g = self.0.tracers.lock().unpoison();
            g.iter().filter_map(Weak::upgrade).collect()
        };
        for t in live {
            t.drain();
        }
    }
}

/// A span processor wrapping the batch processor: discards spans marked [`DISCARD_KEY`],
/// bounds the spans in flight to `limit` (the batch queue size) and counts everything.
/// [`OtlpPipeline`](crate::OtlpPipeline) installs it; wrap your own processor with it when
/// building a provider by hand (with an exporter wrapped by [`CountingExporter`]).
#[derive(Debug)]
pub struct SpanGate<P> {
    inner: P,
    counter: SpanCounter,
    limit: u64,
    /// The pipeline's own export queue, flushed and stopped with the provider.
    pub(crate) direct: Option<std::sync::Arc<crate::direct::DirectQueue>>,
}

/// How long a provider's flush waits for the pipeline's own export queue (the SDK's own
/// flush timeout).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

impl<P: SpanProcessor> SpanGate<P> {
    /// Wraps `inner`, letting at most `limit` spans wait for export.
    pub fn new(inner: P, counter: SpanCounter, limit: usize) -> Self {
        SpanGate { inner, counter, limit: limit as u64, direct: None }
    }
}

impl<P: SpanProcessor> SpanProcessor for SpanGate<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx)
    }
    fn on_end(&self, span: SpanData) {
        if span.attributes.iter().any(|kv| kv.key.as_str() == DISCARD_KEY) {
            self.counter.discarded(1);
            return;
        }
        if self.counter.admit_up_to(1, self.limit) == 1 {
            self.inner.on_end(span)
        }
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.counter.drain_tracers();
        if let Some(d) = &self.direct {
            d.flush(FLUSH_TIMEOUT);
        }
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        // the tracers' spans leave before the exporter stops
        self.counter.drain_tracers();
        if let Some(d) = &self.direct {
            d.stop(timeout);
        }
        self.inner.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}

/// A span exporter wrapper that counts exported and failed spans for a [`SpanGate`], and
/// optionally runs each export on a tokio runtime (the SDK's batch thread has none, and the
/// OTLP exporters need one).
#[derive(Debug)]
pub struct CountingExporter<E> {
    inner: E,
    counter: SpanCounter,
    rt: Option<tokio::runtime::Handle>,
}

impl<E> CountingExporter<E> {
    /// Wraps `inner`; exports run on `rt` when given, else on the calling thread.
    pub fn new(inner: E, counter: SpanCounter, rt: Option<tokio::runtime::Handle>) -> Self {
        CountingExporter { inner, counter, rt }
    }
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len() as u64;
        let res = match &self.rt {
            Some(rt) if tokio::runtime::Handle::try_current().is_err() => rt.block_on(self.inner.export(batch)),
            _ => self.inner.export(batch).await,
        };
        self.counter.settle(n, &res);
        res
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}

/// Runs log exports on a tokio runtime, as [`CountingExporter`] does for spans.
#[derive(Debug)]
pub(crate) struct RtLogExporter<E> {
    pub(crate) inner: E,
    pub(crate) rt: tokio::runtime::Handle,
}

impl<E: opentelemetry_sdk::logs::LogExporter> opentelemetry_sdk::logs::LogExporter for RtLogExporter<E> {
    async fn export(&self, batch: opentelemetry_sdk::logs::LogBatch<'_>) -> OTelSdkResult {
        if tokio::runtime::Handle::try_current().is_err() {
            self.rt.block_on(self.inner.export(batch))
        } else {
            self.inner.export(batch).await
        }
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}
