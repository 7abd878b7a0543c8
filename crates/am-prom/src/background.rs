//! The background tasks (scrape server, pusher): where they run and how they stop.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

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
    running: Arc<(Mutex<usize>, Condvar)>,
}

/// Held by a task while it runs; counts it out when dropped (finished or cancelled).
struct Running(Arc<(Mutex<usize>, Condvar)>);

impl Drop for Running {
    fn drop(&mut self) {
        let (n, cv) = &*self.0;
        *n.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        cv.notify_all();
    }
}

impl Background {
    /// A stop signal for tasks built before [`start`](Self::start).
    pub(crate) fn channel() -> (watch::Sender<bool>, watch::Receiver<bool>) {
        watch::channel(false)
    }

    /// Runs the tasks on `handle`, else on the current runtime, else on a thread of its own
    /// with a single-threaded runtime.
    pub(crate) fn start(stop: watch::Sender<bool>, tasks: Vec<Task>, handle: Option<Handle>) -> Result<Self, Error> {
        let stop = Arc::new(stop);
        let running = Arc::new((Mutex::new(tasks.len()), Condvar::new()));
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
        match handle.or_else(|| Handle::try_current().ok()) {
            Some(h) => wrapped.into_iter().for_each(|t| drop(h.spawn(t))),
            None => {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
                std::thread::Builder::new()
                    .name("am-prom".into())
                    .spawn(move || {
                        rt.block_on(async move {
                            let handles: Vec<_> = wrapped.into_iter().map(tokio::spawn).collect();
                            for h in handles {
                                let _ = h.await;
                            }
                        })
                    })
                    .map_err(Error::Runtime)?;
            }
        }
        Ok(Background { stop, running })
    }

    pub(crate) fn stop(&self) {
        self.stop.send_replace(true);
    }

    pub(crate) fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    pub(crate) fn is_done(&self) -> bool {
        *self.running.0.lock().unwrap_or_else(|e| e.into_inner()) == 0
    }

    /// Blocks until every task ended or `until`; true when they did.
    pub(crate) fn wait(&self, until: Instant) -> bool {
        let (n, cv) = &*self.running;
        let mut g = n.lock().unwrap_or_else(|e| e.into_inner());
        while *g > 0 {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            g = cv.wait_timeout(g, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    /// [`wait`](Self::wait) for async code.
    pub(crate) async fn wait_async(&self, until: Instant) -> bool {
        while !self.is_done() {
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }
}
