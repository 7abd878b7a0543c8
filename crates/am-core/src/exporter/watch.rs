//! A value background tasks advance and callers wait on, blocking or async, with a deadline.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::Unpoison;

/// A value behind a lock that wakes its waiters whenever it is [`update`](Self::update)d: the
/// replacement for "check, sleep a millisecond, check again" in flushes and shutdowns.
///
/// Waiters give a predicate, which may read state outside the watch as long as whoever
/// changes that state calls [`update`](Self::update) (or [`notify`](Self::notify)) after
/// the change: the predicate runs under the watch's lock, so no wake-up is lost between the
/// check and the wait.
///
/// ```
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
/// use am_core::exporter::Watch;
///
/// let sent = Arc::new(Watch::new(0u64));
/// let s = sent.clone();
/// let sender = std::thread::spawn(move || (0..5).for_each(|_| s.update(|n| *n += 1)));
/// let until = Instant::now() + Duration::from_secs(5);
/// assert!(sent.wait_until(until, |n| *n == 5));
/// sender.join().unwrap();
/// assert!(!sent.wait_until(Instant::now(), |n| *n == 6)); // a deadline in the past: one check
/// ```
#[derive(Debug, Default)]
pub struct Watch<T> {
    value: Mutex<T>,
    changed: Condvar,
    #[cfg(feature = "exporter-runtime")]
    changed_async: tokio::sync::Notify,
}

impl<T> Watch<T> {
    /// A watch holding `value`.
    pub fn new(value: T) -> Self {
        Watch {
            value: Mutex::new(value),
            changed: Condvar::new(),
            #[cfg(feature = "exporter-runtime")]
            changed_async: tokio::sync::Notify::new(),
        }
    }

    /// The value, locked (poison-tolerant). Changing it through this guard wakes nobody: use
    /// [`update`](Self::update) for that.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.value.lock().unpoison()
    }

    /// Changes the value and wakes every waiter, returning what `f` returns.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let r = f(&mut self.lock());
        self.notify();
        r
    }

    /// Wakes every waiter to re-check its predicate (after a change to state it reads outside
    /// the watch). Takes the lock first, so a waiter between its check and its wait sees it.
    pub fn notify(&self) {
        drop(self.lock());
        self.changed.notify_all();
        #[cfg(feature = "exporter-runtime")]
        self.changed_async.notify_waiters();
    }

    /// Blocks until `done` holds or `until` passes; true when `done` held. Checks at least
    /// once, even with a deadline in the past.
    pub fn wait_until(&self, until: Instant, mut done: impl FnMut(&T) -> bool) -> bool {
        let mut g = self.lock();
        loop {
            if done(&g) {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            g = self.changed.wait_timeout(g, left).unpoison().0;
        }
    }

    /// [`wait_until`](Self::wait_until) for async code (feature `exporter-runtime`).
    #[cfg(feature = "exporter-runtime")]
    pub async fn wait_until_async(&self, until: Instant, mut done: impl FnMut(&T) -> bool) -> bool {
        let until = tokio::time::Instant::from_std(until);
        loop {
            let changed = self.changed_async.notified();
            let mut changed = std::pin::pin!(changed);
            // registered before the check, so an update between the check and the await wakes us
            changed.as_mut().enable();
            if done(&self.lock()) {
                return true;
            }
            if tokio::time::timeout_at(until, changed).await.is_err() {
                return done(&self.lock());
            }
        }
    }
}
