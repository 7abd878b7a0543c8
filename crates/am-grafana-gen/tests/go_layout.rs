//! The Go layout (`Layout::Go`): the Go `am-gen` dashboard's rows, panels, order, legends and
//! queries (spec §7.2), on the Go-compatible per-ID metrics am-prom exports with `go_compat`.

use am_grafana_gen::{Dashboard, Layout};
use serde_json::Value;

fn panels(v: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for p in v["panels"].as_array().into_iter().flatten() {
        out.push(p.clone());
        out.extend(p["panels"].as_array().into_iter().flatten().cloned());
    }
    out
}

#[test]
fn rows_panels_and_queries_are_the_go_ones() {
    let d = Dashboard::for_machines(&["worker-1", "pool"])
        .name("shop")
        .source("shop-svc")
        .layout(Layout::Go)
        .build()
        .unwrap();
    let v = d.to_json();
    let all = panels(&v);
    let titles: Vec<(&str, &str)> =
        all.iter().map(|p| (p["type"].as_str().unwrap_or(""), p["title"].as_str().unwrap_or(""))).collect();
    let per_machine = |id: &'static str| {
        vec![
            ("row", format!("Mach: {id}")),
            ("timeseries", "Transitions".into()),
            ("timeseries", "Transition errors".into()),
            ("row", format!("Details: {id}")),
            ("timeseries", "Transition Mutations".into()),
            ("timeseries", "Transition Details".into()),
            ("timeseries", "States and Relations".into()),
            ("timeseries", "Average transition time".into()),
            ("row", format!("Logs: {id}")),
            ("logs", "Logs".into()),
        ]
    };
    let want: Vec<(&str, String)> = per_machine("worker-1").into_iter().chain(per_machine("pool")).collect();
    let got: Vec<(&str, String)> = titles.iter().map(|(k, t)| (*k, t.to_string())).collect();
    assert_eq!(got, want);
    let exprs: Vec<(String, String)> = all
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| (t["expr"].as_str().unwrap_or("").to_string(), t["legendFormat"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(exprs[0], (r#"am_transitions_worker_1{job="shop_svc"}"#.into(), "Number of transitions".into()));
    assert_eq!(exprs[1], (r#"am_exceptions_worker_1{job="shop_svc"}"#.into(), "Exception".into()));
    assert!(exprs.contains(&(
        r#"am_relations_pool{job="shop_svc"} / am_states_pool{job="shop_svc"}"#.into(),
        "Avg number of relations per state".into()
    )));
    assert!(exprs.contains(&(r#"am_tx_time_pool{job="shop_svc"}"#.into(), "Human time (μs)".into())));
    assert!(exprs.iter().any(|(e, _)| e == r#"{service_name="shop_svc", asyncmachine_id="worker-1"}"#), "{exprs:?}");
    // every Prometheus query names Go-compatible metrics only
    for (e, _) in exprs.iter().filter(|(e, _)| e.starts_with("am_")) {
        for part in e.split(" / ") {
            let name = part.split('{').next().unwrap();
            let ok = am_core::conventions::prom::go::METRICS
                .iter()
                .any(|m| ["worker_1", "pool"].iter().any(|id| name == am_core::conventions::prom::go::name(m, id)));
            assert!(ok, "{name} is not a Go-compatible metric");
        }
    }
    // ours stays the default, and the uid and data-source variables stay in the Go layout
    let ours = Dashboard::for_machines(&["worker-1"]).name("shop").build().unwrap().to_json();
    assert!(ours.to_string().contains("Overview: $mach_id"));
    assert_eq!(v["uid"], "shop");
    assert!(v.to_string().contains("${DS_PROMETHEUS}"));
}
