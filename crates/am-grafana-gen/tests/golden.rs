//! Golden output for a fixed input, determinism, and what the dashboard must contain.

use std::path::PathBuf;

use am_core::conventions::prom as names;
use am_grafana_gen::{Dashboard, LOKI_LABEL_MACHINE_ID, LOKI_META_TRACE_ID};
use serde_json::Value;

fn golden() -> Dashboard {
    Dashboard::for_machines(&["mach1", "mach2"]).name("Golden").source("svc").build().unwrap_or_else(|e| panic!("{e}"))
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn compare(name: &str, have: &str) {
    let path = fixture(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, have).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    if want != have {
        let line = want.lines().zip(have.lines()).position(|(a, b)| a != b).map_or(0, |i| i + 1);
        panic!(
            "{name} differs from the generator's output (first difference at line {line}); if intended, \
             rerun with UPDATE_GOLDEN=1 and review the diff"
        );
    }
}

#[test]
fn golden_json_and_rules() {
    compare("golden.json", &golden().to_json_string());
    compare("golden.rules.yml", &golden().alert_rules_yaml());
}

/// `cargo xtask gen-dashboard --ids mach1,mach2 --source shop --layout go`, reviewed panel
/// by panel against Go's generator (`tools/generator/grafana.go`) and the grabana calls it
/// makes (see `src/go_layout.rs` for what each value comes from).
#[test]
fn golden_go_layout() {
    let d = Dashboard::for_machines(&["mach1", "mach2"])
        .source("shop")
        .layout(am_grafana_gen::Layout::Go)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    compare("golden-go.json", &d.to_json_string());
}

#[test]
fn deterministic() {
    let a = golden().to_json_string();
    let b = golden().to_json_string();
    assert_eq!(a, b);
    assert_eq!(golden().alert_rules_yaml(), golden().alert_rules_yaml());
    // No timestamps, no run-dependent values.
    let v: Value = serde_json::from_str(&a).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["uid"], "golden");
    assert_eq!(v["id"], Value::Null);
    // Same name, more machines: same uid (the sync tracer overwrites one dashboard).
    let more = Dashboard::for_machines(&["mach1", "mach2", "mach3"]).name("Golden").build();
    assert_eq!(more.map(|d| d.uid().to_string()).ok().as_deref(), Some("golden"));
}

/// Every panel, row children included, in order.
fn all_panels(v: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in v["panels"].as_array().into_iter().flatten() {
        out.push(p);
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

#[test]
fn layout_ids_and_rows() {
    let v = golden().to_json();
    let panels = all_panels(&v);
    let ids: Vec<u64> = panels.iter().filter_map(|p| p["id"].as_u64()).collect();
    assert_eq!(ids, (1..=panels.len() as u64).collect::<Vec<_>>(), "panel IDs are 1..n in order");
    let rows: Vec<(&str, bool)> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| (p["title"].as_str().unwrap_or(""), p["collapsed"].as_bool().unwrap_or(false)))
        .collect();
    assert_eq!(
        rows,
        [("Overview: $mach_id", false), ("Machine: mach1", false), ("Machine: mach2", true), ("Exporters", true)]
    );
    // The collapsed row holds its panels; open rows hold none.
    for p in v["panels"].as_array().into_iter().flatten().filter(|p| p["type"] == "row") {
        let n = p["panels"].as_array().map_or(0, Vec::len);
        assert_eq!(n > 0, p["collapsed"] == true, "{}", p["title"]);
    }
    for p in &panels {
        let g = &p["gridPos"];
        let (x, w) = (g["x"].as_u64().unwrap_or(99), g["w"].as_u64().unwrap_or(99));
        assert!(x + w <= 24, "panel {} overflows the grid", p["title"]);
    }
    let kinds: Vec<&str> = panels.iter().filter_map(|p| p["type"].as_str()).collect();
    for kind in ["timeseries", "state-timeline", "stat", "logs"] {
        assert!(kinds.contains(&kind), "no {kind} panel");
    }
}

#[test]
fn per_machine_panels_and_queries() {
    let d = golden();
    let v = d.to_json();
    let panels = all_panels(&v);
    for id in d.ids() {
        let exprs: Vec<String> = panels
            .iter()
            .flat_map(|p| p["targets"].as_array().into_iter().flatten())
            .filter_map(|t| t["expr"].as_str())
            .filter(|e| e.contains(&format!("=\"{id}\"")))
            .map(str::to_string)
            .collect();
        let uses = |m: &str| exprs.iter().any(|e| e.contains(&format!("{m}{{")));
        for metric in [
            names::TRANSITIONS_TOTAL.to_string(),
            format!("{}_bucket", names::TRANSITION_DURATION_SECONDS),
            names::EXCEPTIONS_TOTAL.into(),
            names::QUEUE_LENGTH.into(),
            names::STATES_ACTIVE.into(),
            names::STATES_ADDED_TOTAL.into(),
            names::STATES_REMOVED_TOTAL.into(),
            format!("{}_sum", names::TRANSITION_HANDLERS),
            format!("{}_count", names::TRANSITION_STEPS),
            names::STATE_ACTIVE.into(),
        ] {
            assert!(uses(&metric), "{id}: no query of {metric}");
        }
        let logs = format!("{{{LOKI_LABEL_MACHINE_ID}=\"{id}\", service_name=~\"$service_name\"}}");
        assert!(exprs.contains(&logs), "{id}: no logs panel query {logs}");
    }
}

#[test]
fn only_exported_metric_names() {
    let known: Vec<String> = [
        names::TRANSITIONS_TOTAL,
        names::EXCEPTIONS_TOTAL,
        names::STATES_ADDED_TOTAL,
        names::STATES_REMOVED_TOTAL,
        names::QUEUE_LENGTH,
        names::STATES_ACTIVE,
        names::STATE_ACTIVE,
        names::SCHEMA_STATES,
        names::SCHEMA_RELATIONS,
        names::SCHEMA_REF_STATES,
        names::EXPORTER_SENT_TOTAL,
        names::EXPORTER_DROPPED_TOTAL,
        names::EXPORTER_FAILED_TOTAL,
        names::EXPORTER_QUEUED,
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(
        [
            names::TRANSITION_DURATION_SECONDS,
            names::TRANSITION_TICKS,
            names::TRANSITION_STEPS,
            names::TRANSITION_HANDLERS,
        ]
        .iter()
        .flat_map(|h| ["_bucket", "_sum", "_count"].map(|s| format!("{h}{s}"))),
    )
    .collect();
    let d = golden();
    let v = d.to_json();
    let mut exprs: Vec<String> = all_panels(&v)
        .iter()
        .filter(|p| p["datasource"]["type"] == "prometheus")
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str().map(str::to_string))
        .collect();
    exprs.extend(d.alert_expressions());
    assert!(exprs.len() > 20);
    for e in &exprs {
        for word in e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("am_")) {
            assert!(known.iter().any(|k| k == word), "{word} in `{e}` is not a name am-prom exports");
        }
    }
}

#[test]
fn variables_and_trace_links() {
    let v = golden().to_json();
    let vars: Vec<(&str, &str)> = v["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| (x["name"].as_str().unwrap_or(""), x["type"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        vars,
        [
            ("DS_PROMETHEUS", "datasource"),
            ("DS_LOKI", "datasource"),
            ("DS_TEMPO", "datasource"),
            ("service", "query"),
            ("mach_id", "query"),
            ("service_name", "query")
        ]
    );
    assert_eq!(v["templating"]["list"][3]["current"]["value"], serde_json::json!(["svc"]));
    assert_eq!(v["templating"]["list"][5]["datasource"]["type"], "loki");
    // No data source is hard-coded: every reference goes through a variable, and no
    // variable picks one (Grafana then takes its own default of that type).
    for var in v["templating"]["list"].as_array().into_iter().flatten().filter(|x| x["type"] == "datasource") {
        assert!(var.get("current").is_none(), "{var}");
    }
    for p in all_panels(&v) {
        if let Some(uid) = p["datasource"]["uid"].as_str() {
            assert!(uid.starts_with("${DS_"), "panel {} uses data source {uid}", p["title"]);
        }
    }
    let logs: Vec<&Value> = all_panels(&v).into_iter().filter(|p| p["type"] == "logs").collect();
    assert_eq!(logs.len(), 3, "overview + one per machine");
    for p in logs {
        let o = &p["fieldConfig"]["overrides"][0];
        assert_eq!(o["matcher"]["options"], LOKI_META_TRACE_ID);
        assert_eq!(o["properties"][0]["value"][0]["internal"]["datasourceUid"], "${DS_TEMPO}");
    }
}

/// The values each variable starts with, by name.
fn defaults(v: &Value) -> Vec<(String, Value)> {
    v["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["type"] == "query")
        .map(|x| (x["name"].as_str().unwrap_or("").to_string(), x["current"]["value"].clone()))
        .collect()
}

#[test]
fn a_hyphenated_service_is_found_scraped_pushed_and_in_loki() {
    let d = Dashboard::for_machines(&["api-1"]).source("checkout-api").build().unwrap_or_else(|e| panic!("{e}"));
    let v = d.to_json();
    assert_eq!(
        defaults(&v),
        [
            // prometheus-operator's `service` (the Service name) and the pushed, normalised one
            ("service".to_string(), serde_json::json!(["checkout-api", "checkout_api"])),
            ("mach_id".to_string(), serde_json::json!(["$__all"])),
            // Loki's `service_name` is always normalised
            ("service_name".to_string(), serde_json::json!("checkout_api")),
        ]
    );
    // Prometheus panels match `service`, Loki panels `service_name`, never the other way
    for p in all_panels(&v) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap_or("");
            if p["datasource"]["type"] == "loki" {
                assert!(expr.contains("service_name=~\"$service_name\"") && !expr.contains("$service\""), "{expr}");
            } else {
                assert!(!expr.contains("$service_name") && !expr.contains("service_name"), "{expr}");
            }
        }
    }
    // without a source: every service, in both
    let all = Dashboard::for_machines(&["api-1"]).build().unwrap_or_else(|e| panic!("{e}")).to_json();
    let d = defaults(&all);
    assert_eq!((&d[0].1, &d[2].1), (&serde_json::json!(["$__all"]), &serde_json::json!("$__all")));
}
