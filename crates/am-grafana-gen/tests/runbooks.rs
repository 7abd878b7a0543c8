//! Every alert's `runbook_url` points at a section that exists in `docs/runbooks.md`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use am_grafana_gen::{AlertRules, DEFAULT_RUNBOOK_URL, Dashboard, K8sOptions};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// GitHub's anchor for a Markdown heading: lower case, punctuation other than `-` and `_`
/// removed, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of every heading of a Markdown file (outside code blocks).
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut out = BTreeSet::new();
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            out.insert(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

/// Every `runbook_url` of a rules file and of a PrometheusRule with every rule switched on.
fn runbook_urls() -> Vec<String> {
    let alerts = AlertRules { expect_transitions: vec!["api-1".into()], ..AlertRules::default() };
    let d = Dashboard::for_machines(&["api-1"]).source("checkout-api").alert_rules(alerts).build().unwrap();
    let mut urls: Vec<String> = d
        .alert_rules_yaml()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("runbook_url: "))
        .map(|u| u.trim_matches('"').to_string())
        .collect();
    let objs = d.kubernetes(&K8sOptions::new("checkout-api")).unwrap();
    let rule: serde_json::Value = serde_json::from_str(&objs[1].text).unwrap();
    for r in rule["spec"]["groups"][0]["rules"].as_array().unwrap() {
        urls.push(r["annotations"]["runbook_url"].as_str().unwrap().to_string());
    }
    urls
}

#[test]
fn every_runbook_url_has_its_section() {
    let doc = std::fs::read_to_string(repo().join("docs/runbooks.md")).unwrap();
    let have = anchors(&doc);
    let urls = runbook_urls();
    assert_eq!(urls.len(), 16, "8 alerts in the rules file and in the PrometheusRule: {urls:?}");
    for url in &urls {
        let (base, fragment) = url.split_once('#').unwrap_or_else(|| panic!("{url}: no anchor"));
        assert_eq!(base, DEFAULT_RUNBOOK_URL);
        assert!(have.contains(fragment), "{url}: no heading with anchor #{fragment} in docs/runbooks.md ({have:?})");
    }
    // and the check can fail
    assert!(!have.contains("asyncmachinenosuchalert"));
}

#[test]
fn the_default_url_is_this_repository_file() {
    let path = DEFAULT_RUNBOOK_URL.split_once("/blob/main/").map(|(_, p)| p).unwrap();
    assert!(repo().join(path).is_file(), "{DEFAULT_RUNBOOK_URL} names no file of the repository");
}

#[test]
fn anchors_follow_github() {
    assert_eq!(anchor(" AsyncmachineQueueStuck"), "asyncmachinequeuestuck");
    assert_eq!(anchor("3. Which Prometheus picks them up?"), "3-which-prometheus-picks-them-up");
}
