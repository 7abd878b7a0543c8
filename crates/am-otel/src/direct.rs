//! The export queue of a pipeline's own spans: the span threads of the pipeline's tracers
//! hand it finished `SpanData` a drain at a time, and its `am-otel-batch` thread exports
//! batches to the pipeline's exporter, as the SDK's batch processor would (same batch size,
//! delay and queue bound, `OTEL_BSP_*`), without a channel message per span. Spans of the
//! application's own SDK tracers still take the provider's batch processor; both count into
//! the pipeline's [`SpanCounter`].

use am_core::exporter::Unpoison;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::stats::SpanCounter;

/// Runs an export to its end from a plain thread.
pub(crate) trait BlockingExport: Send + Sync + std::fmt::Debug {
    fn export_blocking(&self, batch: Vec<SpanData>) -> OTelSdkResult;
}

/// An exporter shared by the provider's batch processor and the pipeline's [`DirectQueue`]
/// (its resource set before it was shared); exports run on `rt` when given.
#[derive(Debug)]
pub(crate) struct SharedExporter<E> {
    pub(crate) inner: Arc<E>,
    pub(crate) rt: Option<tokio::runtime::Handle>,
}

impl<E> Clone for SharedExporter<E> {
    fn clone(&self) -> Self {
        SharedExporter { inner: self.inner.clone(), rt: self.rt.clone() }
    }
}

impl<E: SpanExporter> SpanExporter for SharedExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.inner.export(batch).await
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    // the resource was set before the exporter was shared
    fn set_resource(&mut self, _resource: &opentelemetry_sdk::Resource) {}
}

impl<E: SpanExporter> BlockingExport for SharedExporter<E> {
    fn export_blocking(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        match &self.rt {
            Some(rt) => rt.block_on(self.inner.export(batch)),
            None => local_runtime().block_on(self.inner.export(batch)),
        }
    }
}

/// A current-thread runtime for exporters that need none of their own (in-process ones).
fn local_runtime() -> &'static tokio::runtime::Runtime {
    thread_local! {
        static RT: &'static tokio::runtime::Runtime = Box::leak(Box::new(
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}")),
        ));
    }
    RT.with(|rt| *rt)
}

#[derive(Debug, Default)]
struct State {
    spans: Vec<SpanData>,
    /// When the oldest queued span arrived.
    since: Option<Instant>,
    exporting: bool,
    flushes: usize,
    stop: bool,
    stopped: bool,
}

/// Spans waiting for the `am-otel-batch` thread.
#[derive(Debug)]
pub(crate) struct DirectQueue {
    state: Mutex<State>,
    /// Wakes the batch thread.
    work: Condvar,
    /// Wakes flushes waiting for an empty queue.
    idle: Condvar,
    counter: SpanCounter,
    batch: usize,
    delay: Duration,
}

impl DirectQueue {
    /// Starts the batch thread.
    pub(crate) fn start(
        exporter: Box<dyn BlockingExport>,
        counter: SpanCounter,
        batch: usize,
        delay: Duration,
    ) -> std::io::Result<Arc<DirectQueue>> {
        let q = Arc::new(DirectQueue {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            idle: Condvar::new(),
            counter,
            batch: batch.max(1),
            delay,
        });
        let q2 = q.clone();
        std::thread::Builder::new().name("am-otel-batch".into()).spawn(move || q2.run(&*exporter))?;
        Ok(q)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unpoison()
    }

    /// Takes every span of `spans` (leaving it empty): queued within the bound, the rest
    /// dropped and counted.
    pub(crate) fn push(&self, spans: &mut Vec<SpanData>) {
        let mut st = self.lock();
        if st.stop {
            drop(st);
            self.counter.admit(0, spans.len() as u64);
            spans.clear();
            return;
        }
        let taken = self.counter.admit(spans.len() as u64, 0) as usize;
        spans.truncate(taken);
        if st.spans.is_empty() {
            st.since = Some(Instant::now());
        }
        st.spans.append(spans);
        let full = st.spans.len() >= self.batch;
        drop(st);
        if full {
            self.work.notify_one();
        }
    }

    /// A span built and not exported on purpose.
    pub(crate) fn discarded(&self) {
        self.counter.discarded(1);
    }

    /// Exports everything queued now; waits at most `timeout`. True when the queue emptied.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let mut st = self.lock();
        st.flushes += 1;
        self.work.notify_one();
        while !st.stopped && (st.exporting || !st.spans.is_empty()) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = self.idle.wait_timeout(st, left).unpoison().0;
        }
        st.flushes -= 1;
        !st.exporting && st.spans.is_empty()
    }

    /// Exports what is queued within `timeout`, then stops the batch thread; later spans
    /// are dropped and counted. True when nothing was left.
    pub(crate) fn stop(&self, timeout: Duration) -> bool {
        let done = self.flush(timeout);
        self.lock().stop = true;
        self.work.notify_one();
        done
    }

    fn run(&self, exporter: &dyn BlockingExport) {
        // the spans taken from the queue at once (no copying of the rest per batch)
        let mut taken: std::collections::VecDeque<SpanData> = std::collections::VecDeque::new();
        loop {
            if taken.is_empty() {
                let mut st = self.lock();
                loop {
                    if st.stop {
                        // what a flush could not export in time stays counted as queued
                        st.stopped = true;
                        self.idle.notify_all();
                        return;
                    }
                    let due = st.since.map(|t| t + self.delay);
                    if st.spans.len() >= self.batch
                        || (!st.spans.is_empty() && (st.flushes > 0 || due.is_some_and(|d| d <= Instant::now())))
                    {
                        break;
                    }
                    st = match due {
                        Some(d) => self.work.wait_timeout(st, d.saturating_duration_since(Instant::now())).unpoison().0,
                        None => self.work.wait(st).unpoison(),
                    };
                }
                // whole batches now; a last partial one waits for the delay unless flushed
                let n = if st.flushes > 0 || st.spans.len() < self.batch {
                    st.spans.len()
                } else {
                    st.spans.len() / self.batch * self.batch
                };
                taken.extend(st.spans.drain(..n));
                st.since = (!st.spans.is_empty()).then(Instant::now);
                st.exporting = true;
            }
            let batch: Vec<SpanData> = taken.drain(..taken.len().min(self.batch)).collect();
            let n = batch.len() as u64;
            let res = exporter.export_blocking(batch);
            self.counter.settle(n, &res);
            if taken.is_empty() {
                let mut st = self.lock();
                st.exporting = false;
                if st.spans.is_empty() {
                    self.idle.notify_all();
                }
            }
        }
    }
}
