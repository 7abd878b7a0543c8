//! `/readyz` and `/healthz` from machine states, over real HTTP: readiness follows `Ready`
//! (or, without one, `Exception`), liveness fails when a heartbeat stops or a queue does not
//! move, each answer names the machine and why, in text or JSON.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use am_core::{Handlers, Machine, Schema, State, err_msg};
use am_prom::{HealthRules, PromTracer};
use support::http_get;

fn tracer(rules: HealthRules) -> (PromTracer, std::net::SocketAddr) {
    let t = PromTracer::builder().listen("127.0.0.1:0").health(rules).build().unwrap();
    let addr = t.local_addr().expect("the endpoint runs");
    (t, addr)
}

#[test]
fn readiness_follows_ready_or_exception() {
    let (t, addr) = tracer(HealthRules::default());
    let svc =
        Machine::builder(Schema::builder().state("Start", State::new()).state("Ready", State::new()).build().unwrap())
            .id("svc")
            .build();
    let plain = Machine::builder(Schema::builder().states(["Work"]).build().unwrap()).id("plain").build();
    t.bind(&svc).unwrap();
    t.bind(&plain).unwrap();

    let r = http_get(addr, "/readyz", &[]).unwrap();
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("svc fail (Ready is not active)") && r.body.contains("plain ok"), "{}", r.body);
    svc.add(&["Ready"]).unwrap();
    let r = http_get(addr, "/readyz", &[]).unwrap();
    assert_eq!((r.status, r.body.lines().next()), (200, Some("ok")), "{}", r.body);

    plain.add_err(err_msg("disk full")).unwrap();
    let r = http_get(addr, "/readyz", &[("Accept", "application/json")]).unwrap();
    assert_eq!(r.status, 503);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body));
    assert_eq!(v["status"], "fail");
    let plain_v = v["machines"].as_array().unwrap().iter().find(|m| m["id"] == "plain").unwrap().clone();
    assert_eq!(plain_v["ready"], false);
    assert_eq!(plain_v["reason"], "Exception is active: disk full");
    assert_eq!(http_get(addr, "/healthz", &[]).unwrap().status, 200, "an Exception is not a liveness failure");
    t.shutdown();
}

#[test]
fn liveness_fails_without_heartbeats_and_recovers_with_one() {
    let rules = HealthRules { heartbeat_window: Duration::from_millis(300), stuck_after: Duration::from_secs(60) };
    let (t, addr) = tracer(rules);
    let m = Machine::builder(Schema::builder().state("Heartbeat", State::new().multi()).build().unwrap())
        .id("beating")
        .build();
    t.bind(&m).unwrap();
    assert_eq!(http_get(addr, "/healthz", &[]).unwrap().status, 200, "the window starts at the first probe");
    std::thread::sleep(Duration::from_millis(450));
    let r = http_get(addr, "/healthz", &[]).unwrap();
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("beating fail (no Heartbeat/Healthcheck for"), "{}", r.body);
    m.add(&["Heartbeat"]).unwrap();
    assert_eq!(http_get(addr, "/healthz", &[]).unwrap().status, 200);
    t.shutdown();
}

#[test]
fn a_stuck_handler_fails_liveness_and_a_dropped_machine_leaves_the_report() {
    let rules = HealthRules { heartbeat_window: Duration::from_secs(60), stuck_after: Duration::from_millis(300) };
    let (t, addr) = tracer(rules);
    let m = Machine::builder(Schema::builder().states(["Slow", "Next"]).build().unwrap()).id("stuck").build();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    m.bind_handlers(Handlers::new("h").state("Slow", move |_| {
        let _ = release_rx.lock().unwrap().recv_timeout(Duration::from_secs(10));
    }))
    .unwrap();
    t.bind(&m).unwrap();
    let runner = {
        let m = m.clone();
        std::thread::spawn(move || m.add(&["Slow"]).unwrap())
    };
    std::thread::sleep(Duration::from_millis(100));
    m.add(&["Next"]).unwrap(); // queued behind the stuck handler
    assert_eq!(http_get(addr, "/healthz", &[]).unwrap().status, 200);
    std::thread::sleep(Duration::from_millis(450));
    let r = http_get(addr, "/healthz", &[]).unwrap();
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("stuck fail (1 queued mutations, queue not moved for"), "{}", r.body);
    release_tx.send(()).unwrap();
    runner.join().unwrap();
    assert_eq!(http_get(addr, "/healthz", &[]).unwrap().status, 200, "the queue moved");
    drop(m);
    let r = http_get(addr, "/healthz", &[]).unwrap();
    assert!(!r.body.contains("stuck"), "a disposed machine is no longer checked: {}", r.body);
    t.shutdown();
}

#[test]
fn a_health_only_server_answers_probes_without_metrics() {
    let t = PromTracer::builder().listen("127.0.0.1:0").metrics(false).build().unwrap();
    let addr = t.local_addr().unwrap();
    let m = Machine::builder(Schema::builder().states(["Ready"]).build().unwrap()).id("probe-only").build();
    t.bind(&m).unwrap();
    let r = http_get(addr, "/readyz", &[]).unwrap();
    assert_eq!(r.status, 503);
    assert!(r.body.contains("probe-only fail (Ready is not active)"), "{}", r.body);
    m.add(&["Ready"]).unwrap();
    assert_eq!(http_get(addr, "/readyz", &[]).unwrap().status, 200);
    assert_eq!(http_get(addr, "/metrics", &[]).unwrap().status, 404, "no metrics");
    assert!(!t.encode(am_prom::Format::Text).contains("probe-only"), "nothing recorded for the machine");
    assert!(PromTracer::builder().metrics(false).push("http://127.0.0.1:1", Duration::from_secs(1)).build().is_err());
    t.shutdown();
}

#[test]
fn readiness_can_follow_another_state_per_machine() {
    let t = PromTracer::builder().listen("127.0.0.1:0").ready_state("db", "Connected").build().unwrap();
    let addr = t.local_addr().unwrap();
    let db = Machine::builder(Schema::builder().states(["Connected", "Ready"]).build().unwrap()).id("db").build();
    t.bind(&db).unwrap();
    db.add(&["Ready"]).unwrap();
    let r = http_get(addr, "/readyz", &[]).unwrap();
    assert_eq!(r.status, 503, "Ready alone is not enough for db: {}", r.body);
    assert!(r.body.contains("db fail (Connected is not active)"), "{}", r.body);
    db.add(&["Connected"]).unwrap();
    assert_eq!(http_get(addr, "/readyz", &[]).unwrap().status, 200);
    t.shutdown();
}
