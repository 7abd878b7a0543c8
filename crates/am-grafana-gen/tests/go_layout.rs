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
            ("heatmap", "Transition errors".into()),
            ("row", format!("Details: {id}")),
            ("timeseries", "Transition Mutations".into()),
            ("timeseries", "Transition Details".into()),
            ("timeseries", "States and Relations".into()),
            ("heatmap", "Average transition time".into()),
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
    // ours stays the default; the Go layout keeps our stable uid, and names Go's data
    // sources instead of variables
    let ours = Dashboard::for_machines(&["worker-1"]).name("shop").build().unwrap().to_json();
    assert!(ours.to_string().contains("Overview: $mach_id"));
    assert_eq!(v["uid"], "shop");
    assert!(!v.to_string().contains("DS_PROMETHEUS"));
    assert_eq!(v["templating"]["list"], serde_json::json!([]));
    assert!(all.iter().filter(|p| p["type"] != "row").all(|p| {
        let want = if p["type"] == "logs" { "Loki" } else { "Prometheus" };
        p["datasource"]["uid"] == want
    }));
}

#[test]
fn the_go_layout_needs_the_service_as_go_does() {
    let e = Dashboard::for_machines(&["a"]).layout(Layout::Go).build().unwrap_err();
    assert!(e.to_string().contains("--source"), "{e}");
    // a job alone names the service too
    let d = Dashboard::for_machines(&["a"]).job("shop-api").layout(Layout::Go).build().unwrap();
    assert!(d.prometheus_queries().iter().all(|q| q.contains(r#"{job="shop_api"}"#)));
}

/// Sizes and styles as Grafana draws Go's legacy rows: full width; 250 px (the row's
/// default), 150 px (heatmaps) and 800 px (logs) in 38 px grid units; fills 25 and 0.
#[test]
fn sizes_and_styles_are_go_s() {
    let d = Dashboard::for_machines(&["m"]).source("s").layout(Layout::Go).build().unwrap();
    let v = d.to_json();
    let all = panels(&v);
    let grid_units = |px: u64| px.div_ceil(30 + 8);
    for p in &all {
        let title = p["title"].as_str().unwrap();
        let want_h = match p["type"].as_str().unwrap() {
            "row" => 1,
            "heatmap" => grid_units(150),
            "logs" => grid_units(800),
            _ => grid_units(250),
        };
        assert_eq!((&p["gridPos"]["w"], &p["gridPos"]["h"]), (&24.into(), &want_h.into()), "{title}");
        if p["type"] == "timeseries" {
            let fill = if title == "Transitions" { 25 } else { 0 };
            assert_eq!(p["fieldConfig"]["defaults"]["custom"]["fillOpacity"], fill, "{title}");
            assert_eq!(p["options"]["tooltip"]["mode"], "single", "{title}");
        }
        assert!(p.get("description").is_none(), "{title}: Go sets no description");
        assert!(p["fieldConfig"]["defaults"].get("unit").is_none(), "{title}: Go sets no unit");
    }
    assert_eq!(
        (&v["time"]["from"], &v["tags"], &v["refresh"]),
        (&"now-5m".into(), &serde_json::json!(["generated"]), &"5s".into())
    );
    // panels first in Go's order, then the rows the migration numbers after them
    let ids: Vec<u64> = all.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [8, 1, 2, 9, 3, 4, 5, 6, 10, 7]);
}
