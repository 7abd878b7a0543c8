//! Values after known transition sequences, checked against am-core's recording tracer;
//! family names; the cardinality guard; submachines and disposal; Go-compatible mode;
//! promtool on the exposition.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use am_core::testing::{Hook, Recorder};
use am_core::{Handlers, Machine, MutResult, Schema, State, Tracers, conventions::prom as n, err_msg};
use am_prom::names::{HEALTH_FAMILIES, MACHINE_FAMILIES};
use am_prom::{Error, Format, PromTracer};
use support::{canonical, parse_exposition, promtool_check_metrics};

fn values(p: &PromTracer) -> BTreeMap<String, f64> {
    parse_exposition(&p.encode(Format::Text))
}

fn get(v: &BTreeMap<String, f64>, series: &str) -> f64 {
    *v.get(&canonical(series)).unwrap_or_else(|| panic!("no series {series} in {v:#?}"))
}

fn schema() -> Schema {
    Schema::builder()
        .state("A", State::new())
        .state("B", State::new().remove(["A"]))
        .state("C", State::new().require(["B"]))
        .build()
        .unwrap()
}

/// A machine with the tracer and a recorder, and three handlers on A (AEnter, AState,
/// AExit); `BEnter` cancels when the arg `no` is set.
fn machine(prom: &PromTracer, id: &str) -> (Machine, Recorder) {
    let rec = Recorder::new("rec");
    let m = Machine::builder(schema()).id(id).tracer(rec.clone()).build();
    prom.bind(&m).unwrap();
    m.bind_handlers(
        Handlers::new("h")
            .enter("A", |_| true)
            .state("A", |_| {})
            .exit("A", |_| true)
            .enter("C", |e| e.machine().is1("A") || e.machine().is1("B")),
    )
    .unwrap();
    (m, rec)
}

#[test]
fn values_after_a_known_sequence() {
    let prom = PromTracer::builder().timing_every(1).build().unwrap();
    let (m, rec) = machine(&prom, "seq");
    assert_eq!(m.add(&["A"]).unwrap(), MutResult::Executed); // AEnter, AState: 2 handlers, +A
    assert_eq!(m.add(&["C"]).unwrap(), MutResult::Canceled); // requires B
    assert_eq!(m.add(&["B"]).unwrap(), MutResult::Executed); // AExit: -A +B
    assert_eq!(m.add(&["C"]).unwrap(), MutResult::Executed); // CEnter: +C
    m.add_err(err_msg("boom")).unwrap(); // +Exception
    m.add_err(err_msg("again")).unwrap(); // Exception re-activated (Multi)
    assert_eq!(m.remove(&["B"]).unwrap(), MutResult::Executed); // -B, C's requirement drops C too

    let ends = rec.ends();
    let accepted = ends.iter().filter(|t| t.accepted).count() as f64;
    let canceled = ends.iter().filter(|t| !t.accepted).count() as f64;
    let handler_calls = rec.hooks().iter().filter(|h| matches!(h, Hook::HandlerEnd(..))).count() as f64;
    let v = values(&prom);
    assert_eq!(get(&v, r#"am_transitions_total{mach_id="seq",result="accepted"}"#), accepted);
    assert_eq!(get(&v, r#"am_transitions_total{mach_id="seq",result="canceled"}"#), canceled);
    assert_eq!((accepted, canceled), (6.0, 1.0));
    assert_eq!(get(&v, r#"am_exceptions_total{mach_id="seq"}"#), 2.0);
    // +A, +B, +C, +Exception twice
    assert_eq!(get(&v, r#"am_states_added_total{mach_id="seq"}"#), 5.0);
    // -A, -B, -C
    assert_eq!(get(&v, r#"am_states_removed_total{mach_id="seq"}"#), 3.0);
    assert_eq!(get(&v, r#"am_states_active{mach_id="seq"}"#), 1.0); // Exception
    assert_eq!(get(&v, r#"am_queue_length{mach_id="seq"}"#), 0.0);
    assert_eq!(get(&v, r#"am_state_active{mach_id="seq",state="A"}"#), 0.0);
    assert_eq!(get(&v, r#"am_schema_states{mach_id="seq"}"#), 4.0); // A B C Exception
    assert_eq!(get(&v, r#"am_schema_relations{mach_id="seq"}"#), 2.0);
    assert_eq!(get(&v, r#"am_schema_ref_states{mach_id="seq"}"#), 2.0);
    assert_eq!(get(&v, r#"am_machine_info{mach_id="seq",parent_id=""}"#), 1.0);

    // histograms: every transition observed once
    let total = accepted + canceled;
    for h in [n::TRANSITION_DURATION_SECONDS, n::TRANSITION_TICKS, n::TRANSITION_HANDLERS, n::TRANSITION_STEPS] {
        assert_eq!(get(&v, &format!(r#"{h}_count{{mach_id="seq"}}"#)), total, "{h}");
        assert_eq!(get(&v, &format!(r#"{h}_bucket{{mach_id="seq",le="+Inf"}}"#)), total, "{h}");
    }
    assert_eq!(get(&v, r#"am_transition_handlers_sum{mach_id="seq"}"#), handler_calls);
    // per transition: 2 (+A), 0 (canceled), 1 (AExit), 1 (CEnter), 0, 0, 0
    assert_eq!(get(&v, r#"am_transition_handlers_bucket{mach_id="seq",le="0.0"}"#), 4.0);
    assert_eq!(get(&v, r#"am_transition_handlers_bucket{mach_id="seq",le="1.0"}"#), 6.0);
    assert_eq!(get(&v, r#"am_transition_handlers_bucket{mach_id="seq",le="2.0"}"#), 7.0);
    // ticks: the clocks moved by exactly what the recorder saw
    let time_after = &ends.last().unwrap().time_after;
    assert_eq!(get(&v, r#"am_transition_ticks_sum{mach_id="seq"}"#), time_after.iter().sum::<u64>() as f64);
    assert!(get(&v, r#"am_transition_duration_seconds_sum{mach_id="seq"}"#) > 0.0);
    assert!(!m.is1("C") && m.is_err());
}

#[test]
fn durations_are_sampled_one_in_n() {
    let prom = PromTracer::builder().timing_every(3).build().unwrap(); // rounds up to 4
    let (m, _) = machine(&prom, "sampled");
    for _ in 0..4 {
        m.add(&["A"]).unwrap();
        m.remove(&["A"]).unwrap();
    }
    let v = values(&prom);
    assert_eq!(get(&v, r#"am_transition_duration_seconds_count{mach_id="sampled"}"#), 2.0);
    assert_eq!(get(&v, r#"am_transition_ticks_count{mach_id="sampled"}"#), 8.0);
    assert!(get(&v, r#"am_transition_duration_seconds_sum{mach_id="sampled"}"#) > 0.0);
    // the default: one in 8
    let prom = PromTracer::builder().build().unwrap();
    let (m, _) = machine(&prom, "default");
    for _ in 0..8 {
        m.add(&["A"]).unwrap();
        m.remove(&["A"]).unwrap();
    }
    assert_eq!(get(&values(&prom), r#"am_transition_duration_seconds_count{mach_id="default"}"#), 2.0);
}

#[test]
fn family_names_are_exactly_the_shared_constants() {
    let prom = PromTracer::builder().build().unwrap();
    let (m, _) = machine(&prom, "names");
    m.add(&["A"]).unwrap();
    let type_names = |text: &str| -> BTreeSet<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect()
    };
    let expected: BTreeSet<String> = MACHINE_FAMILIES.iter().chain(&HEALTH_FAMILIES).map(|s| s.to_string()).collect();
    assert_eq!(type_names(&prom.encode(Format::Text)), expected);
    // OpenMetrics names counters without `_total`
    let om: BTreeSet<String> = expected.iter().map(|s| s.strip_suffix("_total").unwrap_or(s).to_string()).collect();
    assert_eq!(type_names(&prom.encode(Format::OpenMetrics)), om);
    let text = prom.encode(Format::OpenMetrics);
    assert!(text.ends_with("# EOF\n"));
    assert!(text.contains("# UNIT am_transition_duration_seconds seconds"));
    assert!(text.contains(&format!("{}{{mach_id=\"names\",result=\"accepted\"}} 1", n::TRANSITIONS_TOTAL)));
}

#[test]
fn promtool_accepts_the_exposition() {
    let prom = PromTracer::builder().go_compat(true).build().unwrap();
    let (m, _) = machine(&prom, "lint-me");
    let child = Machine::builder(schema()).id("child \"quoted\"\\x").parent(&m).build();
    m.add(&["A"]).unwrap();
    child.add(&["B"]).unwrap();
    m.add_err(err_msg("x")).unwrap();
    let text = prom.encode(Format::Text);
    promtool_check_metrics(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(text.contains(r#"mach_id="child \"quoted\"\\x""#), "{text}");
}

#[test]
fn cardinality_guard() {
    let names: Vec<String> = (0..10).map(|i| format!("S{i}")).collect();
    let s = Schema::builder().states(names).state("M", State::new().multi()).build().unwrap();
    let prom = PromTracer::builder().max_state_series(3).build().unwrap();
    let m = Machine::builder(s.clone()).id("wide").build();
    prom.bind(&m).unwrap();
    m.add(&["S1", "M"]).unwrap();
    let v = values(&prom);
    let series: Vec<_> = v.keys().filter(|k| k.starts_with("am_state_active{")).collect();
    assert_eq!(series.len(), 3, "{series:?}");
    assert_eq!(get(&v, r#"am_state_active{mach_id="wide",state="S1"}"#), 1.0);
    assert_eq!(get(&v, r#"am_state_active{mach_id="wide",state="S0"}"#), 0.0);
    assert_eq!(get(&v, "am_prom_refused_series_total"), 7.0); // S3..S9; Multi states never count
    assert_eq!(prom.stats().refused_series, 7);

    // the allow-list picks; states it names that do not exist are ignored
    let prom = PromTracer::builder().state_allow_list(["S7", "M", "nope"]).build().unwrap();
    let m = Machine::builder(s).id("picked").build();
    prom.bind(&m).unwrap();
    m.add(&["S7"]).unwrap();
    let v = values(&prom);
    let series: Vec<_> = v.keys().filter(|k| k.starts_with("am_state_active{")).collect();
    assert_eq!(series, [&canonical(r#"am_state_active{mach_id="picked",state="S7"}"#)]);
    assert_eq!(get(&v, r#"am_state_active{mach_id="picked",state="S7"}"#), 1.0);
}

#[test]
fn machine_cap_and_duplicate_ids_are_refused_and_counted() {
    let prom = PromTracer::builder().max_machines(1).build().unwrap();
    let (a, _) = machine(&prom, "one");
    let (b, _) = machine(&prom, "two");
    let (dup, _) = machine(&PromTracer::builder().build().unwrap(), "x"); // other tracer: no effect
    a.add(&["A"]).unwrap();
    b.add(&["A"]).unwrap();
    b.add(&["B"]).unwrap();
    dup.add(&["A"]).unwrap();
    let s = prom.stats();
    assert_eq!((s.machines, s.refused_machines, s.dropped_updates), (1, 1, 2));
    let v = values(&prom);
    assert!(!v.keys().any(|k| k.contains(r#"mach_id="two""#)));
    assert_eq!(get(&v, "am_prom_dropped_updates_total"), 2.0);
    assert_eq!(get(&v, "am_prom_machines"), 1.0);
}

#[test]
fn submachines_inherit_and_disposal_removes_series() {
    let prom = PromTracer::builder().build().unwrap();
    let root = Machine::builder(schema()).id("root").build();
    prom.bind(&root).unwrap();
    let child = Machine::builder(schema()).id("child").parent(&root).build();
    let grandchild = Machine::builder(schema()).id("grandchild").parent(&child).build();
    let rpc = Machine::builder(schema()).id("rpc").tags(["rpc-worker"]).parent(&root).build();
    child.add(&["A"]).unwrap();
    grandchild.add(&["A"]).unwrap();
    grandchild.add(&["B"]).unwrap();
    rpc.add(&["A"]).unwrap();
    let v = values(&prom);
    assert_eq!(get(&v, r#"am_machine_info{mach_id="child",parent_id="root"}"#), 1.0);
    assert_eq!(get(&v, r#"am_machine_info{mach_id="grandchild",parent_id="child"}"#), 1.0);
    assert_eq!(get(&v, r#"am_transitions_total{mach_id="grandchild",result="accepted"}"#), 2.0);
    assert_eq!(get(&v, r#"am_transitions_total{mach_id="child",result="accepted"}"#), 1.0);
    assert_eq!(get(&v, r#"am_transitions_total{mach_id="root",result="accepted"}"#), 0.0);
    assert!(!v.keys().any(|k| k.contains(r#"mach_id="rpc""#)), "rpc-* machines are skipped");
    // each machine holds a tracer of its own, with the shared ID
    assert_eq!(child.tracers().iter().filter(|t| t.id() == "am-prom").count(), 1);

    child.dispose();
    let v = values(&prom);
    assert!(!v.keys().any(|k| k.contains(r#"mach_id="child""#)), "{v:#?}");
    assert!(v.keys().any(|k| k.contains(r#"mach_id="grandchild""#)));
    assert_eq!(prom.stats().machines, 2);
    // the same ID can be bound again after disposal
    let again = Machine::builder(schema()).id("child").build();
    prom.bind(&again).unwrap();
    assert_eq!(prom.stats().machines, 3);
}

#[test]
fn inside_a_composite_the_tracer_looks_machines_up() {
    let prom = PromTracer::builder().build().unwrap();
    let m = Machine::builder(schema()).id("composite").tracer(Tracers::new().with(prom.clone())).build();
    m.bind_handlers(Handlers::new("h").enter("A", |_| true)).unwrap();
    m.add(&["A"]).unwrap();
    m.add(&["B"]).unwrap();
    let v = values(&prom);
    assert_eq!(get(&v, r#"am_transitions_total{mach_id="composite",result="accepted"}"#), 2.0);
    assert_eq!(get(&v, r#"am_transition_handlers_sum{mach_id="composite"}"#), 1.0);
    assert_eq!(get(&v, r#"am_state_active{mach_id="composite",state="B"}"#), 1.0);
    m.dispose();
    assert_eq!(prom.stats().machines, 0);
}

#[test]
fn schema_growth_refreshes_schema_gauges_and_state_series() {
    let prom = PromTracer::builder().build().unwrap();
    let m = Machine::builder(Schema::builder().states(["A"]).build().unwrap()).id("grow").build();
    prom.bind(&m).unwrap();
    m.add(&["A"]).unwrap();
    m.set_schema(
        Schema::builder().states(["A", "Exception", "B"]).state("C", State::new().require(["A"])).build().unwrap(),
    )
    .unwrap();
    m.add(&["C"]).unwrap();
    let v = values(&prom);
    assert_eq!(get(&v, r#"am_schema_states{mach_id="grow"}"#), 4.0);
    assert_eq!(get(&v, r#"am_schema_ref_states{mach_id="grow"}"#), 1.0);
    assert_eq!(get(&v, r#"am_state_active{mach_id="grow",state="A"}"#), 1.0);
    assert_eq!(get(&v, r#"am_state_active{mach_id="grow",state="C"}"#), 1.0);
    assert_eq!(get(&v, r#"am_states_active{mach_id="grow"}"#), 2.0);
}

#[test]
fn go_compatible_series_average_per_interval_in_floats() {
    // synced by hand here; tests/gocompat.rs pins every metric against Go's rules
    let prom = PromTracer::builder().go_compat(true).go_interval(std::time::Duration::ZERO).build().unwrap();
    let (m, _) = machine(&prom, "Go-Mach.1");
    m.add(&["A"]).unwrap(); // 2 handlers, +A
    m.add(&["B"]).unwrap(); // 1 handler, -A +B
    m.add(&["C"]).unwrap(); // 1 handler (CEnter), +C
    m.add(&["C"]).unwrap(); // no-op: C active, accepted, nothing changes
    // an interval ends at a sync, not at a read
    assert_eq!(get(&values(&prom), "am_transitions_go_mach_1"), 0.0);
    prom.go_sync();
    let v = values(&prom);
    let g = |metric: &str| get(&v, &format!("am_{metric}_go_mach_1"));
    assert_eq!(g("transitions"), 4.0);
    assert_eq!(g("handlers"), 1.0); // (2+1+1+0)/4
    assert_eq!(g("states_added"), 0.75); // 3/4 adds: Go's integer division would say 0
    assert_eq!(g("states_removed"), 0.0); // Go counts removals of remove and set mutations only
    assert_eq!(g("tx_ticks"), 1.0); // (1+2+1+0)/4
    assert_eq!(g("states_active"), 1.0); // before each (Go's rule): 0, 1, 1, 2 of 4 states
    assert_eq!(g("states_inactive"), 3.0);
    assert_eq!(g("states"), 4.0);
    assert_eq!(g("exceptions"), 0.0);
    assert!(g("tx_time") > 0.0);
    assert_eq!(values(&prom), v, "reading consumes nothing");
    // the next interval starts from zero
    m.add_err(err_msg("e")).unwrap();
    prom.go_sync();
    let v = values(&prom);
    assert_eq!(get(&v, "am_transitions_go_mach_1"), 1.0);
    assert_eq!(get(&v, "am_exceptions_go_mach_1"), 1.0);
    prom.go_sync();
    let v = values(&prom);
    assert_eq!(get(&v, "am_transitions_go_mach_1"), 0.0);
    // labelled families are exported as well
    assert_eq!(get(&v, r#"am_transitions_total{mach_id="Go-Mach.1",result="accepted"}"#), 5.0);
}

#[test]
fn go_compatible_id_collisions_fail_at_bind() {
    let prom = PromTracer::builder().go_compat(true).build().unwrap();
    let (a, _) = machine(&prom, "a-b");
    let b = Machine::builder(schema()).id("a.b").build();
    let err = prom.bind(&b).unwrap_err();
    assert!(matches!(err, Error::IdCollision { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("a.b") && msg.contains("a-b") && msg.contains("am_states_a_b"), "{msg}");
    // an ID whose Go names would shadow a labelled family is refused too
    let total = Machine::builder(schema()).id("Total").build();
    assert!(matches!(prom.bind(&total), Err(Error::IdCollision { .. })));
    // an inherited child that collides keeps its labelled series but gets no Go series
    let child = Machine::builder(schema()).id("A_B").parent(&a).build();
    child.add(&["A"]).unwrap();
    let v = values(&prom);
    assert_eq!(get(&v, r#"am_transitions_total{mach_id="A_B",result="accepted"}"#), 1.0);
    assert_eq!(get(&v, "am_transitions_a_b"), 0.0); // a-b's own series
    assert_eq!(prom.stats().refused_machines, 1);
    // after disposal the normalised name is free again
    a.dispose();
    prom.bind(&b).unwrap();
    // without Go-compatible mode, such IDs are fine
    let plain = PromTracer::builder().build().unwrap();
    plain.bind(&Machine::builder(schema()).id("x-y").build()).unwrap();
    plain.bind(&Machine::builder(schema()).id("x.y").build()).unwrap();
}

#[test]
fn user_registry_gets_the_same_families_with_its_prefix_labels() {
    let mut reg = prometheus_client::registry::Registry::with_labels(std::iter::once(("team".into(), "core".into())));
    let prom = PromTracer::builder().registry(&mut reg).build().unwrap();
    let (m, _) = machine(&prom, "mine");
    m.add(&["A"]).unwrap();
    let text = am_prom::encode(&reg, Format::Text).unwrap();
    let v = parse_exposition(&text);
    assert_eq!(get(&v, r#"am_transitions_total{mach_id="mine",result="accepted",team="core"}"#), 1.0);
    promtool_check_metrics(&text).unwrap();
}

#[test]
fn every_exporter_in_the_process_is_exported_with_its_health() {
    use am_core::exporter::{ExporterStats, StatsSource, register_stats};
    struct Other;
    impl StatsSource for Other {
        fn exporter_stats(&self) -> ExporterStats {
            ExporterStats {
                produced: 13,
                sent: 7,
                dropped: 2,
                failed: 1,
                queued: 3,
                connected: Some(true),
                last_success_ms: Some(1_700_000_000_500),
            }
        }
    }
    let other = std::sync::Arc::new(Other);
    register_stats("test-other", &other);
    let prom = PromTracer::builder().build().unwrap();
    let text = prom.encode(Format::Text);
    for line in [
        "am_exporter_sent_total{exporter=\"test-other\"} 7",
        "am_exporter_dropped_total{exporter=\"test-other\"} 2",
        "am_exporter_failed_total{exporter=\"test-other\"} 1",
        "am_exporter_queued{exporter=\"test-other\"} 3",
        "am_exporter_connected{exporter=\"test-other\"} 1",
        "am_exporter_last_success_timestamp_seconds{exporter=\"test-other\"} 1700000000.5",
    ] {
        assert!(text.contains(line), "missing {line}:\n{text}");
    }
    assert!(text.contains("am_exporter_sent_total{exporter=\"prom\"}"), "the prom exporter itself:\n{text}");
    drop(other);
    assert!(!prom.encode(Format::Text).contains("test-other"), "gone with its exporter");
}
