//! Where exporters' background work runs: on the app's tokio runtime when there is one, else on
//! a thread of its own — the choice every sender makes (feature `exporter-runtime`).

use std::future::Future;
use std::io;

use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

/// Where [`spawn`] put a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spawned {
    /// On the given or the current runtime.
    Runtime,
    /// On a new thread of this name, running a single-threaded runtime until the task ends.
    Thread(String),
}

/// Runs `task` on `handle`, else on the current runtime, else on a thread named `name`
/// with a single-threaded runtime of its own (which ends with the task). Only thread or
/// runtime creation can fail.
///
/// ```
/// use am_core::exporter::{Spawned, Watch, spawn};
/// use std::{sync::Arc, time::{Duration, Instant}};
///
/// let done = Arc::new(Watch::new(false));
/// let d = done.clone();
/// // no runtime here: the task gets a thread of its own
/// let where_ = spawn("demo-sender", None, async move { d.update(|v| *v = true) })?;
/// assert_eq!(where_, Spawned::Thread("demo-sender".into()));
/// assert!(done.wait_until(Instant::now() + Duration::from_secs(5), |v| *v));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn<F>(name: &str, handle: Option<Handle>, task: F) -> io::Result<Spawned>
where
    F: Future<Output = ()> + Send + 'static,
{
    if let Some(h) = handle.or_else(|| Handle::try_current().ok()) {
        drop(h.spawn(task));
        return Ok(Spawned::Runtime);
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name(name.to_string()).spawn(move || rt.block_on(task))?;
    Ok(Spawned::Thread(name.to_string()))
}

/// Runs a blocking wait from sync code that may be running inside a tokio runtime: on a
/// multi-threaded runtime through `block_in_place` (other tasks keep running), outside any
/// runtime directly. On a current-thread runtime waiting would stall every task on it —
/// possibly the very sender being waited for — so `instead` runs (a non-blocking check).
///
/// ```
/// let waited = am_core::exporter::block_in_runtime(|| true, || false);
/// assert!(waited); // no runtime: the wait runs
/// ```
pub fn block_in_runtime<R>(wait: impl FnOnce() -> R, instead: impl FnOnce() -> R) -> R {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(wait),
        Ok(_) => instead(),
        Err(_) => wait(),
    }
}

/// A runtime an exporter owns (for exports that must not depend on the app's runtime, e.g.
/// ones the OpenTelemetry SDK's batch thread drives), with one worker thread of the given
/// name. Dropping it shuts it down in the background, which is allowed in async code too.
#[derive(Debug)]
pub struct OwnedRuntime {
    handle: Handle,
    rt: Option<Runtime>,
}

impl OwnedRuntime {
    /// Starts the runtime and its worker thread.
    pub fn start(thread_name: &str) -> io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(thread_name)
            .enable_all()
            .build()?;
        Ok(OwnedRuntime { handle: rt.handle().clone(), rt: Some(rt) })
    }

    /// A handle to spawn on or `block_on` with.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::Watch;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn spawns_on_the_current_runtime_when_there_is_one() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let done = Arc::new(Watch::new(false));
        let d = done.clone();
        let at = rt.block_on(async {
            let at = spawn("unused", None, async move { d.update(|v| *v = true) }).expect("spawn");
            let until = Instant::now() + Duration::from_secs(5);
            assert!(done.wait_until_async(until, |v| *v).await);
            at
        });
        assert_eq!(at, Spawned::Runtime);
    }

    #[test]
    fn async_wait_times_out_and_sees_late_updates() {
        let rt = OwnedRuntime::start("am-core-test").expect("runtime");
        let w = Arc::new(Watch::new(0u32));
        let until = Instant::now() + Duration::from_millis(30);
        assert!(!rt.handle().block_on(w.wait_until_async(until, |n| *n > 0)));
        let w2 = w.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            w2.update(|n| *n = 7);
        });
        let until = Instant::now() + Duration::from_secs(5);
        assert!(rt.handle().block_on(w.wait_until_async(until, |n| *n == 7)));
    }

    #[test]
    fn block_in_runtime_does_not_block_a_current_thread_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        assert_eq!(rt.block_on(async { block_in_runtime(|| "waited", || "checked") }), "checked");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().expect("runtime");
        assert_eq!(rt.block_on(async { block_in_runtime(|| "waited", || "checked") }), "waited");
    }
}
