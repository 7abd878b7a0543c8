//! Against the real tools, on loopback: a Prometheus scraping the endpoint, a Pushgateway
//! receiving pushes that Prometheus reads back, and a Pushgateway that is down, answers
//! 500 or never answers.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use am_core::{Handlers, Machine, Schema, State};
use am_prom::PromTracer;
use support::{Prometheus, Pushgateway, ScrapeJob, http_get, promtool_check_metrics};

const WAIT: Duration = Duration::from_secs(30);

fn machine(id: &str) -> Machine {
    let s = Schema::builder()
        .state("Idle", State::new().remove(["Busy"]))
        .state("Busy", State::new().remove(["Idle"]))
        .build()
        .unwrap();
    let m = Machine::builder(s).id(id).build();
    m.bind_handlers(Handlers::new("work").enter("Busy", |_| true).state("Busy", |_| {})).unwrap();
    m
}

fn toggle(m: &Machine, n: usize) {
    for _ in 0..n {
        m.add(&["Busy"]).unwrap();
        m.add(&["Idle"]).unwrap();
    }
}

#[test]
fn prometheus_scrapes_the_endpoint() {
    let prom = PromTracer::builder().listen("127.0.0.1:0").timing_every(1).build().unwrap();
    let addr = prom.local_addr().unwrap();
    let m = machine("scrape-me");
    prom.bind(&m).unwrap();
    let child =
        Machine::builder(Schema::builder().states(["X"]).build().unwrap()).id("scrape-child").parent(&m).build();
    toggle(&m, 50); // 100 accepted transitions
    m.add(&["Busy"]).unwrap();
    child.add(&["X"]).unwrap();

    // content negotiation, and promtool on what is served
    let om = http_get(addr, "/metrics", &[("Accept", "application/openmetrics-text; version=1.0.0")]).unwrap();
    assert_eq!(om.status, 200);
    assert!(om.header("content-type").unwrap().starts_with("application/openmetrics-text"));
    assert!(om.body.ends_with("# EOF\n"));
    let text = http_get(addr, "/metrics", &[]).unwrap();
    assert!(text.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    promtool_check_metrics(&text.body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(http_get(addr, "/healthz", &[]).unwrap().status, 200);
    assert_eq!(http_get(addr, "/readyz", &[]).unwrap().status, 200);
    assert_eq!(http_get(addr, "/nope", &[]).unwrap().status, 404);

    let server = Prometheus::start(&[ScrapeJob::new("am", addr)]);
    let q = |promql: &str, want: f64| server.wait_for_value(promql, |v| v == want, WAIT);
    q(r#"am_transitions_total{job="am",mach_id="scrape-me",result="accepted"}"#, 101.0);
    q(r#"am_transition_handlers_count{mach_id="scrape-me"}"#, 101.0);
    q(r#"am_transition_handlers_sum{mach_id="scrape-me"}"#, 102.0); // BusyEnter + BusyState, 51 times
    q(r#"am_state_active{mach_id="scrape-me",state="Busy"}"#, 1.0);
    q(r#"am_states_active{mach_id="scrape-me"}"#, 1.0);
    q(r#"am_machine_info{mach_id="scrape-child",parent_id="scrape-me"}"#, 1.0);
    q(r#"am_transitions_total{mach_id="scrape-child",result="accepted"}"#, 1.0);
    q(r#"sum(am_transition_duration_seconds_bucket{mach_id="scrape-me",le="+Inf"})"#, 101.0);
    // Prometheus asked for OpenMetrics and parsed it: counters keep their `_total` names
    let p99 = server.wait_for_value(
        r#"histogram_quantile(0.99, sum by (le) (am_transition_duration_seconds_bucket{mach_id="scrape-me"}))"#,
        |v| v > 0.0 && v.is_finite(),
        WAIT,
    );
    assert!(p99 < 1.0, "{p99}");
    assert!(server.wait_for_value("am_prom_scrapes_total", |v| v >= 1.0, WAIT) >= 1.0);

    // a disposed machine's series disappear from the next scrape
    child.dispose();
    server.wait_for_value(r#"count(am_machine_info{job="am"})"#, |v| v == 1.0, WAIT);

    assert!(prom.shutdown().in_time);
    assert_eq!(http_get(addr, "/metrics", &[]).map(|r| r.status).ok(), None, "the endpoint stopped");
}

#[test]
fn pushgateway_round_trip_read_back_by_prometheus() {
    let gw = Pushgateway::start();
    let server = Prometheus::start(&[ScrapeJob::pushgateway("pushgateway", gw.0.addr())]);
    // a long interval: the first push happens at start, the second only at shutdown
    let prom = PromTracer::builder()
        .push(gw.0.url(), Duration::from_secs(3600))
        .service("Itest-Push")
        .instance("test-host/1")
        .build()
        .unwrap();
    assert_eq!(prom.service(), "itest_push");
    let m = machine("pushed");
    prom.bind(&m).unwrap();
    let until = Instant::now() + WAIT;
    while prom.stats().pushes < 1 {
        assert!(Instant::now() < until, "no first push: {:?}", prom.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    toggle(&m, 10);
    let d = prom.shutdown();
    assert!(d.complete(), "final push within the shutdown timeout: {d}");
    assert_eq!(d.to_string(), "2 pushes: 2 sent, 0 dropped, 0 failed, 0 pending");
    let s = prom.stats();
    assert_eq!((s.pushes, s.push_failures), (2, 0));
    assert!(s.last_push_ok.is_some());

    let body = gw.metrics();
    assert!(body.contains(r#"instance="test-host/1""#), "{body}");
    let series = r#"am_transitions_total{job="itest_push",instance="test-host/1",service="itest_push",mach_id="pushed",result="accepted"}"#;
    server.wait_for_value(series, |v| v == 20.0, WAIT);
    server.wait_for_value(r#"push_time_seconds{job="itest_push"}"#, |v| v > 0.0, WAIT);
    // the health series travel with the push (the count as of encoding: one earlier push)
    server.wait_for_value(r#"am_prom_pushes_total{job="itest_push"}"#, |v| v == 1.0, WAIT);
}

/// A Pushgateway stand-in: answers every request with `status`, or never answers.
fn fake_gateway(status: Option<u16>) -> (String, Arc<AtomicU64>, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let (hits, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let (h, st) = (hits.clone(), stop.clone());
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while !st.load(Relaxed) {
            match l.accept() {
                Ok((mut s, _)) => {
                    h.fetch_add(1, Relaxed);
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                    let mut buf = [0u8; 64 * 1024];
                    let _ = s.read(&mut buf);
                    match status {
                        Some(code) => {
                            let body = "boom";
                            let _ = write!(
                                s,
                                "HTTP/1.1 {code} Oops\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            );
                        }
                        None => held.push(s), // stalled: never answers
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (url, hits, stop)
}

/// Transitions while pushing fails: all recorded, the machine untouched, failures counted.
fn failing_push(url: &str, label: &str) -> PromTracer {
    let prom = PromTracer::builder()
        .push(url, Duration::from_millis(50))
        .service("itest-fail")
        .shutdown_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let m = machine(label);
    prom.bind(&m).unwrap();
    let until = Instant::now() + WAIT;
    let mut n = 0;
    while prom.stats().push_failures < 3 {
        assert!(Instant::now() < until, "{label}: failures not counted: {:?}", prom.stats());
        toggle(&m, 100);
        n += 200;
    }
    assert!(!m.is_err(), "{label}: a push failure must never become an Exception");
    let text = prom.encode(am_prom::Format::Text);
    let want = format!("am_transitions_total{{mach_id=\"{label}\",result=\"accepted\"}} {n}");
    assert!(text.contains(&want), "{label}: {want} missing");
    assert_eq!(prom.stats().pushes, 0);
    prom
}

#[test]
fn pushgateway_down_or_failing_never_disturbs_the_machine() {
    // nothing listens there
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let prom = failing_push(&format!("http://127.0.0.1:{port}"), "down");
    let d = prom.shutdown();
    // finished in time, but nothing arrived: not a success
    assert!(d.in_time && !d.complete() && d.balanced() && d.sent == 0 && d.failed > 0, "{d}");

    let (url, hits, stop) = fake_gateway(Some(500));
    let prom = failing_push(&url, "http-500");
    assert!(hits.load(Relaxed) >= 3);
    let d = prom.shutdown();
    assert!(d.in_time && !d.complete() && d.sent == 0, "{d}");
    stop.store(true, Relaxed);

    // a gateway that accepts and never answers: transitions still run at once, and
    // shutdown gives up after its timeout instead of hanging
    let (url, _, stop) = fake_gateway(None);
    let prom = PromTracer::builder()
        .push(&url, Duration::from_millis(50))
        .service("itest-stall")
        .shutdown_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let m = machine("stalled");
    prom.bind(&m).unwrap();
    let started = Instant::now();
    toggle(&m, 1000);
    assert!(started.elapsed() < Duration::from_secs(5), "transitions waited for the network");
    let started = Instant::now();
    prom.shutdown();
    assert!(started.elapsed() < Duration::from_secs(3), "shutdown hung: {:?}", started.elapsed());
    stop.store(true, Relaxed);
}
