//! `bind_env` as a new user meets it, each scenario in a child process of this test binary
//! with its own environment (a process's env cannot be changed safely from threaded tests):
//! defaults, the report, shared exporters held in shares, deadlines, and every bad value
//! named.
#![cfg(all(feature = "prom", feature = "otel", feature = "loki", feature = "dbg", feature = "grafana"))]

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use am_core::{Machine, Schema};
use am_telemetry::{Exporter, bind_env};
use am_testkit::otlp::Receiver;

const SCENARIO: &str = "AM_TELEMETRY_TEST_SCENARIO";

/// Every variable any exporter reads, removed from a child's environment first.
const ALL_VARS: &[&str] = &[
    "AM_SERVICE",
    "OTEL_SERVICE_NAME",
    "AM_TEST_RUNNER",
    "AM_LOG",
    "AM_DBG_ADDR",
    "AM_PROM_ADDR",
    "AM_PROM_PUSH_URL",
    "AM_PROM_PUSH_INTERVAL",
    "AM_PROM_TIMING_EVERY",
    "AM_PROM_STATES",
    "AM_PROM_MAX_STATES",
    "AM_PROM_MAX_MACHINES",
    "AM_OTEL_TRACE",
    "AM_OTEL_TRACE_TXS",
    "AM_OTEL_LOG",
    "AM_OTEL_TRACE_ID",
    "AM_OTEL_SPAN_ID",
    "TRACEPARENT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_BSP_SCHEDULE_DELAY",
    "AM_LOKI_ADDR",
    "AM_LOKI_USERNAME",
    "AM_LOKI_PASSWORD",
    "AM_GRAFANA_URL",
    "AM_GRAFANA_TOKEN",
    "GRAFANA_TOKEN",
    "AM_OTEL_METRICS",
    "AM_OTEL_TRACE_ALLOW_STATES",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "AM_TLS_CERTIFICATE",
    "AM_LOKI_CERTIFICATE",
    "AM_HEALTH_DRAIN",
    "AM_LOG_PRINT",
    "AM_LOG_FILE",
    "AM_HEALTHCHECK",
];

/// Runs `test` of this binary in a child with `env` (and nothing else of ours); returns its
/// output, failing when the child failed.
fn child(test: &str, scenario: &str, env: &[(&str, String)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--test-threads=1", "--nocapture"]).env(SCENARIO, scenario);
    for v in ALL_VARS {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "scenario {scenario} failed:\n{text}");
    assert!(text.contains("1 passed"), "scenario {scenario} ran no test:\n{text}");
    text
}

fn scenario() -> Option<String> {
    std::env::var(SCENARIO).ok()
}

fn machine(id: &str) -> Machine {
    Machine::builder(Schema::builder().states(["Ready", "Late"]).build().unwrap()).id(id).build()
}

fn metrics(addr: SocketAddr) -> Option<String> {
    am_testkit::http_get(addr, "/metrics").ok().filter(|(s, _)| *s == 200).map(|(_, b)| b)
}

/// No `AM_SERVICE`: the executable names the service, and the scrape endpoint is bound.
#[test]
fn without_am_service_the_executable_names_the_service() {
    if let Some(s) = scenario() {
        assert_eq!(s, "no-service");
        let m = machine("worker");
        let t = bind_env(&m).unwrap();
        print!("{}", t.report());
        assert_eq!(t.bound(), [Exporter::Prom]);
        assert_eq!(t.report().service.source, am_core::env::ServiceSource::Executable);
        m.add(&["Ready"]).unwrap();
        let addr: SocketAddr = std::env::var("AM_PROM_ADDR").unwrap().parse().unwrap();
        let page = metrics(addr).expect("scrape endpoint up");
        assert!(page.contains(r#"am_transitions_total{mach_id="worker",result="accepted"} 1"#), "{page}");
        return;
    }
    let addr = am_testkit::free_port();
    let out = child(
        "without_am_service_the_executable_names_the_service",
        "no-service",
        &[("AM_PROM_ADDR", addr.to_string())],
    );
    assert!(out.contains("bound:   prom"), "{out}");
    assert!(out.contains(&format!("    prom → {addr} (/metrics /healthz /readyz)\n")), "where it listens: {out}");
    assert!(out.contains("skipped: otel: off: AM_OTEL_TRACE unset"), "{out}");
    assert!(out.contains("(the executable's name; set AM_SERVICE to choose)"), "{out}");
}

/// Go's `AM_LOG_PRINT` and `AM_HEALTHCHECK`: machine logs on stdout, `Healthcheck` added
/// to the machines that have it, submachines included; no "nothing shows logs" note.
#[test]
fn go_log_print_and_healthcheck() {
    if let Some(s) = scenario() {
        assert_eq!(s, "go-switches");
        let schema = || {
            Schema::builder()
                .state(am_core::HEALTHCHECK, am_core::State::new().multi())
                .states(["Ready"])
                .build()
                .unwrap()
        };
        let m = Machine::builder(schema()).id("printed").build();
        let t = bind_env(&m).unwrap();
        print!("{}", t.report());
        let child = Machine::builder(schema()).id("child").parent(&m).build();
        m.add(&["Ready"]).unwrap();
        child.add(&["Ready"]).unwrap();
        let tick = |c: &Machine| c.when_ticks(am_core::HEALTHCHECK, 1).unwrap();
        let (a, b) = (tick(&m), tick(&child));
        a.wait_timeout(Duration::from_secs(10)).unwrap();
        b.wait_timeout(Duration::from_secs(10)).unwrap();
        return;
    }
    let out = child(
        "go_log_print_and_healthcheck",
        "go-switches",
        &[("AM_LOG", "2".into()), ("AM_LOG_PRINT", "1".into()), ("AM_HEALTHCHECK", "200ms".into())],
    );
    assert!(out.contains("[print] [state] +Ready"), "{out}");
    assert!(out.contains("[child] [state] +Ready"), "inherited: {out}");
    assert!(out.contains("[state] +Healthcheck"), "{out}");
    assert!(!out.contains("nothing shows machine logs"), "{out}");
}

/// Two root machines share the exporters; shutting the first one's `Telemetry` down keeps
/// them for the second, whose later spans and series still arrive.
#[test]
fn two_roots_hold_shares_of_the_same_exporters() {
    if scenario().is_some() {
        let addr: SocketAddr = std::env::var("AM_PROM_ADDR").unwrap().parse().unwrap();
        let (a, b) = (machine("first"), machine("second"));
        let ta = bind_env(&a).unwrap();
        let tb = bind_env(&b).unwrap();
        assert_eq!(tb.bound(), [Exporter::Prom, Exporter::Otel]);
        a.add(&["Ready"]).unwrap();
        b.add(&["Ready"]).unwrap();
        let first = ta.shutdown();
        assert!(first.exporters.iter().all(|(_, d)| d.in_time && d.balanced()), "{first}");
        b.add(&["Late"]).unwrap();
        let page = metrics(addr).expect("the endpoint outlives the first root's Telemetry");
        assert!(page.contains(r#"mach_id="second""#), "{page}");
        let last = tb.shutdown();
        print!("{last}");
        assert!(last.complete(), "{last}");
        let spans = last.get(Exporter::Otel).expect("otel bound");
        assert!(spans.sent > 0 && spans.sent == spans.produced, "{last}");
        assert!(metrics(addr).is_none(), "the last share stops the endpoint");
        return;
    }
    let rx = Receiver::grpc();
    let prom = am_testkit::free_port();
    child(
        "two_roots_hold_shares_of_the_same_exporters",
        "two-roots",
        &[
            ("AM_SERVICE", "two-roots".into()),
            ("AM_PROM_ADDR", prom.to_string()),
            ("AM_OTEL_TRACE", "1".into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", rx.grpc_url()),
        ],
    );
    let spans = rx.wait_spans(|s| s.iter().any(|s| s.name.ends_with(":Late")));
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert!(names.iter().any(|n| n.ends_with(":first")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(":Late")), "the second root's later span arrived: {names:?}");
    assert!(spans.iter().all(|s| s.end >= s.start && s.end > 0), "every span ended");
}

/// A Loki that refuses connections does not hold the process past the shutdown deadline.
#[test]
fn shutdown_keeps_its_deadline_with_loki_down() {
    if scenario().is_some() {
        let m = Machine::builder(Schema::builder().states(["A"]).build().unwrap())
            .id("logger")
            .log_level(am_core::LogLevel::Changes)
            .build();
        let t = bind_env(&m).unwrap();
        assert_eq!(t.bound(), [Exporter::Loki]);
        for _ in 0..50 {
            m.add(&["A"]).unwrap();
            m.remove(&["A"]).unwrap();
        }
        let start = Instant::now();
        let done = t.shutdown();
        let took = start.elapsed();
        println!("shutdown took {took:?}\n{done}");
        assert!(took < am_telemetry::Telemetry::SHUTDOWN_DEADLINE + Duration::from_millis(700), "{took:?}");
        // nothing reached Loki, and every entry is accounted for (pending: abandoned)
        let d = done.get(Exporter::Loki).expect("loki bound");
        assert!(!done.complete() && d.balanced() && d.sent == 0 && d.produced >= 100, "{done}");
        return;
    }
    let dead = am_testkit::free_port();
    let out = child(
        "shutdown_keeps_its_deadline_with_loki_down",
        "loki-down",
        &[("AM_SERVICE", "svc".into()), ("AM_LOKI_ADDR", format!("http://{dead}"))],
    );
    assert!(out.contains("shutdown took"), "{out}");
}

/// A collector that refuses connections: the shutdown report says nothing arrived (it used
/// to report success), and accounts for every span.
#[test]
fn shutdown_reports_spans_that_never_arrived() {
    if scenario().is_some() {
        let m = machine("traced");
        let t = bind_env(&m).unwrap();
        assert_eq!(t.bound(), [Exporter::Otel]);
        for _ in 0..5 {
            m.add(&["Ready"]).unwrap();
            m.remove(&["Ready"]).unwrap();
        }
        let flushed = t.flush(Duration::from_secs(3));
        let done = t.shutdown_within(Duration::from_secs(3));
        println!("{flushed}{done}");
        for r in [&flushed, &done] {
            let d = r.get(Exporter::Otel).expect("otel bound");
            assert!(!r.complete() && d.balanced() && d.sent == 0 && d.produced > 0, "{r}");
        }
        let d = done.get(Exporter::Otel).unwrap();
        assert_eq!(d.failed + d.pending + d.dropped, d.produced, "{done}");
        return;
    }
    let dead = am_testkit::free_port();
    let out = child(
        "shutdown_reports_spans_that_never_arrived",
        "otel-refused",
        &[
            ("AM_SERVICE", "svc".into()),
            ("AM_OTEL_TRACE", "1".into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{dead}")),
        ],
    );
    assert!(out.contains("(not everything)"), "{out}");
}

/// Called on a submachine, nothing is bound and the report says to bind the root.
#[test]
fn a_submachine_is_reported_not_bound() {
    if scenario().is_some() {
        let root = machine("root");
        let sub = Machine::builder(Schema::builder().states(["A"]).build().unwrap()).id("sub").parent(&root).build();
        let t = bind_env(&sub).unwrap();
        assert!(t.bound().is_empty());
        let text = t.report().to_string();
        print!("{text}");
        assert!(text.contains("called on a submachine (parent `root`): bind the root machine"), "{text}");
        return;
    }
    child("a_submachine_is_reported_not_bound", "sub", &[("AM_PROM_ADDR", am_testkit::free_port().to_string())]);
}

/// Every unusable value is an error that names its variable, and no secret shows.
#[test]
fn bad_values_are_errors_naming_the_variable() {
    if let Some(s) = scenario() {
        let (var, _) = s.split_once('=').unwrap();
        let m = machine("m");
        let e = bind_env(&m).expect_err("a bad value must not bind");
        let chain = format!("{e:?}");
        println!("{chain}");
        assert!(chain.contains(var), "{chain}");
        assert!(!chain.contains("hunter2"), "{chain}");
        return;
    }
    let on = |k: &'static str, v: &str| vec![(k, v.to_string())];
    let prom = |k: &'static str, v: &str| vec![("AM_PROM_ADDR", "127.0.0.1:0".to_string()), (k, v.to_string())];
    let otel = |k: &'static str, v: &str| vec![("AM_OTEL_TRACE", "1".to_string()), (k, v.to_string())];
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("AM_PROM_ADDR", on("AM_PROM_ADDR", "nohost")),
        ("AM_PROM_PUSH_INTERVAL", prom("AM_PROM_PUSH_INTERVAL", "soon")),
        ("AM_PROM_TIMING_EVERY", prom("AM_PROM_TIMING_EVERY", "0")),
        ("AM_PROM_MAX_STATES", prom("AM_PROM_MAX_STATES", "many")),
        ("AM_PROM_PUSH_URL", on("AM_PROM_PUSH_URL", "ftp://gw")),
        ("AM_OTEL_TRACE_ID", otel("AM_OTEL_TRACE_ID", "zz")),
        ("TRACEPARENT", otel("TRACEPARENT", "garbage")),
        ("OTEL_BSP_SCHEDULE_DELAY", otel("OTEL_BSP_SCHEDULE_DELAY", "abc")),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otel("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", otel("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")),
        ("AM_LOG", on("AM_LOG", "banana")),
        ("AM_DBG_ADDR", on("AM_DBG_ADDR", "somewhere")),
        ("AM_LOKI_ADDR", on("AM_LOKI_ADDR", "http://user:hunter2@loki:3100")),
        ("AM_LOKI_USERNAME", vec![("AM_LOKI_ADDR", "localhost:3100".into()), ("AM_LOKI_USERNAME", "u".into())]),
        ("AM_LOKI_PASSWORD", vec![("AM_LOKI_ADDR", "localhost:3100".into()), ("AM_LOKI_PASSWORD", "hunter2".into())]),
        ("AM_GRAFANA_URL", on("AM_GRAFANA_URL", "http://localhost:3000")),
        ("AM_PROM_STATES", prom("AM_PROM_STATES", ",,,")),
        ("AM_OTEL_TRACE_ALLOW_STATES", otel("AM_OTEL_TRACE_ALLOW_STATES", " , ")),
        (
            "AM_LOKI_CERTIFICATE",
            vec![("AM_LOKI_ADDR", "localhost:3100".into()), ("AM_LOKI_CERTIFICATE", "/nonexistent/ca.pem".into())],
        ),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", otel("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")),
        ("AM_PROM_PUSH_CLIENT_CERTIFICATE", prom("AM_PROM_PUSH_CLIENT_CERTIFICATE", "/etc/client.pem")),
        (
            "AM_GRAFANA_CERTIFICATE",
            vec![
                ("AM_GRAFANA_URL", "http://localhost:3000".into()),
                ("AM_GRAFANA_TOKEN", "hunter2".into()),
                ("AM_GRAFANA_CERTIFICATE", "/nonexistent/ca.pem".into()),
            ],
        ),
        (
            "AM_TLS_CLIENT_KEY",
            vec![("AM_LOKI_ADDR", "localhost:3100".into()), ("AM_TLS_CLIENT_KEY", "/etc/k.pem".into())],
        ),
    ];
    for (var, env) in cases {
        let out = child("bad_values_are_errors_naming_the_variable", &format!("{var}=x"), &env);
        assert!(out.contains(var), "{var}: {out}");
    }
    // what the error says, where a value is close to right
    type Env = Vec<(&'static str, String)>;
    let hints: Vec<(&str, Env, &str)> = vec![
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            otel("OTEL_EXPORTER_OTLP_ENDPOINT", "not-a-url"),
            "starting with http:// or https://",
        ),
        ("AM_PROM_ADDR", on("AM_PROM_ADDR", "http://0.0.0.0:9464"), "not a URL: drop the scheme \"http\""),
        ("AM_DBG_ADDR", on("AM_DBG_ADDR", "ftp://x:1"), "unknown scheme \"ftp\""),
        (
            "AM_TLS_CLIENT_KEY",
            vec![("AM_LOKI_ADDR", "on".into()), ("AM_TLS_CLIENT_KEY", "/k.pem".into())],
            "needs AM_TLS_CLIENT_CERTIFICATE too",
        ),
    ];
    for (var, env, needle) in hints {
        let out = child("bad_values_are_errors_naming_the_variable", &format!("{var}=hint"), &env);
        assert!(out.contains(var) && out.contains(needle), "{var}: want {needle:?} in {out}");
        assert!(!out.contains("IPv6"), "{var}: the IPv6 hint misleads here: {out}");
    }
}

/// What the report notes for values that bind but will not do what was meant.
#[test]
fn the_report_notes_what_will_not_work() {
    if let Some(s) = scenario() {
        let m = machine("noted");
        let t = bind_env(&m).unwrap();
        let text = t.report().to_string();
        print!("{text}");
        match s.as_str() {
            "otel-log-alone" => {
                assert!(t.bound().is_empty(), "{text}");
                assert!(
                    text.contains("AM_OTEL_LOG set, but the OTel exporter starts only with AM_OTEL_TRACE"),
                    "{text}"
                );
                assert!(
                    !text.contains("set one of") || !text.contains("AM_OTEL_LOG,"),
                    "told to set what is set: {text}"
                );
            }
            "port-0" => {
                // the report names the port the endpoint really got, and where spans go
                let line =
                    text.lines().find(|l| l.starts_with("    prom → 127.0.0.1:")).unwrap_or_else(|| panic!("{text}"));
                assert!(!line.starts_with("    prom → 127.0.0.1:0 "), "{line}");
                let otel = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap();
                assert!(text.contains(&format!("    otel → grpc {otel} (traces)\n")), "{text}");
            }
            "allow-typo" => {
                assert_eq!(t.bound(), [Exporter::Otel]);
                assert!(
                    text.contains("AM_OTEL_TRACE_ALLOW_STATES names Nope, which machine `noted` does not have"),
                    "{text}"
                );
            }
            other => panic!("unknown scenario {other}"),
        }
        drop(t);
        return;
    }
    let test = "the_report_notes_what_will_not_work";
    child(test, "otel-log-alone", &[("AM_OTEL_LOG", "1".into())]);
    let rx = Receiver::grpc();
    child(
        test,
        "port-0",
        &[
            ("AM_PROM_ADDR", "127.0.0.1:0".into()),
            ("AM_OTEL_TRACE", "1".into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", rx.grpc_url()),
        ],
    );
    child(
        test,
        "allow-typo",
        &[
            ("AM_OTEL_TRACE", "1".into()),
            ("AM_OTEL_TRACE_ALLOW_STATES", "Ready,Nope".into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", rx.grpc_url()),
        ],
    );
}

/// A hosted collector and Loki behind HTTPS, set up from the environment alone: the
/// standard OTLP variables (a CA file, an auth header) and the shared `AM_TLS_CERTIFICATE`
/// for Loki.
#[test]
fn tls_endpoints_from_the_environment() {
    if scenario().is_some() {
        let m = Machine::builder(Schema::builder().states(["Ready"]).build().unwrap())
            .id("secure")
            .log_level(am_core::LogLevel::Changes)
            .build();
        let t = bind_env(&m).unwrap();
        assert_eq!(t.bound(), [Exporter::Loki, Exporter::Otel]);
        m.add(&["Ready"]).unwrap();
        let done = t.shutdown_within(Duration::from_secs(5));
        print!("{done}");
        assert!(done.complete(), "{done}");
        return;
    }
    use am_testkit::tls::{ProxyOptions, TestCa, TlsProxy};
    let ca = TestCa::new("telemetry-env");
    let otlp = Receiver::grpc();
    let otlp_tls = TlsProxy::start(otlp.addr, &ca, &ca.server, ProxyOptions::grpc());
    let loki = am_testkit::loki::Receiver::start();
    let loki_tls = TlsProxy::start(
        loki.addr().trim_start_matches("http://").parse().unwrap(),
        &ca,
        &ca.server,
        ProxyOptions::http(),
    );
    let ca_file = ca.ca_file.display().to_string();
    let out = child(
        "tls_endpoints_from_the_environment",
        "tls",
        &[
            ("AM_SERVICE", "secure-svc".into()),
            ("AM_OTEL_TRACE", "1".into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_tls.url()),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_file.clone()),
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20s3cret-t0ken".into()),
            ("AM_LOKI_ADDR", loki_tls.url()),
            ("AM_TLS_CERTIFICATE", ca_file),
        ],
    );
    assert!(out.contains("am-telemetry: delivered\n"), "{out}");
    assert!(otlp.spans().iter().any(|s| s.name.ends_with(":secure")), "{:?}", otlp.spans());
    assert!(otlp.authorization().iter().all(|a| a == "Bearer s3cret-t0ken") && !otlp.authorization().is_empty());
    assert!(!loki.lines_of("secure").is_empty());
    assert!(otlp_tls.handshakes().0 >= 1 && loki_tls.handshakes().0 >= 1);
}

/// `AM_DBG_ADDR=on` means the default address, like every address variable.
#[test]
fn switch_words_are_the_same_everywhere() {
    if scenario().is_some() {
        let m = machine("m");
        let t = bind_env(&m).unwrap();
        assert_eq!(t.bound(), [Exporter::Dbg]);
        return;
    }
    child("switch_words_are_the_same_everywhere", "on", &[("AM_DBG_ADDR", "on".into())]);
}
