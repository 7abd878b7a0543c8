//! `bind_env` and the `AM_PROM_*` variables, builder > env > default. One test: it changes
//! the process environment.

mod support;

use std::time::{Duration, Instant};

use am_core::{ExporterGuard, Skip};
use am_core::{Machine, Schema};
use am_prom::env::{
    AM_PROM_ADDR, AM_PROM_GO_COMPAT, AM_PROM_MAX_STATES, AM_PROM_PUSH_INTERVAL, AM_PROM_PUSH_URL, AM_PROM_STATES,
    AM_PROM_TIMING_EVERY,
};
use am_prom::{Error, Format, PromTracer, bind_env};

/// The variable an env error names.
fn env_error(r: Result<impl std::fmt::Debug, Error>) -> String {
    match r {
        Err(Error::Env(e)) => e.name,
        other => panic!("expected an env error, got {other:?}"),
    }
}

/// The only test in this binary changes the environment (see `am_testkit::set_env`).
fn set(k: &str, v: Option<&str>) {
    am_testkit::set_env(k, v);
}

fn machine(id: &str) -> Machine {
    Machine::builder(Schema::builder().states(["A", "B", "C"]).build().unwrap()).id(id).build()
}

fn state_series(p: &PromTracer) -> usize {
    p.encode(Format::Text).lines().filter(|l| l.starts_with("am_state_active{")).count()
}

#[test]
fn bind_env_reads_the_env_and_the_builder_wins() {
    for k in [am_core::env::AM_TEST_RUNNER, am_core::env::AM_SERVICE, am_core::env::AM_RPC_DBG, AM_PROM_PUSH_URL] {
        set(k, None);
    }
    let off = bind_env(&machine("x")).unwrap();
    assert_eq!(off.skipped(), Some(&Skip::Off { vars: &[AM_PROM_ADDR, AM_PROM_PUSH_URL] }));
    set(AM_PROM_ADDR, Some(":0"));
    // no AM_SERVICE: the executable's name is the service
    let g = bind_env(&machine("x")).unwrap().guard().expect("on with AM_PROM_ADDR alone");
    assert!(g.tracer().service().starts_with("env"), "{}", g.tracer().service());
    drop(g);

    set(am_core::env::AM_SERVICE, Some("Env-Service"));
    let root = machine("root");
    let guard = bind_env(&root).unwrap().guard().expect("on with AM_SERVICE and AM_PROM_ADDR");
    let addr = guard.tracer().local_addr().expect("endpoint runs");
    assert!(addr.ip().is_loopback());
    assert_eq!(guard.tracer().service(), "env_service");
    // submachines inherit instead; rpc machines are skipped
    let child = Machine::builder(Schema::builder().states(["A"]).build().unwrap()).parent(&root).id("kid").build();
    assert_eq!(bind_env(&child).unwrap().skipped(), Some(&Skip::Submachine { parent: "root".into() }));
    let rpc = Machine::builder(Schema::builder().states(["A"]).build().unwrap()).tags(["rpc-server"]).build();
    assert_eq!(bind_env(&rpc).unwrap().skipped(), Some(&Skip::RpcMachine));
    // a second root shares the tracer and its endpoint
    let other = machine("other");
    let g2 = bind_env(&other).unwrap().guard().unwrap();
    assert_eq!(g2.tracer().local_addr(), Some(addr));
    root.add(&["A"]).unwrap();
    child.add(&["A"]).unwrap();
    other.add(&["B"]).unwrap();
    let page = support::http_get(addr, "/metrics", &[]).unwrap().body;
    for id in ["root", "kid", "other"] {
        assert!(
            page.contains(&format!("am_transitions_total{{mach_id=\"{id}\",result=\"accepted\"}} 1")),
            "{id}: {page}"
        );
    }
    // the last guard stops it: shutting down one share leaves the endpoint to the other
    assert!(Box::new(guard).shutdown(Duration::from_secs(2)).in_time);
    assert!(support::http_get(addr, "/metrics", &[]).is_ok(), "another guard still holds it");
    assert!(Box::new(g2).shutdown(Duration::from_secs(2)).in_time);
    assert!(support::http_get(addr, "/metrics", &[]).is_err(), "stopped with the last guard");

    // test runners stay off; "0" switches the endpoint off; unusable values name the variable
    set(am_core::env::AM_TEST_RUNNER, Some("1"));
    assert_eq!(bind_env(&machine("t")).unwrap().skipped(), Some(&Skip::TestRunner));
    set(am_core::env::AM_TEST_RUNNER, None);
    set(AM_PROM_ADDR, Some("off"));
    assert!(!bind_env(&machine("t")).unwrap().is_bound());
    set(AM_PROM_ADDR, Some("not-an-address"));
    assert_eq!(env_error(bind_env(&machine("t"))), AM_PROM_ADDR);
    set(AM_PROM_ADDR, Some(":0"));
    for (var, bad) in [(AM_PROM_TIMING_EVERY, "0"), (AM_PROM_PUSH_INTERVAL, "soon"), (AM_PROM_MAX_STATES, "many")] {
        set(var, Some(bad));
        let e = bind_env(&machine("t"));
        set(var, None);
        assert_eq!(env_error(e), var);
    }
    // a state list naming states the machine lacks is noted
    set(AM_PROM_STATES, Some("A,Nope"));
    match bind_env(&machine("t")).unwrap() {
        am_core::Binding::Bound { notes, .. } => assert!(notes[0].contains("Nope"), "{notes:?}"),
        other => panic!("{other:?}"),
    }
    set(AM_PROM_STATES, None);
    set(AM_PROM_ADDR, None);

    // push from env, with its interval; a dead gateway is only counted
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    set(AM_PROM_PUSH_URL, Some(&format!("127.0.0.1:{port}")));
    set(AM_PROM_PUSH_INTERVAL, Some("100ms"));
    let m = machine("pushing");
    let g = bind_env(&m).unwrap().guard().unwrap();
    assert!(g.tracer().push_url().unwrap().contains("/metrics/job/env_service/instance/"));
    let until = Instant::now() + Duration::from_secs(20);
    while g.tracer().stats().push_failures < 2 {
        assert!(Instant::now() < until, "{:?}", g.tracer().stats());
        m.add(&["A"]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(g.shutdown().in_time);
    set(AM_PROM_PUSH_URL, None);
    set(AM_PROM_PUSH_INTERVAL, Some("soon"));
    assert!(PromTracer::builder().push("127.0.0.1:9", Duration::from_secs(1)).build().is_ok(), "builder wins");
    set(AM_PROM_PUSH_INTERVAL, None);
    set(am_core::env::AM_SERVICE, None);
    let p = PromTracer::builder().push("127.0.0.1:9", Duration::from_secs(1)).build().unwrap();
    assert!(p.push_url().unwrap().contains("/metrics/job/env"), "the executable names the job");
    p.shutdown();

    // tuning variables: builder > env > default
    set(AM_PROM_MAX_STATES, Some("1"));
    let p = PromTracer::builder().build().unwrap();
    let _m1 = machine("capped");
    p.bind(&_m1).unwrap();
    assert_eq!(state_series(&p), 1);
    let p = PromTracer::builder().max_state_series(2).build().unwrap();
    let _m2 = machine("capped");
    p.bind(&_m2).unwrap();
    assert_eq!(state_series(&p), 2);
    set(AM_PROM_MAX_STATES, Some("many"));
    assert_eq!(env_error(PromTracer::builder().build()), AM_PROM_MAX_STATES);
    set(AM_PROM_MAX_STATES, None);
    set(AM_PROM_STATES, Some("B, C"));
    let p = PromTracer::builder().build().unwrap();
    let _m3 = machine("listed");
    p.bind(&_m3).unwrap();
    assert_eq!(state_series(&p), 2);
    set(AM_PROM_STATES, None);
    set(AM_PROM_GO_COMPAT, Some("1"));
    let p = PromTracer::builder().build().unwrap();
    let _m4 = machine("Go-1");
    p.bind(&_m4).unwrap();
    assert!(p.encode(Format::Text).contains("\nam_transitions_go_1 0"));
    let p = PromTracer::builder().go_compat(false).build().unwrap();
    let _m5 = machine("Go-1");
    p.bind(&_m5).unwrap();
    assert!(!p.encode(Format::Text).contains("am_transitions_go_1"));
    set(AM_PROM_GO_COMPAT, None);
}
