//! The generated Kubernetes objects against real models and tools: the prometheus-operator
//! and core Kubernetes models of PyPI's `cloudcoil-models-*`, with a round trip that catches
//! what the models would silently drop (they ignore unknown keys), `promtool check rules` on
//! the `PrometheusRule`'s groups, and the names and matchers of a hyphenated Service.

use std::path::{Path, PathBuf};
use std::process::Command;

use am_grafana_gen::{AlertRules, Dashboard, DataSources, K8sObject, K8sOptions};
use serde_json::Value;

/// Validates each file against its model, then dumps the model back
/// (`exclude_unset=True, by_alias=True, mode="json"`) and compares it with the input: the
/// models accept unknown keys and drop them, so only the comparison catches a misspelt
/// field.
const VALIDATE: &str = r#"
import json, sys
from cloudcoil.models.prometheus_operator import v1 as mon
from cloudcoil.models.kubernetes.core import v1 as core
kinds = {"ServiceMonitor": mon.ServiceMonitor, "PrometheusRule": mon.PrometheusRule, "ConfigMap": core.ConfigMap}

def diff(a, b, path):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in b:
                yield f"{path}.{k}: dropped by the model"
            elif k not in a:
                yield f"{path}.{k}: added by the model"
            else:
                yield from diff(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from diff(x, y, f"{path}[{i}]")
    elif a != b:
        yield f"{path}: {a!r} became {b!r}"

failed = False
for path in sys.argv[1:]:
    obj = json.load(open(path))
    try:
        model = kinds[obj["kind"]].model_validate(obj)
    except ValueError as e:  # pydantic's ValidationError
        failed = True
        print("invalid", path)
        print("  " + str(e).replace("\n", "\n  "))
        continue
    back = model.model_dump(exclude_unset=True, by_alias=True, mode="json")
    problems = list(diff(obj, back, obj["kind"]))
    if problems:
        failed = True
        print("invalid", path)
        print(*("  " + p for p in problems), sep="\n")
        continue
    if obj["kind"] == "ConfigMap" and "grafana_dashboard" in obj["metadata"]["labels"]:
        for name, text in obj["data"].items():
            json.loads(text)  # the dashboard inside is JSON
    print("valid", obj["kind"], obj["metadata"]["name"])
sys.exit(1 if failed else 0)
"#;

fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("k8s-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// python3 with the cloudcoil models, or `None` (skipped, said so) outside CI.
fn python() -> Option<PathBuf> {
    let py = am_testkit::tool("python3", "apt-get install python3")?;
    let ok = Command::new(&py)
        .args(["-c", "import cloudcoil.models.prometheus_operator, cloudcoil.models.kubernetes"])
        .status()
        .is_ok_and(|s| s.success());
    let install = "python3 -m pip install cloudcoil-models-prometheus-operator cloudcoil-models-kubernetes";
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "the cloudcoil models are not installed: {install} (cargo xtask deps does)"
    );
    if !ok {
        eprintln!("SKIPPED: the cloudcoil models are not installed ({install})");
        return None;
    }
    Some(py)
}

/// The issue's example: `--ids api-1 --source checkout-api`, with every option on.
fn checkout() -> Dashboard {
    let alerts = AlertRules { expect_transitions: vec!["api-1".into()], ..AlertRules::default() };
    Dashboard::for_machines(&["api-1", "api-2"]).source("checkout-api").alert_rules(alerts).build().unwrap()
}

fn full_options(namespace: Option<&str>) -> K8sOptions {
    let mut o = K8sOptions::new("checkout-api");
    o.namespace = namespace.map(String::from);
    o.labels.insert("release".into(), "kube-prometheus-stack".into());
    o.datasources = DataSources {
        prometheus: Some("http://prometheus-operated.monitoring:9090".into()),
        loki: Some("http://loki.monitoring:3100".into()),
        tempo: Some("http://tempo.monitoring:3200".into()),
    };
    o
}

fn write(objs: &[K8sObject], name: &str) -> Vec<PathBuf> {
    let dir = dir(name);
    objs.iter()
        .map(|k| {
            let p = dir.join(&k.file);
            std::fs::write(&p, &k.text).unwrap();
            p
        })
        .collect()
}

fn object(objs: &[K8sObject], kind: &str) -> Value {
    let k = objs.iter().find(|k| k.file.ends_with(&format!(".{kind}.json"))).unwrap();
    serde_json::from_str(&k.text).unwrap()
}

fn validate(py: &Path, files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(py).arg("-c").arg(VALIDATE).args(files).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn objects_validate_and_round_trip_through_the_operator_and_core_models() {
    let Some(py) = python() else { return };
    // with and without a namespace, in one run (the models take seconds to import)
    let mut files = write(&checkout().kubernetes(&full_options(None)).unwrap(), "none");
    files.extend(write(&checkout().kubernetes(&full_options(Some("shop"))).unwrap(), "shop"));
    let (ok, text) = validate(&py, &files);
    assert!(ok, "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("valid")).count(), 8, "{text}");
}

#[test]
fn the_round_trip_catches_what_the_models_accept() {
    let Some(py) = python() else { return };
    let objs = checkout().kubernetes(&K8sOptions::new("checkout-api")).unwrap();
    let dir = dir("broken");
    let text = &objs[0].text;
    // an unknown key: the model validates it and drops it; the comparison does not
    let unknown = dir.join("unknown-key.json");
    std::fs::write(&unknown, text.replace(r#""path": "/metrics","#, r#""bogusKey": 1, "path": "/metrics","#)).unwrap();
    // a wrong type fails the model itself
    let wrong_type = dir.join("wrong-type.json");
    std::fs::write(&wrong_type, text.replace(r#""interval": "15s""#, r#""interval": 15"#)).unwrap();
    let (ok, out) = validate(&py, &[unknown.clone(), wrong_type.clone()]);
    assert!(!ok, "neither may pass:\n{out}");
    let invalid: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("invalid ")).collect();
    assert_eq!(invalid, [unknown.to_str().unwrap(), wrong_type.to_str().unwrap()], "{out}");
    assert!(out.contains("ServiceMonitor.spec.endpoints[0].bogusKey: dropped by the model"), "{out}");
}

#[test]
fn prometheus_rule_groups_pass_promtool() {
    let Some(promtool) = am_testkit::tool("promtool", "apt-get install prometheus") else { return };
    let rule = object(&checkout().kubernetes(&full_options(Some("shop"))).unwrap(), "prometheusrule");
    let groups = serde_json::json!({"groups": rule["spec"]["groups"]});
    let n = groups["groups"][0]["rules"].as_array().map_or(0, Vec::len);
    assert_eq!(n, 8, "5 workload rules, scrape down, target missing, one quiet machine");
    let file = dir("promtool").join("rules-from-prometheusrule.yml");
    // JSON is YAML
    std::fs::write(&file, groups.to_string()).unwrap();
    let out = Command::new(promtool).args(["check", "rules"]).arg(&file).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("SUCCESS: {n} rules found")), "{text}");
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, written apart from the crate's own check.
fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

#[test]
fn a_hyphenated_service_stays_hyphenated() {
    let objs = checkout().kubernetes(&full_options(Some("shop"))).unwrap();
    for k in &objs {
        let v: Value = serde_json::from_str(&k.text).unwrap();
        let name = v["metadata"]["name"].as_str().unwrap();
        assert!(name.len() <= 253 && name.split('.').all(is_dns1123_label), "{}: {name}", k.file);
        assert!(is_dns1123_label(v["metadata"]["namespace"].as_str().unwrap()));
    }
    let sm = object(&objs, "servicemonitor");
    assert_eq!(sm["metadata"]["name"], "checkout-api");
    assert_eq!(sm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"], "checkout-api");
    let rule = object(&objs, "prometheusrule");
    let rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap();
    for r in rules {
        let expr = r["expr"].as_str().unwrap();
        // every selector of every rule names the workload
        let selectors = expr.matches('{').count();
        assert_eq!(expr.matches(r#"namespace="shop",job="checkout-api""#).count(), selectors, "{expr}");
        assert!(!expr.contains("checkout_api"), "{expr}");
        let sev = r["labels"]["severity"].as_str().unwrap();
        assert!(["critical", "warning", "info"].contains(&sev), "{sev}");
        let url = r["annotations"]["runbook_url"].as_str().unwrap();
        assert!(url.starts_with(am_grafana_gen::DEFAULT_RUNBOOK_URL) && url.contains('#'), "{url}");
        for text in [&r["annotations"]["summary"], &r["annotations"]["description"]] {
            let text = text.as_str().unwrap();
            assert!(text.contains("$labels.job") || text.contains("job checkout-api"), "names no service: {text}");
        }
    }
    let alerts: Vec<&str> = rules.iter().map(|r| r["alert"].as_str().unwrap()).collect();
    assert!(alerts.contains(&"AsyncmachineScrapeDown"));
    assert!(rules.iter().any(|r| r["expr"] == r#"up{namespace="shop",job="checkout-api"} == 0"#));
    // the dashboard in the ConfigMap selects what prometheus-operator labels the target with
    let cm = object(&objs, "dashboard-configmap");
    let dash: Value = serde_json::from_str(cm["data"]["api-1.json"].as_str().unwrap()).unwrap();
    let service = dash["templating"]["list"].as_array().unwrap().iter().find(|v| v["name"] == "service").unwrap();
    assert_eq!(service["current"]["value"], serde_json::json!(["checkout-api", "checkout_api"]));
}

#[test]
fn a_service_kubernetes_refuses_is_an_error() {
    let e = checkout().kubernetes(&K8sOptions::new("checkout_api")).unwrap_err().to_string();
    assert!(e.contains("Service name \"checkout_api\"") && e.contains("\"checkout-api\""), "{e}");
    let mut o = K8sOptions::new("checkout-api");
    o.labels.insert("release".into(), "kube prometheus".into());
    assert!(checkout().kubernetes(&o).is_err());
}

#[test]
fn no_data_source_configmap_unless_asked_and_never_the_default() {
    let plain = checkout().kubernetes(&K8sOptions::new("checkout-api")).unwrap();
    assert!(plain.iter().all(|k| !k.file.contains("datasources")), "asked for none");
    let objs = checkout().kubernetes(&full_options(Some("shop"))).unwrap();
    let ds = object(&objs, "datasources-configmap");
    let yaml = ds["data"]["am-datasources.yaml"].as_str().unwrap();
    assert!(!yaml.contains("isDefault: true"), "{yaml}");
    assert!(yaml.contains("http://prometheus-operated.monitoring:9090"), "{yaml}");
    // not kube-prometheus-stack's `Prometheus` / `prometheus`
    assert!(yaml.contains(r#"uid: "am-api-1-prometheus""#) && !yaml.contains(r#"name: "Prometheus""#), "{yaml}");
    assert_eq!(ds["metadata"]["labels"]["grafana_datasource"], "1");
}

#[test]
fn release_label_on_what_prometheus_selects() {
    let objs = checkout().kubernetes(&full_options(None)).unwrap();
    for kind in ["servicemonitor", "prometheusrule"] {
        assert_eq!(object(&objs, kind)["metadata"]["labels"]["release"], "kube-prometheus-stack", "{kind}");
    }
}

#[test]
fn the_configmap_carries_the_committed_dashboard_and_the_sidecar_label() {
    let d = Dashboard::for_machines(&["worker-pool", "worker-1"]).name("am-demo").source("am-demo").build().unwrap();
    let mut o = K8sOptions::new("am-demo");
    o.namespace = Some("obs".into());
    let cm = object(&d.kubernetes(&o).unwrap(), "dashboard-configmap");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(cm["metadata"]["namespace"], "obs");
    assert_eq!(cm["data"]["am-demo.json"].as_str(), Some(d.to_json_string().as_str()));
}
