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

#[test]
fn submachines_do_not_decide_readiness_unless_named() {
    let t = PromTracer::builder().listen("127.0.0.1:0").ready_state("conn-2", "Ready").build().unwrap();
    let addr = t.local_addr().unwrap();
    let schema = || Schema::builder().states(["Ready", "Work"]).build().unwrap();
    let pool = Machine::builder(schema()).id("pool").build();
    t.bind(&pool).unwrap();
    let conn1 = Machine::builder(schema()).id("conn-1").parent(&pool).build();
    let conn2 = Machine::builder(schema()).id("conn-2").parent(&pool).build();
    pool.add(&["Ready"]).unwrap();
    conn2.add(&["Ready"]).unwrap();

    // a submachine's Exception is its root's business: the pod stays ready
    conn1.add_err(err_msg("connection reset")).unwrap();
    let r = http_get(addr, "/readyz", &[]).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("conn-1 fail (Ready is not active) [submachine: not counted]"), "{}", r.body);
    let r = http_get(addr, "/readyz", &[("Accept", "application/json")]).unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let c1 = v["machines"].as_array().unwrap().iter().find(|m| m["id"] == "conn-1").unwrap().clone();
    assert_eq!((c1["ready"].clone(), c1["decides_readiness"].clone()), (false.into(), false.into()));

    // a submachine named with ready_state decides, as a root does
    conn2.remove(&["Ready"]).unwrap();
    let r = http_get(addr, "/readyz", &[]).unwrap();
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("conn-2 fail (Ready is not active)\n"), "{}", r.body);
    t.shutdown();
}

#[test]
fn shutdown_drains_readiness_before_the_endpoint_closes() {
    let t = PromTracer::builder().listen("127.0.0.1:0").drain(Duration::from_millis(600)).build().unwrap();
    let addr = t.local_addr().unwrap();
    let m = Machine::builder(Schema::builder().states(["Ready"]).build().unwrap()).id("svc").build();
    t.bind(&m).unwrap();
    m.add(&["Ready"]).unwrap();
    assert_eq!(http_get(addr, "/readyz", &[]).unwrap().status, 200);

    let began = std::time::Instant::now();
    let stopper = {
        let t = t.clone();
        std::thread::spawn(move || t.shutdown())
    };
    // while draining, every new connection is served: readiness says 503, the rest as before
    let mut answers = 0;
    let mut saw_503 = false;
    // the end: refused, or (a connection caught in the backlog as the listener closed) no answer
    while let Ok(r) =
        http_get(addr, "/readyz", &[]).map_err(drop).and_then(|r| if r.status == 0 { Err(()) } else { Ok(r) })
    {
        answers += 1;
        if r.status == 503 {
            saw_503 = true;
            assert_eq!(r.body, "draining: shutting down\n");
            assert_eq!(http_get(addr, "/metrics", &[]).map(|r| r.status).unwrap_or(200), 200);
            assert_eq!(http_get(addr, "/healthz", &[]).map(|r| r.status).unwrap_or(200), 200);
        } else {
            assert!(!saw_503, "readiness went back to {} after draining began", r.status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // refused (or unanswered) only once the drain time (600 ms) was over
    let refused_after = began.elapsed();
    let d = stopper.join().unwrap();
    assert!(refused_after >= Duration::from_millis(600), "refused after {refused_after:?}");
    assert!(saw_503, "no 503 while draining ({answers} answers)");
    assert!(d.in_time, "{d}");
    // stopped: the listener is closed
    assert!(http_get(addr, "/readyz", &[]).is_err());
}

#[test]
fn a_client_that_sends_nothing_is_disconnected() {
    use std::io::{Read, Write};
    let t = PromTracer::builder().listen("127.0.0.1:0").head_timeout(Duration::from_millis(300)).build().unwrap();
    let addr = t.local_addr().unwrap();
    let mut idle = std::net::TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut half = std::net::TcpStream::connect(addr).unwrap();
    half.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").unwrap();
    // a complete request on another connection is still answered meanwhile
    assert_eq!(http_get(addr, "/healthz", &[]).unwrap().status, 200);
    let start = std::time::Instant::now();
    let mut buf = Vec::new();
    // the server closes both: read returns (end of stream, or a 408 then the end)
    let _ = idle.read_to_end(&mut buf);
    let _ = half.read_to_end(&mut buf);
    assert!(start.elapsed() < Duration::from_secs(5), "held for {:?}", start.elapsed());
    t.shutdown();
}
