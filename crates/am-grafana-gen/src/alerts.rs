//! The alert rules themselves: what each one selects, how it aggregates, its severity, and
//! the text an on-call engineer reads. Rendering (YAML, `PrometheusRule`) is in `rules.rs`.
//!
//! Every rule selects the workload (`namespace`, `job`) when it is known and aggregates by
//! it, so in a shared Prometheus one app's rules never fire for another app's series, and
//! every alert says which workload it is about even when it is not scoped.

use am_core::conventions::prom::{
    EXCEPTIONS_TOTAL, EXPORTER_DROPPED_TOTAL, EXPORTER_FAILED_TOTAL, LABEL_EXPORTER, LABEL_MACH_ID, LABEL_RESULT,
    QUEUE_LENGTH, TRANSITION_DURATION_SECONDS, TRANSITIONS_TOTAL,
};

use crate::dashboard::Dashboard;
use crate::promql::{alternation, quantile, quote, sum_rate};
use crate::rules::prom_duration;

/// How urgent an alert is: its `severity` label, which Alertmanager routes on.
///
/// The tiers: [`Critical`](Severity::Critical) when the condition means lost data or a dead
/// machine (a stuck queue, a scrape target down or missing, an exporter dropping, a machine
/// expected to work gone silent); [`Warning`](Severity::Warning) for degraded but working
/// (exceptions, slow transitions, failing deliveries that are retried). `Info` is only
/// reached through [`AlertRules::max_severity`](crate::AlertRules::max_severity).
///
/// ```
/// use am_grafana_gen::Severity;
/// assert!(Severity::Critical > Severity::Warning);
/// assert_eq!(Severity::Warning.as_str(), "warning");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// For dashboards and tickets, never a page.
    Info,
    /// Degraded: look at it during working hours.
    Warning,
    /// Data is being lost or a machine is dead: page.
    Critical,
}

impl Severity {
    /// The label value: `info`, `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// The workload the rules watch: the Prometheus `job` (under prometheus-operator, the
/// Service name) and the `namespace`, each when known.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Scope<'a> {
    pub(crate) job: Option<&'a str>,
    pub(crate) namespace: Option<&'a str>,
}

impl Scope<'_> {
    /// `namespace="…",job="…"` for what is known; empty when nothing is.
    fn matchers(&self) -> String {
        let pairs = [("namespace", self.namespace), ("job", self.job)];
        pairs.iter().filter_map(|(k, v)| v.map(|v| format!("{k}={}", quote(v)))).collect::<Vec<_>>().join(",")
    }

    /// The scope's matchers followed by `more` (either may be empty), comma-separated.
    fn with(&self, more: &str) -> String {
        let m = self.matchers();
        match (m.is_empty(), more.is_empty()) {
            (true, _) => more.to_string(),
            (false, true) => m,
            (false, false) => format!("{m},{more}"),
        }
    }
}

/// The labels every machine alert keeps: which workload, which machine. `namespace` and
/// `job` are kept even when not matched on, so an unscoped rule still names its app.
const BY_MACHINE: &str = "namespace, job, mach_id";
/// One process's machine: a stuck queue is per replica (others moving hides nothing).
const BY_INSTANCE: &str = "namespace, job, instance, mach_id";
/// Which workload and which exporter.
const BY_EXPORTER: &str = "namespace, job, exporter";

/// "checkout-api (namespace shop)", from the alert's own labels.
const WORKLOAD: &str = "{{ $labels.job }}{{ with $labels.namespace }} (namespace {{ . }}){{ end }}";
const MACHINE: &str = "{{ $labels.mach_id }}";

/// One alerting rule.
pub(crate) struct Rule {
    pub(crate) alert: &'static str,
    pub(crate) expr: String,
    pub(crate) for_: String,
    /// The `mach_id` label of a per-machine rule.
    pub(crate) mach_id: Option<String>,
    pub(crate) severity: Severity,
    pub(crate) summary: String,
    pub(crate) description: String,
}

impl Rule {
    /// The heading anchor of the alert's section in `docs/runbooks.md` (GitHub lower-cases
    /// a heading to make its anchor).
    pub(crate) fn anchor(&self) -> String {
        self.alert.to_ascii_lowercase()
    }
}

/// Every rule for the dashboard's machines in `scope`, in file order.
pub(crate) fn rules(d: &Dashboard, scope: Scope<'_>) -> Vec<Rule> {
    let mut out = machine_rules(d, scope);
    out.extend(exporter_rules(d, scope));
    out.extend(target_rules(d, scope));
    out.extend(quiet_rules(d, scope));
    let cap = d.alerts.max_severity;
    for r in &mut out {
        r.severity = r.severity.min(cap);
    }
    out
}

/// Exceptions, a stuck queue, slow transitions: over all the dashboard's machines.
fn machine_rules(d: &Dashboard, scope: Scope<'_>) -> Vec<Rule> {
    let a = &d.alerts;
    let sel = scope.with(&format!("{LABEL_MACH_ID}=~{}", quote(&alternation(&d.ids))));
    let window = "5m";
    let stuck = prom_duration(a.stuck_queue_for);
    vec![
        Rule {
            alert: "AsyncmachineExceptions",
            expr: format!("{} > {}", sum_rate(BY_MACHINE, EXCEPTIONS_TOTAL, &sel, window), a.exception_rate),
            for_: prom_duration(a.for_duration),
            mach_id: None,
            severity: Severity::Warning,
            summary: format!("Machine {MACHINE} of {WORKLOAD} raises exceptions"),
            description: format!(
                "Exception activations of machine {MACHINE} in {WORKLOAD} ran at {{{{ $value }}}}/s over {window}, \
                 above {}/s.",
                a.exception_rate
            ),
        },
        Rule {
            alert: "AsyncmachineQueueStuck",
            expr: format!(
                "max by ({BY_INSTANCE}) ({QUEUE_LENGTH}{{{sel}}}) > 0 and on ({BY_INSTANCE}) {} == 0",
                sum_rate(BY_INSTANCE, TRANSITIONS_TOTAL, &format!("{sel},{LABEL_RESULT}=\"accepted\""), &stuck)
            ),
            for_: stuck.clone(),
            mach_id: None,
            severity: Severity::Critical,
            summary: format!("Machine {MACHINE} of {WORKLOAD} has a stuck queue"),
            description: format!(
                "Machine {MACHINE} in {WORKLOAD} on {{{{ $labels.instance }}}} has queued mutations but accepted \
                 no transition for {stuck}: a handler may never return."
            ),
        },
        Rule {
            alert: "AsyncmachineSlowTransitions",
            expr: format!(
                "{} > {}",
                quantile(0.99, BY_MACHINE, TRANSITION_DURATION_SECONDS, &sel, window),
                a.p99_duration_seconds
            ),
            for_: prom_duration(a.for_duration),
            mach_id: None,
            severity: Severity::Warning,
            summary: format!("Machine {MACHINE} of {WORKLOAD} has slow transitions"),
            description: format!(
                "The p99 transition duration of machine {MACHINE} in {WORKLOAD} is {{{{ $value }}}}s, above {}s.",
                a.p99_duration_seconds
            ),
        },
    ]
}

/// The exporters' own health, per workload and exporter.
fn exporter_rules(d: &Dashboard, scope: Scope<'_>) -> Vec<Rule> {
    let window = "5m";
    let sel = scope.with("");
    let braces = if sel.is_empty() { String::new() } else { format!("{{{sel}}}") };
    // Dropped items are gone for good; failed deliveries are retried until they are dropped.
    [
        ("AsyncmachineExporterDropping", EXPORTER_DROPPED_TOTAL, "drops items", Severity::Critical),
        ("AsyncmachineExporterFailing", EXPORTER_FAILED_TOTAL, "fails deliveries", Severity::Warning),
    ]
    .into_iter()
    .map(|(alert, metric, what, severity)| Rule {
        alert,
        expr: format!("sum by ({BY_EXPORTER}) (rate({metric}{braces}[{window}])) > 0"),
        for_: prom_duration(d.alerts.for_duration),
        mach_id: None,
        severity,
        summary: format!("Exporter {{{{ $labels.{LABEL_EXPORTER} }}}} of {WORKLOAD} {what}"),
        description: format!(
            "The {{{{ $labels.{LABEL_EXPORTER} }}}} exporter in {WORKLOAD} {what}: {{{{ $value }}}}/s over {window}."
        ),
    })
    .collect()
}

/// The scrape target: down, or gone (a selector matching nothing never reports `up == 0`).
/// Only with a known job: without one, `up` is every target of the Prometheus.
fn target_rules(d: &Dashboard, scope: Scope<'_>) -> Vec<Rule> {
    let Some(job) = scope.job else { return Vec::new() };
    let sel = scope.matchers();
    let for_ = prom_duration(d.alerts.for_duration);
    let ns = scope.namespace.map(|n| format!(" in namespace {n}")).unwrap_or_default();
    vec![
        Rule {
            alert: "AsyncmachineScrapeDown",
            expr: format!("up{{{sel}}} == 0"),
            for_: for_.clone(),
            mach_id: None,
            severity: Severity::Critical,
            summary: format!("A scrape target of {WORKLOAD} is down"),
            description: format!(
                "Prometheus could not scrape {{{{ $labels.instance }}}} (job {job}{ns}{{{{ with $labels.pod }}}}, \
                 pod {{{{ . }}}}{{{{ end }}}}): its machines' metrics are lost."
            ),
        },
        Rule {
            alert: "AsyncmachineTargetMissing",
            expr: format!("absent(up{{{sel}}})"),
            for_,
            mach_id: None,
            severity: Severity::Critical,
            summary: format!("Prometheus has no scrape target for job {job}{ns}"),
            description: format!(
                "No target of job {job}{ns} exists: the ServiceMonitor (or scrape config) selects nothing, or the \
                 app is not running. None of its other alerts can fire."
            ),
        },
    ]
}

/// Opt-in, one per machine that must keep transitioning: `absent_over_time` needs an
/// equality matcher to name the machine it reports.
fn quiet_rules(d: &Dashboard, scope: Scope<'_>) -> Vec<Rule> {
    let quiet = prom_duration(d.alerts.no_transitions_for);
    d.alerts
        .expect_transitions
        .iter()
        .map(|id| {
            let sel = scope.with(&format!("{LABEL_MACH_ID}={}", quote(id)));
            Rule {
                alert: "AsyncmachineNoTransitions",
                expr: format!(
                    "sum by ({BY_MACHINE}) (increase({TRANSITIONS_TOTAL}{{{sel}}}[{quiet}])) == 0 \
                     or absent_over_time({TRANSITIONS_TOTAL}{{{sel}}}[{quiet}])"
                ),
                for_: "1m".into(),
                mach_id: Some(id.clone()),
                severity: Severity::Critical,
                summary: format!("Machine {id} of {WORKLOAD} made no transitions"),
                description: format!(
                    "Machine {id} in {WORKLOAD} is expected to keep working but has had no transitions (or no \
                     series) for {quiet}."
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dashboard(expect: &[&str]) -> Dashboard {
        let alerts = crate::AlertRules {
            expect_transitions: expect.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        Dashboard::for_machines(&["a", "b.c"]).alert_rules(alerts).build().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn scoped_rules_match_and_keep_the_workload() {
        let d = dashboard(&["a"]);
        let scope = Scope { job: Some("checkout-api"), namespace: Some("shop") };
        let rules = rules(&d, scope);
        for r in &rules {
            assert!(r.expr.contains(r#"namespace="shop",job="checkout-api""#), "{}: {}", r.alert, r.expr);
            if r.alert != "AsyncmachineTargetMissing" && r.alert != "AsyncmachineScrapeDown" {
                assert!(r.expr.contains("by (namespace, job,"), "{}: {}", r.alert, r.expr);
            }
        }
        let names: Vec<&str> = rules.iter().map(|r| r.alert).collect();
        assert!(names.contains(&"AsyncmachineScrapeDown") && names.contains(&"AsyncmachineNoTransitions"));
    }

    #[test]
    fn unscoped_rules_have_no_target_rules_and_still_aggregate_by_workload() {
        let rules = rules(&dashboard(&[]), Scope::default());
        let names: Vec<&str> = rules.iter().map(|r| r.alert).collect();
        assert_eq!(
            names,
            [
                "AsyncmachineExceptions",
                "AsyncmachineQueueStuck",
                "AsyncmachineSlowTransitions",
                "AsyncmachineExporterDropping",
                "AsyncmachineExporterFailing"
            ]
        );
        assert!(rules.iter().all(|r| !r.expr.contains("job=") && r.expr.contains("namespace, job")));
        assert_eq!(rules[3].expr, "sum by (namespace, job, exporter) (rate(am_exporter_dropped_total[5m])) > 0");
    }

    #[test]
    fn severities_are_tiered_and_capped() {
        let d = dashboard(&["a"]);
        let scope = Scope { job: Some("j"), namespace: None };
        let sev =
            |d: &Dashboard, alert: &str| rules(d, scope).into_iter().find(|r| r.alert == alert).map(|r| r.severity);
        assert_eq!(sev(&d, "AsyncmachineQueueStuck"), Some(Severity::Critical));
        assert_eq!(sev(&d, "AsyncmachineExceptions"), Some(Severity::Warning));
        let mut capped = d.clone();
        capped.alerts.max_severity = Severity::Info;
        assert!(rules(&capped, scope).iter().all(|r| r.severity == Severity::Info));
    }
}
