//! Kubernetes objects for a dashboard's machines: a `ServiceMonitor` (prometheus-operator)
//! for the service's scrape port, a `PrometheusRule` holding the same alert rules as the rules
//! file, and a `ConfigMap` with the dashboard JSON labelled for the Grafana sidecar
//! (`grafana_dashboard: "1"`). Written as JSON (which `kubectl apply` takes), with sorted
//! keys, so the files are deterministic and checkable.

use serde_json::{Value, json};

use crate::Dashboard;
use crate::json::canonical;

/// Where the service runs and how Prometheus finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct K8sOptions {
    /// The Kubernetes Service (and `app.kubernetes.io/name` label) of the app.
    pub service: String,
    /// The namespace of every object; `None` leaves it to `kubectl -n`.
    pub namespace: Option<String>,
    /// The name of the Service's port that serves `/metrics` (`AM_PROM_ADDR`).
    pub port: String,
    /// The scrape interval.
    pub interval: String,
    /// Grafana data-source provisioning (YAML, e.g. `dashboards/provisioning/datasources`):
    /// when given, also a ConfigMap labelled `grafana_datasource: "1"` for the sidecar.
    pub datasources_yaml: Option<String>,
}

impl K8sOptions {
    /// Options for `service`: port `metrics`, every 15 s, no namespace.
    pub fn new(service: impl Into<String>) -> Self {
        K8sOptions {
            service: service.into(),
            namespace: None,
            port: "metrics".into(),
            interval: "15s".into(),
            datasources_yaml: None,
        }
    }
}

/// One generated object: a file name and its JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct K8sObject {
    /// `<uid>.<kind>.json`.
    pub file: String,
    /// The object, canonical JSON.
    pub text: String,
}

fn metadata(name: &str, o: &K8sOptions, labels: Value) -> Value {
    let mut m = json!({"name": name, "labels": labels});
    if let Some(ns) = &o.namespace {
        m["namespace"] = ns.clone().into();
    }
    m
}

impl Dashboard {
    /// The Kubernetes objects for this dashboard's machines, in a fixed order.
    ///
    /// ```
    /// use am_grafana_gen::{Dashboard, K8sOptions};
    /// let d = Dashboard::for_machines(&["worker"]).name("shop").build()?;
    /// let objs = d.kubernetes(&K8sOptions::new("shop"));
    /// let files: Vec<&str> = objs.iter().map(|o| o.file.as_str()).collect();
    /// assert_eq!(files, ["shop.servicemonitor.json", "shop.prometheusrule.json", "shop.dashboard-configmap.json"]);
    /// assert!(objs[2].text.contains(r#""grafana_dashboard": "1""#));
    /// # Ok::<(), am_grafana_gen::Error>(())
    /// ```
    pub fn kubernetes(&self, o: &K8sOptions) -> Vec<K8sObject> {
        let app = json!({"app.kubernetes.io/name": o.service, "app.kubernetes.io/part-of": "asyncmachine"});
        let service_monitor = json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": metadata(&o.service, o, app.clone()),
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/name": o.service}},
                "endpoints": [{"port": o.port, "path": "/metrics", "interval": o.interval}]
            }
        });
        let rule = json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": metadata(&format!("{}-rules", self.uid()), o, app.clone()),
            "spec": {"groups": crate::rules::groups_json(self)}
        });
        let mut dash_labels = app;
        dash_labels["grafana_dashboard"] = "1".into();
        let config_map = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(&format!("{}-dashboard", self.uid()), o, dash_labels),
            "data": {format!("{}.json", self.uid()): self.to_json_string()}
        });
        let mut objects =
            vec![("servicemonitor", service_monitor), ("prometheusrule", rule), ("dashboard-configmap", config_map)];
        if let Some(yaml) = &o.datasources_yaml {
            let labels = json!({"app.kubernetes.io/part-of": "asyncmachine", "grafana_datasource": "1"});
            objects.push((
                "datasources-configmap",
                json!({
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": metadata(&format!("{}-datasources", self.uid()), o, labels),
                    "data": {"am-datasources.yaml": yaml}
                }),
            ));
        }
        objects
            .into_iter()
            .map(|(kind, v)| K8sObject { file: format!("{}.{kind}.json", self.uid()), text: canonical(&v) })
            .collect()
    }
}
