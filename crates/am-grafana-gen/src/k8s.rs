//! Kubernetes objects for a dashboard's machines: a `ServiceMonitor` (prometheus-operator)
//! for the service's scrape port, a `PrometheusRule` holding the alert rules scoped to the
//! workload, a `ConfigMap` with the dashboard JSON labelled for the Grafana sidecar
//! (`grafana_dashboard: "1"`), and, only when asked, a `ConfigMap` of data sources. Written
//! as JSON (which `kubectl apply` takes), with sorted keys, so the files are deterministic
//! and checkable.
//!
//! Names stay Kubernetes names: the Service name is used unchanged (`checkout-api`) for the
//! ServiceMonitor, its selector and the rules' `job` matcher — prometheus-operator sets a
//! target's `job` and `service` labels to the Service name — and every name is checked
//! before anything is written.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::alerts::Scope;
use crate::json::canonical;
use crate::k8s_names::{dns1123_label, dns1123_subdomain, label_key, label_value, port_name};
use crate::{Dashboard, DataSources, Error};

/// Where the service runs and how Prometheus finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct K8sOptions {
    /// The Kubernetes Service of the app (a DNS-1123 label such as `checkout-api`): the
    /// ServiceMonitor's name and its `app.kubernetes.io/name` selector, and the `job` the
    /// rules match.
    pub service: String,
    /// The namespace of every object, which the rules also match; `None` leaves it to
    /// `kubectl -n` and the rules unscoped by namespace.
    pub namespace: Option<String>,
    /// The name of the Service's port that serves `/metrics` (`AM_PROM_ADDR`).
    pub port: String,
    /// The scrape interval (a Prometheus duration).
    pub interval: String,
    /// Labels for the ServiceMonitor and the PrometheusRule, besides ours; e.g.
    /// `release: kube-prometheus-stack`, which that chart's Prometheus selects them by.
    pub labels: BTreeMap<String, String>,
    /// Data sources for Grafana's sidecar: a ConfigMap labelled `grafana_datasource: "1"`
    /// when any URL is given, none otherwise (the cluster's Grafana has its own).
    pub datasources: DataSources,
}

impl K8sOptions {
    /// Options for `service`: port `metrics`, every 15 s, no namespace, no extra labels, no
    /// data sources.
    ///
    /// ```
    /// let mut o = am_grafana_gen::K8sOptions::new("checkout-api");
    /// o.labels.insert("release".into(), "kube-prometheus-stack".into());
    /// assert_eq!((o.port.as_str(), o.interval.as_str()), ("metrics", "15s"));
    /// ```
    pub fn new(service: impl Into<String>) -> Self {
        K8sOptions {
            service: service.into(),
            namespace: None,
            port: "metrics".into(),
            interval: "15s".into(),
            labels: BTreeMap::new(),
            datasources: DataSources::default(),
        }
    }

    /// Every value checked against what the API server and the operator accept.
    fn check(&self) -> Result<(), Error> {
        dns1123_label("Service name", &self.service)?;
        if let Some(ns) = &self.namespace {
            dns1123_label("namespace", ns)?;
        }
        port_name(&self.port)?;
        if !crate::promql::is_duration(&self.interval) {
            let reason = format!("{:?} is not a Prometheus duration such as 15s or 1m30s", self.interval);
            return Err(Error::InvalidSetting { what: "scrape interval", reason });
        }
        for (k, v) in &self.labels {
            label_key(k)?;
            label_value(k, v)?;
        }
        Ok(())
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

/// Our labels on every object, plus the user's on the ones Prometheus selects.
fn labels(o: &K8sOptions, with_user: bool) -> Value {
    let mut l = json!({"app.kubernetes.io/name": o.service, "app.kubernetes.io/part-of": "asyncmachine"});
    if with_user {
        for (k, v) in &o.labels {
            l[k] = v.clone().into();
        }
    }
    l
}

impl Dashboard {
    /// The Kubernetes objects for this dashboard's machines, in a fixed order. Fails, naming
    /// the value, when a name, label, port or interval is one Kubernetes would refuse.
    ///
    /// ```
    /// use am_grafana_gen::{Dashboard, K8sOptions};
    /// let d = Dashboard::for_machines(&["api-1"]).name("shop").source("checkout-api").build()?;
    /// let objs = d.kubernetes(&K8sOptions::new("checkout-api"))?;
    /// let files: Vec<&str> = objs.iter().map(|o| o.file.as_str()).collect();
    /// assert_eq!(files, ["shop.servicemonitor.json", "shop.prometheusrule.json", "shop.dashboard-configmap.json"]);
    /// assert!(objs[0].text.contains(r#""app.kubernetes.io/name": "checkout-api""#));
    /// assert!(objs[1].text.contains(r#"up{job=\"checkout-api\"}"#));
    /// assert!(d.kubernetes(&K8sOptions::new("checkout_api")).is_err()); // `_`: not a Service name
    /// # Ok::<(), am_grafana_gen::Error>(())
    /// ```
    pub fn kubernetes(&self, o: &K8sOptions) -> Result<Vec<K8sObject>, Error> {
        o.check()?;
        let uid = self.uid();
        let mut objects = vec![
            ("servicemonitor", self.service_monitor(o)),
            ("prometheusrule", self.prometheus_rule(o)),
            ("dashboard-configmap", self.dashboard_config_map(o)),
        ];
        if !o.datasources.is_empty() {
            let yaml = o.datasources.provisioning_yaml(&format!("am-{uid}"))?;
            let labels = json!({"app.kubernetes.io/part-of": "asyncmachine", "grafana_datasource": "1"});
            objects.push((
                "datasources-configmap",
                json!({
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": metadata(&format!("{uid}-datasources"), o, labels),
                    "data": {"am-datasources.yaml": yaml}
                }),
            ));
        }
        for (_, v) in &objects {
            dns1123_subdomain("object name", v["metadata"]["name"].as_str().unwrap_or_default())?;
        }
        Ok(objects
            .into_iter()
            .map(|(kind, v)| K8sObject { file: format!("{uid}.{kind}.json"), text: canonical(&v) })
            .collect())
    }

    fn service_monitor(&self, o: &K8sOptions) -> Value {
        json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": metadata(&o.service, o, labels(o, true)),
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/name": o.service}},
                "endpoints": [{"port": o.port, "path": "/metrics", "interval": o.interval}]
            }
        })
    }

    fn prometheus_rule(&self, o: &K8sOptions) -> Value {
        // prometheus-operator labels the targets job=<Service name> (no jobLabel is set).
        let scope = Scope { job: Some(&o.service), namespace: o.namespace.as_deref() };
        json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": metadata(&format!("{}-rules", self.uid()), o, labels(o, true)),
            "spec": {"groups": crate::rules::groups_json(self, scope)}
        })
    }

    fn dashboard_config_map(&self, o: &K8sOptions) -> Value {
        let mut l = labels(o, false);
        l["grafana_dashboard"] = "1".into();
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(&format!("{}-dashboard", self.uid()), o, l),
            "data": {format!("{}.json", self.uid()): self.to_json_string()}
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dashboard(uid: &str) -> Dashboard {
        Dashboard::for_machines(&["api-1"]).uid(uid).source("checkout-api").build().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn bad_names_are_errors_not_objects() {
        let d = dashboard("shop");
        let with = |f: &dyn Fn(&mut K8sOptions)| {
            let mut o = K8sOptions::new("checkout-api");
            f(&mut o);
            d.kubernetes(&o).map(|_| ()).map_err(|e| e.to_string())
        };
        assert_eq!(with(&|_| ()), Ok(()));
        for (what, f) in [
            ("Service name", &(|o: &mut K8sOptions| o.service = "checkout_api".into()) as &dyn Fn(&mut K8sOptions)),
            ("namespace", &|o| o.namespace = Some("Shop".into())),
            ("port name", &|o| o.port = "9464".into()),
            ("scrape interval", &|o| o.interval = "15".into()),
            ("label key", &|o| {
                o.labels.insert("bad key".into(), "x".into());
            }),
            ("label value", &|o| {
                o.labels.insert("release".into(), "a/b".into());
            }),
            ("Prometheus URL", &|o| o.datasources.prometheus = Some("prometheus:9090".into())),
        ] {
            let e = with(f).err().unwrap_or_default();
            assert!(e.contains(what), "{what}: {e}");
        }
        // a custom uid that is a Grafana uid but not a Kubernetes name
        let e = dashboard("Shop_1").kubernetes(&K8sOptions::new("checkout-api")).map(|_| ()).map_err(|e| e.to_string());
        assert!(e.err().unwrap_or_default().contains("object name \"Shop_1-rules\""));
    }

    #[test]
    fn every_object_name_is_a_dns1123_subdomain() {
        let mut o = K8sOptions::new("checkout-api");
        o.namespace = Some("shop".into());
        o.datasources.prometheus = Some("http://p:9090".into());
        for uid in ["shop", "a-b-c", &crate::uid_for(&"long title ".repeat(9))] {
            let objs = dashboard(uid).kubernetes(&o).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(objs.len(), 4);
            for obj in objs {
                let v: Value = serde_json::from_str(&obj.text).unwrap_or_default();
                let name = v["metadata"]["name"].as_str().unwrap_or_default();
                assert!(dns1123_subdomain("object name", name).is_ok(), "{name}");
                assert_eq!(v["metadata"]["namespace"], "shop");
            }
        }
    }

    #[test]
    fn user_labels_on_what_prometheus_selects_only() {
        let mut o = K8sOptions::new("checkout-api");
        o.labels.insert("release".into(), "kube-prometheus-stack".into());
        let objs = dashboard("shop").kubernetes(&o).unwrap_or_else(|e| panic!("{e}"));
        let release: Vec<bool> =
            objs.iter().map(|k| k.text.contains(r#""release": "kube-prometheus-stack""#)).collect();
        assert_eq!(release, [true, true, false]);
    }
}
