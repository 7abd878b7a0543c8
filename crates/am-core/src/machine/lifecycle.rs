//! The end and the changes of a machine's life: disposal (one [`Disposal`] phase, only
//! forward), schema change, export and import.

use std::sync::Arc;
use std::sync::atomic::Ordering::Release;

use crate::error::Error;
use crate::handlers::HandlerTable;
use crate::schema::Schema;
use crate::unpoison::Unpoison;
use crate::wait::lock;

use super::*;

impl Machine {
    /// Registers a callback run once at disposal with the machine ID.
    pub fn on_dispose(&self, f: impl FnOnce(&str) + Send + 'static) {
        lock(&self.0.on_dispose).push(Box::new(f));
    }
    /// Whether disposal completed.
    pub fn is_disposed(&self) -> bool {
        self.0.disposal.get() == Disposal::Disposed
    }
    /// Disposes the machine; idempotent, never blocks on the queue. If a queue run is in
    /// progress, its current transition completes and the run finishes disposal.
    pub fn dispose(&self) {
        if !self.0.disposal.advance(Disposal::Disposing) {
            return;
        }
        let running = lock(&self.0.st).running;
        if !running {
            self.finish_dispose();
        }
    }
    pub(super) fn finish_dispose(&self) {
        self.0.finish_dispose();
    }

    /// Disposes the machine now, on this thread, even while another thread runs its queue
    /// (Go: `DisposeForce`). Before it returns, everything [`dispose`](Self::dispose) does has
    /// happened: the machine answers as disposed, the queue is cleared (queued mutations never
    /// run; a `when_queue` wait on one ends with `Disposed`), every pending wait ends with
    /// `Disposed`, state contexts are cancelled, tracers hear `machine_dispose`, handlers are
    /// dropped, `on_dispose` callbacks run and `when_disposed` completes. A transition already
    /// running on another thread still completes — its running handler returns, the handlers
    /// it has left run from the set it started with — and its tracers may hear its end after
    /// `machine_dispose`; then that run stops.
    pub fn dispose_force(&self) {
        self.0.disposal.advance(Disposal::Disposing);
        self.finish_dispose();
    }

    // ---- schema change, export, import ----

    /// Replaces the schema with a larger one keeping existing states at their indexes;
    /// new states start at tick 0. Refused during a transition.
    pub fn set_schema(&self, new: Schema) -> Result<(), Error> {
        self.alive()?;
        let old = self.schema();
        old.check_growth(&new)?;
        let n = new.len();
        {
            let mut st = lock(&self.0.st);
            if st.running {
                return Err(Error::Busy);
            }
            st.time.resize(n, 0);
            st.active.grow(n);
            st.ctxs.resize(n, None);
            st.rebuild_active_list(&new);
            if let Some(r) = st.runner.as_mut() {
                r.grow(n);
            }
            let mut g = self.0.handlers.write().unpoison();
            let mut t = HandlerTable::clone(&g);
            t.grow(n);
            *g = Arc::new(t);
            self.0.bind_version.fetch_add(1, Release);
            let new = Arc::new(new);
            st.schema = new.clone();
            *self.0.schema.write().unpoison() = new;
        }
        // every tracer answers again for the grown schema (the same machine instance asks)
        let again: Vec<BoundTracer> = {
            let g = self.0.tracers.read().unpoison();
            g.tracers.to_vec()
        }
        .into_iter()
        .map(|b| BoundTracer { key: b.key, ..self.attach(b.tracer) })
        .collect();
        self.set_bound(again);
        self.dispatch().schema_change(self, &old);
        Ok(())
    }

    /// A snapshot of the machine's clocks.
    pub fn export(&self) -> Snapshot {
        let st = lock(&self.0.st);
        Snapshot {
            id: self.0.id.clone(),
            state_names: self.schema().names().to_vec(),
            time: st.time.clone(),
            queue_tick: st.queue_tick,
            machine_tick: st.machine_tick,
        }
    }

    /// Restores a snapshot into this (fresh) machine with the same ID and schema; adds
    /// `MachineRestored` when the schema has it.
    pub fn import(&self, snap: &Snapshot) -> Result<(), Error> {
        self.alive()?;
        if snap.id != self.0.id {
            return Err(Error::ImportMismatch(format!("ID `{}` is not `{}`", snap.id, self.0.id)));
        }
        let schema = self.schema();
        if snap.state_names.len() != schema.len() || snap.time.len() != schema.len() {
            return Err(Error::ImportMismatch(format!(
                "{} states, machine has {}",
                snap.state_names.len(),
                schema.len()
            )));
        }
        {
            let mut st = lock(&self.0.st);
            if st.running {
                return Err(Error::Busy);
            }
            st.time.copy_from_slice(&snap.time);
            st.active.clear();
            for (i, t) in snap.time.iter().enumerate() {
                if t % 2 == 1 {
                    st.active.insert(i);
                }
            }
            st.rebuild_active_list(&schema);
            st.queue_tick = snap.queue_tick;
            st.machine_tick = snap.machine_tick + 1;
        }
        if let Some(r) = schema.restored {
            self.add(&[schema.name(r)])?;
        }
        Ok(())
    }
}

/// Exported machine clocks; see [`Machine::export`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Snapshot {
    /// Machine ID.
    pub id: String,
    /// State names, schema index order.
    pub state_names: Vec<String>,
    /// Ticks, schema index order.
    pub time: Vec<u64>,
    /// Queue tick.
    pub queue_tick: u64,
    /// Number of imports.
    pub machine_tick: u64,
}
