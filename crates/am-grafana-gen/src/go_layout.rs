//! The Go `am-gen` dashboard ([`Layout::Go`](crate::Layout::Go)), as Grafana shows it.
//!
//! Go builds its dashboard with grabana v0.22 (over K-Phoen/sdk v0.12), which writes the
//! legacy `rows` model (12-column spans, pixel heights, an angular heatmap). Grafana
//! migrates that model when it loads it; what is emitted here is the migrated model, so
//! that a Grafana draws this dashboard exactly as it draws Go's:
//!
//! - every panel spans 12 of 12 columns: `w` 24;
//! - heights: a row's 250 px (the sdk's row default) for time series, 150 px for the two
//!   heatmaps, 800 px for the logs panel, each `ceil(px / 38)` grid units (Grafana's
//!   `getGridHeight`: a 30 px cell plus its 8 px margin): 7, 4 and 22;
//! - positions: each panel below the previous one, vertically compacted (as Grafana's grid
//!   compacts the migrated layout);
//! - IDs: panels 1.. in the order Go adds them, then rows after the highest panel ID (the
//!   migration numbers the row panels it creates that way);
//! - time series: grabana's defaults (line, width 1, fill 25, points 5, gradient
//!   `opacity`, single-series tooltip, legend as a bottom list, palette-classic) with
//!   Go's fill 0 on the three Details charts; no unit and no description (Go sets none);
//! - heatmaps: the options Grafana's migration of grabana's angular heatmap yields (data
//!   already bucketed, the Spectral scheme, gap 2, zero buckets hidden, tooltip with a
//!   histogram, y axis `short`);
//! - logs: grabana's options (details on, newest first; time, labels and wrapping off);
//! - data sources by Go's names, `Prometheus` and `Loki` (a data-source reference whose uid
//!   is a name resolves by name), unless given with
//!   [`prometheus_datasource`](crate::DashboardBuilder::prometheus_datasource) /
//!   [`loki_datasource`](crate::DashboardBuilder::loki_datasource); no template variables;
//! - tags `generated`, refresh 5 s, the last 5 minutes, shared crosshair, Grafana's default
//!   time zone (`""`), grabana's refresh intervals.
//!
//! Kept from ours: the stable `uid` (Go sets none, so a renamed dashboard is a new one).

use serde_json::{Value, json};

use am_core::conventions::prom::go::name;
use am_core::env::normalize_id;

use crate::dashboard::{Dashboard, LOKI_LABEL_MACHINE_ID, LOKI_LABEL_SERVICE};
use crate::promql::quote;

/// Grid units of a time series (the sdk's 250 px row height).
const H_CHART: u64 = 7;
/// Grid units of a heatmap (Go's 150 px).
const H_HEATMAP: u64 = 4;
/// Grid units of the logs panel (Go's 800 px).
const H_LOGS: u64 = 22;
/// Go's data-source names.
const GO_PROMETHEUS: &str = "Prometheus";
const GO_LOKI: &str = "Loki";

/// A panel of the Go layout before it is placed.
enum GoPanel {
    /// Title, fill opacity, (query, legend) pairs.
    Chart(&'static str, u8, Vec<(String, &'static str)>),
    /// Title, query, legend.
    Heatmap(&'static str, String, &'static str),
    /// The Loki query.
    Logs(String),
}

impl GoPanel {
    fn height(&self) -> u64 {
        match self {
            GoPanel::Chart(..) => H_CHART,
            GoPanel::Heatmap(..) => H_HEATMAP,
            GoPanel::Logs(_) => H_LOGS,
        }
    }
}

/// One row of Go's: title, collapsed, panels.
struct GoRow(String, bool, Vec<GoPanel>);

/// Go's three rows for one machine, with its queries (`S` the normalised source, `P` the
/// normalised ID, the Loki label the raw ID).
fn machine_rows(id: &str, source: &str) -> [GoRow; 3] {
    let p = normalize_id(id);
    let job = format!("{{job={}}}", quote(source));
    let q = |metric: &str| format!("{}{job}", name(metric, &p));
    let chart = |title, fill, series: &[(&str, &'static str)]| {
        GoPanel::Chart(title, fill, series.iter().map(|(m, legend)| (q(m), *legend)).collect())
    };
    let relations_per_state = format!("{} / {}", q("relations"), q("states"));
    [
        GoRow(
            format!("Mach: {id}"),
            false,
            vec![
                chart("Transitions", 25, &[("transitions", "Number of transitions")]),
                GoPanel::Heatmap("Transition errors", q("exceptions"), "Exception"),
            ],
        ),
        GoRow(
            format!("Details: {id}"),
            true,
            vec![
                chart(
                    "Transition Mutations",
                    0,
                    &[
                        ("queue_size", "Avg queue size"),
                        ("handlers", "Avg handlers ran"),
                        ("states_added", "Avg states added"),
                        ("states_removed", "Avg states removed"),
                    ],
                ),
                chart(
                    "Transition Details",
                    0,
                    &[
                        ("tx_ticks", "Avg machine time taken (ticks)"),
                        ("steps", "Avg number of steps"),
                        ("states_touched", "Avg states touched"),
                    ],
                ),
                GoPanel::Chart(
                    "States and Relations",
                    0,
                    vec![
                        (q("ref_states"), "States referenced in relations"),
                        (relations_per_state, "Avg number of relations per state"),
                        (q("relations"), "Number of relations"),
                        (q("states_active"), "Avg active states"),
                        (q("states_inactive"), "Avg inactive states"),
                    ],
                ),
                GoPanel::Heatmap("Average transition time", q("tx_time"), "Human time (μs)"),
            ],
        ),
        GoRow(
            format!("Logs: {id}"),
            true,
            vec![GoPanel::Logs(format!(
                "{{{LOKI_LABEL_SERVICE}={}, {LOKI_LABEL_MACHINE_ID}={}}}",
                quote(source),
                quote(id)
            ))],
        ),
    ]
}

fn datasource(kind: &str, uid: &str) -> Value {
    json!({"type": kind, "uid": uid})
}

const REF_IDS: [&str; 5] = ["A", "B", "C", "D", "E"];

fn prometheus_targets(ds: &Value, queries: &[(String, &str)]) -> Vec<Value> {
    queries
        .iter()
        .zip(REF_IDS)
        .map(|((expr, legend), ref_id)| {
            json!({"datasource": ds, "expr": expr, "format": "time_series", "legendFormat": legend, "refId": ref_id})
        })
        .collect()
}

fn render(panel: &GoPanel, prom: &Value, loki: &Value) -> Value {
    match panel {
        GoPanel::Chart(title, fill, queries) => json!({
            "datasource": prom,
            "fieldConfig": {
                "defaults": {
                    "color": {"fixedColor": "green", "mode": "palette-classic", "seriesBy": "last"},
                    "custom": {
                        "axisPlacement": "auto",
                        "barAlignment": 0,
                        "drawStyle": "line",
                        "fillOpacity": fill,
                        "gradientMode": "opacity",
                        "hideFrom": {"legend": false, "tooltip": false, "viz": false},
                        "lineInterpolation": "linear",
                        "lineStyle": {"fill": "solid"},
                        "lineWidth": 1,
                        "pointSize": 5,
                        "scaleDistribution": {"type": "linear"},
                        "showPoints": "auto",
                        "spanNulls": false,
                        "stacking": {"group": "A", "mode": "none"},
                        "thresholdsStyle": {"mode": "off"}
                    }
                },
                "overrides": []
            },
            "options": {
                "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": true},
                "tooltip": {"mode": "single", "sort": "none"}
            },
            "targets": prometheus_targets(prom, queries),
            "title": title,
            "type": "timeseries"
        }),
        GoPanel::Heatmap(title, expr, legend) => json!({
            "datasource": prom,
            "fieldConfig": {
                "defaults": {
                    "custom": {
                        "hideFrom": {"legend": false, "tooltip": false, "viz": false},
                        "scaleDistribution": {"type": "linear"}
                    }
                },
                "overrides": []
            },
            "options": {
                "calculate": false,
                "calculation": {},
                "cellGap": 2,
                "cellValues": {},
                "color": {
                    "exponent": 0.5,
                    "fill": "#b4ff00",
                    "mode": "scheme",
                    "reverse": false,
                    "scale": "exponential",
                    "scheme": "Spectral",
                    "steps": 128
                },
                "exemplars": {"color": "rgba(255,0,255,0.7)"},
                "filterValues": {"le": 1e-9},
                "legend": {"show": true},
                "rowsFrame": {"layout": "auto"},
                "showValue": "never",
                "tooltip": {"mode": "single", "showColorScale": false, "yHistogram": true},
                "yAxis": {"axisPlacement": "left", "reverse": false, "unit": "short"}
            },
            "targets": prometheus_targets(prom, &[(expr.clone(), legend)]),
            "title": title,
            "type": "heatmap"
        }),
        GoPanel::Logs(expr) => json!({
            "datasource": loki,
            "options": {
                "dedupStrategy": "none",
                "enableLogDetails": true,
                "prettifyLogMessage": false,
                "showCommonLabels": false,
                "showLabels": false,
                "showTime": false,
                "sortOrder": "Descending",
                "wrapLogMessage": false
            },
            "targets": [{"datasource": loki, "expr": expr, "queryType": "range", "refId": "A"}],
            "title": "Logs",
            "type": "logs"
        }),
    }
}

/// The panels, top to bottom: each machine's rows with their panels (a collapsed row holds
/// its panels), placed as Grafana places Go's migrated rows.
fn panels(d: &Dashboard, source: &str) -> Vec<Value> {
    let prom = datasource("prometheus", d.datasources[0].as_deref().unwrap_or(GO_PROMETHEUS));
    let loki = datasource("loki", d.datasources[1].as_deref().unwrap_or(GO_LOKI));
    let rows: Vec<GoRow> = d.ids.iter().flat_map(|id| machine_rows(id, source)).collect();
    // Go's sdk numbers panels as they are added; the migration numbers rows after them.
    let panel_count = rows.iter().map(|r| r.2.len() as u64).sum::<u64>();
    let (mut next_panel, mut next_row, mut y) = (1u64, panel_count + 1, 0u64);
    let mut out = Vec::new();
    for GoRow(title, collapsed, children) in &rows {
        let mut row = json!({
            "collapsed": collapsed,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
            "id": next_row,
            "panels": [],
            "title": title,
            "type": "row"
        });
        next_row += 1;
        y += 1;
        // a collapsed row's panels sit right below it when it is expanded
        let mut child_y = y;
        let mut placed = Vec::new();
        for c in children {
            let mut p = render(c, &prom, &loki);
            p["id"] = json!(next_panel);
            p["gridPos"] = json!({"h": c.height(), "w": 24, "x": 0, "y": child_y});
            next_panel += 1;
            child_y += c.height();
            placed.push(p);
        }
        if *collapsed {
            row["panels"] = Value::Array(placed);
            out.push(row);
        } else {
            out.push(row);
            out.extend(placed);
            y = child_y;
        }
    }
    out
}

/// The whole dashboard model of the Go layout.
pub(crate) fn dashboard(d: &Dashboard) -> Value {
    // `build` refuses the Go layout without a service, as Go's `--source` is required
    let source = d.service_name().unwrap_or_default();
    json!({
        "annotations": crate::dashboard::annotations(),
        "editable": true,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": null,
        "links": [],
        "panels": panels(d, &source),
        "refresh": "5s",
        "schemaVersion": 39,
        "tags": ["generated"],
        "templating": {"list": []},
        "time": {"from": "now-5m", "to": "now"},
        "timepicker": {"refresh_intervals": ["5s", "10s", "30s", "1m", "5m", "15m", "30m", "1h", "2h", "1d"]},
        "timezone": "",
        "title": d.title,
        "uid": d.uid,
        "version": 1,
        "weekStart": ""
    })
}
