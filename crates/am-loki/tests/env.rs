//! `bind_env` and the env variables, builder > env > default. One test: it changes the
//! process environment.

use std::time::Duration;

use am_core::{LogLevel, Machine, Schema, Skip};
use am_loki::env::{AM_LOKI_ADDR, AM_LOKI_FORMAT, AM_LOKI_PASSWORD, AM_LOKI_TENANT, AM_LOKI_TOKEN, AM_LOKI_USERNAME};
use am_loki::{Error, LokiTracer, PushFormat, bind_env};
use am_testkit::loki::Receiver;

/// The only test in this binary changes the environment (see `am_testkit::set_env`).
fn set(k: &str, v: Option<&str>) {
    am_testkit::set_env(k, v);
}

fn machine(id: &str) -> Machine {
    let schema = Schema::builder().states(["A"]).build().unwrap();
    Machine::builder(schema).id(id).log_level(LogLevel::Changes).build()
}

#[test]
fn bind_env_reads_the_env_and_the_builder_wins() {
    let r = Receiver::start();
    set(am_core::env::AM_TEST_RUNNER, None);
    set(am_core::env::AM_SERVICE, None);
    assert_eq!(bind_env(&machine("x")).unwrap().skipped(), Some(&Skip::Off { vars: &[AM_LOKI_ADDR] }));
    set(AM_LOKI_ADDR, Some(&r.addr()));
    // no AM_SERVICE: the executable's name is the service
    let g = bind_env(&machine("x")).unwrap().guard().expect("bound without AM_SERVICE");
    assert!(g.service().starts_with("env"), "{}", g.service());
    drop(g);

    set(am_core::env::AM_SERVICE, Some("Env-Service"));
    set(AM_LOKI_TENANT, Some("acme"));
    set(AM_LOKI_TOKEN, Some("env-token"));
    set(AM_LOKI_FORMAT, Some("json"));
    let m = machine("env-mach");
    let guard = bind_env(&m).unwrap().guard().expect("bound");
    assert_eq!(guard.service(), "env_service");
    m.add(&["A"]).unwrap();
    let child = Machine::builder(Schema::builder().states(["A"]).build().unwrap()).id("env-child").parent(&m).build();
    child.add(&["A"]).unwrap();
    drop(guard); // shuts down, flushing
    let reqs = r.requests();
    assert!(!reqs.is_empty());
    for q in &reqs {
        assert_eq!(q.content_type, "application/json");
        assert_eq!(q.tenant.as_deref(), Some("acme"));
        assert_eq!(q.authorization.as_deref(), Some("Bearer env-token"));
    }
    assert_eq!(r.lines_of("env-mach"), ["INFO: [state] +A"]);
    assert_eq!(r.lines_of("env-child"), ["INFO: [state] +A"]);
    assert_eq!(r.entries_of("env-mach")[0].0["service_name"], "env_service");

    // builder > env
    let r2 = Receiver::start();
    let t = LokiTracer::builder()
        .addr(r2.addr())
        .service("builder")
        .format(PushFormat::Protobuf)
        .tenant("other")
        .batch_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let m2 = machine("b");
    t.bind(&m2);
    m2.add(&["A"]).unwrap();
    assert!(t.shutdown().in_time);
    let q = &r2.requests()[0];
    assert_eq!(q.content_type, "application/x-protobuf");
    assert_eq!(q.tenant.as_deref(), Some("other"));
    assert_eq!(r2.entries_of("b")[0].0["service_name"], "builder");

    // switched off, test runner, submachines
    set(AM_LOKI_ADDR, Some("off"));
    assert!(!bind_env(&machine("y")).unwrap().is_bound());
    set(AM_LOKI_ADDR, Some(&r.addr()));
    set(am_core::env::AM_TEST_RUNNER, Some("1"));
    assert_eq!(bind_env(&machine("y")).unwrap().skipped(), Some(&Skip::TestRunner));
    set(am_core::env::AM_TEST_RUNNER, None);
    let root = machine("root");
    let sub = Machine::builder(Schema::builder().states(["A"]).build().unwrap()).parent(&root).build();
    assert_eq!(bind_env(&sub).unwrap().skipped(), Some(&Skip::Submachine { parent: "root".into() }));

    // unusable values name the variable, and never show a secret
    let env_error = |r: Result<am_core::Binding<am_loki::LokiGuard>, Error>| match r {
        Err(Error::Env(e)) => e,
        other => panic!("expected an env error, got {other:?}"),
    };
    set(AM_LOKI_FORMAT, Some("xml"));
    assert_eq!(env_error(bind_env(&machine("y"))).name, AM_LOKI_FORMAT);
    set(AM_LOKI_FORMAT, None);
    set(AM_LOKI_USERNAME, Some("123"));
    assert_eq!(env_error(bind_env(&machine("y"))).name, AM_LOKI_USERNAME);
    set(AM_LOKI_USERNAME, None);
    set(AM_LOKI_PASSWORD, Some("hunter2"));
    let e = env_error(bind_env(&machine("y")));
    assert_eq!(e.name, AM_LOKI_PASSWORD);
    assert!(!e.to_string().contains("hunter2"), "{e}");
    set(AM_LOKI_PASSWORD, None);
    for bad in ["ftp://loki:3100", "http://user:pw@loki:3100", "loki:port"] {
        set(AM_LOKI_ADDR, Some(bad));
        let e = env_error(bind_env(&machine("y")));
        assert_eq!(e.name, AM_LOKI_ADDR, "{bad}");
        assert!(!e.to_string().contains("pw@"), "{e}");
    }
    set(AM_LOKI_ADDR, None);
}
