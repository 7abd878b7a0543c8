//! Schema growth, export/import, binding and unbinding, bad input, logging.

use std::sync::{Arc, Mutex};

use am_core::testing::{Hook, Recorder};
use am_core::{Error, Handlers, LogLevel, Machine, MutResult, Schema, State, Tracer, Transition, err_msg};

fn plain() -> Schema {
    Schema::builder().states(["A", "B"]).build().unwrap()
}

#[test]
fn schema_grows_only() {
    let rec = Recorder::new("rec");
    let m = Machine::builder(plain()).tracer(rec.clone()).build();
    m.add(&["A"]).unwrap();
    let bigger = Schema::builder().states(["A", "B", "Exception", "C"]).build().unwrap();
    m.set_schema(bigger).unwrap();
    assert!(rec.hooks().iter().any(|h| matches!(h, Hook::SchemaChange(_))));
    assert_eq!(m.tick("C").unwrap(), 0);
    assert_eq!(m.add(&["C"]).unwrap(), MutResult::Executed);
    assert_eq!(m.active_states(), ["A", "C"]);
    let smaller = plain();
    assert!(matches!(m.set_schema(smaller), Err(Error::SchemaShrink(_))));
    let reordered = Schema::builder().states(["B", "A", "Exception", "C", "D"]).build().unwrap();
    assert!(matches!(m.set_schema(reordered), Err(Error::SchemaShrink(_))));
}

#[test]
fn set_schema_is_refused_during_a_transition() {
    let m = Machine::new(plain());
    let got = Arc::new(Mutex::new(None));
    let g = got.clone();
    m.bind_handlers(Handlers::new("h").state("A", move |e| {
        let bigger = Schema::builder().states(["A", "B", "Exception", "C"]).build().unwrap();
        *g.lock().unwrap() = Some(e.machine().set_schema(bigger));
    }))
    .unwrap();
    m.add(&["A"]).unwrap();
    assert_eq!(*got.lock().unwrap(), Some(Err(Error::Busy)));
}

#[test]
fn export_import_round_trip() {
    let schema = || Schema::builder().states(["A", "B", "MachineRestored"]).build().unwrap();
    let a = Machine::builder(schema()).id("m1").build();
    a.add(&["A"]).unwrap();
    a.remove(&["A"]).unwrap();
    a.add(&["A", "B"]).unwrap();
    let snap = a.export();
    let b = Machine::builder(schema()).id("m1").build();
    b.import(&snap).unwrap();
    assert_eq!(b.tick("A").unwrap(), 3);
    assert!(b.is(&["A", "B", "MachineRestored"]).unwrap());
    assert_eq!(b.export().machine_tick, 1);
    let other = Machine::builder(schema()).id("m2").build();
    assert!(matches!(other.import(&snap), Err(Error::ImportMismatch(_))));
}

#[test]
fn detach_tracer_and_unbind_handlers() {
    let rec = Recorder::new("rec");
    let m = Machine::builder(plain()).tracer(rec.clone()).build();
    let calls = Arc::new(Mutex::new(0));
    let c = calls.clone();
    m.bind_handlers(Handlers::new("h").state("A", move |_| *c.lock().unwrap() += 1)).unwrap();
    m.add(&["A"]).unwrap();
    assert_eq!(rec.ends().len(), 1);
    assert!(m.detach_tracer("rec"));
    assert!(!m.detach_tracer("rec"));
    m.unbind_handlers("h");
    m.remove(&["A"]).unwrap();
    m.add(&["A"]).unwrap();
    assert_eq!(rec.ends().len(), 1);
    assert_eq!(*calls.lock().unwrap(), 1);
    // binding the same tracer again changes nothing; it keeps its key
    let one: Arc<dyn Tracer> = Arc::new(rec.clone());
    let key = m.bind_tracer(one.clone());
    assert_eq!(m.bind_tracer(one), key);
    m.remove(&["A"]).unwrap();
    assert_eq!(rec.ends().len(), 2);
    // a different tracer with the same id is bound beside it, never instead of it
    let other = m.bind_tracer(Arc::new(rec.clone()));
    assert_ne!(other, key);
    m.add(&["A"]).unwrap();
    assert_eq!(rec.ends().len(), 4, "both record");
    assert!(!m.detach_tracer("rec"), "ambiguous: two tracers have this id");
    assert!(m.detach(other) && !m.detach(other));
    m.remove(&["A"]).unwrap();
    assert_eq!(rec.ends().len(), 5);
    assert!(m.detach_tracer("rec"));
}

/// Attaching: every binding asks the tracer once per machine, and hooks go to what it
/// answered — a tracer made for the machine, or nothing.
#[test]
fn tracers_attach_per_machine() {
    use am_core::{Attach, Interest, Transition};
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    /// Machine IDs and their counters.
    type Made = Arc<Mutex<Vec<(String, Arc<AtomicU64>)>>>;
    /// Makes a counter per machine; declines machines tagged "skip".
    struct PerMachine(Made);
    struct Counter(Arc<AtomicU64>);
    impl Tracer for Counter {
        fn id(&self) -> &str {
            "counter"
        }
        fn interest(&self) -> Interest {
            Interest::TRANSITION_END
        }
        fn transition_end(&self, _: &Transition<'_>) {
            self.0.fetch_add(1, Relaxed);
        }
    }
    impl Tracer for PerMachine {
        fn id(&self) -> &str {
            "per-machine"
        }
        fn inheritable(&self) -> bool {
            true
        }
        fn attach(&self, m: &Machine) -> Attach {
            if m.tags().iter().any(|t| t == "skip") {
                return Attach::Decline;
            }
            let c = Arc::new(AtomicU64::new(0));
            self.0.lock().unwrap().push((m.id().to_string(), c.clone()));
            Attach::With(Arc::new(Counter(c)))
        }
        fn transition_end(&self, _: &Transition<'_>) {
            panic!("the factory gets no hooks");
        }
    }
    let made = Arc::new(Mutex::new(Vec::new()));
    let root = Machine::builder(plain()).id("root").tracer(PerMachine(made.clone())).build();
    let skipped = Machine::builder(plain()).id("skipped").parent(&root).tags(["skip"]).build();
    let grandchild = Machine::builder(plain()).id("grandchild").parent(&skipped).build();
    let late = Machine::new(plain());
    late.bind_tracer(Arc::new(PerMachine(made.clone())));
    for m in [&root, &skipped, &grandchild, &late] {
        m.add(&["A"]).unwrap();
    }
    root.add(&["B"]).unwrap();
    let made = made.lock().unwrap();
    let counts: Vec<(&str, u64)> = made.iter().map(|(id, c)| (id.as_str(), c.load(Relaxed))).collect();
    assert_eq!(counts, [("root", 2), ("grandchild", 1), (late.id(), 1)]);
    assert_eq!(skipped.tracers().len(), 1, "declined, still bound and passed on");
}

#[test]
fn bad_handler_names_bind_nothing() {
    let m = Machine::new(plain());
    let r = m.bind_handlers(Handlers::new("h").state("A", |_| {}).enter("Nope", |_| true));
    assert_eq!(r, Err(Error::UnknownState("Nope".into())));
    let r = m.bind_handlers(Handlers::new("h").negotiation("AZ", |_| true));
    let Err(Error::InvalidHandler { name, reason }) = r else { panic!("{r:?}") };
    assert_eq!(name, "AZ");
    assert!(reason.contains("`AEnter`") && reason.contains("states here: A, B"), "{reason}");
    // a closure of the wrong kind for its name
    let r = m.bind_handlers(Handlers::new("h").negotiation("AState", |_| true));
    assert!(matches!(&r, Err(Error::InvalidHandler { reason, .. }) if reason.contains("final handler")), "{r:?}");
    let r = m.bind_handlers(Handlers::new("h").final_handler("AEnter", |_| {}));
    assert!(matches!(&r, Err(Error::InvalidHandler { reason, .. }) if reason.contains("negotiation handler")), "{r:?}");
    // nothing from the failed sets was bound: a transition runs no handler
    let rec = Recorder::new("rec");
    m.bind_tracer(Arc::new(rec.clone()));
    m.add(&["A"]).unwrap();
    assert!(!rec.hooks().iter().any(|h| matches!(h, Hook::HandlerStart(..))));
}

#[test]
fn handler_panics_are_reraised_when_asked() {
    let m = Machine::builder(plain()).panic_to_exception(false).build();
    m.bind_handlers(Handlers::new("h").state("A", |_| panic!("boom"))).unwrap();
    let m2 = m.clone();
    let r = std::thread::spawn(move || m2.add(&["A"])).join();
    assert!(r.is_err(), "the panic reached the caller");
    // the machine is still usable: the runner flag was released
    assert!(!m.is_busy());
    assert_eq!(m.add(&["B"]).unwrap(), MutResult::Executed);
}

#[test]
fn queue_limit_cancels_but_lets_errors_in() {
    let m = Machine::builder(plain()).queue_limit(2).build();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    m.bind_handlers(Handlers::new("h").state("A", move |e| {
        let m = e.machine();
        let mut g = g.lock().unwrap();
        g.push(m.add(&["B"]).unwrap());
        g.push(m.remove(&["B"]).unwrap());
        g.push(m.add_args(&["B"], am_core::Args::new().with("x", 1)).unwrap());
        g.push(m.add_err(err_msg("full")).unwrap());
    }))
    .unwrap();
    m.add(&["A"]).unwrap();
    let got = got.lock().unwrap().clone();
    assert!(matches!(got[0], MutResult::Queued(_)));
    assert!(matches!(got[1], MutResult::Queued(_)));
    assert_eq!(got[2], MutResult::Canceled);
    assert!(matches!(got[3], MutResult::Queued(_)), "Exception passes a full queue");
    assert!(m.is_err());
}

#[test]
fn unknown_names_everywhere() {
    let m = Machine::new(plain());
    assert!(matches!(m.is(&["X"]), Err(Error::UnknownState(_))));
    assert!(matches!(m.when(&["X"]), Err(Error::UnknownState(_))));
    assert!(matches!(m.state_ctx("X"), Err(Error::UnknownState(_))));
    assert!(matches!(m.can_add(&["X"]), Err(Error::UnknownState(_))));
    assert!(matches!(m.add_err_state("X", err_msg("e"), None), Err(Error::UnknownState(_))));
    assert!(m.last_error().is_none(), "a failed call records nothing");
}

#[test]
fn log_entries_reach_tracers_and_transitions() {
    #[derive(Default)]
    struct Logs(Mutex<Vec<(Option<String>, String)>>, Mutex<Vec<(Vec<String>, Vec<String>)>>);
    impl Tracer for Logs {
        fn id(&self) -> &str {
            "logs"
        }
        fn log(&self, _m: &Machine, tx: Option<&str>, e: &am_core::LogEntry) {
            self.0.lock().unwrap().push((tx.map(String::from), e.text.clone()));
        }
        fn transition_end(&self, tx: &Transition<'_>) {
            let texts = |l: &[am_core::LogEntry]| l.iter().map(|e| e.text.clone()).collect::<Vec<_>>();
            self.1.lock().unwrap().push((texts(tx.pre_log_entries()), texts(tx.log_entries())));
        }
    }
    let logs = Arc::new(Logs::default());
    let m = Machine::builder(Schema::builder().state("A", State::new()).states(["B"]).build().unwrap())
        .id("logger-machine")
        .log_level(LogLevel::Changes)
        .tracer_arc(logs.clone())
        .build();
    m.log("hello");
    m.add(&["A"]).unwrap();
    let entries = logs.0.lock().unwrap().clone();
    assert_eq!(entries[0], (None, "[logge] hello".to_string()));
    assert_eq!(entries[1].1, "[logge] [state] +A");
    assert!(entries[1].0.as_deref().is_some_and(|id| id.len() == 16));
    let tx = logs.1.lock().unwrap()[0].clone();
    assert_eq!(tx.0, ["[logge] hello"]);
    assert_eq!(tx.1, ["[logge] [state] +A"]);
    // level Nothing records nothing
    m.set_log_level(LogLevel::Nothing);
    m.log("quiet");
    m.remove(&["A"]).unwrap();
    assert_eq!(logs.0.lock().unwrap().len(), 2);
}

#[test]
fn transition_ids_are_unique_hex() {
    let rec = Recorder::new("rec");
    let m = Machine::builder(plain()).tracer(rec.clone()).build();
    for _ in 0..50 {
        m.add(&["A"]).unwrap();
        m.remove(&["A"]).unwrap();
    }
    let mut ids: Vec<String> = rec.ends().into_iter().map(|t| t.id).collect();
    assert!(ids.iter().all(|i| i.len() == 16 && i.chars().all(|c| c.is_ascii_hexdigit())));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 100);
}

#[test]
fn event_validity_ends_with_the_transition() {
    let m = Machine::new(plain());
    let kept = Arc::new(Mutex::new(None));
    let k = kept.clone();
    m.bind_handlers(Handlers::new("h").state("A", move |e| {
        assert!(e.is_valid());
        *k.lock().unwrap() = Some(e.validity());
    }))
    .unwrap();
    m.add(&["A"]).unwrap();
    assert!(!kept.lock().unwrap().as_ref().unwrap().is_valid());
}

#[test]
fn decision_log_lines() {
    let rec = Recorder::new("rec");
    let s = Schema::builder()
        .state("A", State::new().add(["B"]).remove(["C"]))
        .state("B", State::new())
        .state("C", State::new())
        .state("D", State::new().require(["C"]))
        .build()
        .unwrap();
    let m = Machine::builder(s).id("dec").log_level(LogLevel::Decisions).tracer(rec.clone()).build();
    m.add(&["C"]).unwrap();
    m.add(&["A"]).unwrap();
    m.add(&["D"]).unwrap();
    let texts: Vec<String> =
        rec.hooks().into_iter().filter_map(|h| if let Hook::Log(_, e) = h { Some(e.text) } else { None }).collect();
    for want in [
        "[dec] [queue:add] A",
        "[dec] [add] A",
        "[dec] [implied] B",
        "[dec] [rel:remove] C by A",
        "[dec] [state] +A +B -C",
        "[dec] [reject] D(-C)",
        "[dec] [cancel:reject] D",
    ] {
        assert!(texts.iter().any(|t| t == want), "missing {want:?} in {texts:#?}");
    }
}

/// A disposed machine answers `Err(Disposed)` to everything that would change it, so a
/// caller can tell it from a canceled transition; binding handlers no longer panics.
#[test]
fn a_disposed_machine_says_so() {
    let m = Machine::new(plain());
    m.add(&["A"]).unwrap();
    m.dispose();
    let d = Err(Error::Disposed);
    assert_eq!(m.bind_handlers(Handlers::new("late").state("A", |_| {})), d);
    assert_eq!(m.add(&["B"]), Err(Error::Disposed));
    assert_eq!(m.remove(&["A"]), Err(Error::Disposed));
    assert_eq!(m.set(&["B"]), Err(Error::Disposed));
    assert_eq!(m.toggle(&["B"]), Err(Error::Disposed));
    assert_eq!(m.add_err(err_msg("late")), Err(Error::Disposed));
    assert_eq!(m.add_err_state("A", err_msg("late"), None), Err(Error::Disposed));
    assert!(m.last_error().is_none(), "a refused add_err stores nothing");
    assert_eq!(m.can_add(&["B"]), Err(Error::Disposed));
    assert_eq!(m.set_schema(Schema::builder().states(["A", "B", "C"]).build().unwrap()), d);
    assert_eq!(m.import(&m.export()), d);
    // documented no-ops and answers
    m.bind_tracer(Arc::new(Recorder::new("late")));
    assert!(m.tracers().is_empty());
    m.unbind_handlers("late");
    assert!(!m.is1("A"), "queries see no active state");
}

/// The last handle of a machine that was never disposed goes: pending waits complete with
/// `Disposed`, tracers hear of it, callbacks run.
#[test]
fn dropping_the_last_handle_disposes() {
    let rec = Recorder::new("rec");
    let m = Machine::builder(plain()).id("dropped").tracer(rec.clone()).build();
    let w = m.when(&["A"]).unwrap();
    let gone = m.when_disposed();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    m.on_dispose(move |id| c.lock().unwrap().push(id.to_string()));
    drop(m);
    assert_eq!(w.wait_timeout(std::time::Duration::from_secs(1)), Err(am_core::WaitError::Disposed));
    assert_eq!(gone.wait_timeout(std::time::Duration::from_secs(1)), Ok(()));
    assert_eq!(*calls.lock().unwrap(), ["dropped"]);
    assert_eq!(rec.hooks().iter().filter(|h| matches!(h, Hook::MachineDispose(_))).count(), 1);
}

/// `dispose_force` finishes disposal at once while another thread's transition is still in a
/// handler: waits and queued mutations end, callbacks run, and the running transition
/// completes afterwards without resuming the queue.
#[test]
fn dispose_force_mid_queue() {
    use std::sync::mpsc;
    use std::time::Duration;
    let m = Machine::new(Schema::builder().states(["A", "B", "C"]).build().unwrap());
    let (entered_tx, entered) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    m.bind_handlers(Handlers::new("h").state("A", move |_| {
        entered_tx.send(()).unwrap();
        released.lock().unwrap().recv().unwrap();
    }))
    .unwrap();
    let runner = {
        let m = m.clone();
        std::thread::spawn(move || m.add(&["A"]))
    };
    entered.recv().unwrap();
    // the runner is inside AState: a mutation from here is queued
    let MutResult::Queued(t) = m.add(&["B"]).unwrap() else { panic!("not queued") };
    let queued = m.when_queue(t);
    let waiting = m.when(&["C"]).unwrap();
    let calls = Arc::new(Mutex::new(0));
    let c = calls.clone();
    m.on_dispose(move |_| *c.lock().unwrap() += 1);
    m.dispose_force();
    assert!(m.is_disposed() && m.when_disposed().is_ready(), "disposed before returning");
    assert_eq!(m.queue_len(), 0, "queued mutations are dropped");
    assert_eq!(queued.wait_timeout(Duration::from_secs(1)), Err(am_core::WaitError::Disposed));
    assert_eq!(waiting.wait_timeout(Duration::from_secs(1)), Err(am_core::WaitError::Disposed));
    assert_eq!(*calls.lock().unwrap(), 1);
    assert_eq!(m.add(&["C"]), Err(Error::Disposed));
    // the running transition completes; the queue does not resume
    release.send(()).unwrap();
    assert_eq!(runner.join().unwrap(), Ok(MutResult::Executed));
    m.dispose();
    assert_eq!(*calls.lock().unwrap(), 1, "callbacks ran once");
}
