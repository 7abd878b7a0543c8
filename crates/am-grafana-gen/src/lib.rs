//! `am-grafana-gen` — Grafana dashboards and Prometheus alert rules for asyncmachine machines.
//!
//! - [`Dashboard::for_machines`] builds a dashboard with an overview row and a row per
//!   machine ID: transitions, duration quantiles, exceptions, queue length, states,
//!   steps/handlers, per-state activity, schema size, and the machine's Loki log lines
//!   (with links from a line's `trace_id` to the trace). Queries use the labelled metrics of
//!   `am-prom` through [`am_core::conventions::prom`]; data sources are template variables
//!   (`DS_PROMETHEUS`, `DS_LOKI`, `DS_TEMPO`), as are `service` (Prometheus: the Service
//!   name and the normalised spelling), `mach_id` and `service_name` (Loki, normalised).
//! - [`Dashboard::alert_rules_yaml`] gives Prometheus alert rules for the same machines,
//!   scoped to the workload's `job` (and, in Kubernetes, `namespace`), with tiered
//!   [`Severity`] labels and a `runbook_url` on each: exception rate, stuck queue, slow
//!   transitions, exporters dropping or failing, scrape target down or missing, and, opt-in
//!   per machine ([`AlertRules::expect_transitions`]), no transitions.
//! - [`Dashboard::kubernetes`] gives a ServiceMonitor, a PrometheusRule and ConfigMaps for
//!   the Grafana sidecar, with names checked against Kubernetes' rules.
//! - Output is deterministic: a stable `uid` derived from the name, stable panel IDs and
//!   order, sorted keys, no timestamps.
//! - With the `upload` feature (default): [`GrafanaClient`] finds or creates the folder and
//!   posts the dashboard with overwrite, and [`GrafanaTracer`] keeps a dashboard in sync
//!   with every machine (and submachine) it sees, uploading in the background.
//!
//! `cargo xtask gen-dashboard --ids mach1,mach2` writes the files; see `docs/dashboards.md`.
//!
//! # Lifecycle (the tracer)
//!
//! [`GrafanaTracer`] follows the three steps of every exporter of this workspace (drawn in the
//! repository's `docs/architecture.md`): **build** ([`GrafanaTracer::builder`], `AM_GRAFANA_*`
//! fallbacks; starts the upload task on the current tokio runtime or a thread of its own),
//! **bind / attach** (`machine.bind_tracer(..)`: attaching registers the machine's ID on the
//! dashboard and declines the hooks, so transitions cost nothing), and **shut down**
//! ([`GrafanaTracer::flush`] with a deadline, or a [`GrafanaGuard`]). [`bind_env`] does the
//! first two from the environment.
//!
//! ```
//! use am_grafana_gen::Dashboard;
//!
//! let d = Dashboard::for_machines(&["worker-pool", "worker-1"]).name("am-demo").source("am-demo").build()?;
//! let json = d.to_json_string();
//! assert_eq!(json, d.to_json_string()); // byte-stable
//! let model: serde_json::Value = serde_json::from_str(&json).unwrap();
//! assert_eq!(model["uid"], "am-demo");
//! assert!(json.contains(r#"am_transitions_total{mach_id=\"worker-1\""#));
//! let rules = d.alert_rules_yaml();
//! assert!(rules.contains(r#"up{job=\"am-demo\"} == 0"#)); // the scrape job, as given
//! assert!(rules.contains("runbooks.md#asyncmachinescrapedown"));
//! # Ok::<(), am_grafana_gen::Error>(())
//! ```
#![warn(missing_docs)]

mod alerts;
mod dashboard;
mod datasources;
pub mod env;
mod error;
mod go_layout;
mod json;
mod k8s;
mod k8s_names;
mod panels;
mod promql;
mod rules;

#[cfg(feature = "upload")]
mod client;
#[cfg(feature = "upload")]
mod tracer;

pub use alerts::Severity;
pub use dashboard::{
    DEFAULT_FOLDER, Dashboard, DashboardBuilder, LOKI_LABEL_MACHINE_ID, LOKI_LABEL_SERVICE, LOKI_META_TRACE_ID, Layout,
    VAR_LOKI, VAR_PROMETHEUS, VAR_TEMPO, uid_for,
};
pub use datasources::DataSources;
pub use error::Error;
pub use k8s::{K8sObject, K8sOptions};
pub use rules::{AlertRules, DEFAULT_RUNBOOK_URL};

#[cfg(feature = "upload")]
pub use client::{GrafanaClient, GrafanaClientBuilder, Uploaded};
#[cfg(feature = "upload")]
pub use tracer::{GrafanaGuard, GrafanaTracer, GrafanaTracerBuilder, SyncStats, bind_env};

impl Dashboard {
    /// Every PromQL expression of the dashboard's Prometheus panels, in panel order, with
    /// Grafana variables (`$mach_id`, `$service`, `$__rate_interval`) left in.
    pub fn prometheus_queries(&self) -> Vec<String> {
        let v = self.to_json();
        let mut out = Vec::new();
        for p in v["panels"].as_array().into_iter().flatten() {
            for p in std::iter::once(p).chain(p["panels"].as_array().into_iter().flatten()) {
                if p["datasource"]["type"] == "prometheus" {
                    for t in p["targets"].as_array().into_iter().flatten() {
                        out.extend(t["expr"].as_str().map(str::to_string));
                    }
                }
            }
        }
        out
    }

    /// Every PromQL expression of the alert rules, in file order.
    pub fn alert_expressions(&self) -> Vec<String> {
        rules::expressions(self)
    }
}
