//! Go-compatible mode against Go's rules: a tracer here computes every Go gauge the way Go's
//! `pkg/telemetry/prometheus` does (integer averages included), beside am-prom, for a
//! scripted sequence of mutations; each metric is pinned to Go's value, or to the
//! documented difference (`docs/go-compat.md`). Then: pushes as Go pushes (the job's
//! group, the Go gauges alone, Go's help texts, no labels), one sync per interval for every
//! reader, and zeros after dispose.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use am_core::{Handlers, Machine, MutResult, MutationKind, Schema, State, StepKind, Tracer, Transition, err_msg};
use am_prom::{Format, PromTracer};
use support::{Pushgateway, parse_exposition};

/// Go's `PromTracer` + `Metrics`, rule for rule: sums and sample counts per interval, the
/// last queue length, the machine time at the previous transition (from 0), integer
/// averages at sync.
#[derive(Default)]
struct GoRules(Mutex<GoState>);

#[derive(Default, Clone, Debug)]
struct GoState {
    /// Microseconds, truncated per transition, as Go's `Microseconds()`.
    tx_start: Option<Instant>,
    prev_time: u64,
    queue_size: u64,
    queue_size_len: u64,
    /// Not Go's: every queue sample, for our average.
    queue_sum: u64,
    tx_tick: u64,
    first_ticks: Option<u64>,
    tx_tick_len: u64,
    active: u64,
    inactive: u64,
    active_len: u64,
    added: u64,
    added_len: u64,
    removed: u64,
    removed_len: u64,
    touched: u64,
    touched_len: u64,
    exceptions: u64,
    transitions: u64,
    steps: u64,
    steps_len: u64,
    handlers: u64,
    handlers_len: u64,
    tx_time: u64,
    tx_time_len: u64,
}

impl Tracer for GoRules {
    fn id(&self) -> &str {
        "go-rules"
    }
    fn transition_init(&self, _tx: &Transition<'_>) {
        self.0.lock().unwrap().tx_start = Some(Instant::now());
    }
    fn transition_end(&self, tx: &Transition<'_>) {
        // Go skips canceled transitions only (a `Can*` check would count; none here)
        if !tx.accepted() {
            return;
        }
        let mut g = self.0.lock().unwrap();
        g.queue_size = tx.queue_len() as u64;
        g.queue_size_len += 1;
        g.queue_sum += tx.queue_len() as u64;
        g.steps += tx.steps().len() as u64;
        g.steps_len += 1;
        g.tx_time += g.tx_start.map_or(0, |s| s.elapsed().as_micros() as u64);
        g.tx_time_len += 1;
        g.handlers += tx.steps().iter().filter(|s| s.kind == StepKind::Handler).count() as u64;
        g.handlers_len += 1;
        // helpers.GetTransitionStates
        let (before, after) = (tx.time_before(), tx.time_after());
        let on = |t: u64| t % 2 == 1;
        let (mut added, mut removed) = (0, 0);
        for i in 0..before.len() {
            if on(before[i]) && !on(after[i]) {
                removed += 1;
            } else if (!on(before[i]) && on(after[i])) || before[i] != after[i] {
                added += 1;
            }
        }
        let mut touched: Vec<usize> = tx.steps().iter().flat_map(|s| [s.from, s.to]).flatten().collect();
        touched.sort_unstable();
        touched.dedup();
        match tx.kind() {
            MutationKind::Add => (g.added, g.added_len) = (g.added + added, g.added_len + 1),
            MutationKind::Remove => (g.removed, g.removed_len) = (g.removed + removed, g.removed_len + 1),
            MutationKind::Set => {
                (g.added, g.added_len) = (g.added + added, g.added_len + 1);
                (g.removed, g.removed_len) = (g.removed + removed, g.removed_len + 1);
            }
        }
        g.touched += touched.len() as u64;
        g.touched_len += 1;
        let now: u64 = after.iter().sum();
        let ticks = now - g.prev_time;
        g.first_ticks.get_or_insert(ticks);
        g.tx_tick += ticks;
        g.tx_tick_len += 1;
        g.prev_time = now;
        let active = before.iter().filter(|t| on(**t)).count() as u64;
        g.active += active;
        g.inactive += before.len() as u64 - active;
        g.active_len += 1;
        if tx.target().contains(&tx.schema().exception()) {
            g.exceptions += 1;
        }
        g.transitions += 1;
    }
}

impl GoRules {
    /// Go's `Sync`: the interval's sums, then reset (`prev_time` survives, as in Go).
    fn sync(&self) -> GoState {
        let mut g = self.0.lock().unwrap();
        let out = g.clone();
        *g = GoState { prev_time: g.prev_time, ..GoState::default() };
        out
    }
}

/// Go's `average`: integer division, 0 without samples.
fn go_avg(sum: u64, len: u64) -> f64 {
    sum.checked_div(len).unwrap_or(0) as f64
}

/// The same sums as floats: our average.
fn avg(sum: u64, len: u64) -> f64 {
    if len == 0 { 0.0 } else { sum as f64 / len as f64 }
}

fn schema() -> Schema {
    Schema::builder()
        .state("A", State::new())
        .state("B", State::new().remove(["A"]))
        .state("C", State::new().require(["B"]))
        .state("M", State::new().multi())
        .build()
        .unwrap()
}

/// A machine with am-prom (Go-compatible, synced by hand) and Go's rules bound.
fn machine(prom: &PromTracer, id: &str, steps: bool) -> (Machine, Arc<GoRules>) {
    let m = Machine::builder(schema()).id(id).log_steps(steps).build();
    m.bind_handlers(
        Handlers::new("h")
            .enter("A", |_| true)
            // queues one mutation while the transition runs: a queue length of 1 at its end
            .state("A", |e| {
                let _ = e.machine().add(&["M"]);
            })
            .exit("A", |_| true)
            .enter("C", |e| e.machine().is1("B")),
    )
    .unwrap();
    let go = Arc::new(GoRules::default());
    m.bind_tracer(go.clone());
    prom.bind(&m).unwrap();
    (m, go)
}

fn go_values(prom: &PromTracer, norm: &str) -> BTreeMap<&'static str, f64> {
    let v = parse_exposition(&prom.encode(Format::Text));
    am_core::conventions::prom::go::METRICS
        .iter()
        .map(|m| (*m, *v.get(&format!("am_{m}_{norm}")).unwrap_or_else(|| panic!("no am_{m}_{norm}"))))
        .collect()
}

/// Mutations covering each Go rule: adds, a canceled add, a relation's removal during an
/// add, Exception held across transitions, a Multi re-activation, a set, removes, queued
/// mutations; one transition happens before the tracers are bound (Go's `tx_ticks` then
/// starts from the machine's whole history).
fn script(m: &Machine) {
    assert_eq!(m.add(&["A"]).unwrap(), MutResult::Executed); // AState queues M
    assert_eq!(m.add(&["C"]).unwrap(), MutResult::Canceled); // requires B: invisible to Go
    assert_eq!(m.add(&["B"]).unwrap(), MutResult::Executed); // +B, -A by relation (an add: Go counts no removal)
    assert_eq!(m.add(&["C"]).unwrap(), MutResult::Executed);
    m.add_err(err_msg("boom")).unwrap(); // +Exception
    assert_eq!(m.add(&["M"]).unwrap(), MutResult::Executed); // Multi re-activated, Exception still active
    assert_eq!(m.set(&["A"]).unwrap(), MutResult::Executed); // +A, -B -C -M -Exception; AState queues M
    assert_eq!(m.remove(&["A"]).unwrap(), MutResult::Executed);
    assert_eq!(m.remove(&["A"]).unwrap(), MutResult::Executed); // nothing to remove
}

#[test]
fn every_go_metric_pinned_to_go_s_rules() {
    let prom = PromTracer::builder().go_compat(true).go_interval(Duration::ZERO).build().unwrap();
    let m = Machine::builder(schema()).id("Go-Mach.1").log_steps(true).build();
    // history before binding: Go's first tx_ticks sample includes it
    m.add(&["M"]).unwrap();
    let (m, go) = {
        let go = Arc::new(GoRules::default());
        m.bind_tracer(go.clone());
        prom.bind(&m).unwrap();
        m.bind_handlers(
            Handlers::new("h")
                .enter("A", |_| true)
                .state("A", |e| {
                    let _ = e.machine().add(&["M"]);
                })
                .exit("A", |_| true)
                .enter("C", |e| e.machine().is1("B")),
        )
        .unwrap();
        (m, go)
    };
    script(&m);
    prom.go_sync();
    let g = go.sync();
    let ours = go_values(&prom, "go_mach_1");

    // The schema: A, B, C, M, Exception; B.remove and C.require
    assert_eq!((ours["states"], ours["relations"], ours["ref_states"]), (5.0, 2.0, 2.0));

    // Same rule as Go, counts: transitions and exceptions
    assert!(g.transitions > 8, "queued M transitions included: {g:?}");
    assert_eq!(ours["transitions"], g.transitions as f64);
    assert_eq!(g.exceptions, 2, "the add_err and the M add while Exception stays active");
    assert_eq!(ours["exceptions"], g.exceptions as f64);

    // Same rule as Go, averages: ours is the float of Go's sums; Go's is the integer part
    let same = [
        ("states_added", g.added, g.added_len),
        ("states_removed", g.removed, g.removed_len),
        ("states_touched", g.touched, g.touched_len),
        ("steps", g.steps, g.steps_len),
        ("states_active", g.active, g.active_len),
        ("states_inactive", g.inactive, g.active_len),
    ];
    for (metric, sum, len) in same {
        assert_eq!(ours[metric], avg(sum, len), "{metric}: Go's sums {sum}/{len}");
        assert_eq!(ours[metric].floor(), go_avg(sum, len), "{metric}: Go's integer average");
    }
    // the script gives fractions Go truncates
    assert_ne!(ours["states_active"], go_avg(g.active, g.active_len));
    // removals by relation during an add are not Go's states_removed: B's add removed A
    assert_eq!(g.removed_len, 3, "the set and the two removes: {g:?}");
    assert_eq!(ours["states_removed"], (4 + 1) as f64 / 3.0);

    // queue_size: every sample averaged (Go: the last length over the count)
    assert_eq!(ours["queue_size"], avg(g.queue_sum, g.queue_size_len));
    assert!(g.queue_sum > 0, "{g:?}");
    assert_eq!(go_avg(g.queue_size, g.queue_size_len), 0.0, "Go: the last length was 0");

    // tx_ticks: Go's first sample is the machine's whole history (the M add before binding)
    let history = g.first_ticks.unwrap() - 1;
    assert_eq!(history, 1);
    assert_eq!(ours["tx_ticks"], avg(g.tx_tick - history, g.tx_tick_len));
    assert_eq!(go_avg(g.tx_tick, g.tx_tick_len), (g.tx_tick / g.tx_tick_len) as f64);

    // handlers: with step logging on, handler calls are Go's handler steps
    assert_eq!(ours["handlers"], avg(g.handlers, g.handlers_len));
    assert!(g.handlers > 0);

    // tx_time: every transition timed (Go times each one), in float microseconds
    assert!(ours["tx_time"] > 0.0);
    let text = prom.encode(Format::Text);
    let timed =
        parse_exposition(&text)[&support::canonical(r#"am_transition_duration_seconds_count{mach_id="Go-Mach.1"}"#)];
    assert_eq!(timed, (g.transitions + 1) as f64, "every accepted and the canceled transition timed");

    // reading twice changes nothing; the next interval is empty until the next sync
    assert_eq!(go_values(&prom, "go_mach_1"), ours);
    prom.go_sync();
    assert_eq!(go_values(&prom, "go_mach_1")["transitions"], 0.0);
    assert_eq!(go_values(&prom, "go_mach_1")["states"], 5.0);
}

#[test]
fn handlers_are_counted_without_step_logging() {
    let prom = PromTracer::builder().go_compat(true).go_interval(Duration::ZERO).build().unwrap();
    let (m, go) = machine(&prom, "no-steps", false);
    script(&m);
    prom.go_sync();
    let g = go.sync();
    let ours = go_values(&prom, "no_steps");
    // Go: no steps, so no handler steps: 0; ours counts the calls (AEnter, AState, AExit, CEnter, …)
    assert_eq!(go_avg(g.handlers, g.handlers_len), 0.0);
    assert!(ours["handlers"] > 0.5, "{ours:?}");
    // steps and states_touched need step logging in both
    assert_eq!((ours["steps"], ours["states_touched"]), (0.0, 0.0));
}

#[test]
fn disposed_machines_read_zero_then_leave() {
    let prom = PromTracer::builder().go_compat(true).go_interval(Duration::ZERO).build().unwrap();
    let (m, _) = machine(&prom, "gone", false);
    script(&m);
    prom.go_sync();
    assert!(go_values(&prom, "gone")["transitions"] > 0.0);
    m.dispose();
    // as Go's Close: every gauge 0 at once
    assert!(go_values(&prom, "gone").values().all(|v| *v == 0.0));
    // still exported (so the next push carries the zeros), then removed
    prom.go_sync();
    assert!(go_values(&prom, "gone").values().all(|v| *v == 0.0));
    prom.go_sync();
    assert!(!prom.encode(Format::Text).contains("am_transitions_gone"));
    // the name is free for a new machine of that ID
    let (again, _) = machine(&prom, "gone", false);
    again.add(&["A"]).unwrap();
    prom.go_sync();
    assert!(go_values(&prom, "gone")["transitions"] >= 1.0);
}

/// Request lines and bodies, in arrival order.
type Requests = Arc<Mutex<Vec<(String, String)>>>;

/// A Pushgateway stand-in that records each request's method, path and body, answering 200.
fn recording_gateway() -> (String, Requests, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (seen2, stop2) = (seen.clone(), stop.clone());
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        while !stop2.load(Relaxed) {
            let Ok((mut s, _)) = l.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let _ = s.set_nonblocking(false);
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut req = Vec::new();
            let mut buf = [0u8; 16 * 1024];
            // the head, then Content-Length bytes of body
            let (head, body) = loop {
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break (String::from_utf8_lossy(&req).to_string(), String::new());
                }
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if req.len() >= end + 4 + len {
                        break (text[..end].to_string(), text[end + 4..end + 4 + len].to_string());
                    }
                }
            };
            let line = head.lines().next().unwrap_or("").to_string();
            seen2.lock().unwrap().push((line, body));
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, seen, stop)
}

/// Waits for the push a pusher makes when it starts.
fn first_push(prom: &PromTracer) {
    let until = Instant::now() + Duration::from_secs(30);
    while prom.stats().pushes < 1 {
        assert!(Instant::now() < until, "no first push: {:?}", prom.stats());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Go's push body for one machine: the 15 gauges, Go's help texts, no labels.
fn go_body_families(body: &str) -> BTreeMap<String, (String, String, f64)> {
    let mut out: BTreeMap<String, (String, String, f64)> = BTreeMap::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap();
            out.entry(name.into()).or_default().0 = help.into();
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            out.entry(name.into()).or_default().1 = kind.into();
        } else if !line.starts_with('#') && !line.is_empty() {
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(!series.contains('{'), "a Go-compatible push carries no labels: {line}");
            out.entry(series.into()).or_default().2 = value.parse().unwrap();
        }
    }
    out
}

/// Go's help texts (pkg/telemetry/prometheus `newMetrics`), in Go's order.
const GO_HELP: [(&str, &str); 15] = [
    ("states", "Number of registered states"),
    ("relations", "Number of relations for all states"),
    ("ref_states", "Number of states referenced by relations"),
    ("queue_size", "Average queue size"),
    ("tx_ticks", "Average transition machine time taken (ticks)"),
    ("exceptions", "Number of transitions with Exception active"),
    ("transitions", "Number of transitions"),
    ("states_added", "Average amount of states added"),
    ("states_removed", "Average amount of states removed"),
    ("states_touched", "Average amount of states touched"),
    ("steps", "Average amount of steps per transition"),
    ("handlers", "Average amount of executed handlers per tx"),
    ("tx_time", "Average transition human time taken (μs)"),
    ("states_active", "Average amount of active states"),
    ("states_inactive", "Average amount of inactive states"),
];

/// Pushes as Go's `MachMetricsEnv` does: `PUT /metrics/job/<normalised service>`, the Go
/// gauges alone, synced before each push; scrapes between pushes do not split the interval.
#[test]
fn pushes_as_go_pushes_and_scrapes_do_not_split_the_interval() {
    let (url, seen, stop) = recording_gateway();
    // one push at start; the next only at shutdown
    let prom = PromTracer::builder()
        .go_compat(true)
        .push(&url, Duration::from_secs(3600))
        .service("Shop-API")
        .listen("127.0.0.1:0")
        .build()
        .unwrap();
    let (m, go) = machine(&prom, "worker-1", true);
    first_push(&prom);
    go.sync(); // Go's interval starts with the first push too
    script(&m);
    // scrapes (and encodes) between the pushes read the last synced interval and consume nothing
    let addr = prom.local_addr().unwrap();
    for _ in 0..3 {
        let scraped = support::http_get(addr, "/metrics", &[]).unwrap().body;
        assert!(scraped.contains("am_transitions_worker_1 0"), "{scraped}");
    }
    let d = prom.shutdown();
    assert!(d.complete(), "{d}");
    stop.store(true, Relaxed);
    let g = go.sync();

    let pushes = seen.lock().unwrap().clone();
    assert_eq!(pushes.len(), 2, "{pushes:?}");
    for (line, _) in &pushes {
        assert_eq!(line, "PUT /metrics/job/shop_api HTTP/1.1", "Go groups by the normalised service alone");
    }
    let body = &pushes[1].1;
    let families = go_body_families(body);
    let names: Vec<String> = GO_HELP.iter().map(|(m, _)| format!("am_{m}_worker_1")).collect();
    assert_eq!(
        families.keys().cloned().collect::<std::collections::BTreeSet<_>>(),
        names.iter().cloned().collect(),
        "{body}"
    );
    for ((metric, help), name) in GO_HELP.iter().zip(&names) {
        let (h, kind, _) = &families[name];
        assert_eq!((h.as_str(), kind.as_str()), (*help, "gauge"), "{metric}");
    }
    // the whole interval, not split by the scrapes
    assert_eq!(families["am_transitions_worker_1"].2, g.transitions as f64);
    assert_eq!(families["am_exceptions_worker_1"].2, g.exceptions as f64);
    assert_eq!(families["am_states_added_worker_1"].2, avg(g.added, g.added_len));
    // and what was pushed is what a scrape reads until the next sync
    assert!(prom.encode(Format::Text).contains(&format!("am_transitions_worker_1 {}", g.transitions)));
}

/// A real Pushgateway: Go's grouping (job only: the gateway adds an empty `instance`), and
/// the instance grouping when asked for.
#[test]
fn pushgateway_groups_by_job_as_go_does_or_by_instance_when_asked() {
    let gw = Pushgateway::start();
    for instance in [None, Some("host-1")] {
        let mut b = PromTracer::builder().go_compat(true).push(gw.0.url(), Duration::from_secs(3600)).service("shop");
        if let Some(i) = instance {
            b = b.instance(i);
        }
        let prom = b.build().unwrap();
        let (m, _) = machine(&prom, &format!("m-{}", instance.unwrap_or("go")), false);
        first_push(&prom);
        m.add(&["A"]).unwrap();
        assert!(prom.shutdown().complete());
    }
    let body = gw.metrics();
    // Go's group: only the Go gauges, labelled by the gateway alone
    assert!(body.contains(r#"am_transitions_m_go{instance="",job="shop"} 2"#), "{body}");
    assert!(!body.contains(r#"mach_id="m-go""#), "{body}");
    // the instance group: ours, every family, with `service`
    assert!(body.contains(r#"am_transitions_m_host_1{instance="host-1",job="shop",service="shop"} 2"#), "{body}");
    assert!(body.contains(r#"am_transitions_total{instance="host-1",job="shop",mach_id="m-host-1",result="accepted",service="shop"} 2"#), "{body}");
}
