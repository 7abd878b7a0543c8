//! The generated Kubernetes objects against real models: the prometheus-operator and core
//! Kubernetes models of PyPI's `cloudcoil-models-*` (strict pydantic models: unknown fields
//! and wrong types fail), and `promtool check rules` on the `PrometheusRule`'s groups.

use std::path::{Path, PathBuf};
use std::process::Command;

use am_grafana_gen::{Dashboard, K8sOptions};

const VALIDATE: &str = r#"
import json, sys
from cloudcoil.models.prometheus_operator import v1 as mon
from cloudcoil.models.kubernetes.core import v1 as core
kinds = {"ServiceMonitor": mon.ServiceMonitor, "PrometheusRule": mon.PrometheusRule, "ConfigMap": core.ConfigMap}
for path in sys.argv[1:]:
    obj = json.load(open(path))
    model = kinds[obj["kind"]].model_validate(obj)
    if obj["kind"] == "ConfigMap" and "grafana_dashboard" in obj["metadata"]["labels"]:
        for name, text in obj["data"].items():
            json.loads(text)  # the dashboard inside is JSON
    print("valid", obj["kind"], obj["metadata"]["name"])
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

fn objects(namespace: Option<&str>) -> Vec<(PathBuf, String)> {
    let d = Dashboard::for_machines(&["worker-pool", "worker-1"]).name("am-demo").source("am-demo").build().unwrap();
    let datasources = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards/provisioning/datasources/am.yaml"),
    )
    .unwrap();
    let o = K8sOptions {
        namespace: namespace.map(String::from),
        datasources_yaml: Some(datasources),
        ..K8sOptions::new("am-demo")
    };
    let dir = dir(namespace.unwrap_or("none"));
    d.kubernetes(&o)
        .into_iter()
        .map(|k| {
            let p = dir.join(&k.file);
            std::fs::write(&p, &k.text).unwrap();
            (p, k.text)
        })
        .collect()
}

#[test]
fn objects_validate_against_the_operator_and_core_models() {
    let Some(py) = python() else { return };
    // with and without a namespace, in one run (the models take seconds to import)
    let files: Vec<PathBuf> = [None, Some("shop")].into_iter().flat_map(objects).map(|(p, _)| p).collect();
    let out = Command::new(&py).arg("-c").arg(VALIDATE).args(&files).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.lines().filter(|l| l.starts_with("valid")).count(), 8, "{text}");
    // and the validator does reject a broken object (so the check above can fail)
    let (path, text) = &objects(Some("broken"))[0];
    std::fs::write(path, text.replace(r#""interval": "15s""#, r#""interval": 15"#)).unwrap();
    let out = Command::new(&py).arg("-c").arg(VALIDATE).arg(path).output().unwrap();
    assert!(!out.status.success(), "a numeric interval must not validate");
}

#[test]
fn prometheus_rule_groups_pass_promtool() {
    let Some(promtool) = am_testkit::tool("promtool", "apt-get install prometheus") else { return };
    let (_, rule) = objects(None).into_iter().find(|(p, _)| p.to_string_lossy().contains("prometheusrule")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&rule).unwrap();
    let groups = serde_json::json!({"groups": v["spec"]["groups"]});
    let file = dir("promtool").join("rules-from-prometheusrule.yml");
    // JSON is YAML
    std::fs::write(&file, groups.to_string()).unwrap();
    let out = Command::new(promtool).args(["check", "rules"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("SUCCESS: 8 rules found"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_configmap_carries_the_committed_dashboard_and_the_sidecar_label() {
    let (_, cm) = objects(Some("obs")).into_iter().find(|(p, _)| p.to_string_lossy().contains("configmap")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&cm).unwrap();
    assert_eq!(v["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(v["metadata"]["namespace"], "obs");
    let d = Dashboard::for_machines(&["worker-pool", "worker-1"]).name("am-demo").source("am-demo").build().unwrap();
    assert_eq!(v["data"]["am-demo.json"].as_str(), Some(d.to_json_string().as_str()));
}
