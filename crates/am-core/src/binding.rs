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

/// The handle an exporter's `bind_env` returns. Exporters bound from the env are shared by
/// every root machine of the process (one endpoint, one pipeline); each guard holds one
/// share, and the exporter stops when the last share is released.
pub trait ExporterGuard: Send {
    /// Sends what the exporter holds now, waiting at most `timeout`; true when everything
    /// went out (or there was nothing).
    fn flush(&self, timeout: Duration) -> bool;
    /// Flushes, then releases this share: the exporter stops (within `timeout` overall) when
    /// this was its last one. True when everything finished in time.
    fn shutdown(self: Box<Self>, timeout: Duration) -> bool;
}
