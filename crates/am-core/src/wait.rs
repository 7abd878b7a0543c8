//! Waits (futures on any executor, or blocking) and cancellation tokens for state contexts.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::mutation::Args;
use crate::schema::StateIdx;
use crate::unpoison::Unpoison;

/// Why a wait did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitError {
    /// Its cancellation token fired.
    Cancelled,
    /// The machine was disposed.
    Disposed,
    /// A blocking wait ran out of time.
    Timeout,
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WaitError::Cancelled => "wait cancelled",
            WaitError::Disposed => "machine disposed",
            WaitError::Timeout => "wait timed out",
        })
    }
}

impl std::error::Error for WaitError {}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // a panicking handler never holds these locks; recover the data if one was poisoned anyway
    m.lock().unpoison()
}

#[derive(Default)]
struct Slot {
    result: Option<Result<(), WaitError>>,
    waker: Option<Waker>,
}

/// Shared completion slot of one wait.
#[derive(Default)]
pub(crate) struct WaitShared {
    slot: Mutex<Slot>,
    cv: Condvar,
}

impl WaitShared {
    /// Completes the wait once; later calls are ignored.
    pub(crate) fn complete(&self, r: Result<(), WaitError>) {
        let mut s = lock(&self.slot);
        if s.result.is_none() {
            s.result = Some(r);
            if let Some(w) = s.waker.take() {
                w.wake();
            }
            self.cv.notify_all();
        }
    }
    pub(crate) fn is_done(&self) -> bool {
        lock(&self.slot).result.is_some()
    }
}

/// A pending wait. Await it on any executor, or block with [`Wait::wait`] /
/// [`Wait::wait_timeout`]. Dropping it abandons the wait.
///
/// ```
/// use am_core::{Machine, Schema};
/// let m = Machine::new(Schema::builder().states(["A", "B"]).build()?);
/// let w = m.when(&["A", "B"])?;
/// m.add(&["A", "B"])?;
/// assert_eq!(w.wait_timeout(std::time::Duration::from_secs(1)), Ok(()));
/// # Ok::<(), am_core::Error>(())
/// ```
#[must_use = "a wait does nothing unless awaited or waited on"]
pub struct Wait {
    shared: Arc<WaitShared>,
}

impl fmt::Debug for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").field("result", &lock(&self.shared.slot).result).finish()
    }
}

impl Wait {
    pub(crate) fn new() -> (Self, Arc<WaitShared>) {
        let shared = Arc::new(WaitShared::default());
        (Wait { shared: shared.clone() }, shared)
    }
    pub(crate) fn done(r: Result<(), WaitError>) -> Self {
        let (w, s) = Wait::new();
        s.complete(r);
        w
    }
    /// The result, if the wait has completed.
    pub fn try_result(&self) -> Option<Result<(), WaitError>> {
        lock(&self.shared.slot).result
    }
    /// Whether it completed successfully.
    pub fn is_ready(&self) -> bool {
        self.try_result() == Some(Ok(()))
    }
    /// Completes with `Err(Cancelled)` when `token` is cancelled first.
    pub fn cancel_on(self, token: &CancelToken) -> Self {
        token.listen(Arc::downgrade(&self.shared), Err(WaitError::Cancelled));
        self
    }
    /// Blocks the thread until the wait completes.
    pub fn wait(self) -> Result<(), WaitError> {
        let mut s = lock(&self.shared.slot);
        loop {
            if let Some(r) = s.result {
                return r;
            }
            s = self.shared.cv.wait(s).unpoison();
        }
    }
    /// Blocks at most `timeout`; `Err(Timeout)` when it runs out.
    pub fn wait_timeout(self, timeout: Duration) -> Result<(), WaitError> {
        let deadline = Instant::now() + timeout;
        let mut s = lock(&self.shared.slot);
        loop {
            if let Some(r) = s.result {
                return r;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(WaitError::Timeout);
            }
            s = self.shared.cv.wait_timeout(s, deadline - now).unpoison().0;
        }
    }
}

impl Future for Wait {
    type Output = Result<(), WaitError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = lock(&self.shared.slot);
        match s.result {
            Some(r) => Poll::Ready(r),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[derive(Default)]
struct CancelInner {
    cancelled: bool,
    /// Waits to complete on cancel, with the result each gets.
    listeners: Vec<(Weak<WaitShared>, Result<(), WaitError>)>,
}

/// A cancellation token. [`Machine::state_ctx`](crate::Machine::state_ctx) hands one out per
/// state instance; it is cancelled when the state's tick changes or the machine is disposed.
///
/// ```
/// let t = am_core::CancelToken::new();
/// let w = t.cancelled();
/// t.cancel();
/// assert!(w.is_ready());
/// ```
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<Mutex<CancelInner>>,
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken").field("cancelled", &self.is_cancelled()).finish()
    }
}

impl CancelToken {
    /// A fresh, uncancelled token.
    pub fn new() -> Self {
        Self::default()
    }
    /// Whether it was cancelled.
    pub fn is_cancelled(&self) -> bool {
        lock(&self.inner).cancelled
    }
    /// Cancels it: waits bound with [`Wait::cancel_on`] complete with `Err(Cancelled)`,
    /// waits from [`cancelled`](Self::cancelled) with `Ok`.
    pub fn cancel(&self) {
        let listeners = {
            let mut i = lock(&self.inner);
            if i.cancelled {
                return;
            }
            i.cancelled = true;
            std::mem::take(&mut i.listeners)
        };
        for (l, r) in listeners {
            if let Some(l) = l.upgrade() {
                l.complete(r);
            }
        }
    }
    /// A wait that completes with `Ok` once the token is cancelled.
    pub fn cancelled(&self) -> Wait {
        let (w, s) = Wait::new();
        self.listen(Arc::downgrade(&s), Ok(()));
        w
    }
    fn listen(&self, l: Weak<WaitShared>, r: Result<(), WaitError>) {
        let mut i = lock(&self.inner);
        if i.cancelled {
            drop(i);
            if let Some(l) = l.upgrade() {
                l.complete(r);
            }
        } else {
            i.listeners.retain(|(w, _)| w.strong_count() > 0);
            i.listeners.push((l, r));
        }
    }
}

type QueryFn = Box<dyn Fn(&[u64]) -> bool + Send + Sync>;

/// What a machine waiter waits for.
pub(crate) enum WaitCond {
    /// All states active (`true`) or all inactive (`false`).
    States(Vec<StateIdx>, bool),
    /// `tick(states[i]) >= ticks[i]`.
    Time(Vec<StateIdx>, Vec<u64>),
    /// `sState` dispatched in an accepted transition with matching args.
    Args(StateIdx, Args),
    /// A predicate over the clock vector.
    Query(QueryFn),
    /// `queue_tick() >= t`.
    Queue(u64),
    /// The current queue run ends.
    QueueEnd,
    /// Disposal completed.
    Disposed,
}

impl WaitCond {
    /// Go's log tag and subject of the wait (`("when", "A B")`, `("whenTime", "A,B [3 5]")`),
    /// for `[when:new]` / `[when:match]` lines; `None` for the waits Go does not log (queue
    /// ends, disposal).
    pub(crate) fn label(&self, s: &crate::schema::Schema) -> Option<(&'static str, String)> {
        let names = |idx: &[StateIdx], sep: &str| idx.iter().map(|&i| s.name(i)).collect::<Vec<_>>().join(sep);
        Some(match self {
            WaitCond::States(idx, true) => ("when", names(idx, " ")),
            WaitCond::States(idx, false) => ("whenNot", names(idx, " ")),
            WaitCond::Time(idx, ticks) => {
                let t: Vec<String> = ticks.iter().map(u64::to_string).collect();
                ("whenTime", format!("{} [{}]", names(idx, ","), t.join(" ")))
            }
            WaitCond::Args(i, args) => {
                let keys: Vec<&str> = args.iter().map(|(k, _)| k).collect();
                ("whenArgs", format!("{} ({})", s.name(*i), keys.join(",")))
            }
            WaitCond::Query(_) => ("whenQuery", String::new()),
            WaitCond::Queue(t) => ("whenQueue", t.to_string()),
            WaitCond::QueueEnd | WaitCond::Disposed => return None,
        })
    }
}

pub(crate) struct Waiter {
    pub(crate) cond: WaitCond,
    pub(crate) shared: Arc<WaitShared>,
}

impl Waiter {
    /// The waiter's `Wait` was dropped or completed elsewhere (cancelled).
    pub(crate) fn abandoned(&self) -> bool {
        Arc::strong_count(&self.shared) == 1 || self.shared.is_done()
    }
}

pub(crate) fn time_ok(time: &[u64], states: &[StateIdx], ticks: &[u64]) -> bool {
    states.iter().zip(ticks).all(|(&s, &t)| time.get(s).copied().unwrap_or(0) >= t)
}

pub(crate) fn states_ok(time: &[u64], states: &[StateIdx], active: bool) -> bool {
    states.iter().all(|&s| (time.get(s).copied().unwrap_or(0) % 2 == 1) == active)
}
