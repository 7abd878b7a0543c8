//! Loki down, slow, hung, throttling, failing or refusing: the machine never waits, nothing
//! is lost while the queue has room, and every entry is accounted for.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use am_core::{LogLevel, Machine, Schema};
use am_loki::{LokiTracer, LokiTracerBuilder};
use am_testkit::loki::Receiver;

const WAIT: Duration = Duration::from_secs(10);

fn machine(id: &str, loki: &LokiTracer) -> Machine {
    let schema = Schema::builder().states(["A", "B"]).build().unwrap();
    Machine::builder(schema).id(id).log_level(LogLevel::Changes).tracer(loki.clone()).build()
}

fn builder(addr: &str) -> LokiTracerBuilder {
    LokiTracer::builder()
        .addr(addr)
        .service("svc")
        .batch_interval(Duration::from_millis(20))
        .backoff(Duration::from_millis(10), Duration::from_millis(40))
}

/// `n` transitions, one `[state]` line each; returns the expected lines.
fn toggles(m: &Machine, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let on = !m.is1("A");
            m.toggle(&["A"]).unwrap();
            if on { "INFO: [state] +A".to_string() } else { "INFO: [state] -A".to_string() }
        })
        .collect()
}

fn wait(mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + WAIT;
    while Instant::now() < until {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}

#[test]
fn receiver_down_then_up_loses_nothing() {
    let addr = am_testkit::free_port();
    let loki = builder(&addr.to_string()).max_retries(1000).build().unwrap();
    let m = machine("m", &loki);
    let expected = toggles(&m, 50);
    assert!(wait(|| loki.stats().retries >= 3), "{:?}", loki.stats());
    let s = loki.stats();
    assert_eq!((s.sent, s.dropped, s.failed), (0, 0, 0));
    let r = Receiver::start_on(addr);
    assert!(loki.flush(WAIT).in_time, "{:?}", loki.stats());
    assert_eq!(r.lines_of("m"), expected);
    let s = loki.stats();
    assert_eq!((s.enqueued, s.sent, s.dropped, s.failed), (50, 50, 0, 0));
}

#[test]
fn slow_receiver_does_not_slow_the_machine() {
    let r = Receiver::start();
    r.set_delay(Duration::from_millis(300));
    let loki = builder(&r.addr()).batch_entries(10).build().unwrap();
    let m = machine("m", &loki);
    let start = Instant::now();
    let expected = toggles(&m, 100);
    let took = start.elapsed();
    // 10 pushes of 300 ms each are due; the machine is done long before the first returns
    assert!(took < Duration::from_millis(300), "100 transitions took {took:?}");
    assert!(loki.flush(WAIT).in_time, "{:?}", loki.stats());
    assert_eq!(r.lines_of("m"), expected);
    assert_eq!(loki.stats().retries, 0);
}

#[test]
fn hung_receiver_times_out_and_is_retried() {
    let r = Receiver::start();
    r.set_gate(false);
    let loki = builder(&r.addr()).request_timeout(Duration::from_millis(200)).max_retries(1000).build().unwrap();
    let m = machine("m", &loki);
    let expected = toggles(&m, 20);
    assert!(wait(|| loki.stats().retries >= 2), "{:?}", loki.stats());
    assert_eq!(loki.stats().sent, 0);
    r.set_gate(true);
    assert!(loki.flush(WAIT).in_time, "{:?}", loki.stats());
    // timed-out attempts may have been stored too: delivery is at least once, never reordered
    let got: BTreeSet<(i128, String)> = r.entries_of("m").into_iter().map(|(_, e)| (e.ts_ns, e.line)).collect();
    let lines: Vec<String> = got.into_iter().map(|(_, l)| l).collect();
    assert_eq!(lines, expected);
    assert_eq!(loki.stats().sent, 20);
}

#[test]
fn throttled_429_then_accepted() {
    let r = Receiver::start();
    r.script(&[429, 429]);
    let loki = builder(&r.addr()).batch_interval(Duration::from_millis(300)).build().unwrap();
    let m = machine("m", &loki);
    let expected = toggles(&m, 10);
    assert!(loki.flush(WAIT).in_time, "{:?}", loki.stats());
    let reqs = r.requests();
    assert_eq!(reqs.iter().map(|q| q.status).collect::<Vec<_>>(), [429, 429, 204]);
    // the same batch each time
    assert_eq!(reqs[0].push.as_ref().unwrap(), reqs[2].push.as_ref().unwrap());
    assert_eq!(r.lines_of("m"), expected);
    let s = loki.stats();
    assert_eq!((s.sent, s.retries, s.batches, s.failed, s.rejected), (10, 2, 1, 0, 0));
}

#[test]
fn server_error_forever_gives_up_after_retries() {
    let r = Receiver::start();
    r.set_default_status(500);
    let loki = builder(&r.addr())
        .max_retries(3)
        .batch_entries(1000)
        .batch_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let m = machine("m", &loki);
    toggles(&m, 10);
    assert!(wait(|| loki.stats().failed == 10), "{:?}", loki.stats());
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(r.requests().len(), 4, "one try and 3 retries");
    let s = loki.stats();
    assert_eq!((s.sent, s.retries, s.failed, s.queued), (0, 3, 10, 0));
    // the machine went on, and later entries still go out once the server recovers
    assert!(m.is1("A") == (10 % 2 == 1));
    r.set_default_status(204);
    let later = toggles(&m, 2);
    assert!(loki.flush(WAIT).in_time);
    assert_eq!(r.lines_of("m"), later);
}

#[test]
fn bad_request_is_not_retried() {
    let r = Receiver::start();
    r.set_default_status(400);
    let loki = builder(&r.addr()).batch_interval(Duration::from_millis(300)).build().unwrap();
    let m = machine("m", &loki);
    toggles(&m, 10);
    assert!(wait(|| loki.stats().rejected == 10), "{:?}", loki.stats());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(r.requests().len(), 1);
    let s = loki.stats();
    assert_eq!((s.sent, s.retries, s.failed, s.rejected), (0, 0, 0, 10));
}

#[test]
fn full_queue_drops_oldest_counts_and_stays_bounded() {
    let r = Receiver::start();
    r.set_gate(false);
    let cap = 16;
    let loki = builder(&r.addr())
        .queue_capacity(cap)
        .batch_entries(8)
        .batch_interval(Duration::from_secs(60))
        .request_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let m = machine("m", &loki);
    let first = toggles(&m, 8);
    // the first batch is now stuck in a hung request: in flight, still counted as queued
    assert!(r.wait_until(WAIT, |r| r.requests().len() == 1));
    assert!(wait(|| loki.stats().queued == 8), "{:?}", loki.stats());
    let mut expected = first;
    let mut all = Vec::new();
    for _ in 0..100 {
        all.extend(toggles(&m, 10));
        assert!(loki.stats().queued <= cap as u64 + 8, "{:?}", loki.stats());
    }
    let s = loki.stats();
    assert_eq!(s.enqueued, 1008);
    assert_eq!(s.dropped, 1000 - cap as u64, "{s:?}");
    r.set_gate(true);
    assert!(loki.flush(WAIT).in_time, "{:?}", loki.stats());
    expected.extend(all[all.len() - cap..].iter().cloned());
    assert_eq!(r.lines_of("m"), expected);
    let s = loki.stats();
    assert_eq!(s.sent + s.dropped, s.enqueued);
}

#[test]
fn shutdown_flushes_within_the_deadline() {
    let r = Receiver::start();
    let loki = builder(&r.addr()).batch_interval(Duration::from_secs(60)).build().unwrap();
    let m = machine("m", &loki);
    let expected = toggles(&m, 30);
    let d = loki.shutdown();
    assert!(d.complete(), "{d}");
    assert_eq!((d.produced, d.sent), (30, 30));
    assert_eq!(r.lines_of("m"), expected);
    // after shutdown entries are counted, not sent
    toggles(&m, 3);
    let s = loki.stats();
    assert_eq!((s.sent, s.dropped, s.enqueued, s.produced), (30, 3, 30, 33));
    let d = loki.shutdown();
    assert!(d.in_time && d.balanced(), "idempotent: {d}");
    assert_eq!(d.to_string(), "33 entries: 30 sent, 3 dropped, 0 failed, 0 pending");

    // a hung server: shutdown gives up at the deadline and counts what it could not send
    let hung = Receiver::start();
    hung.set_gate(false);
    let loki = builder(&hung.addr()).shutdown_timeout(Duration::from_millis(400)).build().unwrap();
    let m = machine("m", &loki);
    toggles(&m, 5);
    let start = Instant::now();
    let d = loki.shutdown();
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    // nothing arrived: never reported as delivered, and every entry is accounted for (in
    // flight at the deadline: pending, or already counted as failed)
    assert!(!d.complete(), "{d}");
    assert!(d.balanced(), "{d}");
    assert_eq!((d.produced, d.sent, d.pending + d.failed), (5, 0, 5), "{d}");
    assert!(wait(|| loki.stats().failed == 5), "{:?}", loki.stats());
    hung.set_gate(true);
}

#[test]
fn dropping_the_guard_flushes() {
    let r = Receiver::start();
    let loki = builder(&r.addr()).batch_interval(Duration::from_secs(60)).build().unwrap();
    let guard = loki.guard();
    let m = machine("m", &loki);
    let expected = toggles(&m, 4);
    drop(guard);
    assert_eq!(r.lines_of("m"), expected);
}

#[test]
fn dropping_every_handle_flushes_in_the_background() {
    let r = Receiver::start();
    let loki = builder(&r.addr()).batch_interval(Duration::from_secs(60)).build().unwrap();
    let m = machine("m", &loki);
    drop(loki);
    let expected = toggles(&m, 4);
    drop(m);
    assert!(r.wait_until(WAIT, |r| r.lines_of("m").len() == 4));
    assert_eq!(r.lines_of("m"), expected);
}

#[test]
fn disposing_a_machine_pushes_its_last_entries_now() {
    let r = Receiver::start();
    let loki = builder(&r.addr()).batch_interval(Duration::from_secs(60)).build().unwrap();
    let m = machine("m", &loki);
    let expected = toggles(&m, 3);
    m.dispose();
    assert!(r.wait_until(Duration::from_secs(5), |r| r.lines_of("m").len() == 3));
    assert_eq!(r.lines_of("m"), expected);
}

#[test]
fn too_many_machines_are_counted_not_labelled() {
    let r = Receiver::start();
    let loki = builder(&r.addr()).max_machines(2).build().unwrap();
    let ms: Vec<Machine> = (0..3).map(|i| machine(&format!("m{i}"), &loki)).collect();
    for m in &ms {
        toggles(m, 1);
    }
    assert!(loki.flush(WAIT).in_time);
    assert_eq!(loki.stats().dropped_machines, 1);
    assert!(r.lines_of("m2").is_empty());
    // a disposed machine frees its slot
    ms[0].dispose();
    toggles(&ms[2], 1);
    assert!(loki.flush(WAIT).in_time);
    assert_eq!(r.lines_of("m2").len(), 1);
}

#[test]
fn runs_on_a_given_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let r = Receiver::start();
    let loki = builder(&r.addr()).runtime(rt.handle().clone()).build().unwrap();
    let m = machine("m", &loki);
    let expected = toggles(&m, 5);
    assert!(rt.block_on(loki.shutdown_async()).complete());
    assert_eq!(r.lines_of("m"), expected);
}
