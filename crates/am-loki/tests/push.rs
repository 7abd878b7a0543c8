//! What reaches a Loki-compatible receiver: streams, labels, lines, order, metadata, in
//! both push formats, from machines and their submachines.

use std::collections::BTreeMap;
use std::time::Duration;

use am_core::testing::Recorder;
use am_core::{Handlers, LogLevel, Machine, Schema, TraceContext};
use am_loki::{LokiTracer, PushFormat};
use am_testkit::loki::Receiver;

const WAIT: Duration = Duration::from_secs(10);

fn schema() -> Schema {
    Schema::builder().states(["A", "B", "Boom"]).build().unwrap()
}

fn tracer(r: &Receiver, format: PushFormat) -> LokiTracer {
    LokiTracer::builder()
        .addr(r.addr())
        .service("Shop.API")
        .format(format)
        .batch_interval(Duration::from_millis(50))
        .build()
        .unwrap()
}

fn labels(id: &str, level: &str) -> BTreeMap<String, String> {
    [("asyncmachine_id", id), ("level", level), ("service_name", "shop_api")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Runs the same scenario in one format and checks everything the receiver decoded.
fn scenario(format: PushFormat) {
    let r = Receiver::start();
    let loki = tracer(&r, format);
    let rec = std::sync::Arc::new(Recorder::new("rec"));
    let m = Machine::builder(schema())
        .id("cart-1")
        .log_level(LogLevel::Changes)
        .tracer(loki.clone())
        .tracer_arc(rec.clone())
        .build();
    m.bind_handlers(Handlers::new("h").state("Boom", |_| panic!("kaboom"))).unwrap();
    m.add(&["A"]).unwrap();
    m.add(&["B"]).unwrap();
    m.remove(&["A"]).unwrap();
    m.log("hello from the user");
    m.add(&["Boom"]).unwrap();
    let d = loki.flush(WAIT);
    assert!(d.complete() && d.balanced(), "{d}: {:?}", loki.stats());

    let reqs = r.requests();
    assert!(!reqs.is_empty());
    for q in &reqs {
        assert_eq!(q.content_type, format.content_type());
        assert_eq!(q.status, 204);
    }
    let entries = r.entries_of("cart-1");
    let info: Vec<_> = entries.iter().filter(|(l, _)| *l == labels("cart-1", "INFO")).map(|(_, e)| e).collect();
    let error: Vec<_> = entries.iter().filter(|(l, _)| *l == labels("cart-1", "ERROR")).map(|(_, e)| e).collect();
    assert_eq!(info.len() + error.len(), entries.len(), "unexpected label sets: {entries:?}");
    let info_lines: Vec<&str> = info.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(
        info_lines[..4],
        ["INFO: [state] +A", "INFO: [state] +B", "INFO: [state] -A", "INFO: hello from the user"],
        "{info_lines:?}"
    );
    assert!(info_lines.contains(&"INFO: [state] +Boom"), "{info_lines:?}");
    assert!(info_lines.iter().any(|l| l.starts_with("INFO: [state] +Exception")), "{info_lines:?}");
    assert_eq!(error.len(), 1, "{error:?}");
    assert!(error[0].line.starts_with("ERROR: [error] ") && error[0].line.contains("kaboom"), "{error:?}");

    // order within a stream: strictly increasing timestamps, in logging order
    for w in info.windows(2) {
        assert!(w[0].ts_ns < w[1].ts_ns, "{w:?}");
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i128;
    assert!(info.iter().all(|e| (now - e.ts_ns) < 60_000_000_000 && e.ts_ns <= now + 1_000_000_000));

    // structured metadata: the transition ID of entries logged in a transition, none else
    let tx_ids: Vec<String> = rec.ends().into_iter().map(|t| t.id).collect();
    assert_eq!(info[0].metadata.keys().collect::<Vec<_>>(), ["tx_id"]);
    for e in info.iter().chain(error.iter()) {
        match e.metadata.get("tx_id") {
            Some(id) => assert!(tx_ids.contains(id), "{id} not among {tx_ids:?}"),
            None => assert_eq!(e.line, "INFO: hello from the user"),
        }
    }
    assert!(info[3].metadata.is_empty(), "{:?}", info[3]);
    assert_ne!(info[0].metadata["tx_id"], info[1].metadata["tx_id"]);
    let s = loki.stats();
    assert_eq!((s.sent, s.dropped, s.failed, s.rejected, s.queued), (entries.len() as u64, 0, 0, 0, 0));
}

#[test]
fn protobuf_push_decodes_as_loki_does() {
    scenario(PushFormat::Protobuf);
}

#[test]
fn json_push_decodes_as_loki_does() {
    scenario(PushFormat::Json);
}

#[test]
fn entries_group_into_one_stream_per_label_set() {
    let r = Receiver::start();
    let loki = LokiTracer::builder()
        .addr(r.addr())
        .service("svc")
        .batch_entries(1000)
        .batch_interval(Duration::from_secs(30))
        .build()
        .unwrap();
    let a = Machine::builder(schema()).id("a").log_level(LogLevel::Changes).tracer(loki.clone()).build();
    let b = Machine::builder(schema()).id("b").log_level(LogLevel::Changes).tracer(loki.clone()).build();
    for _ in 0..5 {
        a.toggle(&["A"]).unwrap();
        b.toggle(&["A"]).unwrap();
    }
    assert!(loki.flush(WAIT).in_time);
    let reqs = r.requests();
    assert_eq!(reqs.len(), 1, "one batch expected: {reqs:?}");
    let streams = reqs[0].push.clone().unwrap();
    assert_eq!(streams.len(), 2, "{streams:?}");
    assert_eq!(streams[0].labels["asyncmachine_id"], "a");
    assert_eq!(streams[1].labels["asyncmachine_id"], "b");
    for s in &streams {
        let lines: Vec<_> = s.entries.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(lines, ["INFO: [state] +A", "INFO: [state] -A"].repeat(3)[..5]);
    }
}

#[test]
fn submachines_inherit_with_their_own_machine_id() {
    let r = Receiver::start();
    let loki = tracer(&r, PushFormat::Protobuf);
    let root = Machine::builder(schema()).id("root").log_level(LogLevel::Changes).build();
    loki.bind(&root);
    let child = Machine::builder(schema()).id("child").parent(&root).build();
    let grandchild = Machine::builder(schema()).id("grandchild").parent(&child).build();
    root.add(&["A"]).unwrap();
    child.add(&["B"]).unwrap();
    grandchild.add(&["A", "B"]).unwrap();
    assert!(loki.flush(WAIT).in_time);
    assert_eq!(r.lines_of("root"), ["INFO: [state] +A"]);
    assert_eq!(r.lines_of("child"), ["INFO: [state] +B"]);
    assert_eq!(r.lines_of("grandchild"), ["INFO: [state] +A +B"]);
    for id in ["root", "child", "grandchild"] {
        assert_eq!(r.entries_of(id)[0].0, labels(id, "INFO"));
    }

    // not inherited when switched off
    let r2 = Receiver::start();
    let own = LokiTracer::builder().addr(r2.addr()).service("svc").inherit(false).build().unwrap();
    let root2 = Machine::builder(schema()).id("root2").log_level(LogLevel::Changes).tracer(own.clone()).build();
    let child2 = Machine::builder(schema()).id("child2").parent(&root2).build();
    root2.add(&["A"]).unwrap();
    child2.add(&["A"]).unwrap();
    assert!(own.flush(WAIT).in_time);
    assert_eq!(r2.lines_of("root2").len(), 1);
    assert!(r2.lines_of("child2").is_empty());
}

#[test]
fn trace_and_span_ids_go_into_structured_metadata() {
    for format in [PushFormat::Protobuf, PushFormat::Json] {
        let r = Receiver::start();
        let loki = tracer(&r, format);
        let m = Machine::builder(schema()).id("traced").log_level(LogLevel::Changes).tracer(loki.clone()).build();
        m.add(&["A"]).unwrap();
        let ctx = TraceContext { trace_id: [0xab; 16], span_id: [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08] };
        m.set_trace_context(Some(ctx));
        m.add(&["B"]).unwrap();
        m.set_trace_context(None);
        m.remove(&["B"]).unwrap();
        assert!(loki.flush(WAIT).in_time);
        let e = r.entries_of("traced");
        assert_eq!(e.len(), 3);
        assert!(!e[0].1.metadata.contains_key("trace_id"));
        assert_eq!(e[1].1.metadata["trace_id"], "ab".repeat(16));
        assert_eq!(e[1].1.metadata["span_id"], "0102030405060708");
        assert!(e[1].1.metadata.contains_key("tx_id"));
        assert!(!e[2].1.metadata.contains_key("span_id"));
    }
}

#[test]
fn active_states_in_metadata_on_request() {
    let r = Receiver::start();
    let loki = LokiTracer::builder()
        .addr(r.addr())
        .service("svc")
        .states(true)
        .batch_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let m = Machine::builder(schema()).id("st").log_level(LogLevel::Changes).tracer(loki.clone()).build();
    m.add(&["A", "B"]).unwrap();
    m.remove(&["A"]).unwrap();
    assert!(loki.flush(WAIT).in_time);
    let e = r.entries_of("st");
    assert_eq!(e[0].1.metadata["states"], "A B");
    assert_eq!(e[1].1.metadata["states"], "B");
}

#[test]
fn log_levels_map_as_the_go_binding() {
    let r = Receiver::start();
    let loki = tracer(&r, PushFormat::Json);
    let m = Machine::builder(schema()).id("lv").log_level(LogLevel::Decisions).tracer(loki.clone()).build();
    m.add(&["A"]).unwrap();
    assert!(loki.flush(WAIT).in_time);
    let e = r.entries_of("lv");
    let levels: std::collections::BTreeSet<&str> = e.iter().map(|(l, _)| l["level"].as_str()).collect();
    assert!(levels.contains("INFO"), "{e:?}");
    for (l, entry) in &e {
        let prefix = format!("{}: ", l["level"]);
        assert!(entry.line.starts_with(&prefix), "{entry:?} in {l:?}");
    }
    // Ops lines ([add] A) are INFO; nothing at level External/Changes/Ops is DEBUG
    assert!(e.iter().any(|(l, x)| l["level"] == "INFO" && x.line == "INFO: [add] A"), "{e:?}");
}

#[test]
fn full_id_prefix_is_stripped_too() {
    let r = Receiver::start();
    let loki = tracer(&r, PushFormat::Protobuf);
    let m = Machine::builder(schema())
        .id("long-machine-id")
        .short_id_in_logs(false)
        .log_level(LogLevel::Changes)
        .tracer(loki.clone())
        .build();
    m.add(&["A"]).unwrap();
    let short =
        Machine::builder(schema()).id("another-long-id").log_level(LogLevel::Changes).tracer(loki.clone()).build();
    short.add(&["A"]).unwrap();
    assert!(loki.flush(WAIT).in_time);
    assert_eq!(r.lines_of("long-machine-id"), ["INFO: [state] +A"]);
    assert_eq!(r.lines_of("another-long-id"), ["INFO: [state] +A"]);
}

#[test]
fn nothing_sent_below_the_machine_log_level() {
    let r = Receiver::start();
    let loki = tracer(&r, PushFormat::Protobuf);
    let m = Machine::builder(schema()).id("quiet").log_level(LogLevel::Nothing).tracer(loki.clone()).build();
    m.add(&["A"]).unwrap();
    m.log("not recorded");
    assert!(loki.flush(WAIT).in_time);
    assert_eq!(loki.stats().enqueued, 0);
    m.set_log_level(LogLevel::Changes);
    m.add(&["B"]).unwrap();
    assert!(loki.flush(WAIT).in_time);
    assert_eq!(r.lines_of("quiet"), ["INFO: [state] +B"]);
}
