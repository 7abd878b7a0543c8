//! The tracer's span thread: wakes every [`LINGER`] (or when asked) and turns the queued
//! machines' records into SDK spans.

use super::*;

/// Machines with records waiting, and the span thread's wake-up.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    pub(super) state: Mutex<QueueState>,
    pub(super) cv: Condvar,
}

#[derive(Debug, Default)]
pub(super) struct QueueState {
    pub(super) dirty: Vec<Arc<Mach>>,
    pub(super) urgent: bool,
    pub(super) stop: bool,
}

impl Queue {
    /// Queues a machine whose buffer went from empty to not; wakes the thread when it was idle.
    pub(crate) fn mark(&self, m: Arc<Mach>) {
        let mut g = lock(&self.state);
        let idle = g.dirty.is_empty();
        g.dirty.push(m);
        drop(g);
        if idle {
            self.cv.notify_one();
        }
    }

    /// A buffer is half full: build spans now rather than after the linger.
    pub(crate) fn hurry(&self) {
        lock(&self.state).urgent = true;
        self.cv.notify_one();
    }

    pub(crate) fn stop(&self) {
        lock(&self.state).stop = true;
        self.cv.notify_one();
    }

    /// Takes the machines to drain once some are queued and the linger passed (or at once
    /// when hurried); `None` once stopped and empty.
    pub(super) fn next(&self, linger: Duration) -> Option<Vec<Arc<Mach>>> {
        let mut g = lock(&self.state);
        while g.dirty.is_empty() && !g.stop {
            g = self.cv.wait(g).unpoison();
        }
        if g.dirty.is_empty() {
            return None;
        }
        if !g.stop && !g.urgent {
            g = self
                .cv
                .wait_timeout_while(g, linger, |s| !s.stop && !s.urgent)
                .map(|r| r.0)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        g.urgent = false;
        Some(std::mem::take(&mut g.dirty))
    }
}

/// Starts the span thread; it exits after [`Queue::stop`] once the queue is empty.
pub(crate) fn spawn(cx: Arc<Ctx>) -> std::io::Result<()> {
    std::thread::Builder::new().name("am-otel-spans".into()).spawn(move || {
        while let Some(batch) = cx.queue.next(LINGER) {
            for m in batch {
                drop(m.drain(&cx));
            }
        }
    })?;
    Ok(())
}
