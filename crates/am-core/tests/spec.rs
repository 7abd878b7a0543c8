//! The test cases of `shared/spec/core.md` §13, one test each, named after the case.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use MutResult::{Canceled as C, Executed as E, Queued as Q};
use am_core::testing::{Hook, Recorder, record_handlers};
use am_core::{Args, Error, Handlers, Machine, MutResult, Schema, SchemaBuilder, State, StepKind, err_msg};

fn plain() -> SchemaBuilder {
    Schema::builder().states(["A", "B", "C", "D"])
}

/// `Plain` with some states redefined.
fn plain_with(defs: &[(&str, State)]) -> Schema {
    let mut b = Schema::builder();
    for n in ["A", "B", "C", "D"] {
        let def = defs.iter().find(|(d, _)| *d == n).map(|(_, s)| s.clone()).unwrap_or_default();
        b = b.state(n, def);
    }
    b.build().unwrap()
}

fn machine(schema: Schema) -> Machine {
    Machine::builder(schema).id("test").build()
}

fn ticks(m: &Machine, names: &[&str]) -> Vec<u64> {
    names.iter().map(|n| m.tick(n).unwrap()).collect()
}

fn list(l: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    l.lock().unwrap().clone()
}

#[test]
fn basic_mutations() {
    let m = machine(plain().build().unwrap());
    assert_eq!(m.set(&["A"]).unwrap(), E);
    assert_eq!(m.active_states(), ["A"]);
    assert_eq!(m.add(&["B"]).unwrap(), E);
    assert_eq!(m.active_states(), ["A", "B"]);
    assert_eq!(m.set(&["C"]).unwrap(), E);
    assert_eq!(m.active_states(), ["C"]);
    assert_eq!(m.remove(&["C"]).unwrap(), E);
    assert!(m.active_states().is_empty());
    assert_eq!(ticks(&m, &["A", "B", "C"]), [2, 2, 2]);
    assert_eq!(m.queue_tick(), 5);
}

#[test]
fn unknown_state() {
    let rec = Recorder::new("rec");
    let m = Machine::builder(plain().build().unwrap()).tracer(rec.clone()).build();
    m.set(&["A"]).unwrap();
    let before = rec.hooks().len();
    assert_eq!(m.add(&["E"]), Err(Error::UnknownState("E".into())));
    assert_eq!(rec.hooks().len(), before);
    assert_eq!(m.queue_tick(), 2);
    assert_eq!(m.active_states(), ["A"]);
}

#[test]
fn set_handler_order() {
    let m = machine(plain().build().unwrap());
    m.set(&["A", "B"]).unwrap();
    let l = record_handlers(
        &m,
        &["AExit", "BExit", "CEnter", "AC", "BC", "AnyEnter", "AEnd", "BEnd", "CState", "AnyState"],
    )
    .unwrap();
    assert_eq!(m.set(&["C"]).unwrap(), E);
    assert_eq!(list(&l), ["AExit", "BExit", "CEnter", "AC", "BC", "AnyEnter", "AEnd", "BEnd", "CState", "AnyState"]);
    assert_eq!(ticks(&m, &["A", "B", "C"]), [2, 2, 1]);
}

#[test]
fn canonical_handler_order() {
    let m = machine(plain().build().unwrap());
    m.set(&["A", "B"]).unwrap();
    let mut names = vec![];
    for s in ["A", "B", "C", "D"] {
        for k in ["Exit", "Enter", "End", "State"] {
            names.push(format!("{s}{k}"));
        }
    }
    names.extend(["AC", "AD", "BC", "BD", "AnyEnter", "AnyState"].map(String::from));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let l = record_handlers(&m, &refs).unwrap();
    assert_eq!(m.set(&["D", "C"]).unwrap(), E);
    assert_eq!(
        list(&l),
        [
            "AExit", "BExit", "CEnter", "DEnter", "AC", "AD", "BC", "BD", "AnyEnter", "AEnd", "BEnd", "CState",
            "DState", "AnyState"
        ]
    );
}

#[test]
fn set_to_active_state() {
    let m = machine(plain().build().unwrap());
    m.set(&["A", "B"]).unwrap();
    let l = record_handlers(&m, &["AExit", "AEnter", "AA", "BA", "BExit", "AnyEnter", "BEnd", "AState", "AnyState"])
        .unwrap();
    assert_eq!(m.set(&["A"]).unwrap(), E);
    assert_eq!(list(&l), ["BExit", "AA", "BA", "AnyEnter", "BEnd", "AnyState"]);
    assert_eq!(ticks(&m, &["A", "B"]), [1, 2]);
}

#[test]
fn after_order() {
    let s = Schema::builder()
        .state("A", State::new().after(["B"]))
        .state("B", State::new())
        .state("C", State::new().after(["D"]))
        .state("D", State::new())
        .build()
        .unwrap();
    let m = machine(s);
    m.set(&["A", "B"]).unwrap();
    let names = [
        "AExit", "BExit", "CEnter", "DEnter", "AC", "AD", "BC", "BD", "AnyEnter", "AEnd", "BEnd", "CState", "DState",
        "AnyState",
    ];
    let l = record_handlers(&m, &names).unwrap();
    assert_eq!(m.set(&["C", "D"]).unwrap(), E);
    assert_eq!(
        list(&l),
        [
            "BExit", "AExit", "DEnter", "CEnter", "BD", "BC", "AD", "AC", "AnyEnter", "BEnd", "AEnd", "DState",
            "CState", "AnyState"
        ]
    );
    assert_eq!(m.active_states(), ["D", "C"]);
}

#[test]
fn require_order_auto() {
    let s = Schema::builder()
        .state("A", State::new().auto().require(["B", "C"]))
        .state("B", State::new().auto().require(["D"]))
        .state("C", State::new().auto())
        .state("D", State::new().auto())
        .state("Start", State::new())
        .build()
        .unwrap();
    let rec = Recorder::new("rec");
    let m = Machine::builder(s).tracer(rec.clone()).build();
    let l = record_handlers(&m, &["AState", "BState", "CState", "DState", "StartState", "AnyState"]).unwrap();
    assert_eq!(m.add(&["Start"]).unwrap(), E);
    assert_eq!(list(&l), ["StartState", "AnyState", "DState", "BState", "CState", "AState", "AnyState"]);
    assert_eq!(m.active_states(), ["D", "B", "C", "A", "Start"]);
    assert_eq!(ticks(&m, &["A", "B", "C", "D", "Start"]), [1, 1, 1, 1, 1]);
    let ends = rec.ends();
    assert_eq!(ends.len(), 2);
    assert!(!ends[0].auto && ends[1].auto);
    assert_eq!(m.queue_tick(), 2);
}

#[test]
fn remove_relation() {
    let s = || plain_with(&[("C", State::new().remove(["D"]))]);
    let m = machine(s());
    m.set(&["D"]).unwrap();
    assert_eq!(m.add(&["C"]).unwrap(), E);
    assert_eq!(m.active_states(), ["C"]);
    assert_eq!(m.tick("D").unwrap(), 2);
    let m = machine(s());
    m.set(&["D"]).unwrap();
    assert_eq!(m.set(&["C", "D"]).unwrap(), C);
    assert_eq!(m.active_states(), ["D"]);
    assert_eq!(ticks(&m, &["D", "C"]), [1, 0]);
    assert_eq!(m.queue_tick(), 3);
}

#[test]
fn cross_and_one_way_blocking() {
    for use_set in [false, true] {
        let m = machine(plain_with(&[("C", State::new().remove(["D"])), ("D", State::new().remove(["C"]))]));
        m.set(&["D"]).unwrap();
        let call = |s: &str| if use_set { m.set(&[s]) } else { m.add(&[s]) };
        assert_eq!(call("C").unwrap(), E);
        assert_eq!(m.active_states(), ["C"]);
        assert_eq!(call("D").unwrap(), E);
        assert_eq!(m.active_states(), ["D"]);
        assert_eq!(ticks(&m, &["C", "D"]), [2, 3]);
    }
    let m = machine(Schema::builder().state("A", State::new().remove(["B"])).states(["B"]).build().unwrap());
    m.set(&["A"]).unwrap();
    assert_eq!(m.add(&["B"]).unwrap(), C);
    assert_eq!(m.active_states(), ["A"]);
    assert_eq!(m.set(&["B"]).unwrap(), E);
    assert_eq!(m.active_states(), ["B"]);
    assert_eq!(ticks(&m, &["A", "B"]), [2, 1]);
}

#[test]
fn add_relation() {
    let m = machine(plain_with(&[("A", State::new().remove(["D"])), ("C", State::new().add(["D"]))]));
    assert_eq!(m.set(&["C"]).unwrap(), E);
    assert_eq!(m.active_states(), ["C", "D"]);
    assert_eq!(m.set(&["A", "C"]).unwrap(), E);
    assert_eq!(m.active_states(), ["A", "C"]);
    assert_eq!(m.tick("D").unwrap(), 2);
}

#[test]
fn require_relation() {
    let s = || plain_with(&[("C", State::new().require(["D"]))]);
    let m = machine(s());
    m.set(&["A"]).unwrap();
    assert_eq!(m.set(&["C", "D"]).unwrap(), E);
    assert_eq!(m.active_states(), ["D", "C"]);
    assert_eq!(m.tick("A").unwrap(), 2);
    let m = machine(s());
    m.set(&["A"]).unwrap();
    let l = record_handlers(&m, &["AExit", "CEnter", "AnyEnter", "CState", "AnyState"]).unwrap();
    assert_eq!(m.set(&["C", "A"]).unwrap(), C);
    assert_eq!(m.active_states(), ["A"]);
    assert_eq!(ticks(&m, &["A", "C", "D"]), [1, 0, 0]);
    assert!(list(&l).is_empty());
}

#[test]
fn remove_multi_implied() {
    let s = Schema::builder()
        .state("A", State::new().multi().add(["B"]).require(["C"]))
        .state("B", State::new().require(["C"]))
        .states(["C", "D"])
        .build()
        .unwrap();
    let m = machine(s);
    m.set(&["A", "B", "C"]).unwrap();
    assert_eq!(m.remove(&["B"]).unwrap(), E);
    assert_eq!(m.active_states(), ["C", "A"]);
    assert_eq!(ticks(&m, &["A", "B", "C"]), [1, 2, 1]);
}

#[test]
fn implied_regressions() {
    let s = Schema::builder()
        .state("A", State::new().remove(["B"]))
        .state("B", State::new().remove(["A"]))
        .state("Z", State::new().add(["B"]))
        .build()
        .unwrap();
    let m = machine(s);
    assert_eq!(m.set(&["Z"]).unwrap(), E);
    assert_eq!(m.active_states(), ["B", "Z"]);
    let s = Schema::builder()
        .state("Wet", State::new().require(["Water"]))
        .state("Dry", State::new().remove(["Wet"]))
        .state("Water", State::new().add(["Wet"]).remove(["Dry"]))
        .build()
        .unwrap();
    let m = machine(s);
    m.set(&["Dry"]).unwrap();
    assert_eq!(m.set(&["Water"]).unwrap(), E);
    assert_eq!(m.active_states(), ["Water", "Wet"]);
    assert_eq!(m.tick("Dry").unwrap(), 2);
}

#[test]
fn time_multi() {
    let m = machine(plain_with(&[("B", State::new().multi())]));
    let abcd = ["A", "B", "C", "D"];
    let steps: [(&str, &[&str], [u64; 4]); 8] = [
        ("add", &["A", "B"], [1, 1, 0, 0]),
        ("add", &["A", "B"], [1, 3, 0, 0]),
        ("add", &["A", "B", "C"], [1, 5, 1, 0]),
        ("set", &["D"], [2, 6, 2, 1]),
        ("add", &["D", "C"], [2, 6, 3, 1]),
        ("remove", &["B", "C"], [2, 6, 4, 1]),
        ("add", &["A", "B"], [3, 7, 4, 1]),
        ("add", &["C"], [3, 7, 5, 1]),
    ];
    for (kind, states, want) in steps {
        let r = match kind {
            "add" => m.add(states),
            "set" => m.set(states),
            _ => m.remove(states),
        };
        assert_eq!(r.unwrap(), E, "{kind} {states:?}");
        assert_eq!(ticks(&m, &abcd), want, "{kind} {states:?}");
    }
    assert_eq!(m.machine_time(), 16);
    assert!(m.is_clock(&[("A", 3)]).unwrap());
    assert!(!m.is_clock(&[("A", 2)]).unwrap());
    assert_eq!(m.string(), "(A:3 B:7 C:5 D:1)");
}

#[test]
fn nested_queue_tick() {
    let m = machine(plain().build().unwrap());
    m.set(&["A"]).unwrap();
    let got = Arc::new(Mutex::new(None));
    let g = got.clone();
    m.bind_handlers(Handlers::new("h").enter("B", move |e| {
        *g.lock().unwrap() = Some(e.machine().add(&["C"]).unwrap());
        true
    }))
    .unwrap();
    assert_eq!(m.set(&["B"]).unwrap(), E);
    assert_eq!(*got.lock().unwrap(), Some(Q(4)));
    assert_eq!(m.active_states(), ["B", "C"]);
    assert_eq!(m.tick("A").unwrap(), 2);
    assert_eq!(m.queue_tick(), 4);
}

#[test]
fn queue_duplicates() {
    let m = machine(plain().build().unwrap());
    m.set(&["B"]).unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    m.bind_handlers(Handlers::new("h").state("A", move |e| {
        let m = e.machine();
        let mut g = g.lock().unwrap();
        for _ in 0..3 {
            g.push(format!("{:?}", m.add(&["B"]).unwrap()));
        }
        g.push(format!("len {}", m.queue_len()));
        for _ in 0..2 {
            g.push(format!("{:?}", m.remove(&["B"]).unwrap()));
        }
        g.push(format!("len {}", m.queue_len()));
    }))
    .unwrap();
    assert_eq!(m.add(&["A"]).unwrap(), E);
    assert_eq!(
        *got.lock().unwrap(),
        ["Queued(4)", "Queued(4)", "Queued(4)", "len 1", "Queued(5)", "Queued(5)", "len 2"]
    );
    assert_eq!(m.active_states(), ["A"]);
    assert_eq!(m.tick("B").unwrap(), 2);
    assert_eq!(m.queue_tick(), 5);
}

#[test]
fn negotiation_cancel() {
    let rec = Recorder::new("rec");
    let m = Machine::builder(plain().build().unwrap()).tracer(rec.clone()).build();
    m.set(&["A"]).unwrap();
    m.bind_handlers(Handlers::new("h").enter("D", |_| false)).unwrap();
    rec.clear();
    assert_eq!(m.add(&["D"]).unwrap(), C);
    assert_eq!(m.set(&["D"]).unwrap(), C);
    assert_eq!(m.active_states(), ["A"]);
    assert_eq!(m.tick("D").unwrap(), 0);
    let ends = rec.ends();
    assert_eq!(ends.len(), 2);
    assert!(ends.iter().all(|e| !e.accepted));
    assert!(!rec.hooks().iter().any(|h| matches!(h, Hook::TransitionFinals(_))));
    assert_eq!(m.queue_tick(), 4);

    let m = machine(plain().build().unwrap());
    m.set(&["A"]).unwrap();
    m.bind_handlers(Handlers::new("h").exit("A", |_| false)).unwrap();
    assert_eq!(m.remove(&["A"]).unwrap(), C);
    assert_eq!(m.tick("A").unwrap(), 1);
}

#[test]
fn state_to_state() {
    let m = machine(plain().build().unwrap());
    m.set(&["A"]).unwrap();
    let l = record_handlers(&m, &["AB", "BA"]).unwrap();
    assert_eq!(m.add(&["B"]).unwrap(), E);
    assert_eq!(list(&l), ["AB"]);

    let m = machine(plain().build().unwrap());
    m.set(&["A"]).unwrap();
    m.bind_handlers(Handlers::new("h").pair("A", "B", |_| false)).unwrap();
    assert_eq!(m.add(&["B"]).unwrap(), C);
    assert_eq!(m.tick("B").unwrap(), 0);
}

#[test]
fn self_handlers() {
    let m = machine(plain().build().unwrap());
    m.set(&["A"]).unwrap();
    let mut names = vec![];
    for s in ["A", "B"] {
        for k in ["Enter", "Exit", "State", "End"] {
            names.push(format!("{s}{k}"));
        }
    }
    names.extend(["AA", "BB", "AB", "BA", "AnyEnter", "AnyState"].map(String::from));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let l = record_handlers(&m, &refs).unwrap();
    assert_eq!(m.set(&["A", "B"]).unwrap(), E);
    assert_eq!(list(&l), ["BEnter", "AA", "AB", "AnyEnter", "BState", "AnyState"]);
    l.lock().unwrap().clear();
    assert_eq!(m.add(&["A"]).unwrap(), E);
    assert_eq!(list(&l), ["AA", "BB", "AB", "BA", "AnyEnter", "AnyState"]);
    l.lock().unwrap().clear();
    assert_eq!(m.remove(&["B"]).unwrap(), E);
    assert_eq!(list(&l), ["BExit", "BA", "AnyEnter", "BEnd", "AnyState"]);
}

#[test]
fn self_handler_cancels() {
    let m = machine(plain().build().unwrap());
    m.set(&["A"]).unwrap();
    let calls = Arc::new(Mutex::new(0));
    let state_ran = Arc::new(Mutex::new(false));
    let (c, s) = (calls.clone(), state_ran.clone());
    m.bind_handlers(
        Handlers::new("h")
            .self_handler("A", move |_| {
                *c.lock().unwrap() += 1;
                false
            })
            .state("B", move |_| *s.lock().unwrap() = true),
    )
    .unwrap();
    assert_eq!(m.set(&["A", "B"]).unwrap(), C);
    assert_eq!(*calls.lock().unwrap(), 1);
    assert!(!*state_ran.lock().unwrap());
    assert_eq!(m.active_states(), ["A"]);
    assert_eq!(m.tick("B").unwrap(), 0);
}

#[test]
fn multi_reentry() {
    let m = machine(Schema::builder().state("A", State::new().multi()).states(["B"]).build().unwrap());
    let l = record_handlers(&m, &["AEnter", "AExit", "AA", "AnyEnter", "AState", "AEnd", "AnyState"]).unwrap();
    assert_eq!(m.add(&["A"]).unwrap(), E);
    assert_eq!(list(&l), ["AEnter", "AnyEnter", "AState", "AnyState"]);
    assert_eq!(m.add(&["A"]).unwrap(), E);
    assert_eq!(list(&l)[4..], ["AEnter", "AA", "AnyEnter", "AState", "AnyState"]);
    assert_eq!(m.tick("A").unwrap(), 3);
}

#[test]
fn auto_and_health() {
    let s = Schema::builder()
        .state("A", State::new())
        .state("B", State::new().auto().require(["A"]))
        .states(["C", "D", "Healthcheck"])
        .build()
        .unwrap();
    assert_eq!(s.index("Healthcheck").unwrap(), 4);
    assert_eq!(s.exception(), 5);
    let rec = Recorder::new("rec");
    let m = Machine::builder(s).tracer(rec.clone()).build();
    assert_eq!(m.add(&["Healthcheck"]).unwrap(), E);
    assert_eq!(m.tick("B").unwrap(), 0);
    assert_eq!(rec.ends().len(), 1);
    rec.clear();
    assert_eq!(m.add(&["A"]).unwrap(), E);
    assert_eq!(m.active_states(), ["A", "B", "Healthcheck"]);
    let ends = rec.ends();
    assert_eq!(ends.len(), 2);
    assert!(ends[1].auto);
    assert_eq!(ends[1].called, ["B"]);
    assert!(
        rec.hooks()
            .iter()
            .any(|h| matches!(h, Hook::MutationQueued { auto: true, tick: 0, called, .. } if called == &["B"]))
    );
    assert_eq!(m.queue_tick(), 3);
}

#[test]
fn partial_auto_relations() {
    let rec = Recorder::new("rec");
    let s = plain_with(&[("A", State::new().auto()), ("B", State::new().auto().after(["A"]).require(["C"]))]);
    let m = Machine::builder(s).tracer(rec.clone()).build();
    assert_eq!(m.add(&["D"]).unwrap(), E);
    assert_eq!(m.active_states(), ["A", "D"]);
    let ends = rec.ends();
    assert!(ends[1].auto && ends[1].accepted);
    assert_eq!(ends[1].called, ["A", "B"]);
    assert_eq!(m.tick("B").unwrap(), 0);

    let rec = Recorder::new("rec");
    let s = plain_with(&[("C", State::new().auto().require(["B"])), ("D", State::new().auto().require(["B"]))]);
    let m = Machine::builder(s).tracer(rec.clone()).build();
    assert_eq!(m.add(&["A"]).unwrap(), E);
    assert_eq!(m.active_states(), ["A"]);
    let acc: Vec<bool> = rec.ends().iter().map(|e| e.accepted).collect();
    assert_eq!(acc, [true, false]);
}

#[test]
fn partial_auto_by_enter() {
    let s = Schema::builder()
        .state("A", State::new().auto())
        .state("B", State::new().auto().add(["D"]))
        .states(["C", "D"])
        .build()
        .unwrap();
    let m = machine(s);
    m.bind_handlers(Handlers::new("h").enter("B", |_| false)).unwrap();
    let l = record_handlers(&m, &["BState"]).unwrap();
    assert_eq!(m.add(&["C"]).unwrap(), E);
    assert_eq!(m.active_states(), ["A", "C"]);
    assert_eq!(ticks(&m, &["D", "B"]), [0, 0]);
    assert!(list(&l).is_empty());
}

#[test]
fn negotiation_panic() {
    let m = machine(plain().build().unwrap());
    m.set(&["A"]).unwrap();
    m.bind_handlers(Handlers::new("h").enter("B", |_| panic!("BEnter panic"))).unwrap();
    assert_eq!(m.add(&["B"]).unwrap(), C);
    assert_eq!(m.active_states(), ["A", "Exception"]);
    assert_eq!(ticks(&m, &["Exception", "B"]), [1, 0]);
    assert!(m.last_error().unwrap().to_string().contains("BEnter panic"));
    assert_eq!(m.add(&["C"]).unwrap(), E);
}

#[test]
fn final_panic() {
    let rec = Recorder::new("rec");
    let m = Machine::builder(plain().build().unwrap()).tracer(rec.clone()).build();
    let l = record_handlers(&m, &["AState", "CState", "AnyState"]).unwrap();
    m.bind_handlers(Handlers::new("p").state("B", |_| panic!("BState panic"))).unwrap();
    assert_eq!(m.add(&["A", "B", "C"]).unwrap(), C);
    assert_eq!(m.active_states(), ["A", "Exception"]);
    assert_eq!(ticks(&m, &["A", "B", "C", "Exception"]), [1, 2, 2, 1]);
    // AState once; CState never; AnyState only for the Exception transition
    assert_eq!(list(&l), ["AState", "AnyState"]);
    let ends = rec.ends();
    assert!(!ends[0].accepted);
    assert_eq!(ends[0].time_after[..3], [1, 2, 2]);
}

#[test]
fn negotiation_timeout() {
    let m = Machine::builder(plain().build().unwrap()).handler_timeout(Duration::from_millis(50)).build();
    m.bind_handlers(Handlers::new("h").enter("A", |_| {
        std::thread::sleep(Duration::from_millis(150));
        true
    }))
    .unwrap();
    assert_eq!(m.add(&["A"]).unwrap(), C);
    assert_eq!(m.tick("A").unwrap(), 0);
    assert_eq!(m.active_states(), ["Exception"]);
    let err = m.last_error().unwrap().to_string();
    assert!(err.contains("timeout") && err.contains("AEnter"), "{err}");
}

#[test]
fn state_ctx() {
    let m = machine(plain().build().unwrap());
    m.add(&["A"]).unwrap();
    let t1 = m.state_ctx("A").unwrap();
    assert!(!t1.is_cancelled());
    m.remove(&["A"]).unwrap();
    assert!(t1.is_cancelled());
    let t2 = m.state_ctx("B").unwrap();
    assert!(!t2.is_cancelled());
    m.add(&["B"]).unwrap();
    assert!(t2.is_cancelled());

    let m = machine(plain_with(&[("C", State::new().multi())]));
    m.add(&["C"]).unwrap();
    let t3 = m.state_ctx("C").unwrap();
    m.add(&["D"]).unwrap();
    assert!(!t3.is_cancelled());
    m.add(&["C"]).unwrap();
    assert!(t3.is_cancelled());
}

#[test]
fn when_family() {
    let m = machine(plain().build().unwrap());
    let w1 = m.when(&["B", "C"]).unwrap();
    m.add(&["B"]).unwrap();
    assert!(!w1.is_ready());
    m.add(&["C"]).unwrap();
    assert!(w1.is_ready());
    assert!(m.when(&["B"]).unwrap().is_ready());
    let w2 = m.when_not(&["B", "C"]).unwrap();
    m.remove(&["B"]).unwrap();
    assert!(!w2.is_ready());
    m.remove(&["C"]).unwrap();
    assert!(w2.is_ready());

    let m = machine(plain_with(&[("B", State::new().multi())]));
    let w3 = m.when_args("B", Args::new().with("foo", "bar")).unwrap();
    m.add_args(&["B"], Args::new().with("foo", "foo")).unwrap();
    assert!(!w3.is_ready());
    m.add_args(&["B"], Args::new().with("foo", "bar")).unwrap();
    assert!(w3.is_ready());
}

#[test]
fn when_time() {
    let m = machine(plain().build().unwrap());
    m.set(&["A", "B"]).unwrap();
    let w1 = m.when_time(&["A", "B"], &[5, 2]).unwrap();
    let w3 = m.when_time(&["A", "B"], &[9, 2]).unwrap();
    m.remove(&["A", "B"]).unwrap();
    m.add(&["A", "B"]).unwrap();
    assert_eq!(ticks(&m, &["A", "B"]), [3, 3]);
    assert!(!w1.is_ready());
    m.remove(&["A"]).unwrap();
    m.add(&["A"]).unwrap();
    assert!(w1.is_ready());
    assert!(!w3.is_ready());
    for _ in 0..2 {
        m.remove(&["A"]).unwrap();
        m.add(&["A"]).unwrap();
    }
    assert_eq!(m.tick("A").unwrap(), 9);
    assert!(w3.is_ready());
    let w4 = m.when_ticks("A", 2).unwrap();
    m.remove(&["A"]).unwrap();
    m.add(&["A"]).unwrap();
    assert!(w4.is_ready());
    assert!(matches!(m.when_time(&["A", "B"], &[1]), Err(Error::InvalidWait(_))));
}

#[test]
fn when_queue() {
    let m = machine(plain().build().unwrap());
    let got = Arc::new(Mutex::new(None));
    let g = got.clone();
    m.bind_handlers(Handlers::new("h").state("A", move |e| {
        let m = e.machine();
        m.add(&["B"]).unwrap();
        m.add(&["C"]).unwrap();
        let r = m.add(&["D"]).unwrap();
        let MutResult::Queued(t) = r else { panic!("not queued: {r:?}") };
        *g.lock().unwrap() = Some((r, m.when_queue(t)));
    }))
    .unwrap();
    assert_eq!(m.add(&["A"]).unwrap(), E);
    let (r, w) = got.lock().unwrap().take().unwrap();
    assert_eq!(r, Q(5));
    assert!(w.is_ready());
    assert_eq!(m.active_states(), ["A", "B", "C", "D"]);
    assert!(m.when_queue(3).is_ready());
    assert!(m.when_queue_ends().is_ready());
}

#[test]
fn add_err() {
    let m = machine(plain().build().unwrap());
    let l = record_handlers(&m, &["ExceptionEnter"]).unwrap();
    assert_eq!(m.add_err_state("B", err_msg("e1"), None).unwrap(), E);
    assert_eq!(m.active_states(), ["B", "Exception"]);
    assert_eq!(m.tick("Exception").unwrap(), 1);
    assert_eq!(m.add_err(err_msg("e2")).unwrap(), E);
    assert_eq!(m.tick("Exception").unwrap(), 3);
    assert_eq!(list(&l), ["ExceptionEnter", "ExceptionEnter"]);
    assert_eq!(m.remove(&["Exception"]).unwrap(), E);
    assert_eq!(m.tick("Exception").unwrap(), 4);
    assert_eq!(m.last_error().unwrap().to_string(), "e2");
    assert!(!m.is_err());
}

#[test]
fn dispose() {
    let rec = Recorder::new("rec");
    let m = Machine::builder(plain().build().unwrap()).id("disp").tracer(rec.clone()).build();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    m.on_dispose(move |id| c.lock().unwrap().push(id.to_string()));
    let w = m.when(&["A"]).unwrap();
    m.dispose();
    assert!(m.when_disposed().is_ready());
    assert_eq!(*calls.lock().unwrap(), ["disp"]);
    let disposals = rec.hooks().iter().filter(|h| matches!(h, Hook::MachineDispose(_))).count();
    assert_eq!(disposals, 1);
    assert_eq!(w.wait_timeout(Duration::from_secs(1)), Err(am_core::WaitError::Disposed));
    // the spec (and Go) answer Canceled; Rust answers Err(Disposed), so a caller can tell
    // "disposed" from "relations said no" (crates/am-core/docs/semantics.md, R1)
    assert_eq!(m.add(&["A"]), Err(am_core::Error::Disposed));
    assert!(!m.is1("A"));
    m.dispose();
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(rec.hooks().iter().filter(|h| matches!(h, Hook::MachineDispose(_))).count(), 1);
}

#[test]
fn tracer_order() {
    let s = Schema::builder()
        .state("A", State::new())
        .state("B", State::new().auto().require(["A"]))
        .state("C", State::new())
        .build()
        .unwrap();
    let rec = Recorder::new("rec");
    let m = Machine::builder(s).id("m").tracer(rec.clone()).build();
    m.bind_handlers(Handlers::new("h").enter("A", |_| true).state("B", |e| {
        e.machine().add(&["C"]).unwrap();
    }))
    .unwrap();
    rec.clear();
    assert_eq!(m.add(&["A"]).unwrap(), E);
    let seq: Vec<String> = rec
        .hooks()
        .iter()
        .map(|h| match h {
            Hook::MutationQueued { called, tick, auto, .. } => {
                format!("queued {} {tick}{}", called.join(","), if *auto { " auto" } else { "" })
            }
            Hook::TransitionInit(t) => format!("init {}{}", t.called.join(","), if t.auto { " auto" } else { "" }),
            Hook::TransitionStart(_) => "start".into(),
            Hook::HandlerStart(_, h) => format!("hstart {h}"),
            Hook::HandlerEnd(_, h) => format!("hend {h}"),
            Hook::TransitionFinals(_) => "finals".into(),
            Hook::TransitionEnd(t) => format!("end {} q{}", t.called.join(","), t.queue_len),
            Hook::QueueEnd(_) => "queue_end".into(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        seq,
        [
            "queued A 2",
            "init A",
            "start",
            "hstart AEnter",
            "hend AEnter",
            "finals",
            "queued B 0 auto",
            "end A q1",
            "init B auto",
            "start",
            "finals",
            "hstart BState",
            "queued C 3",
            "hend BState",
            "end B q1",
            "init C",
            "start",
            "finals",
            "end C q0",
            "queue_end",
        ]
    );
    assert_eq!(m.active_states(), ["A", "B", "C"]);
}

#[test]
fn submachine_inheritance() {
    let t1 = Recorder::inheritable("t1");
    let t2 = Recorder::new("t2");
    let p = Machine::builder(plain().build().unwrap())
        .id("P")
        .log_level(am_core::LogLevel::Ops)
        .tracer(t1.clone())
        .tracer(t2.clone())
        .build();
    t1.clear();
    t2.clear();
    let k = Machine::builder(plain().build().unwrap()).id("K").parent(&p).build();
    let h1 = t1.hooks();
    assert_eq!(h1[0], Hook::NewSubmachine("P".into(), "K".into()));
    assert_eq!(h1[1], Hook::MachineInit("K".into()));
    assert_eq!(t2.hooks(), [Hook::NewSubmachine("P".into(), "K".into())]);
    k.add(&["A"]).unwrap();
    assert!(t1.ends().iter().any(|e| e.machine == "K"));
    assert!(t2.ends().is_empty());
    assert_eq!(k.parent_id(), Some("P"));
    assert_eq!(k.log_level(), am_core::LogLevel::Ops);
}

#[test]
fn toggle_and_strings() {
    let m = machine(plain().build().unwrap());
    m.toggle(&["A"]).unwrap();
    assert!(m.is1("A"));
    m.toggle(&["A"]).unwrap();
    assert!(!m.is1("A"));
    assert_eq!(m.tick("A").unwrap(), 2);
    m.set(&["A", "B"]).unwrap();
    assert_eq!(m.string(), "(A:3 B:1)");
    assert_eq!(m.string_all(), "(A:3 B:1) [C:0 D:0 Exception:0]");
    assert!(m.is(&["A", "B"]).unwrap());
    assert!(!m.is(&["A", "B", "C"]).unwrap());
    assert!(m.not(&["C", "D"]).unwrap());
    assert!(m.any(&[&["C"], &["A"]]).unwrap());
}

#[test]
fn can_add() {
    let s = Schema::builder()
        .state("A", State::new().auto().require(["C"]))
        .state("B", State::new().multi().add(["C"]))
        .state("C", State::new().after(["D"]))
        .state("D", State::new().add(["C", "B"]))
        .build()
        .unwrap();
    let rec = Recorder::new("rec");
    let m = Machine::builder(s).tracer(rec.clone()).build();
    assert_eq!(m.can_add(&["A"]).unwrap(), C);
    assert_eq!(m.can_add(&["C"]).unwrap(), E);
    assert!(m.active_states().is_empty());
    assert_eq!(m.queue_tick(), 1);
    let ends = rec.ends();
    assert_eq!(ends.len(), 2);
    assert!(ends.iter().all(|e| e.check));
}

#[test]
fn steps() {
    let m = Machine::builder(plain().build().unwrap()).log_steps(true).build();
    m.set(&["A"]).unwrap();
    m.bind_handlers(Handlers::new("h").exit("A", |_| true).enter("D", |_| true).state("D", |_| {})).unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    struct Steps(Arc<Mutex<Vec<am_core::Step>>>);
    impl am_core::Tracer for Steps {
        fn id(&self) -> &str {
            "steps"
        }
        fn transition_end(&self, tx: &am_core::Transition<'_>) {
            *self.0.lock().unwrap() = tx.steps().to_vec();
        }
    }
    m.bind_tracer(Arc::new(Steps(got.clone())));
    assert_eq!(m.set(&["D"]).unwrap(), E);
    let (a, d) = (Some(0), Some(3));
    let got: Vec<_> = got.lock().unwrap().iter().map(|s| (s.kind, s.from, s.to, s.is_final, s.is_enter)).collect();
    assert_eq!(
        got,
        [
            (StepKind::Requested, None, d, false, false),
            (StepKind::Activate, None, d, false, false),
            (StepKind::Deactivate, None, a, false, false),
            (StepKind::Handler, a, None, false, false),
            (StepKind::Handler, None, d, false, true),
            (StepKind::Handler, None, d, true, true),
        ]
    );
}

/// Not a §13 case: pins the spec's §4.1 behaviour that a blocked implied state comes back
/// through `expand(kept)` (found by the property tests). The auto re-resolution of §5.5
/// (case 39) does not apply here — `add([A])` is no auto transition — so the spec still gives
/// `[A, X]`.
#[test]
fn blocked_implied_state_is_re_added() {
    let s = Schema::builder()
        .state("A", State::new().add(["X"]).remove(["B"]))
        .state("B", State::new().remove(["X"]))
        .state("X", State::new().remove(["A"]))
        .build()
        .unwrap();
    let m = machine(s);
    m.set(&["B"]).unwrap();
    assert_eq!(m.add(&["A"]).unwrap(), E);
    assert_eq!(m.active_states(), ["A", "X"]);
}

/// The auto transition's accepted end record.
fn auto_end(rec: &Recorder) -> am_core::testing::TxRecord {
    let ends: Vec<_> = rec
        .hooks()
        .into_iter()
        .filter_map(|h| match h {
            Hook::TransitionEnd(t) if t.auto => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(ends.len(), 1, "{ends:?}");
    ends[0].clone()
}

#[test]
fn auto_reresolution() {
    // (a) D is blocked by A; A, implied only by D, must not be activated
    let a = || {
        Schema::builder()
            .state("A", State::new().remove(["D"]))
            .state("B", State::new())
            .state("C", State::new().auto())
            .state("D", State::new().auto().add(["A"]))
            .build()
            .unwrap()
    };
    for handlers in [false, true] {
        let rec = Recorder::new("rec");
        let m = Machine::builder(a()).tracer(rec.clone()).build();
        if handlers {
            // (c) a bound handler set with no handler for these states changes nothing
            m.bind_handlers(Handlers::new("unrelated").state("B", |_| {})).unwrap();
        }
        assert_eq!(m.add(&["B"]).unwrap(), E);
        assert_eq!(m.active_states(), ["B", "C"], "handlers bound: {handlers}");
        assert_eq!(ticks(&m, &["A", "B", "C", "D"]), [0, 1, 1, 0]);
        let auto = auto_end(&rec);
        assert!(auto.accepted);
        assert_eq!(auto.called, ["C", "D"], "the transition still shows what it called");
    }
    // (b) B came only from the rejected A, and C needs B
    let s = Schema::builder()
        .state("A", State::new().auto().require(["D"]).add(["B"]))
        .state("B", State::new())
        .state("C", State::new().auto().require(["B"]))
        .state("D", State::new())
        .state("E", State::new())
        .build()
        .unwrap();
    let m = machine(s);
    assert_eq!(m.add(&["E"]).unwrap(), E);
    assert_eq!(m.active_states(), ["E"]);
}

#[test]
fn exception_failure_keeps_error() {
    let m = machine(plain().build().unwrap());
    m.bind_handlers(Handlers::new("h").state("Exception", |_| panic!("ExceptionState panic"))).unwrap();
    let e = err_msg("the carried error");
    assert_eq!(m.add_err(e.clone()).unwrap(), C, "rolled back");
    assert_eq!(m.queue_len(), 0, "no new Exception mutation");
    assert_eq!(m.last_error().unwrap().to_string(), "the carried error");
    assert!(Arc::ptr_eq(&m.last_error().unwrap(), &e));
    assert_eq!(m.add(&["A"]).unwrap(), E);
}

/// What a tracer saw at `transition_end`, per transition.
#[derive(Clone, Debug)]
struct Ended {
    called: Vec<String>,
    log: Vec<String>,
    pre_log: Vec<String>,
    steps: Vec<am_core::Step>,
}

struct EndLog(Arc<Mutex<Vec<Ended>>>);
impl am_core::Tracer for EndLog {
    fn id(&self) -> &str {
        "end-log"
    }
    fn transition_end(&self, tx: &am_core::Transition<'_>) {
        let msgs = |l: &[am_core::LogEntry]| l.iter().map(|e| e.message().to_string()).collect();
        self.0.lock().unwrap().push(Ended {
            called: tx.called_names().map(String::from).collect(),
            log: msgs(tx.log_entries()),
            pre_log: msgs(tx.pre_log_entries()),
            steps: tx.steps().to_vec(),
        });
    }
}

/// Case 41's schema: `[Start, Ready{require:[Start]}, Working{require:[Ready], remove:[Idle]},
/// Idle{auto, require:[Ready], remove:[Working]}, Done{multi}]`.
fn worker() -> Schema {
    Schema::builder()
        .state("Start", State::new())
        .state("Ready", State::new().require(["Start"]))
        .state("Working", State::new().require(["Ready"]).remove(["Idle"]))
        .state("Idle", State::new().auto().require(["Ready"]).remove(["Working"]))
        .state("Done", State::new().multi())
        .build()
        .unwrap()
}

fn ended(m: &Machine) -> Arc<Mutex<Vec<Ended>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    m.bind_tracer(Arc::new(EndLog(got.clone())));
    got
}

#[test]
fn handler_output_belongs_to_its_transition() {
    let m = Machine::builder(worker()).id("worker").log_level(am_core::LogLevel::Ops).build();
    m.add(&["Start", "Ready"]).unwrap();
    assert_eq!(m.active_states(), ["Start", "Ready", "Idle"]);
    m.bind_handlers(Handlers::new("h").enter("Working", |_| true).state("Working", |e| {
        e.machine().log("working on j0");
        e.machine().add1("Done").unwrap();
    }))
    .unwrap();
    let got = ended(&m);
    assert_eq!(m.add1("Working").unwrap(), E);
    let seen = got.lock().unwrap().clone();
    let working = seen.iter().find(|t| t.called == ["Working"]).unwrap();
    let mut log = working.log.clone();
    if log.last().is_some_and(|l| l.starts_with("[postpone] ")) {
        log.pop();
    }
    assert_eq!(
        log,
        [
            "[add] Working",
            "[rel:remove] Idle by Working",
            "[handler:h] WorkingEnter",
            "[state] +Working -Idle",
            "[handler:h] WorkingState",
            "working on j0",
            "[queue:add] Done",
        ]
    );
    let done = seen.iter().find(|t| t.called == ["Done"]).unwrap();
    for line in &working.log {
        assert!(!done.pre_log.contains(line), "{line:?} is the Working transition's: {done:?}");
    }
    // an accepted transition that changes nothing writes no `[state]` line
    assert_eq!(m.remove1("Working").unwrap(), E); // Idle (auto) comes back
    assert!(m.is1("Idle"));
    got.lock().unwrap().clear();
    assert_eq!(m.add1("Idle").unwrap(), E);
    let seen = got.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].log, ["[add] Idle"]);
}

#[test]
fn satisfied_require_steps() {
    use am_core::Relation;
    let m = Machine::builder(worker()).log_steps(true).build();
    m.add(&["Start", "Ready"]).unwrap();
    m.bind_handlers(Handlers::new("h").enter("Working", |_| true).state("Working", |_| {})).unwrap();
    let got = ended(&m);
    assert_eq!(m.add1("Working").unwrap(), E);
    let idx = |n: &str| m.state_index(n);
    let (start, ready, working, idle) = (idx("Start"), idx("Ready"), idx("Working"), idx("Idle"));
    let steps = got.lock().unwrap().iter().find(|t| t.called == ["Working"]).unwrap().steps.clone();
    let key = |s: &am_core::Step| (s.kind, s.relation, s.from, s.to);
    let mut seen = Vec::new();
    for s in &steps {
        if s.kind == StepKind::Relation {
            assert!(!seen.contains(&key(s)), "a pair twice: {s:?} in {steps:#?}");
        }
        if !seen.contains(&key(s)) {
            seen.push(key(s));
        }
    }
    let rel = |r, f, t| (StepKind::Relation, Some(r), f, t);
    let want = [
        (StepKind::Requested, None, None, working),
        (StepKind::Activate, None, None, working),
        rel(Relation::Require, working, ready),
        rel(Relation::Require, ready, start),
        rel(Relation::Remove, working, idle),
        (StepKind::Deactivate, None, None, idle),
    ];
    let pos: Vec<usize> = want
        .iter()
        .map(|w| seen.iter().position(|s| s == w).unwrap_or_else(|| panic!("{w:?} in {steps:#?}")))
        .collect();
    assert!(pos.windows(2).all(|p| p[0] < p[1]), "in this order: {want:?}, got {steps:#?}");
    let handlers: Vec<_> = steps.iter().filter(|s| s.kind == StepKind::Handler).map(|s| (s.to, s.is_final)).collect();
    assert_eq!(handlers, [(working, false), (working, true)]);
    assert!(
        steps.iter().rposition(|s| s.kind != StepKind::Handler)
            < steps.iter().position(|s| s.kind == StepKind::Handler)
    );

    // with only Start active, adding Ready records its satisfied requirement
    let m = Machine::builder(worker()).log_steps(true).build();
    m.add1("Start").unwrap();
    let got = ended(&m);
    assert_eq!(m.add1("Ready").unwrap(), E);
    let steps = got.lock().unwrap().iter().find(|t| t.called == ["Ready"]).unwrap().steps.clone();
    let steps: Vec<_> = steps.iter().map(key).collect();
    assert_eq!(
        &steps[..3],
        [
            (StepKind::Requested, None, None, Some(1)),
            (StepKind::Activate, None, None, Some(1)),
            (StepKind::Relation, Some(Relation::Require), Some(1), Some(0)),
        ]
    );
}
