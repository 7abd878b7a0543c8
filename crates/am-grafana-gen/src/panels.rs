//! Panels and their placement on Grafana's 24-column grid.

use serde_json::{Value, json};

use am_core::conventions::prom::{
    EXCEPTIONS_TOTAL, LABEL_MACH_ID, LABEL_RESULT, LABEL_STATE, QUEUE_LENGTH, SCHEMA_REF_STATES, SCHEMA_RELATIONS,
    SCHEMA_STATES, STATE_ACTIVE, STATES_ACTIVE, STATES_ADDED_TOTAL, STATES_REMOVED_TOTAL, TRANSITION_DURATION_SECONDS,
    TRANSITION_HANDLERS, TRANSITION_STEPS, TRANSITION_TICKS, TRANSITIONS_TOTAL,
};

use crate::dashboard::{
    Dashboard, LOKI_LABEL_MACHINE_ID, LOKI_LABEL_SERVICE, LOKI_META_TRACE_ID, VAR_LOKI, VAR_PROMETHEUS,
    VAR_SERVICE_NAME, VAR_TEMPO,
};
use crate::promql::{self, RATE_WINDOW, gauge, histogram_avg, quantile, quote, sum_rate};

/// One Prometheus query and its legend.
struct Query(String, String);

impl Query {
    fn new(expr: String, legend: impl Into<String>) -> Self {
        Query(expr, legend.into())
    }
}

/// The legend template showing a label's value: `{{label}}`.
fn legend(label: &str) -> String {
    format!("{{{{{label}}}}}")
}

/// Places panels row by row, numbering them in emission order.
struct Grid {
    next_id: u64,
    y: u64,
    x: u64,
    row_h: u64,
    out: Vec<Value>,
    /// Children of the current collapsed row, kept inside the row panel.
    collapsed: Option<Vec<Value>>,
}

impl Grid {
    fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn finish_row(&mut self) {
        if let Some(children) = self.collapsed.take()
            && let Some(row) = self.out.last_mut()
        {
            row["panels"] = Value::Array(children);
        }
        self.newline();
    }

    fn newline(&mut self) {
        self.y += self.row_h;
        self.x = 0;
        self.row_h = 0;
    }

    fn row(&mut self, title: String, collapsed: bool) {
        self.finish_row();
        let id = self.id();
        self.out.push(json!({
            "collapsed": collapsed,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
            "id": id,
            "panels": [],
            "title": title,
            "type": "row"
        }));
        self.y += 1;
        self.collapsed = collapsed.then(Vec::new);
    }

    /// Adds a panel `w` wide and `h` high, wrapping to a new line when the row is full.
    fn place(&mut self, w: u64, h: u64, mut panel: Value) {
        if self.x + w > 24 {
            self.newline();
        }
        panel["id"] = json!(self.id());
        panel["gridPos"] = json!({"h": h, "w": w, "x": self.x, "y": self.y});
        self.x += w;
        self.row_h = self.row_h.max(h);
        match &mut self.collapsed {
            Some(children) => children.push(panel),
            None => self.out.push(panel),
        }
    }
}

fn prometheus() -> Value {
    json!({"type": "prometheus", "uid": format!("${{{VAR_PROMETHEUS}}}")})
}

fn loki() -> Value {
    json!({"type": "loki", "uid": format!("${{{VAR_LOKI}}}")})
}

const REF_IDS: [&str; 6] = ["A", "B", "C", "D", "E", "F"];

/// A Prometheus panel of `kind` (`timeseries`, `stat`, `state-timeline`).
fn metrics_panel(kind: &str, title: &str, description: &str, unit: &str, queries: Vec<Query>) -> Value {
    let targets: Vec<Value> = queries
        .into_iter()
        .zip(REF_IDS)
        .map(|(Query(expr, legend), ref_id)| {
            json!({
                "datasource": prometheus(),
                "editorMode": "code",
                "expr": expr,
                "legendFormat": legend,
                "range": true,
                "refId": ref_id
            })
        })
        .collect();
    let mut defaults = json!({"unit": unit});
    let options = match kind {
        "timeseries" => {
            defaults["custom"] = json!({"drawStyle": "line", "fillOpacity": 10, "lineWidth": 1, "showPoints": "never", "spanNulls": false});
            json!({
                "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": true},
                "tooltip": {"mode": "multi", "sort": "desc"}
            })
        }
        "state-timeline" => {
            defaults["min"] = json!(0);
            defaults["max"] = json!(1);
            defaults["mappings"] = json!([{
                "options": {"0": {"color": "transparent", "index": 0, "text": "inactive"},
                            "1": {"color": "green", "index": 1, "text": "active"}},
                "type": "value"
            }]);
            json!({
                "alignValue": "left",
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": false},
                "mergeValues": true,
                "rowHeight": 0.8,
                "showValue": "never",
                "tooltip": {"mode": "single", "sort": "none"}
            })
        }
        _ => json!({
            "colorMode": "value",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
            "textMode": "auto"
        }),
    };
    json!({
        "datasource": prometheus(),
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": targets,
        "title": title,
        "type": kind
    })
}

/// A Loki logs panel; a `trace_id` field (structured metadata) links to the trace in Tempo.
fn logs_panel(title: &str, expr: String) -> Value {
    let trace_link = json!({
        "title": "Trace ${__value.raw}",
        "url": "",
        "internal": {
            "datasourceName": "Tempo",
            "datasourceUid": format!("${{{VAR_TEMPO}}}"),
            "query": {"query": "${__value.raw}", "queryType": "traceql"}
        }
    });
    json!({
        "datasource": loki(),
        "description": format!(
            "Machine log lines from am-loki. Lines logged inside a traced transition carry `{LOKI_META_TRACE_ID}`; \
             its value links to the trace."
        ),
        "fieldConfig": {
            "defaults": {},
            "overrides": [{
                "matcher": {"id": "byName", "options": LOKI_META_TRACE_ID},
                "properties": [{"id": "links", "value": [trace_link]}]
            }]
        },
        "options": {
            "dedupStrategy": "none",
            "enableLogDetails": true,
            "prettifyLogMessage": false,
            "showCommonLabels": false,
            "showLabels": false,
            "showTime": true,
            "sortOrder": "Descending",
            "wrapLogMessage": true
        },
        "targets": [{"datasource": loki(), "editorMode": "code", "expr": expr, "queryType": "range", "refId": "A"}],
        "title": title,
        "type": "logs"
    })
}

/// Every panel of the dashboard, top to bottom.
pub(crate) fn layout(d: &Dashboard) -> Vec<Value> {
    let mut g = Grid { next_id: 1, y: 0, x: 0, row_h: 0, out: Vec::new(), collapsed: None };
    overview(&mut g);
    for (i, id) in d.ids.iter().enumerate() {
        // The first machine's row starts open; the rest start collapsed.
        machine(&mut g, id, i > 0);
    }
    exporters(&mut g);
    g.finish_row();
    g.out
}

fn overview(g: &mut Grid) {
    let f = promql::overview_filter();
    let w = RATE_WINDOW;
    g.row("Overview: $mach_id".into(), false);
    let by = LABEL_MACH_ID;
    g.place(
        12,
        8,
        metrics_panel(
            "timeseries",
            "Transitions by machine",
            "Transitions per second, accepted and canceled.",
            "ops",
            vec![Query::new(sum_rate(by, TRANSITIONS_TOTAL, &f, w), legend(by))],
        ),
    );
    g.place(
        12,
        8,
        metrics_panel(
            "timeseries",
            "Exceptions by machine",
            "Exception state activations per second.",
            "ops",
            vec![Query::new(sum_rate(by, EXCEPTIONS_TOTAL, &f, w), legend(by))],
        ),
    );
    g.place(
        12,
        8,
        metrics_panel(
            "timeseries",
            "Queue length by machine",
            "Mutations waiting in each machine's queue.",
            "short",
            vec![Query::new(gauge("max", by, QUEUE_LENGTH, &f), legend(by))],
        ),
    );
    g.place(
        12,
        8,
        metrics_panel(
            "timeseries",
            "p99 transition duration by machine",
            "99th percentile of transition wall time.",
            "s",
            vec![Query::new(quantile(0.99, by, TRANSITION_DURATION_SECONDS, &f, w), legend(by))],
        ),
    );
    let logs = format!("{{{LOKI_LABEL_MACHINE_ID}=~\"$mach_id\", {LOKI_LABEL_SERVICE}=~\"${VAR_SERVICE_NAME}\"}}");
    g.place(24, 10, logs_panel("Logs: $mach_id", logs));
}

/// The exporters' own health (am-prom exports every exporter's counters in the process):
/// drops, failures and queue depth per exporter. Collapsed.
fn exporters(g: &mut Grid) {
    let f = promql::service_matcher();
    let w = RATE_WINDOW;
    let by = am_core::conventions::prom::LABEL_EXPORTER;
    g.row("Exporters".into(), true);
    for (title, description, unit, expr) in [
        (
            "Dropped by exporter",
            "Items (spans, log entries, debugger messages) dropped before delivery, per second.",
            "ops",
            sum_rate(by, am_core::conventions::prom::EXPORTER_DROPPED_TOTAL, &f, w),
        ),
        (
            "Failed deliveries by exporter",
            "Batches, pushes or uploads that failed, per second.",
            "ops",
            sum_rate(by, am_core::conventions::prom::EXPORTER_FAILED_TOTAL, &f, w),
        ),
        (
            "Delivered by exporter",
            "Items delivered per second.",
            "ops",
            sum_rate(by, am_core::conventions::prom::EXPORTER_SENT_TOTAL, &f, w),
        ),
        (
            "Queue depth by exporter",
            "Items waiting in each exporter.",
            "short",
            gauge("max", by, am_core::conventions::prom::EXPORTER_QUEUED, &f),
        ),
    ] {
        g.place(12, 8, metrics_panel("timeseries", title, description, unit, vec![Query::new(expr, legend(by))]));
    }
}

fn machine(g: &mut Grid, id: &str, collapsed: bool) {
    let f = promql::machine_filter(id);
    let w = RATE_WINDOW;
    g.row(format!("Machine: {id}"), collapsed);
    g.place(
        8,
        8,
        metrics_panel(
            "timeseries",
            "Transitions",
            "Transitions per second by result (accepted, canceled).",
            "ops",
            vec![Query::new(sum_rate(LABEL_RESULT, TRANSITIONS_TOTAL, &f, w), legend(LABEL_RESULT))],
        ),
    );
    g.place(
        8,
        8,
        metrics_panel(
            "timeseries",
            "Transition duration",
            "Wall time of transitions: quantiles of the histogram.",
            "s",
            vec![
                Query::new(quantile(0.5, "", TRANSITION_DURATION_SECONDS, &f, w), "p50"),
                Query::new(quantile(0.9, "", TRANSITION_DURATION_SECONDS, &f, w), "p90"),
                Query::new(quantile(0.99, "", TRANSITION_DURATION_SECONDS, &f, w), "p99"),
            ],
        ),
    );
    g.place(
        8,
        8,
        metrics_panel(
            "timeseries",
            "Exceptions",
            "Exception state activations per second.",
            "ops",
            vec![Query::new(sum_rate("", EXCEPTIONS_TOTAL, &f, w), "exceptions")],
        ),
    );
    g.place(
        8,
        8,
        metrics_panel(
            "timeseries",
            "Queue length",
            "Mutations waiting in the queue after the last transition.",
            "short",
            vec![Query::new(gauge("max", "", QUEUE_LENGTH, &f), "queued mutations")],
        ),
    );
    g.place(
        8,
        8,
        metrics_panel(
            "timeseries",
            "States",
            "Active states, and states added and removed per second.",
            "short",
            vec![
                Query::new(gauge("max", "", STATES_ACTIVE, &f), "active"),
                Query::new(sum_rate("", STATES_ADDED_TOTAL, &f, w), "added/s"),
                Query::new(sum_rate("", STATES_REMOVED_TOTAL, &f, w), "removed/s"),
            ],
        ),
    );
    g.place(
        8,
        8,
        metrics_panel(
            "timeseries",
            "Steps and handlers",
            "Average per transition (steps need step logging).",
            "short",
            vec![
                Query::new(histogram_avg(TRANSITION_HANDLERS, &f, w), "handlers per transition"),
                Query::new(histogram_avg(TRANSITION_STEPS, &f, w), "steps per transition"),
                Query::new(histogram_avg(TRANSITION_TICKS, &f, w), "ticks per transition"),
            ],
        ),
    );
    g.place(
        18,
        8,
        metrics_panel(
            "state-timeline",
            "State activity",
            "Which states are active (states on the exporter's allow-list).",
            "short",
            vec![Query::new(gauge("max", LABEL_STATE, STATE_ACTIVE, &f), legend(LABEL_STATE))],
        ),
    );
    g.place(
        6,
        8,
        metrics_panel(
            "stat",
            "Schema",
            "States, relations and state references in relations.",
            "short",
            vec![
                Query::new(gauge("max", "", SCHEMA_STATES, &f), "states"),
                Query::new(gauge("max", "", SCHEMA_RELATIONS, &f), "relations"),
                Query::new(gauge("max", "", SCHEMA_REF_STATES, &f), "referenced states"),
            ],
        ),
    );
    let logs = format!("{{{LOKI_LABEL_MACHINE_ID}={}, {LOKI_LABEL_SERVICE}=~\"${VAR_SERVICE_NAME}\"}}", quote(id));
    g.place(24, 10, logs_panel(&format!("Logs: {id}"), logs));
}
