//! Poison-tolerant locking, used by the machine and (re-exported in `exporter`) by exporters.

use std::sync::{LockResult, PoisonError};

/// Takes the guard out of a poisoned lock instead of panicking: every lock in this workspace
/// guards data that stays consistent across a panic in another thread (counters, queues
/// whose items are whole), so a panicking handler or hook must not take the exporter, or
/// the machine, down with it.
/// (Example in [`exporter`](crate#features)'s docs, where it is public.)
pub trait Unpoison<G> {
    /// The guard (or value), poisoned or not.
    fn unpoison(self) -> G;
}

impl<G> Unpoison<G> for LockResult<G> {
    #[inline]
    fn unpoison(self) -> G {
        self.unwrap_or_else(PoisonError::into_inner)
    }
}
