//! The one `bind_env` contract every exporter follows: a shared gate deciding which machines
//! env-activated exporters bind to ([`env_gate`]), a result that says what happened
//! ([`Binding`]: bound, or skipped and why), and a guard to flush and release the exporter
//! with a deadline ([`ExporterGuard`]). `am-telemetry` collects these into one report.

use std::fmt;
use std::time::Duration;

use crate::Machine;
use crate::env;

/// Why an exporter's `bind_env` bound nothing to a machine.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Skip {
    /// None of its activation variables is set, or they switch it off.
    Off {
        /// The variables that would turn it on.
        vars: &'static [&'static str],
    },
    /// [`AM_TEST_RUNNER`](env::AM_TEST_RUNNER) is on.
    TestRunner,
    /// The machine has a parent: bind its root; submachines created after that inherit the
    /// exporter.
    Submachine {
        /// The parent's ID.
        parent: String,
    },
    /// The machine is tagged `rpc-*` or `relay` and [`AM_RPC_DBG`](env::AM_RPC_DBG) is off.
    RpcMachine,
    /// The machine was disposed.
    Disposed,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::Off { vars } => write!(f, "off: {} unset", vars.join(" and ")),
            Skip::TestRunner => write!(f, "off: {} is on", env::AM_TEST_RUNNER),
            Skip::Submachine { parent } => write!(
                f,
                "called on a submachine (parent `{parent}`): bind the root machine; submachines built after that inherit"
            ),
            Skip::RpcMachine => write!(f, "an rpc-*/relay machine (set {} to include them)", env::AM_RPC_DBG),
            Skip::Disposed => write!(f, "the machine is disposed"),
        }
    }
}

/// The shared gate of every env-activated exporter, checked before its own variables:
/// nothing under `AM_TEST_RUNNER`, nothing on submachines (they inherit from their root),
/// nothing on `rpc-*`/`relay` machines unless `AM_RPC_DBG`, nothing on disposed machines.
///
/// ```
/// use am_core::{Machine, Schema, Skip, env_gate};
/// let root = Machine::builder(Schema::builder().states(["A"]).build()?).id("root").build();
/// let sub = Machine::builder(root.schema().as_ref().clone()).parent(&root).build();
/// assert_eq!(env_gate(&sub), Err(Skip::Submachine { parent: "root".into() }));
/// # Ok::<(), am_core::Error>(())
/// ```
pub fn env_gate(m: &Machine) -> Result<(), Skip> {
    if env::is_test_runner() {
        return Err(Skip::TestRunner);
    }
    if m.is_disposed() {
        return Err(Skip::Disposed);
    }
    if let Some(parent) = m.parent_id() {
        return Err(Skip::Submachine { parent: parent.to_string() });
    }
    if env::is_rpc_machine(m.tags()) {
        return Err(Skip::RpcMachine);
    }
    Ok(())
}

/// What an exporter's `bind_env` did: bound, with the guard that flushes and releases it, or
/// skipped, with the reason.
#[derive(Debug)]
pub enum Binding<G> {
    /// Bound.
    Bound {
        /// Flushes and releases the exporter.
        guard: G,
        /// What the user should know about this binding, e.g. a list variable naming states
        /// the machine does not have.
        notes: Vec<String>,
    },
    /// Not bound, and why.
    Skipped(Skip),
}

impl<G> Binding<G> {
    /// Bound, with nothing to note.
    pub fn bound(guard: G) -> Self {
        Binding::Bound { guard, notes: Vec::new() }
    }
    /// The guard, when bound.
    pub fn guard(self) -> Option<G> {
        match self {
            Binding::Bound { guard, .. } => Some(guard),
            Binding::Skipped(_) => None,
        }
    }
    /// Whether it bound.
    pub fn is_bound(&self) -> bool {
        matches!(self, Binding::Bound { .. })
    }
    /// Why it did not bind.
    pub fn skipped(&self) -> Option<&Skip> {
        match self {
            Binding::Bound { .. } => None,
            Binding::Skipped(s) => Some(s),
        }
    }
}

/// What an exporter did with what the machines gave it, as of the end of a flush or a
/// shutdown: every item it accepted is `sent`, `dropped`, `failed`, or still `pending`
/// (queued or in flight when the call returned — at a shutdown, abandoned). The counts are
/// the exporter's since it started: an exporter bound from the env is shared by every root
/// machine of the process, so they cover all of them.
///
/// What "sent" means differs per exporter (the unit and the acknowledgement are in each
/// exporter's docs and in the repository's `docs/env.md`): spans the collector answered,
/// log entries Loki answered 2xx, debugger messages written to the connection, pushes the
/// Pushgateway answered 2xx, dashboards Grafana saved.
///
/// ```
/// use am_core::Delivery;
/// let d = Delivery { produced: 15, failed: 15, ..Delivery::new("spans") };
/// assert!(d.balanced());
/// assert!(!d.complete()); // nothing arrived: never reported as success
/// assert_eq!(d.to_string(), "15 spans: 0 sent, 0 dropped, 15 failed, 0 pending");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// What the counts count: `spans`, `entries`, `messages`, `pushes`, `uploads`.
    pub unit: &'static str,
    /// Items the exporter accepted from machines (or, for pushes and uploads, attempted).
    pub produced: u64,
    /// Items delivered.
    pub sent: u64,
    /// Items dropped before delivery: a full buffer, entries logged after shutdown began.
    pub dropped: u64,
    /// Items whose delivery failed for good: refused, or still failing after the retries.
    pub failed: u64,
    /// Items still queued or in flight when the call returned; at a shutdown, abandoned.
    pub pending: u64,
    /// Whether the flush or shutdown finished before its deadline.
    pub in_time: bool,
}

impl Delivery {
    /// Nothing produced yet, finished in time.
    pub const fn new(unit: &'static str) -> Self {
        Delivery { unit, produced: 0, sent: 0, dropped: 0, failed: 0, pending: 0, in_time: true }
    }
    /// Everything produced was delivered, in time.
    pub fn complete(&self) -> bool {
        self.in_time && self.sent == self.produced && self.dropped == 0 && self.failed == 0 && self.pending == 0
    }
    /// Whether the counts add up: `produced = sent + dropped + failed + pending`. An
    /// exporter's own tests check it holds at every flush and shutdown.
    pub fn balanced(&self) -> bool {
        self.sent
            .checked_add(self.dropped)
            .and_then(|n| n.checked_add(self.failed))
            .and_then(|n| n.checked_add(self.pending))
            == Some(self.produced)
    }
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {} sent, {} dropped, {} failed, {} pending",
            self.produced, self.unit, self.sent, self.dropped, self.failed, self.pending
        )?;
        if !self.in_time {
            f.write_str(" (deadline passed)")?;
        }
        Ok(())
    }
}

/// The handle an exporter's `bind_env` returns. Exporters bound from the env are shared by
/// every root machine of the process (one endpoint, one pipeline); each guard holds one
/// share, and the exporter stops when the last share is released.
pub trait ExporterGuard: Send + Sync {
    /// Sends what the exporter holds now, waiting at most `timeout`, and reports what
    /// happened to everything it was given ([`Delivery::complete`] when all of it arrived).
    fn flush(&self, timeout: Duration) -> Delivery;
    /// The start of a graceful stop, before any exporter flushes: an exporter that answers
    /// readiness probes starts answering "not ready" (and keeps serving everything else).
    /// Returns how long it wants that held before the flush starts (endpoint propagation);
    /// by default nothing and zero.
    fn drain(&self) -> Duration {
        Duration::ZERO
    }
    /// Where the exporter delivers, for a person reading the bind report: an address or
    /// URL with the real port (`127.0.0.1:9464 (/metrics /healthz /readyz)`,
    /// `grpc http://localhost:4317 (traces)`); empty when there is nothing to say.
    fn destination(&self) -> String {
        String::new()
    }
    /// Flushes, then releases this share: the exporter stops (within `timeout` overall) when
    /// this was its last one. The report's `pending` is what it could not deliver in time.
    fn shutdown(self: Box<Self>, timeout: Duration) -> Delivery;
}
