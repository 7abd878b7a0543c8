//! Prometheus alert rules for a dashboard's machines, written as YAML by a tiny emitter:
//! every scalar is a double-quoted JSON string, which YAML reads as the same string.

use std::time::Duration;

use am_core::conventions::prom::{
    EXCEPTIONS_TOTAL, LABEL_MACH_ID, LABEL_RESULT, QUEUE_LENGTH, TRANSITION_DURATION_SECONDS, TRANSITIONS_TOTAL,
};

use crate::dashboard::Dashboard;
use crate::promql::{alternation, quantile, quote, sum_rate};
use crate::{Error, json};

/// Thresholds of the generated alert rules.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRules {
    /// `AsyncmachineExceptions` fires when a machine's `Exception` activations per second
    /// stay above this for [`for_duration`](Self::for_duration). Default 0.1.
    pub exception_rate: f64,
    /// `AsyncmachineQueueStuck` fires when the queue is non-empty and no transition was
    /// accepted for this long. Default 5 minutes.
    pub stuck_queue_for: Duration,
    /// `AsyncmachineNoTransitions` fires when a machine had no transition (or no series at
    /// all) for this long. Default 10 minutes.
    pub no_transitions_for: Duration,
    /// `AsyncmachineSlowTransitions` fires when the p99 transition duration stays above this
    /// many seconds for [`for_duration`](Self::for_duration). Default 1.0.
    pub p99_duration_seconds: f64,
    /// How long a condition must hold before an alert fires. Default 5 minutes.
    pub for_duration: Duration,
    /// The `severity` label of every rule. Default `warning`.
    pub severity: String,
}

impl Default for AlertRules {
    fn default() -> Self {
        AlertRules {
            exception_rate: 0.1,
            stuck_queue_for: Duration::from_secs(300),
            no_transitions_for: Duration::from_secs(600),
            p99_duration_seconds: 1.0,
            for_duration: Duration::from_secs(300),
            severity: "warning".into(),
        }
    }
}

impl AlertRules {
    pub(crate) fn check(&self) -> Result<(), Error> {
        let bad = |what: &'static str, reason: &str| Err(Error::InvalidSetting { what, reason: reason.into() });
        if !(self.exception_rate.is_finite() && self.exception_rate >= 0.0) {
            return bad("exception_rate", "must be a finite number >= 0");
        }
        if !(self.p99_duration_seconds.is_finite() && self.p99_duration_seconds > 0.0) {
            return bad("p99_duration_seconds", "must be a finite number > 0");
        }
        for (what, d) in [
            ("stuck_queue_for", self.stuck_queue_for),
            ("no_transitions_for", self.no_transitions_for),
            ("for_duration", self.for_duration),
        ] {
            if d.as_secs() == 0 {
                return bad(what, "must be at least one second");
            }
        }
        if self.severity.trim().is_empty() {
            return bad("severity", "empty");
        }
        Ok(())
    }
}

/// A Prometheus duration: whole hours, minutes or seconds.
fn prom_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

struct Rule {
    alert: &'static str,
    expr: String,
    for_: String,
    mach_id: Option<String>,
    summary: String,
    description: String,
}

fn rules(d: &Dashboard) -> Vec<Rule> {
    let a = &d.alerts;
    let ids = format!("{LABEL_MACH_ID}=~{}", quote(&alternation(&d.ids)));
    let window = "5m";
    let by = LABEL_MACH_ID;
    let mut out = vec![
        Rule {
            alert: "AsyncmachineExceptions",
            expr: format!("{} > {}", sum_rate(by, EXCEPTIONS_TOTAL, &ids, window), a.exception_rate),
            for_: prom_duration(a.for_duration),
            mach_id: None,
            summary: "Machine {{ $labels.mach_id }} raises exceptions".into(),
            description: format!(
                "Exception activations of {{{{ $labels.mach_id }}}} ran at {{{{ $value }}}}/s, above {}/s.",
                a.exception_rate
            ),
        },
        Rule {
            alert: "AsyncmachineQueueStuck",
            expr: format!(
                "max by ({by}) ({QUEUE_LENGTH}{{{ids}}}) > 0 and on ({by}) {} == 0",
                sum_rate(
                    by,
                    TRANSITIONS_TOTAL,
                    &format!("{ids},{LABEL_RESULT}=\"accepted\""),
                    &prom_duration(a.stuck_queue_for)
                )
            ),
            for_: prom_duration(a.stuck_queue_for),
            mach_id: None,
            summary: "Machine {{ $labels.mach_id }} has a stuck queue".into(),
            description: format!(
                "{{{{ $labels.mach_id }}}} has queued mutations but accepted no transition for {}.",
                prom_duration(a.stuck_queue_for)
            ),
        },
        Rule {
            alert: "AsyncmachineSlowTransitions",
            expr: format!(
                "{} > {}",
                quantile(0.99, by, TRANSITION_DURATION_SECONDS, &ids, window),
                a.p99_duration_seconds
            ),
            for_: prom_duration(a.for_duration),
            mach_id: None,
            summary: "Machine {{ $labels.mach_id }} has slow transitions".into(),
            description: format!(
                "p99 transition duration of {{{{ $labels.mach_id }}}} is {{{{ $value }}}}s, above {}s.",
                a.p99_duration_seconds
            ),
        },
    ];
    // The exporters' own health: dropping or failing for the `for` duration.
    let ex = am_core::conventions::prom::LABEL_EXPORTER;
    for (alert, metric, what) in [
        ("AsyncmachineExporterDropping", am_core::conventions::prom::EXPORTER_DROPPED_TOTAL, "drops"),
        ("AsyncmachineExporterFailing", am_core::conventions::prom::EXPORTER_FAILED_TOTAL, "fails deliveries"),
    ] {
        out.push(Rule {
            alert,
            expr: format!("sum by ({ex}) (rate({metric}[{window}])) > 0"),
            for_: prom_duration(a.for_duration),
            mach_id: None,
            summary: format!("Exporter {{{{ $labels.{ex} }}}} {what}"),
            description: format!("Exporter {{{{ $labels.{ex} }}}} {what}: {{{{ $value }}}}/s over {window}."),
        });
    }
    // The scrape target of the service (its Prometheus job) is down.
    if let Some(job) = &d.source {
        out.push(Rule {
            alert: "AsyncmachineScrapeDown",
            expr: format!("up{{job={}}} == 0", quote(job)),
            for_: prom_duration(a.for_duration),
            mach_id: None,
            summary: format!("The {job} scrape target is down"),
            description: format!("Prometheus could not scrape {{{{ $labels.instance }}}} (job {job})."),
        });
    }
    // One rule per machine: `absent_over_time` needs an equality matcher to name it.
    let quiet = prom_duration(a.no_transitions_for);
    for id in &d.ids {
        let one = format!("{LABEL_MACH_ID}={}", quote(id));
        out.push(Rule {
            alert: "AsyncmachineNoTransitions",
            expr: format!(
                "sum by ({by}) (increase({TRANSITIONS_TOTAL}{{{one}}}[{quiet}])) == 0 \
                 or absent_over_time({TRANSITIONS_TOTAL}{{{one}}}[{quiet}])"
            ),
            for_: "1m".into(),
            mach_id: Some(id.clone()),
            summary: format!("Machine {id} made no transitions"),
            description: format!("{id} has had no transitions (or no series) for {quiet}."),
        });
    }
    out
}

/// Every PromQL expression of the rules, in file order.
pub(crate) fn expressions(d: &Dashboard) -> Vec<String> {
    rules(d).into_iter().map(|r| r.expr).collect()
}

/// The rule groups as the `groups` of a rules file, as JSON: what a `PrometheusRule`'s
/// `spec.groups` holds (same rules as [`render`]).
pub(crate) fn groups_json(d: &Dashboard) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = rules(d)
        .into_iter()
        .map(|r| {
            let mut labels = serde_json::Map::new();
            if let Some(id) = &r.mach_id {
                labels.insert(LABEL_MACH_ID.into(), id.clone().into());
            }
            labels.insert("severity".into(), d.alerts.severity.clone().into());
            serde_json::json!({
                "alert": r.alert,
                "expr": r.expr,
                "for": r.for_,
                "labels": labels,
                "annotations": {"summary": r.summary, "description": r.description, "dashboard_uid": d.uid},
            })
        })
        .collect();
    serde_json::json!([{"name": format!("asyncmachine-{}", d.uid), "rules": rules}])
}

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
    y.push_str(&format!("  - name: {}\n", q(&format!("asyncmachine-{}", d.uid))));
    y.push_str("    rules:\n");
    for r in rules(d) {
        y.push_str(&format!("      - alert: {}\n", q(r.alert)));
        y.push_str(&format!("        expr: {}\n", q(&r.expr)));
        y.push_str(&format!("        for: {}\n", q(&r.for_)));
        y.push_str("        labels:\n");
        if let Some(id) = &r.mach_id {
            y.push_str(&format!("          {LABEL_MACH_ID}: {}\n", q(id)));
        }
        y.push_str(&format!("          severity: {}\n", q(&d.alerts.severity)));
        y.push_str("        annotations:\n");
        y.push_str(&format!("          summary: {}\n", q(&r.summary)));
        y.push_str(&format!("          description: {}\n", q(&r.description)));
        y.push_str(&format!("          dashboard_uid: {}\n", q(&d.uid)));
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
    fn one_quiet_rule_per_machine() {
        let d = Dashboard::for_machines(&["a", "b.c"]).build().unwrap_or_else(|e| panic!("{e}"));
        let y = d.alert_rules_yaml();
        assert_eq!(y.matches("AsyncmachineNoTransitions").count(), 2);
        assert!(y.contains(r#"mach_id=~\"a|b\\\\.c\""#), "{y}");
    }
}
