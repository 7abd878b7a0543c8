//! The Go `pkg/machine` API porting users look for, in its Rust form: queue inspection
//! (`IsQueued`, `WillBe*`, `Queue`), schema queries (`Has`, `Index1`, `RelationsOf`,
//! `RelationsBetween`, `Inspect`), single-state and `Ev*` forms, `PanicToErr*`.

use std::sync::{Arc, Mutex};

use am_core::MutationKind::{Add, Remove, Set};
use am_core::{
    Error, Handlers, Machine, MutResult, Position, QueueQuery, Queued, Relation, Schema, Source, State, err_msg,
};

fn abc() -> Machine {
    Machine::new(Schema::builder().states(["A", "B", "C", "D"]).build().unwrap())
}

/// Runs `f` inside AState, where mutations are queued, and returns what it returned.
fn inside<T: Send + 'static>(m: &Machine, f: impl Fn(&Machine) -> T + Send + Sync + 'static) -> T {
    let out = Arc::new(Mutex::new(None));
    let o = out.clone();
    m.bind_handlers(Handlers::new("probe").state("A", move |e| *o.lock().unwrap() = Some(f(e.machine())))).unwrap();
    m.add(&["A"]).unwrap();
    m.unbind_handlers("probe");
    let r = out.lock().unwrap().take();
    r.expect("AState ran")
}

#[test]
fn is_queued_and_its_options() {
    let m = abc();
    let found = inside(&m, |m| {
        m.add(&["B", "C"]).unwrap(); // index 0
        m.add_args(&["B"], am_core::Args::new().with("k", 1)).unwrap(); // index 1
        m.remove(&["D"]).unwrap(); // index 2
        let q = |kind, states: &'static [&'static str]| QueueQuery::new(kind, states);
        let tick0 = m.queue()[0].queue_tick();
        (
            m.is_queued(&q(Add, &["B"])).unwrap(),
            m.is_queued(&q(Add, &["B"]).strict()).unwrap(),
            m.is_queued(&q(Add, &["B"]).strict().without_args()).unwrap(),
            m.is_queued(&q(Remove, &["D"]).position(Position::Last)).unwrap(),
            m.is_queued(&q(Remove, &["D"]).position(Position::First)).unwrap(),
            m.is_queued(&q(Add, &["B"]).min_tick(tick0 + 1)).unwrap(),
            m.is_queued(&q(Add, &["B"]).checks()).unwrap(),
            m.count_queued(&q(Add, &["B"])).unwrap(),
            m.is_queued(&q(Add, &["Nope"])),
            tick0,
        )
    });
    let (any, strict, strict_no_args, last, first, later, checks, count, unknown, tick0) = found;
    assert_eq!(any, Some(Queued { index: 0, tick: tick0 }), "superset match, first one");
    assert_eq!(strict, Some(Queued { index: 1, tick: tick0 + 1 }), "exactly [B]");
    assert_eq!(strict_no_args, None, "the [B] one has args");
    assert_eq!(last, Some(Queued { index: 2, tick: tick0 + 2 }), "the real queue index");
    assert_eq!(first, None, "the head is an add");
    assert_eq!(later.map(|q| q.index), Some(1));
    assert_eq!(checks, None);
    assert_eq!(count, 2);
    assert_eq!(unknown, Err(Error::UnknownState("Nope".into())));
    // an empty queue is no match (Go panics on PositionFirst)
    assert_eq!(m.is_queued(&QueueQuery::new(Add, &["B"]).position(Position::First)), Ok(None));
}

#[test]
fn will_be_counts_adds_sets_and_removes() {
    let m = abc();
    let (b, c, any, d_removed, c_removed_by_set, order) = inside(&m, |m| {
        m.add(&["B"]).unwrap();
        m.set(&["C"]).unwrap();
        m.remove(&["D"]).unwrap();
        let order: Vec<_> = m.queue().iter().map(|q| q.kind()).collect();
        (
            m.will_be(&["B"]).unwrap(),
            m.will_be1("C").unwrap(),
            m.will_be_any(&["D", "C"]).unwrap(),
            m.will_be_removed1("D").unwrap(),
            m.will_be_removed(&["A"]).unwrap(),
            order,
        )
    });
    assert!(b && c && any && d_removed);
    assert!(c_removed_by_set, "set([C]) drops A");
    assert_eq!(order, [Add, Set, Remove]);
    assert!(!m.will_be(&["B"]).unwrap(), "the queue ran");
    assert!(m.will_be(&["Nope"]).is_err());
}

#[test]
fn inspect_as_go_prints_it() {
    // Go's TestInspect
    let s = Schema::builder()
        .state("A", State::new().auto().require(["C"]))
        .state("B", State::new().multi().add(["C"]))
        .state("C", State::new().after(["D"]))
        .state("D", State::new().add(["C", "B"]))
        .build()
        .unwrap();
    let m = Machine::new(s);
    m.set(&["A", "C"]).unwrap();
    let want = "1 A\n    |Tick     1\n    |Auto     true\n    |Require  C\n\
                0 B\n    |Tick     0\n    |Multi    true\n    |Add      C\n\
                1 C\n    |Tick     1\n    |After    D\n\
                0 D\n    |Tick     0\n    |Add      C B\n\
                0 Exception\n    |Tick     0\n    |Multi    true\n";
    assert_eq!(m.inspect(&["A", "B", "C", "D", "Exception"]).unwrap(), want);
    assert_eq!(m.inspect(&[]).unwrap(), want, "all states, in schema order");
    assert!(m.inspect(&["Nope"]).is_err());
    m.dispose();
    assert_eq!(m.inspect(&[]).unwrap(), "");
}

#[test]
fn schema_queries() {
    let s = Schema::builder()
        .state("A", State::new().add(["B", "C"]).after(["B"]))
        .state("B", State::new().remove(["A"]).require(["C"]))
        .states(["C"])
        .build()
        .unwrap();
    assert_eq!(s.relations_of("A").unwrap(), [Relation::Add, Relation::After]);
    assert_eq!(s.relations_of("B").unwrap(), [Relation::Require, Relation::Remove]);
    let ab = s.relations_between("A", "B").unwrap();
    assert_eq!((ab.forward, ab.backward), (vec![Relation::Add, Relation::After], vec![Relation::Remove]));
    assert_eq!(s.inbound_relations_of("C").unwrap(), [("A", Relation::Add), ("B", Relation::Require)]);
    assert!(s.relations_between("A", "Nope").is_err());
    let m = Machine::new(s);
    assert!(m.has_states(&[]) && m.has_states(&["A", "C"]) && !m.has_state("D"));
    assert_eq!(m.state_index("C"), Some(2));
    assert_eq!(m.state_index("Exception"), Some(3));
}

#[test]
fn single_state_forms() {
    let m = abc();
    assert_eq!(m.toggle1("A").unwrap(), MutResult::Executed);
    assert!(m.is1("A") && m.not1("B"));
    assert_eq!(m.toggle1("A").unwrap(), MutResult::Executed);
    assert!(m.not1("A"));
    assert_eq!(m.can_add1("B").unwrap(), MutResult::Executed);
    assert_eq!(m.can_remove1("B").unwrap(), MutResult::Executed);
    let (on, off) = (m.when1("B").unwrap(), m.when_not1("C").unwrap());
    assert!(!on.is_ready() && off.is_ready());
    m.add(&["B"]).unwrap();
    assert!(on.is_ready());
    assert!(m.toggle1("Nope").is_err());
}

#[test]
fn ev_forms_record_their_source() {
    let m = Machine::new(
        Schema::builder().states(["A", "B", "C"]).state("ErrX", State::new().require(["Exception"])).build().unwrap(),
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let record = move |e: &am_core::Event<'_>| {
        s.lock().unwrap().push((e.handler().to_string(), e.mutation().source().map(|s| s.tx_id.clone())));
    };
    let (r1, r2, r3) = (record.clone(), record.clone(), record);
    m.bind_handlers(
        Handlers::new("h")
            .state("A", |e| {
                let m = e.machine();
                m.ev_add(e, &["B"], None).unwrap();
                m.ev_toggle(e, &["C"], None).unwrap();
                m.ev_add_err_state(e, "ErrX", err_msg("x"), None).unwrap();
            })
            .state("B", move |e| r1(e))
            .state("C", move |e| r2(e))
            .state("ErrX", move |e| r3(e)),
    )
    .unwrap();
    m.add(&["A"]).unwrap();
    let a_tx = {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3, "{seen:?}");
        let id = seen[0].1.clone().expect("a source");
        assert!(seen.iter().all(|(_, src)| src.as_deref() == Some(id.as_str())), "{seen:?}");
        id
    };
    assert_eq!(m.last_error().unwrap().to_string(), "x");
    // from outside any handler
    let src = Source { machine_id: "elsewhere".into(), tx_id: "t1".into(), machine_time: 3 };
    assert_eq!(m.ev_set(src.clone(), &["B"], None).unwrap(), MutResult::Executed);
    assert_eq!(m.ev_remove(src.clone(), &["B"], None).unwrap(), MutResult::Executed);
    assert_eq!(m.ev_add_err(src, err_msg("y")).unwrap(), MutResult::Executed);
    assert!(!a_tx.is_empty());
}

#[test]
fn panics_to_errors() {
    let m = Machine::new(
        Schema::builder().state("ErrDisk", State::new().require(["Exception"])).states(["A"]).build().unwrap(),
    );
    assert_eq!(m.panic_to_err_state("ErrDisk", || -> u8 { panic!("disk full") }), None);
    assert!(m.is1("ErrDisk") && m.is_err());
    assert_eq!(m.last_error().unwrap().to_string(), "panic: disk full");
    // a String payload keeps its text too (Go loses it)
    assert_eq!(m.panic_to_err(|| -> u8 { panic!("{}", String::from("owned")) }), None);
    assert_eq!(m.last_error().unwrap().to_string(), "panic: owned");
    // off: the panic goes on
    let strict = Machine::builder(Schema::builder().states(["A"]).build().unwrap()).panic_to_exception(false).build();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| strict.panic_to_err(|| panic!("loud"))));
    assert!(r.is_err());
    assert!(!strict.is_err());
}

#[test]
fn switch_returns_the_first_active_of_the_list_as_given() {
    let m = abc();
    m.add(&["B", "D"]).unwrap();
    assert_eq!(m.switch(&["A", "B", "D"]).unwrap(), Some("B"));
    // a repeated name keeps its place (positions map back to the list as given)
    assert_eq!(m.switch(&["A", "A", "D", "B"]).unwrap(), Some("D"));
    assert_eq!(m.switch(&["A", "C"]).unwrap(), None);
    assert!(matches!(m.switch(&["A", "Nope"]), Err(Error::UnknownState(n)) if n == "Nope"));
    // more names than the inline lookup takes
    let many = ["A", "C", "A", "C", "A", "C", "A", "C", "A", "D"];
    assert_eq!(m.switch(&many).unwrap(), Some("D"));
    assert!(m.not(&many[..9]).unwrap());
    assert!(!m.is(&many).unwrap());
}

#[test]
fn single_state_ev_forms_and_filtered_active_states() {
    let m = abc();
    let src = || Source { machine_id: "other".into(), tx_id: "t1".into(), machine_time: 3 };
    assert_eq!(m.ev_add1(src(), "A", None).unwrap(), MutResult::Executed);
    assert_eq!(m.ev_add1(src(), "C", None).unwrap(), MutResult::Executed);
    assert_eq!(m.active_states_in(&["D", "C", "A"]).unwrap(), ["A", "C"]);
    assert_eq!(m.ev_remove1(src(), "A", None).unwrap(), MutResult::Executed);
    assert_eq!(m.ev_toggle1(src(), "C", None).unwrap(), MutResult::Executed);
    assert!(m.active_states().is_empty());
    assert_eq!(m.ev_add1(src(), "Nope", None), Err(Error::UnknownState("Nope".into())));
    assert!(!m.any1(&["A", "B"]).unwrap());
}

#[test]
fn queries_after_dispose_answer_for_no_active_state_and_mutations_refuse() {
    let m = abc();
    m.add(&["A"]).unwrap();
    m.dispose();
    assert_eq!(m.add(&["B"]), Err(Error::Disposed));
    assert_eq!(m.is(&["A"]), Ok(false));
    assert!(!m.is1("A"));
    assert_eq!(m.not(&["A"]), Ok(true));
    assert_eq!(m.any(&[&["A"]]), Ok(false));
    assert_eq!(m.is(&["Nope"]), Err(Error::UnknownState("Nope".into())));
}

#[test]
fn a_state_requiring_itself_is_a_no_op_as_in_go() {
    let with = Schema::builder()
        .state("A", State::new().require(["A", "B"]))
        .state("B", State::new().require(["B"]))
        .build()
        .unwrap();
    let without = Schema::builder().state("A", State::new().require(["B"])).state("B", State::new()).build().unwrap();
    for s in [with, without] {
        let m = Machine::new(s);
        assert_eq!(m.add(&["A"]).unwrap(), MutResult::Canceled);
        assert_eq!(m.add(&["B"]).unwrap(), MutResult::Executed);
        assert_eq!(m.add(&["A"]).unwrap(), MutResult::Executed);
        assert_eq!(m.active_states(), ["B", "A"]);
    }
}
