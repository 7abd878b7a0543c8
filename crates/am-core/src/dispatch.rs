//! [`Dispatch`]: the tracers a machine's hooks go to, and the only caller of [`Tracer`]
//! hooks. Built once per bind from what each bound tracer attached; per hook it keeps the
//! tracers interested in it, so a hook site costs one branch when nobody listens and calls
//! only the tracers that asked for it.

use std::sync::Arc;

use crate::log::LogEntry;
use crate::machine::Machine;
use crate::mutation::Mutation;
use crate::schema::Schema;
use crate::tracer::{Interest, Tracer};
use crate::transition::Transition;

/// A list of tracers, shared.
pub(crate) type TracerList = Arc<[Arc<dyn Tracer>]>;

/// The per-transition hooks, in [`Interest`] bit order.
const HOOKS: [Interest; 8] = [
    Interest::MUTATION_QUEUED,
    Interest::TRANSITION_INIT,
    Interest::TRANSITION_START,
    Interest::HANDLERS,
    Interest::TRANSITION_FINALS,
    Interest::TRANSITION_END,
    Interest::QUEUE_END,
    Interest::LOG,
];

struct Lists {
    /// Every attached tracer, in bind order: lifecycle hooks go to all of them.
    all: TracerList,
    /// Per hook of [`HOOKS`], the tracers interested in it.
    by_hook: [TracerList; 8],
    interest: Interest,
}

/// What receives a machine's hooks; cheap to clone (one `Arc`), empty without tracers.
#[derive(Clone, Default)]
pub(crate) struct Dispatch(Option<Arc<Lists>>);

impl std::fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatch").field("tracers", &self.all().len()).field("interest", &self.interest()).finish()
    }
}

impl Dispatch {
    /// Dispatch to `tracers` (what each bound tracer attached), reading each one's
    /// [`interest`](Tracer::interest) once.
    pub(crate) fn new(tracers: Vec<Arc<dyn Tracer>>) -> Dispatch {
        if tracers.is_empty() {
            return Dispatch(None);
        }
        let interests: Vec<Interest> = tracers.iter().map(|t| t.interest()).collect();
        let by_hook = HOOKS
            .map(|h| tracers.iter().zip(&interests).filter(|(_, i)| i.intersects(h)).map(|(t, _)| t.clone()).collect());
        let interest = interests.iter().fold(Interest::NONE, |a, &i| a | i);
        Dispatch(Some(Arc::new(Lists { all: tracers.into(), by_hook, interest })))
    }

    /// No tracer receives this machine's hooks.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }
    /// The union of the tracers' interests.
    #[inline]
    pub(crate) fn interest(&self) -> Interest {
        self.0.as_ref().map_or(Interest::NONE, |l| l.interest)
    }
    /// Whether a tracer listens to any hook of `hooks`.
    #[inline]
    pub(crate) fn wants(&self, hooks: Interest) -> bool {
        self.interest().intersects(hooks)
    }
    /// Every tracer, in bind order.
    pub(crate) fn all(&self) -> &[Arc<dyn Tracer>] {
        self.0.as_ref().map_or(&[], |l| &l.all)
    }

    #[inline]
    fn each(&self, hook: usize, f: impl Fn(&dyn Tracer)) {
        if let Some(l) = &self.0 {
            l.by_hook[hook].iter().for_each(|t| f(&**t));
        }
    }

    // ---- lifecycle hooks: every tracer ----

    pub(crate) fn machine_init(&self, m: &Machine) {
        self.all().iter().for_each(|t| t.machine_init(m));
    }
    pub(crate) fn verify_states(&self, m: &Machine) {
        self.all().iter().for_each(|t| t.verify_states(m));
    }
    pub(crate) fn new_submachine(&self, parent: &Machine, child: &Machine) {
        self.all().iter().for_each(|t| t.new_submachine(parent, child));
    }
    pub(crate) fn schema_change(&self, m: &Machine, old: &Schema) {
        self.all().iter().for_each(|t| t.schema_change(m, old));
    }
    pub(crate) fn machine_dispose(&self, id: &str) {
        self.all().iter().for_each(|t| t.machine_dispose(id));
    }

    // ---- per-transition hooks: the tracers interested ----

    pub(crate) fn mutation_queued(&self, m: &Machine, mu: &Mutation) {
        self.each(0, |t| t.mutation_queued(m, mu));
    }
    pub(crate) fn transition_init(&self, tx: &Transition<'_>) {
        self.each(1, |t| t.transition_init(tx));
    }
    pub(crate) fn transition_start(&self, tx: &Transition<'_>) {
        self.each(2, |t| t.transition_start(tx));
    }
    pub(crate) fn handler_start(&self, tx: &Transition<'_>, binding: &str, handler: &str) {
        self.each(3, |t| t.handler_start(tx, binding, handler));
    }
    pub(crate) fn handler_end(&self, tx: &Transition<'_>, binding: &str, handler: &str) {
        self.each(3, |t| t.handler_end(tx, binding, handler));
    }
    pub(crate) fn transition_finals(&self, tx: &Transition<'_>) {
        self.each(4, |t| t.transition_finals(tx));
    }
    pub(crate) fn transition_end(&self, tx: &Transition<'_>) {
        self.each(5, |t| t.transition_end(tx));
    }
    pub(crate) fn queue_end(&self, m: &Machine) {
        self.each(6, |t| t.queue_end(m));
    }
    pub(crate) fn log(&self, m: &Machine, tx_id: Option<&str>, entry: &LogEntry) {
        self.each(7, |t| t.log(m, tx_id, entry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Rec(&'static str, Interest, Arc<Mutex<Vec<String>>>);
    impl Tracer for Rec {
        fn id(&self) -> &str {
            self.0
        }
        fn interest(&self) -> Interest {
            self.1
        }
        fn queue_end(&self, _m: &Machine) {
            self.2.lock().unwrap().push(format!("{} queue_end", self.0));
        }
        fn machine_dispose(&self, _id: &str) {
            self.2.lock().unwrap().push(format!("{} dispose", self.0));
        }
    }

    #[test]
    fn hooks_reach_the_interested_lifecycle_reaches_all() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let a: Arc<dyn Tracer> = Arc::new(Rec("a", Interest::LOG, seen.clone()));
        let b: Arc<dyn Tracer> = Arc::new(Rec("b", Interest::QUEUE_END, seen.clone()));
        let d = Dispatch::new(vec![a, b]);
        assert!(!d.is_empty() && d.wants(Interest::LOG) && !d.wants(Interest::TRANSITION_END));
        let m = Machine::new(Schema::builder().states(["A"]).build().unwrap());
        d.queue_end(&m);
        d.machine_dispose("x");
        assert_eq!(*seen.lock().unwrap(), ["b queue_end", "a dispose", "b dispose"]);
        assert!(Dispatch::new(Vec::new()).is_empty());
        assert_eq!(Dispatch::default().interest(), Interest::NONE);
    }
}
