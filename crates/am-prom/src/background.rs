//! The background tasks (scrape server, pusher): where they run and how they stop.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use am_core::exporter::{Watch, block_in_runtime, spawn};
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::error::Error;

pub(crate) type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Resolves once the stop signal is (or was) given, or its sender is gone.
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Running tasks and their stop signal.
#[derive(Debug)]
pub(crate) struct Background {
    /// Also held by every task, so that dropping the tracer handles does not stop them.
    stop: Arc<watch::Sender<bool>>,
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
    pub(crate) fn channel() -> (watch::Sender<bool>, watch::Receiver<bool>) {
        watch::channel(false)
    }

    /// Runs the tasks on `handle`, else on the current runtime, else on a thread of its own
    /// ([`am_core::exporter::spawn`]).
    pub(crate) fn start(stop: watch::Sender<bool>, tasks: Vec<Task>, handle: Option<Handle>) -> Result<Self, Error> {
        let stop = Arc::new(stop);
        let running = Arc::new(Watch::new(tasks.len()));
        let wrapped: Vec<Task> = tasks
            .into_iter()
            .map(|t| {
                let guard = Running(running.clone());
                let keep = stop.clone();
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
        Ok(Background { stop, running })
    }

    pub(crate) fn stop(&self) {
        self.stop.send_replace(true);
    }

    pub(crate) fn is_stopping(&self) -> bool {
        *self.stop.borrow()
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
