//! Binding tracers (each attached once per machine, detached by the key it returned) and
//! handler sets; the list every hook is dispatched to.

use std::sync::Arc;
use std::sync::atomic::Ordering::{Relaxed, Release};

use crate::dispatch::Dispatch;
use crate::error::Error;
use crate::handlers::{HandlerTable, Handlers};
use crate::tracer::{Attach, Tracer, TracerId};
use crate::unpoison::Unpoison;

use super::*;

impl Machine {
    /// Bound tracers, in call order: what was bound (by the builder, `bind_tracer` or
    /// inheritance), not what each attached.
    pub fn tracers(&self) -> TracerList {
        let g = self.0.tracers.read().unpoison();
        g.tracers.iter().map(|b| b.tracer.clone()).collect::<Vec<_>>().into()
    }

    /// What receives this machine's hooks: each bound tracer's answer to `attach`. Every hook
    /// goes through it (the runner caches it per bind).
    pub(crate) fn dispatch(&self) -> Dispatch {
        self.0.tracers.read().unpoison().dispatch.clone()
    }

    /// Asks `t` what receives this machine's hooks ([`Tracer::attach`]).
    pub(super) fn attach(&self, t: Arc<dyn Tracer>) -> BoundTracer {
        let hooks = match t.attach(self) {
            Attach::Itself => Some(t.clone()),
            Attach::With(h) => Some(h),
            Attach::Decline => None,
        };
        BoundTracer { tracer: t, hooks, key: TracerId::next() }
    }

    pub(super) fn set_bound(&self, list: Vec<BoundTracer>) {
        let mut g = self.0.tracers.write().unpoison();
        self.store_bound(&mut g, list);
    }

    pub(super) fn store_bound(&self, g: &mut Bound, list: Vec<BoundTracer>) {
        let hooks: Vec<Arc<dyn Tracer>> = list.iter().filter_map(|b| b.hooks.clone()).collect();
        self.0.timing.store(hooks.iter().any(|t| t.wants_timing()), Relaxed);
        self.0.has_tracers.store(!hooks.is_empty(), Relaxed);
        *g = Bound { tracers: list.into(), dispatch: Dispatch::new(hooks) };
        self.0.bind_version.fetch_add(1, Release);
    }

    /// Binds a tracer now: it is attached ([`Tracer::attach`]) and what it attached gets
    /// `machine_init`. Binding the same tracer (the same `Arc`) again returns its existing
    /// key; a different tracer is bound beside the others, whatever its `id`. On a disposed
    /// machine this does nothing and returns [`TracerId::NONE`].
    pub fn bind_tracer(&self, t: Arc<dyn Tracer>) -> TracerId {
        if self.is_disposing() {
            return TracerId::NONE;
        }
        if let Some(key) = self.bound_key(&t) {
            return key;
        }
        // attach runs unlocked: it may query the machine
        let b = self.attach(t);
        let (key, hooks) = (b.key, b.hooks.clone());
        {
            let mut g = self.0.tracers.write().unpoison();
            if let Some(other) = g.tracers.iter().find(|x| Arc::ptr_eq(&x.tracer, &b.tracer)) {
                return other.key; // bound meanwhile by another thread
            }
            let mut list = g.tracers.to_vec();
            list.push(b);
            self.store_bound(&mut g, list);
        }
        if let Some(h) = hooks {
            Dispatch::new(vec![h]).machine_init(self);
        }
        key
    }

    pub(super) fn bound_key(&self, t: &Arc<dyn Tracer>) -> Option<TracerId> {
        let g = self.0.tracers.read().unpoison();
        g.tracers.iter().find(|x| Arc::ptr_eq(&x.tracer, t)).map(|x| x.key)
    }

    /// Detaches the binding `key` returned by [`bind_tracer`](Self::bind_tracer); returns
    /// whether it was bound.
    pub fn detach(&self, key: TracerId) -> bool {
        self.detach_where(|b| b.key == key)
    }

    /// Detaches the tracer with this `id` when exactly one bound tracer has it; returns
    /// whether one was detached. Two tracers bound with one id are told apart only by their
    /// keys: use [`detach`](Self::detach) then.
    pub fn detach_tracer(&self, id: &str) -> bool {
        let n = self.0.tracers.read().unpoison().tracers.iter().filter(|b| b.tracer.id() == id).count();
        n == 1 && self.detach_where(|b| b.tracer.id() == id)
    }

    pub(super) fn detach_where(&self, f: impl Fn(&BoundTracer) -> bool) -> bool {
        let mut g = self.0.tracers.write().unpoison();
        let list: Vec<BoundTracer> = g.tracers.iter().filter(|b| !f(b)).cloned().collect();
        if list.len() == g.tracers.len() {
            return false;
        }
        self.store_bound(&mut g, list);
        true
    }
    /// Binds a handler set. Fails with `UnknownState` when a name does not fit the schema
    /// (nothing is bound then), and with `Disposed` on a disposed machine. Takes effect from
    /// the next transition.
    pub fn bind_handlers(&self, h: Handlers) -> Result<(), Error> {
        self.alive()?;
        let schema = self.schema();
        let mut g = self.0.handlers.write().unpoison();
        let mut table = HandlerTable::clone(&g);
        table.bind(&schema, h)?;
        *g = Arc::new(table);
        self.0.has_handlers.store(true, Relaxed);
        self.0.bind_version.fetch_add(1, Release);
        Ok(())
    }
    /// Drops every handler of the set named `name`.
    pub fn unbind_handlers(&self, name: &str) {
        let mut g = self.0.handlers.write().unpoison();
        let mut t = HandlerTable::clone(&g);
        let keep = |e: &crate::handlers::Entry| &*e.binding != name;
        for v in [&mut t.enter, &mut t.exit, &mut t.state, &mut t.end, &mut t.self_h] {
            v.iter_mut().for_each(|l| l.retain(keep));
        }
        t.pairs.iter_mut().for_each(|l| l.retain(|(_, e)| keep(e)));
        t.any_enter.retain(keep);
        t.any_state.retain(keep);
        t.bindings.retain(|b| &**b != name);
        self.0.has_handlers.store(!t.bindings.is_empty(), Relaxed);
        *g = Arc::new(t);
        self.0.bind_version.fetch_add(1, Release);
    }
    pub(crate) fn handler_table(&self) -> Arc<HandlerTable> {
        self.0.handlers.read().unpoison().clone()
    }
}
