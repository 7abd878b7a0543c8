//! The background tasks (scrape server, pusher): where they run and how they stop.
//!
//! They stop in a forward-only [`Phase`]: **serving**, then **draining** from the start of
//! shutdown (`/readyz` answers 503 while `/metrics` and `/healthz` keep serving, so the last
//! scrape still works and probes never see a refused connection), then **stopped** (the
//! pusher pushes once more, the listener closes), last, after the other exporters flushed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use am_core::exporter::{Watch, block_in_runtime, spawn};
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::error::Error;

pub(crate) type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where the background tasks are in their stop; only moves forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Everything serves; `/readyz` answers from the machines.
    Serving,
    /// Shutdown began: `/readyz` answers 503, the rest serves as before.
    Draining,
    /// The listener closes, the pusher pushes a last time.
    Stopped,
}

/// Resolves once the phase is (or was) `Stopped`, or its sender is gone.
pub(crate) async fn stopped(rx: &mut watch::Receiver<Phase>) {
    let _ = rx.wait_for(|p| *p == Phase::Stopped).await;
}

/// Running tasks and their stop signal.
#[derive(Debug)]
pub(crate) struct Background {
    /// Also held by every task, so that dropping the tracer handles does not stop them.
    phase: Arc<watch::Sender<Phase>>,
    /// Tasks still running.
    running: Arc<Watch<usize>>,
}

/// Held by a task while it runs; counts it out when dropped (finished or cancelled).
struct Running(Arc<Watch<usize>>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.update(|n| *n -= 1);
    }
}

impl Background {
    /// A stop signal for tasks built before [`start`](Self::start).
    pub(crate) fn channel() -> (watch::Sender<Phase>, watch::Receiver<Phase>) {
        watch::channel(Phase::Serving)
    }

    /// Runs the tasks on `handle`, else on the current runtime, else on a thread of its own
    /// ([`am_core::exporter::spawn`]).
    pub(crate) fn start(phase: watch::Sender<Phase>, tasks: Vec<Task>, handle: Option<Handle>) -> Result<Self, Error> {
        let phase = Arc::new(phase);
        let running = Arc::new(Watch::new(tasks.len()));
        let wrapped: Vec<Task> = tasks
            .into_iter()
            .map(|t| {
                let guard = Running(running.clone());
                let keep = phase.clone();
                Box::pin(async move {
                    let _guard = guard;
                    let _keep = keep;
                    t.await;
                }) as Task
            })
            .collect();
        let all = async move {
            let handles: Vec<_> = wrapped.into_iter().map(tokio::spawn).collect();
            for h in handles {
                let _ = h.await;
            }
        };
        spawn("am-prom", handle, all).map_err(Error::Runtime)?;
        Ok(Background { phase, running })
    }

    /// Moves to `to` unless the phase is already there or past it; true when it moved.
    fn advance(&self, to: Phase) -> bool {
        self.phase.send_if_modified(|p| {
            let moved = *p < to;
            if moved {
                *p = to;
            }
            moved
        })
    }

    /// Starts draining (`/readyz` answers 503); true the first time.
    pub(crate) fn drain(&self) -> bool {
        self.advance(Phase::Draining)
    }

    /// Stops the tasks (after draining, if that did not start yet).
    pub(crate) fn stop(&self) {
        self.advance(Phase::Stopped);
    }

    /// Whether shutdown began (draining or stopped).
    pub(crate) fn is_stopping(&self) -> bool {
        *self.phase.borrow() != Phase::Serving
    }

    /// Waits until every task ended or `until`, from sync code ([`block_in_runtime`]: on a
    /// current-thread runtime only checks); true when they ended.
    pub(crate) fn wait(&self, until: Instant) -> bool {
        let ended = |n: &usize| *n == 0;
        block_in_runtime(|| self.running.wait_until(until, ended), || ended(&self.running.lock()))
    }

    /// [`wait`](Self::wait) for async code.
    pub(crate) async fn wait_async(&self, until: Instant) -> bool {
        self.running.wait_until_async(until, |n| *n == 0).await
    }
}
