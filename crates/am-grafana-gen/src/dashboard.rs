//! The dashboard model: settings, uid, template variables, and rendering.

use serde_json::{Value, json};

use am_core::conventions::prom::{LABEL_MACH_ID, LABEL_SERVICE, TRANSITIONS_TOTAL};

use crate::rules::AlertRules;
use crate::{Error, json, panels};

/// Folder title used when none is given (the Go generator's default).
pub const DEFAULT_FOLDER: &str = "asyncmachine";
/// Grafana's limit on dashboard and folder uids.
const UID_MAX: usize = 40;
/// Template variable holding the Prometheus data source.
pub const VAR_PROMETHEUS: &str = "DS_PROMETHEUS";
/// Template variable holding the Loki data source.
pub const VAR_LOKI: &str = "DS_LOKI";
/// Template variable holding the Tempo data source that log lines link to.
pub const VAR_TEMPO: &str = "DS_TEMPO";
/// Loki stream label carrying the raw machine ID (shared with am-loki via am-core).
pub const LOKI_LABEL_MACHINE_ID: &str = am_core::conventions::loki::MACHINE_ID;
/// Loki stream label carrying the normalised service.
pub const LOKI_LABEL_SERVICE: &str = am_core::conventions::loki::SERVICE_NAME;
/// Template variable of the logs panels' `service_name` (Loki's normalised service).
pub(crate) const VAR_SERVICE_NAME: &str = LOKI_LABEL_SERVICE;
/// Loki structured-metadata key carrying the trace ID of a line.
pub const LOKI_META_TRACE_ID: &str = am_core::conventions::loki::META_TRACE_ID;

/// A Grafana dashboard (and matching alert rules) for a list of machine IDs.
///
/// Built by [`Dashboard::for_machines`]. Rendering is deterministic: the same settings give
/// byte-identical JSON and YAML.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub(crate) ids: Vec<String>,
    pub(crate) title: String,
    pub(crate) uid: String,
    pub(crate) folder: String,
    pub(crate) folder_uid: String,
    /// The service as given (`AM_SERVICE`, or the Kubernetes Service name).
    pub(crate) source: Option<String>,
    /// The Prometheus job, when set apart from the source.
    pub(crate) job: Option<String>,
    pub(crate) datasources: [Option<String>; 3],
    pub(crate) alerts: AlertRules,
    pub(crate) layout: Layout,
}

/// How the panels are laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// Overview, a row per machine on the labelled metrics, the exporters row (default).
    #[default]
    Labelled,
    /// The Go `am-gen` dashboard as Grafana draws it (`Mach:`, `Details:`, `Logs:` per
    /// machine; Go's titles, order, queries, panel types, sizes, styles, data-source names
    /// and dashboard settings), on the Go-compatible per-ID metrics, which am-prom exports
    /// with `go_compat`, for users moving from Go. Needs the service
    /// ([`source`](DashboardBuilder::source)), as Go's `--source` does. Kept from ours: a
    /// stable uid.
    Go,
}

/// Settings for a [`Dashboard`]; see [`Dashboard::for_machines`].
#[derive(Debug, Clone)]
#[must_use]
pub struct DashboardBuilder {
    ids: Vec<String>,
    name: Option<String>,
    uid: Option<String>,
    folder: Option<String>,
    source: Option<String>,
    job: Option<String>,
    datasources: [Option<String>; 3],
    alerts: AlertRules,
    layout: Layout,
}

impl Dashboard {
    /// Starts a dashboard with a row per machine ID, in the order given.
    ///
    /// ```
    /// let d = am_grafana_gen::Dashboard::for_machines(&["mach1", "mach2"]).name("Checkout").build()?;
    /// assert_eq!(d.uid(), "checkout");
    /// assert_eq!(d.to_json_string(), d.to_json_string());
    /// # Ok::<(), am_grafana_gen::Error>(())
    /// ```
    pub fn for_machines<S: AsRef<str>>(ids: &[S]) -> DashboardBuilder {
        DashboardBuilder {
            ids: ids.iter().map(|s| s.as_ref().to_string()).collect(),
            name: None,
            uid: None,
            folder: None,
            source: None,
            job: None,
            datasources: [None, None, None],
            alerts: AlertRules::default(),
            layout: Layout::default(),
        }
    }

    /// The machine IDs, in row order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }
    /// The dashboard title.
    pub fn title(&self) -> &str {
        &self.title
    }
    /// The stable dashboard uid.
    pub fn uid(&self) -> &str {
        &self.uid
    }
    /// The folder title.
    pub fn folder(&self) -> &str {
        &self.folder
    }
    /// The stable folder uid, derived from the folder title.
    pub fn folder_uid(&self) -> &str {
        &self.folder_uid
    }
    /// The service as given, unchanged (`checkout-api` stays `checkout-api`), if any.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }
    /// The Prometheus job the rules file matches: [`DashboardBuilder::job`], else the
    /// source as given (prometheus-operator names the job after the Service).
    ///
    /// ```
    /// let d = am_grafana_gen::Dashboard::for_machines(&["api-1"]).source("checkout-api").build()?;
    /// assert_eq!(d.job(), Some("checkout-api"));
    /// # Ok::<(), am_grafana_gen::Error>(())
    /// ```
    pub fn job(&self) -> Option<&str> {
        self.job.as_deref().or(self.source.as_deref())
    }
    /// The service as the exporters spell it: normalised (`checkout_api`), which is the
    /// `service` label of pushed series, the Pushgateway job and Loki's `service_name`.
    ///
    /// ```
    /// let d = am_grafana_gen::Dashboard::for_machines(&["api-1"]).source("checkout-api").build()?;
    /// assert_eq!(d.service_name().as_deref(), Some("checkout_api"));
    /// # Ok::<(), am_grafana_gen::Error>(())
    /// ```
    pub fn service_name(&self) -> Option<String> {
        self.source.as_deref().or(self.job.as_deref()).map(am_core::env::normalize_id)
    }

    /// The `service` label values the dashboard selects by default: the job (a
    /// prometheus-operator target's `service` is the Service name), the source as given and
    /// its normalised spelling (pushed series), without repeats.
    fn service_defaults(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in [self.job.clone(), self.source.clone(), self.service_name()].into_iter().flatten() {
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }

    /// The dashboard model, as Grafana's `POST /api/dashboards/db` takes it (`id` is null).
    pub fn to_json(&self) -> Value {
        if self.layout == Layout::Go {
            return crate::go_layout::dashboard(self);
        }
        let panels = panels::layout(self);
        json!({
            "annotations": annotations(),
            "description": format!(
                "asyncmachine machines {}: generated by am-grafana-gen, edit the generator, not this JSON",
                self.ids.join(", ")
            ),
            "editable": true,
            "fiscalYearStartMonth": 0,
            "graphTooltip": 1,
            "id": null,
            "links": [],
            "panels": panels,
            "refresh": "5s",
            "schemaVersion": 39,
            "tags": ["asyncmachine", "generated"],
            "templating": {"list": self.variables()},
            "time": {"from": "now-15m", "to": "now"},
            "timepicker": {},
            "timezone": "",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
            "weekStart": ""
        })
    }

    /// The dashboard JSON: sorted keys, two-space indent, trailing newline.
    pub fn to_json_string(&self) -> String {
        json::canonical(&self.to_json())
    }

    /// The Prometheus alert rules file (YAML) for the same machines.
    pub fn alert_rules_yaml(&self) -> String {
        crate::rules::render(self)
    }

    fn variables(&self) -> Vec<Value> {
        let ds = |name: &str, label: &str, kind: &str, current: &Option<String>| {
            let mut v = json!({
                "hide": 0,
                "includeAll": false,
                "label": label,
                "multi": false,
                "name": name,
                "options": [],
                "query": kind,
                "refresh": 1,
                "regex": "",
                "skipUrlSync": false,
                "type": "datasource"
            });
            // No `current`: Grafana then selects its default data source of that type.
            if let Some(uid) = current {
                v["current"] = json!({"selected": true, "text": uid, "value": uid});
            }
            v
        };
        let all = json!({"selected": true, "text": ["All"], "value": ["$__all"]});
        let services = self.service_defaults();
        let service_current = if services.is_empty() {
            all.clone()
        } else {
            json!({"selected": true, "text": services, "value": services})
        };
        let service_name_current = match self.service_name() {
            Some(s) => json!({"selected": true, "text": s, "value": s}),
            None => json!({"selected": true, "text": "All", "value": "$__all"}),
        };
        vec![
            ds(VAR_PROMETHEUS, "Prometheus", "prometheus", &self.datasources[0]),
            ds(VAR_LOKI, "Loki", "loki", &self.datasources[1]),
            ds(VAR_TEMPO, "Tempo", "tempo", &self.datasources[2]),
            // Multi-select: by default both the Service name (scraped) and the normalised
            // spelling (pushed); `.*` also matches series without the label (static scrape).
            prometheus_var(
                LABEL_SERVICE,
                "Service",
                format!("label_values({TRANSITIONS_TOTAL}, {LABEL_SERVICE})"),
                ".*",
                service_current,
            ),
            // `.+`: Loki refuses selectors whose every matcher accepts the empty string.
            prometheus_var(
                LABEL_MACH_ID,
                "Machine",
                format!("label_values({TRANSITIONS_TOTAL}{{{}}}, {LABEL_MACH_ID})", crate::promql::service_matcher()),
                ".+",
                all,
            ),
            // Loki's own: its `service_name` is always the normalised spelling, which a
            // Kubernetes Service name (`checkout-api`) never is.
            loki_var(VAR_SERVICE_NAME, "Service (logs)", service_name_current),
        ]
    }
}

/// A multi-select query variable on the Prometheus data source.
fn prometheus_var(name: &str, label: &str, query: String, all_value: &str, current: Value) -> Value {
    json!({
        "allValue": all_value,
        "current": current,
        "datasource": {"type": "prometheus", "uid": format!("${{{VAR_PROMETHEUS}}}")},
        "hide": 0,
        "includeAll": true,
        "label": label,
        "multi": true,
        "name": name,
        "options": [],
        "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "regex": "",
        "skipUrlSync": false,
        "sort": 1,
        "type": "query"
    })
}

/// A query variable on the Loki data source listing a label's values.
fn loki_var(label_name: &str, label: &str, current: Value) -> Value {
    json!({
        "allValue": ".*",
        "current": current,
        "datasource": {"type": "loki", "uid": format!("${{{VAR_LOKI}}}")},
        "hide": 0,
        "includeAll": true,
        "label": label,
        "multi": false,
        "name": label_name,
        "options": [],
        "query": {"label": label_name, "refId": "LokiVariableQueryEditor-VariableQuery", "stream": "", "type": 1},
        "refresh": 2,
        "regex": "",
        "skipUrlSync": false,
        "sort": 1,
        "type": "query"
    })
}

impl DashboardBuilder {
    /// Dashboard title; its slug is the uid. Default: the first machine ID.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Overrides the uid derived from the name (at most 40 of `[A-Za-z0-9_-]`).
    pub fn uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = Some(uid.into());
        self
    }
    /// Folder title. Default [`DEFAULT_FOLDER`].
    pub fn folder(mut self, folder: impl Into<String>) -> Self {
        self.folder = Some(folder.into());
        self
    }
    /// The service: `AM_SERVICE`, or in Kubernetes the Service name, kept as given. The
    /// `service` variable selects it and its normalised spelling (what pushed series carry)
    /// by default, the `service_name` (logs) variable the normalised spelling, and the rules
    /// file matches it as the `job` unless [`job`](Self::job) says otherwise. Default: "All"
    /// and unscoped rules.
    ///
    /// ```
    /// let d = am_grafana_gen::Dashboard::for_machines(&["api-1"]).source("checkout-api").build()?;
    /// assert!(d.alert_rules_yaml().contains(r#"up{job=\"checkout-api\"}"#));
    /// assert!(d.to_json_string().contains(r#""checkout_api""#)); // the logs variable
    /// # Ok::<(), am_grafana_gen::Error>(())
    /// ```
    pub fn source(mut self, service: impl Into<String>) -> Self {
        self.source = Some(service.into());
        self
    }
    /// The Prometheus job that scrapes the app, when it is not named after the source (under
    /// prometheus-operator: the Service name). The rules file matches it, and the `service`
    /// variable selects it by default too.
    ///
    /// ```
    /// let d = am_grafana_gen::Dashboard::for_machines(&["api-1"]).source("checkout").job("checkout-api").build()?;
    /// assert_eq!((d.source(), d.job()), (Some("checkout"), Some("checkout-api")));
    /// # Ok::<(), am_grafana_gen::Error>(())
    /// ```
    pub fn job(mut self, job: impl Into<String>) -> Self {
        self.job = Some(job.into());
        self
    }
    /// The panel layout; [`Layout::Go`] mirrors the Go `am-gen` dashboards.
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }
    /// Default Prometheus data source (uid or name) of the `DS_PROMETHEUS` variable; without
    /// it Grafana picks its default Prometheus data source.
    pub fn prometheus_datasource(mut self, uid: impl Into<String>) -> Self {
        self.datasources[0] = Some(uid.into());
        self
    }
    /// Default Loki data source of the `DS_LOKI` variable.
    pub fn loki_datasource(mut self, uid: impl Into<String>) -> Self {
        self.datasources[1] = Some(uid.into());
        self
    }
    /// Default Tempo data source of the `DS_TEMPO` variable (trace links from log lines).
    pub fn tempo_datasource(mut self, uid: impl Into<String>) -> Self {
        self.datasources[2] = Some(uid.into());
        self
    }
    /// Alert thresholds. Default [`AlertRules::default`].
    pub fn alert_rules(mut self, rules: AlertRules) -> Self {
        self.alerts = rules;
        self
    }

    /// Checks the settings and builds the dashboard.
    pub fn build(self) -> Result<Dashboard, Error> {
        if self.ids.is_empty() {
            return Err(Error::NoMachines);
        }
        for (i, id) in self.ids.iter().enumerate() {
            if id.trim().is_empty() {
                return Err(Error::InvalidId { id: id.clone(), reason: "empty" });
            }
            if self.ids[..i].contains(id) {
                return Err(Error::InvalidId { id: id.clone(), reason: "listed twice" });
            }
        }
        let title = self.name.unwrap_or_else(|| self.ids[0].clone());
        if title.trim().is_empty() {
            return Err(Error::InvalidSetting { what: "name", reason: "empty".into() });
        }
        let uid = match self.uid {
            Some(uid) => {
                let ok = !uid.is_empty()
                    && uid.len() <= UID_MAX
                    && uid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !ok {
                    return Err(Error::InvalidSetting {
                        what: "uid",
                        reason: format!("{uid:?} is not 1-{UID_MAX} of [A-Za-z0-9_-]"),
                    });
                }
                uid
            }
            None => uid_for(&title),
        };
        let folder = self.folder.unwrap_or_else(|| DEFAULT_FOLDER.to_string());
        if folder.trim().is_empty() {
            return Err(Error::InvalidSetting { what: "folder", reason: "empty".into() });
        }
        // Not read from `AM_SERVICE` here: generated files must not depend on the env.
        // Kept as given: label values may hold `-`, and Kubernetes names cannot hold `_`.
        let trimmed = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let (source, job) = (trimmed(self.source), trimmed(self.job));
        if self.layout == Layout::Go && source.is_none() && job.is_none() {
            return Err(Error::InvalidSetting {
                what: "source",
                reason: "the Go layout's queries select the service (the pushed job, Loki's service_name): \
                         give it, as Go's am-gen requires --source"
                    .into(),
            });
        }
        self.alerts.check(&self.ids)?;
        Ok(Dashboard {
            folder_uid: uid_for(&folder),
            ids: self.ids,
            title,
            uid,
            folder,
            source,
            job,
            datasources: self.datasources,
            alerts: self.alerts,
            layout: self.layout,
        })
    }
}

/// A Grafana uid for a title: its slug (lower-case, runs of other characters as `-`), or,
/// past 40 characters, a prefix of the slug plus a hash of the whole title.
///
/// ```
/// assert_eq!(am_grafana_gen::uid_for("My Dash: v2"), "my-dash-v2");
/// assert_eq!(am_grafana_gen::uid_for(&"x".repeat(50)).len(), 40);
/// ```
pub fn uid_for(title: &str) -> String {
    let mut slug = String::with_capacity(title.len());
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        return format!("am-{:016x}", fnv1a(title));
    }
    if slug.len() <= UID_MAX {
        return slug.to_string();
    }
    // 23 + '-' + 16 hex digits = 40.
    format!("{}-{:016x}", slug[..23].trim_end_matches('-'), fnv1a(title))
}

/// FNV-1a 64: tiny, stable across Rust versions (unlike `DefaultHasher`).
pub(crate) fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Grafana's built-in annotations, as every dashboard it saves has them (both layouts).
pub(crate) fn annotations() -> Value {
    json!({"list": [{
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": true,
        "hide": true,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard"
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids() {
        assert_eq!(uid_for("am-demo"), "am-demo");
        assert_eq!(uid_for("  Hello,  World! "), "hello-world");
        let long = uid_for(&"abc ".repeat(20));
        assert_eq!(long.len(), 40);
        assert!(long.starts_with("abc-abc-abc-abc-abc-abc-"), "{long}");
        assert_ne!(uid_for(&"abc ".repeat(20)), uid_for(&"abc ".repeat(21)));
        assert_eq!(uid_for("!!!"), format!("am-{:016x}", fnv1a("!!!")));
    }

    #[test]
    fn builder_checks() {
        assert!(matches!(Dashboard::for_machines::<&str>(&[]).build(), Err(Error::NoMachines)));
        assert!(matches!(Dashboard::for_machines(&["a", "a"]).build(), Err(Error::InvalidId { .. })));
        assert!(matches!(Dashboard::for_machines(&[" "]).build(), Err(Error::InvalidId { .. })));
        assert!(matches!(Dashboard::for_machines(&["a"]).uid("a/b").build(), Err(Error::InvalidSetting { .. })));
        let d = Dashboard::for_machines(&["Root-1"]).source(" My Svc ").folder("Team A").build();
        let d = d.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((d.title(), d.uid(), d.folder_uid(), d.source()), ("Root-1", "root-1", "team-a", Some("My Svc")));
        assert_eq!((d.job(), d.service_name().as_deref()), (Some("My Svc"), Some("my_svc")));
    }

    #[test]
    fn service_defaults_cover_every_spelling_once() {
        let build = |b: DashboardBuilder| b.build().unwrap_or_else(|e| panic!("{e}"));
        let d = build(Dashboard::for_machines(&["a"]).source("checkout-api"));
        assert_eq!(d.service_defaults(), ["checkout-api", "checkout_api"]);
        let d = build(Dashboard::for_machines(&["a"]).source("checkout"));
        assert_eq!(d.service_defaults(), ["checkout"]);
        let d = build(Dashboard::for_machines(&["a"]).source("checkout").job("checkout-api"));
        assert_eq!(d.service_defaults(), ["checkout-api", "checkout"]);
        let d = build(Dashboard::for_machines(&["a"]).job("checkout-api"));
        assert_eq!(
            (d.service_defaults(), d.service_name()),
            (vec!["checkout-api".into(), "checkout_api".into()], Some("checkout_api".into()))
        );
        assert!(build(Dashboard::for_machines(&["a"]).source("  ")).source().is_none());
    }
}
