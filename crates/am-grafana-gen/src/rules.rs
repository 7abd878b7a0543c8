//! Alert-rule settings ([`AlertRules`]) and the two renderings of the rules: a Prometheus
//! rules file (YAML, written by a tiny emitter: every scalar is a double-quoted JSON string,
//! which YAML reads as the same string) and a `PrometheusRule`'s `spec.groups` (JSON).

use std::time::Duration;

use am_core::conventions::prom::LABEL_MACH_ID;

use crate::alerts::{Rule, Scope, Severity, rules};
use crate::dashboard::Dashboard;
use crate::{Error, json};

/// Where the runbooks live: `docs/runbooks.md` of this crate's repository. Each alert's
/// `runbook_url` is this plus `#<alert name in lower case>`.
pub const DEFAULT_RUNBOOK_URL: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/runbooks.md");

/// Settings of the generated alert rules: thresholds, which machines must keep working, the
/// severity cap and where the runbooks are.
///
/// ```
/// use am_grafana_gen::{AlertRules, Dashboard, Severity};
/// let alerts = AlertRules {
///     expect_transitions: vec!["worker-pool".into()], // pages when the pool goes quiet
///     max_severity: Severity::Warning,                // a staging cluster: never page
///     ..AlertRules::default()
/// };
/// let d = Dashboard::for_machines(&["worker-pool", "worker-1"]).source("shop").alert_rules(alerts).build()?;
/// let yaml = d.alert_rules_yaml();
/// assert!(yaml.contains("AsyncmachineNoTransitions") && !yaml.contains("critical"));
/// assert!(yaml.contains("runbooks.md#asyncmachinequeuestuck"));
/// # Ok::<(), am_grafana_gen::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRules {
    /// `AsyncmachineExceptions` fires when a machine's `Exception` activations per second
    /// stay above this for [`for_duration`](Self::for_duration). Default 0.1.
    pub exception_rate: f64,
    /// `AsyncmachineQueueStuck` fires when the queue is non-empty and no transition was
    /// accepted for this long. Default 5 minutes.
    pub stuck_queue_for: Duration,
    /// `AsyncmachineNoTransitions` fires when a machine of
    /// [`expect_transitions`](Self::expect_transitions) had no transition (or no series at
    /// all) for this long. Default 10 minutes.
    pub no_transitions_for: Duration,
    /// `AsyncmachineSlowTransitions` fires when the p99 transition duration stays above this
    /// many seconds for [`for_duration`](Self::for_duration). Default 1.0.
    pub p99_duration_seconds: f64,
    /// How long a condition must hold before an alert fires. Default 5 minutes.
    pub for_duration: Duration,
    /// Machines that must keep transitioning: each gets an `AsyncmachineNoTransitions`
    /// rule. Default none — a machine idle by design (waiting for work, a relay) must not
    /// page. Every ID must be one of the dashboard's.
    pub expect_transitions: Vec<String>,
    /// The highest `severity` any rule gets: [`Severity::Warning`] keeps a staging cluster
    /// from paging. Default [`Severity::Critical`] (the tiers of [`Severity`]).
    pub max_severity: Severity,
    /// The runbooks page; each alert's `runbook_url` annotation is this plus
    /// `#<alert name in lower case>`. Default [`DEFAULT_RUNBOOK_URL`].
    pub runbook_url: String,
}

impl Default for AlertRules {
    fn default() -> Self {
        AlertRules {
            exception_rate: 0.1,
            stuck_queue_for: Duration::from_secs(300),
            no_transitions_for: Duration::from_secs(600),
            p99_duration_seconds: 1.0,
            for_duration: Duration::from_secs(300),
            expect_transitions: Vec::new(),
            max_severity: Severity::Critical,
            runbook_url: DEFAULT_RUNBOOK_URL.into(),
        }
    }
}

impl AlertRules {
    pub(crate) fn check(&self, ids: &[String]) -> Result<(), Error> {
        let bad = |what: &'static str, reason: String| Err(Error::InvalidSetting { what, reason });
        if !(self.exception_rate.is_finite() && self.exception_rate >= 0.0) {
            return bad("exception_rate", "must be a finite number >= 0".into());
        }
        if !(self.p99_duration_seconds.is_finite() && self.p99_duration_seconds > 0.0) {
            return bad("p99_duration_seconds", "must be a finite number > 0".into());
        }
        for (what, d) in [
            ("stuck_queue_for", self.stuck_queue_for),
            ("no_transitions_for", self.no_transitions_for),
            ("for_duration", self.for_duration),
        ] {
            if d.as_secs() == 0 {
                return bad(what, "must be at least one second".into());
            }
        }
        if let Some(id) = self.expect_transitions.iter().find(|id| !ids.contains(id)) {
            return bad("expect_transitions", format!("{id:?} is not one of the dashboard's machines {ids:?}"));
        }
        let url = &self.runbook_url;
        let http = url.starts_with("https://") || url.starts_with("http://");
        if !http || url.contains('#') || url.contains(char::is_whitespace) {
            return bad("runbook_url", format!("{url:?} must be an http(s) URL without `#` or spaces"));
        }
        Ok(())
    }
}

/// A Prometheus duration: whole hours, minutes or seconds.
pub(crate) fn prom_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// The scope of the plain rules file: the dashboard's job, when it has one (no namespace:
/// outside Kubernetes there is none to match).
fn file_scope(d: &Dashboard) -> Scope<'_> {
    Scope { job: d.job(), namespace: None }
}

/// Every PromQL expression of the rules file, in file order.
pub(crate) fn expressions(d: &Dashboard) -> Vec<String> {
    rules(d, file_scope(d)).into_iter().map(|r| r.expr).collect()
}

fn group_name(d: &Dashboard) -> String {
    format!("asyncmachine-{}", d.uid)
}

/// The annotations of a rule, in the order the YAML file lists them.
fn annotations(d: &Dashboard, r: &Rule) -> [(&'static str, String); 4] {
    [
        ("summary", r.summary.clone()),
        ("description", r.description.clone()),
        ("runbook_url", format!("{}#{}", d.alerts.runbook_url, r.anchor())),
        ("dashboard_uid", d.uid.clone()),
    ]
}

/// The labels of a rule: the machine of a per-machine rule, and the severity.
fn labels(r: &Rule) -> Vec<(&'static str, String)> {
    let machine = r.mach_id.iter().map(|id| (LABEL_MACH_ID, id.clone()));
    machine.chain([("severity", r.severity.as_str().to_string())]).collect()
}

/// The rule groups for `scope` as the `groups` of a rules file, as JSON: what a
/// `PrometheusRule`'s `spec.groups` holds.
pub(crate) fn groups_json(d: &Dashboard, scope: Scope<'_>) -> serde_json::Value {
    let pairs = |kv: &[(&str, String)]| -> serde_json::Map<String, serde_json::Value> {
        kv.iter().map(|(k, v)| (k.to_string(), v.clone().into())).collect()
    };
    let rules: Vec<serde_json::Value> = rules(d, scope)
        .iter()
        .map(|r| {
            serde_json::json!({
                "alert": r.alert,
                "expr": r.expr,
                "for": r.for_,
                "labels": pairs(&labels(r)),
                "annotations": pairs(&annotations(d, r)),
            })
        })
        .collect();
    serde_json::json!([{"name": group_name(d), "rules": rules}])
}

/// The rules file (YAML), scoped to the dashboard's job when it has one.
pub(crate) fn render(d: &Dashboard) -> String {
    let q = |s: &str| {
        let mut out = String::new();
        json::string(s, &mut out);
        out
    };
    let mut y = String::new();
    y.push_str(&format!(
        "# Prometheus alert rules for dashboard {} (uid {}), generated by am-grafana-gen.\n\
         # Edit the generator, not this file. Check with: promtool check rules <file>\n",
        q(&d.title),
        d.uid
    ));
    y.push_str("groups:\n");
    y.push_str(&format!("  - name: {}\n", q(&group_name(d))));
    y.push_str("    rules:\n");
    for r in rules(d, file_scope(d)) {
        y.push_str(&format!("      - alert: {}\n", q(r.alert)));
        y.push_str(&format!("        expr: {}\n", q(&r.expr)));
        y.push_str(&format!("        for: {}\n", q(&r.for_)));
        y.push_str("        labels:\n");
        for (k, v) in labels(&r) {
            y.push_str(&format!("          {k}: {}\n", q(&v)));
        }
        y.push_str("        annotations:\n");
        for (k, v) in annotations(d, &r) {
            y.push_str(&format!("          {k}: {}\n", q(&v)));
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(prom_duration(Duration::from_secs(600)), "10m");
        assert_eq!(prom_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(prom_duration(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn thresholds_checked() {
        let bad = AlertRules { exception_rate: f64::NAN, ..AlertRules::default() };
        assert!(Dashboard::for_machines(&["a"]).alert_rules(bad).build().is_err());
        let bad = AlertRules { for_duration: Duration::ZERO, ..AlertRules::default() };
        assert!(Dashboard::for_machines(&["a"]).alert_rules(bad).build().is_err());
    }

    #[test]
    fn settings_checked() {
        let ids = ["a".to_string()];
        let bad = AlertRules { expect_transitions: vec!["b".into()], ..AlertRules::default() };
        assert!(bad.check(&ids).is_err(), "a machine not on the dashboard");
        for url in ["ftp://x", "https://x/runbooks.md#a", "https://x/a b", ""] {
            let bad = AlertRules { runbook_url: url.into(), ..AlertRules::default() };
            assert!(bad.check(&ids).is_err(), "{url}");
        }
        assert!(DEFAULT_RUNBOOK_URL.starts_with("https://github.com/"), "{DEFAULT_RUNBOOK_URL}");
    }

    #[test]
    fn quiet_rules_are_opt_in_one_per_machine() {
        let d = Dashboard::for_machines(&["a", "b.c"]).build().unwrap_or_else(|e| panic!("{e}"));
        let y = d.alert_rules_yaml();
        assert_eq!(y.matches("AsyncmachineNoTransitions").count(), 0, "idle machines must not page by default");
        assert!(y.contains(r#"mach_id=~\"a|b\\\\.c\""#), "{y}");
        let alerts = AlertRules { expect_transitions: vec!["a".into(), "b.c".into()], ..AlertRules::default() };
        let d = Dashboard::for_machines(&["a", "b.c"]).alert_rules(alerts).build().unwrap_or_else(|e| panic!("{e}"));
        let y = d.alert_rules_yaml();
        assert_eq!(y.matches("alert: \"AsyncmachineNoTransitions\"").count(), 2);
    }

    #[test]
    fn every_rule_has_a_severity_and_a_runbook() {
        let d = Dashboard::for_machines(&["a"]).source("checkout-api").build().unwrap_or_else(|e| panic!("{e}"));
        let y = d.alert_rules_yaml();
        let alerts = y.matches("- alert:").count();
        assert_eq!(y.matches("runbook_url: ").count(), alerts);
        assert_eq!(y.matches("severity: \"critical\"").count() + y.matches("severity: \"warning\"").count(), alerts);
        assert!(y.contains(r#"up{job=\"checkout-api\"} == 0"#), "{y}");
    }
}
