//! Go's log switches: `AM_LOG_WHEN` and `AM_LOG_STATE_CTX` (also through `AM_LOG_FULL`) log
//! waits and state contexts as Go's subscriptions do; `AM_LOG_PRINT` / `AM_LOG_FILE` make a
//! `LogPrinter`, `AM_HEALTHCHECK` a `HealthcheckTicker`. One test: it changes the process
//! environment.

use std::time::Duration;

use am_core::env::{AM_HEALTHCHECK, AM_LOG_FILE, AM_LOG_FULL, AM_LOG_PRINT, AM_LOG_STATE_CTX, AM_LOG_WHEN};
use am_core::testing::{Hook, Recorder};
use am_core::{HEALTHCHECK, HealthcheckTicker, LogLevel, LogPrinter, Machine, Schema, State};

/// The only test in this binary changes the environment (see `am_testkit::set_env`).
fn set(k: &str, v: Option<&str>) {
    am_testkit::set_env(k, v);
}

/// The machine's log lines, `[id] ` prefix removed.
fn lines(rec: &Recorder) -> Vec<String> {
    rec.hooks()
        .into_iter()
        .filter_map(|h| match h {
            Hook::Log(_, e) => Some(e.text.split_once("] ").map_or(e.text.clone(), |(_, t)| t.to_string())),
            _ => None,
        })
        .collect()
}

fn machine(rec: &Recorder) -> Machine {
    let s = Schema::builder().states(["A", "B", HEALTHCHECK]).build().unwrap();
    Machine::builder(s).id("m").log_level(LogLevel::Ops).tracer(rec.clone()).build()
}

/// Runs the waits and contexts Go logs; returns the lines logged.
fn script() -> Vec<String> {
    let rec = Recorder::new("rec");
    let m = machine(&rec);
    let when = m.when(&["A", "B"]).unwrap();
    let ctx = m.state_ctx("A").unwrap();
    m.add(&["A"]).unwrap();
    m.add(&["B"]).unwrap();
    when.wait_timeout(Duration::from_secs(1)).unwrap();
    let not = m.when_not(&["A"]).unwrap();
    m.remove(&["A"]).unwrap();
    not.wait_timeout(Duration::from_secs(1)).unwrap();
    assert!(ctx.is_cancelled());
    // already true: nothing to wait for, nothing logged
    m.when(&["B"]).unwrap().wait_timeout(Duration::from_secs(1)).unwrap();
    lines(&rec)
}

const GO_LINES: [&str; 6] =
    ["[when:new] A B", "[ctx:new] A", "[ctx:match] A", "[when:match] A B", "[whenNot:new] A", "[whenNot:match] A"];

#[test]
fn go_log_switches() {
    for v in [AM_LOG_WHEN, AM_LOG_STATE_CTX, AM_LOG_FULL, AM_LOG_PRINT, AM_LOG_FILE, AM_HEALTHCHECK] {
        set(v, None);
    }
    // off: none of Go's subscription lines
    let off = script();
    assert!(!off.iter().any(|l| l.starts_with("[when") || l.starts_with("[ctx")), "{off:#?}");
    assert!(off.iter().any(|l| l.starts_with("[state]")), "the rest of the log is there: {off:#?}");

    set(AM_LOG_WHEN, Some("1"));
    let when = script();
    for l in GO_LINES {
        assert_eq!(when.iter().any(|x| x == l), l.contains("when"), "{l}: {when:#?}");
    }
    // the order Go logs them in: made, then matched by the transition that completes it
    let pos = |l: &str| when.iter().position(|x| x == l).unwrap();
    assert!(pos("[when:new] A B") < pos("[when:match] A B"));
    set(AM_LOG_WHEN, None);

    set(AM_LOG_STATE_CTX, Some("1"));
    let ctx = script();
    for l in GO_LINES {
        assert_eq!(ctx.iter().any(|x| x == l), l.contains("ctx"), "{l}: {ctx:#?}");
    }
    set(AM_LOG_STATE_CTX, None);

    // AM_LOG_FULL turns both on, as in Go
    set(AM_LOG_FULL, Some("1"));
    let full = script();
    for l in GO_LINES {
        assert!(full.iter().any(|x| x == l), "{l}: {full:#?}");
    }
    // and steps, as before
    let m = Machine::new(Schema::builder().states(["A"]).build().unwrap());
    assert!(m.log_steps());
    set(AM_LOG_FULL, None);

    // AM_LOG_PRINT / AM_LOG_FILE, AM_HEALTHCHECK: the env makes them, nothing otherwise
    assert!(LogPrinter::from_env().is_none() && HealthcheckTicker::from_env().is_none());
    let dir = std::env::temp_dir().join(format!("am-go-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cwd = std::env::current_dir().unwrap();
    std::env::set_current_dir(&dir).unwrap();
    set(AM_LOG_FILE, Some("1"));
    let printer = LogPrinter::from_env().expect("AM_LOG_FILE makes a printer");
    let root = Machine::builder(Schema::builder().states(["A"]).build().unwrap())
        .id("Root.1")
        .log_level(LogLevel::Changes)
        .tracer(printer)
        .build();
    let child = Machine::builder(Schema::builder().states(["C"]).build().unwrap()).id("child").parent(&root).build();
    root.add(&["A"]).unwrap();
    child.add(&["C"]).unwrap();
    std::env::set_current_dir(cwd).unwrap();
    set(AM_LOG_FILE, None);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    assert!(read("root_1.log").contains("[Root.] [state] +A"), "{}", read("root_1.log"));
    assert!(read("child.log").contains("[child] [state] +C"), "inherited: {}", read("child.log"));
    std::fs::remove_dir_all(&dir).unwrap();

    set(AM_HEALTHCHECK, Some("1"));
    assert!(HealthcheckTicker::from_env().is_some());
    set(AM_HEALTHCHECK, None);
    // the ticker adds Healthcheck to machines that have it, submachines included
    let ticker = HealthcheckTicker::every(Duration::from_millis(20));
    // Multi, as in Go's basic states: every add is a transition
    let s = || Schema::builder().state(HEALTHCHECK, State::new().multi()).build().unwrap();
    let root = Machine::builder(s()).tracer(ticker).build();
    let child = Machine::builder(s()).parent(&root).build();
    let without = Machine::builder(Schema::builder().states(["X"]).build().unwrap()).parent(&root).build();
    child.when_ticks(HEALTHCHECK, 3).unwrap().wait_timeout(Duration::from_secs(5)).unwrap();
    root.when_ticks(HEALTHCHECK, 3).unwrap().wait_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(without.time().iter().sum::<u64>(), 0);
    // disposed: left alone
    child.dispose();
    let t = child.tick(HEALTHCHECK).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(child.tick(HEALTHCHECK).unwrap(), t);
}
