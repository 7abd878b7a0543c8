//! `cargo xtask itest`: the end-to-end check. Runs the demo for a short fixed time against
//! local backends and checks what each exporter delivered.

use std::path::{Path, PathBuf};

use xshell::{Shell, cmd};

use crate::{Args, Result, backends};

const HELP: &str = "\
cargo xtask itest [--duration SECS] [--keep] [--only service|tui]

Builds the demo and runs it for SECS seconds (default 10, at least 8) against a real
Prometheus and Pushgateway started on loopback ports, then checks end to end:
  prom  Prometheus scraped every demo machine's series from the demo's /metrics, and read
        the pushed ones (Go-compatible: Go's group and gauges) back from the Pushgateway;
        every query of the generated dashboard, at the dashboard's default variable values,
        returns data and every alert expression evaluates
  k8s   the same /metrics scraped as prometheus-operator labels a ServiceMonitor's target
        (job and service `am-demo`, namespace `demo`, pod `am-demo-0`) beside two look-alike
        workloads (namespace `other`; job `other-app`): the Kubernetes dashboard's queries
        return data for it and none for the other job, and every selector of the
        PrometheusRule selects it and nothing of the look-alikes
  otel  the span file holds the asyncmachine tree: a `mach:` span per machine, workers
        under the pool's `submachines` span, every parent present; the log file holds
        lines of every machine whose trace IDs belong to the exported spans
  dbg   the am-dbg recording holds every demo machine, transitions, and no drops
  tui   the am-dbg terminal UI in tmux shows the demo's machines live, time-travels, shows
        its help and a filter, the log pane, step-through, the matrix, pauses the live view,
        exports, keeps the clocks and the help key at 80x24, restores the terminal on q,
        then plays the recording it made
  service  am-example-service (axum, a machine per request) against an OTLP receiver: each
        request's span holds its order machine and transitions, the machine's JSON log
        lines carry the trace ID, /metrics and the probes answer on the app's port, and
        SIGTERM turns /readyz to 503 until a clean exit with a complete delivery report
Prometheus and the Pushgateway come from Debian: installed with apt-get when missing and
running as root (as `cargo xtask deps` does).
Outputs go to a temporary directory, removed afterwards unless --keep. `--only service` or
`--only tui` runs only that check (quick, when working on it).
";

/// Machines the demo runs with its default three workers.
const DEMO_MACHINES: [&str; 4] = ["worker-pool", "worker-1", "worker-2", "worker-3"];

/// The demo as prometheus-operator labels the target of a ServiceMonitor for Service
/// `am-demo` in namespace `demo` (job and service: the Service name).
const K8S_TARGET: &[(&str, &str)] = &[
    ("job", "am-demo"),
    ("service", "am-demo"),
    ("namespace", "demo"),
    ("pod", "am-demo-0"),
    ("container", "am-demo"),
    ("endpoint", "metrics"),
];
/// The same series as another namespace's deployment of the same Service would carry.
const OTHER_NAMESPACE: &[(&str, &str)] =
    &[("job", "am-demo"), ("service", "am-demo"), ("namespace", "other"), ("pod", "am-demo-0")];
/// The same series as another app in the same namespace would carry.
const OTHER_JOB: &[(&str, &str)] =
    &[("job", "other-app"), ("service", "other-app"), ("namespace", "demo"), ("pod", "other-app-0")];

pub(crate) fn run(sh: &Shell, args: &mut Args) -> Result<()> {
    if args.help() {
        print!("{HELP}");
        return Ok(());
    }
    let duration = args.value(&["--duration"])?.unwrap_or_else(|| "10".into());
    let keep = args.flag(&["--keep"]);
    let only = args.value(&["--only"])?;
    args.finish()?;
    let secs = duration.parse::<f64>().map_err(|_| format!("bad --duration `{duration}`"))?;
    if secs < 8.0 {
        return Err("--duration must be at least 8 seconds (rates need several scrapes)".into());
    }

    let dir = std::env::temp_dir().join(format!("am-itest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = match only.as_deref() {
        None => run_in(sh, &dir, &duration),
        Some("service") => {
            let bin = |name: &str| -> PathBuf { sh.current_dir().join("target/debug").join(name) };
            crate::service_e2e::run(sh, &bin, &dir)
        }
        Some("tui") => {
            cmd!(sh, "cargo build --quiet -p am-demo -p am-dbg --bins").run()?;
            let bin = |name: &str| -> PathBuf { sh.current_dir().join("target/debug").join(name) };
            crate::tui_e2e::run(sh, &bin, &dir)
        }
        Some(other) => Err(format!("--only: `service` or `tui`, not `{other}`").into()),
    };
    if keep || result.is_err() {
        eprintln!("itest outputs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn run_in(sh: &Shell, dir: &Path, duration: &str) -> Result<()> {
    // Prometheus and the Pushgateway: installed with apt when missing (as root)
    crate::deps::apt_tools(sh)?;
    cmd!(sh, "cargo build --quiet -p am-demo -p am-dbg --bins").run()?;
    let bin = |name: &str| -> PathBuf { sh.current_dir().join("target/debug").join(name) };
    let pushgateway = backends::pushgateway(dir)?;
    let metrics_port = backends::free_port()?;
    let job = |name, honor_labels, labels| backends::ScrapeJob { name, port: metrics_port, honor_labels, labels };
    let prometheus = backends::prometheus_jobs(
        dir,
        &[
            job("am-demo", true, &[]),
            backends::ScrapeJob { name: "pushgateway", port: pushgateway.port, honor_labels: true, labels: &[] },
            // prometheus-operator's job names; honor_labels is off there by default
            job("serviceMonitor/demo/am-demo/0", false, K8S_TARGET),
            job("serviceMonitor/other/am-demo/0", false, OTHER_NAMESPACE),
            job("serviceMonitor/demo/other-app/0", false, OTHER_JOB),
        ],
    )?;
    eprintln!("==> prometheus on :{}, pushgateway on :{}", prometheus.port, pushgateway.port);

    eprintln!("==> am-demo --duration {duration}");
    let demo = std::process::Command::new(bin("am-demo"))
        .args(["--duration", duration, "--quiet", "--out-dir"])
        .arg(dir)
        .env_remove("AM_DBG_ADDR")
        .env_remove("AM_LOKI_ADDR")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("AM_SERVICE", "am-demo")
        .env("AM_PROM_ADDR", format!("127.0.0.1:{metrics_port}"))
        .env("AM_PROM_PUSH_URL", format!("http://127.0.0.1:{}", pushgateway.port))
        .env("AM_PROM_PUSH_INTERVAL", "1s")
        // the Go-compatible series too, for the Go layout's queries
        .env("AM_PROM_GO_COMPAT", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the demo: {e}"))?;
    // query while the demo runs: disposed machines' series go stale when it stops
    let secs: f64 = duration.parse().unwrap_or(10.0);
    std::thread::sleep(std::time::Duration::from_secs_f64(secs - 2.5));
    let prom_result = check_prometheus(prometheus.port).and_then(|()| check_kubernetes(prometheus.port));
    let out = demo.wait_with_output()?;
    println!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        return Err(format!("the demo failed: {}", out.status).into());
    }
    prom_result?;
    check_spans(&dir.join("spans.jsonl"))?;
    check_logs(&dir.join("logs.jsonl"), &dir.join("spans.jsonl"))?;
    check_dbg(sh, &bin("am-dbg"), &dir.join("dbg.jsonl"))?;
    crate::tui_e2e::run(sh, &bin, dir)?;
    crate::service_e2e::run(sh, &bin, dir)?;
    eprintln!("itest: all checks passed");
    Ok(())
}

/// What Grafana sends for `expr` when the dashboard opens: each variable at its default
/// (`current`; "All" becomes the variable's `allValue`), as a user first sees it.
fn interpolate(dashboard: &serde_json::Value, expr: &str) -> String {
    let mut out = expr.replace("$__rate_interval", "1m");
    let mut vars: Vec<&serde_json::Value> = dashboard["templating"]["list"].as_array().into_iter().flatten().collect();
    // `$service_name` before `$service`
    vars.sort_by_key(|v| std::cmp::Reverse(v["name"].as_str().map_or(0, str::len)));
    for v in vars {
        let Some(name) = v["name"].as_str() else { continue };
        // a single value, or a list (multi-select)
        let current: Vec<&str> = match &v["current"]["value"] {
            serde_json::Value::String(s) => vec![s.as_str()],
            serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
            _ => continue,
        };
        let value = if current.contains(&"$__all") {
            v["allValue"].as_str().unwrap_or(".*").to_string()
        } else {
            current.join("|")
        };
        out = out.replace(&format!("${name}"), &value);
    }
    out
}

/// The demo's series reached Prometheus (scraped and pushed), and the dashboard's queries
/// return data.
fn check_prometheus(port: u16) -> Result<()> {
    use am_core::conventions::prom::{LABEL_MACH_ID, TRANSITIONS_TOTAL};
    for m in DEMO_MACHINES {
        let scraped =
            backends::prom_query(port, &format!(r#"{TRANSITIONS_TOTAL}{{job="am-demo",{LABEL_MACH_ID}="{m}"}}"#))?;
        if scraped == 0 {
            return Err(format!("prom check: no scraped {TRANSITIONS_TOTAL} series for `{m}`").into());
        }
    }
    // Go-compatible mode pushes as Go does: to the job's group alone (the gateway adds an
    // empty `instance`), the Go gauges alone
    let mut pushed = 0;
    for m in DEMO_MACHINES {
        let go = am_core::conventions::prom::go::name("transitions", &am_core::env::normalize_id(m));
        let n = backends::prom_query(port, &format!(r#"{go}{{job="am_demo",instance=""}}"#))?;
        if n == 0 {
            return Err(format!("prom check: no pushed {go} series in Go's group (job am_demo)").into());
        }
        pushed += n;
    }
    if backends::prom_query(port, &format!(r#"{TRANSITIONS_TOTAL}{{job="am_demo"}}"#))? != 0 {
        return Err(format!("prom check: {TRANSITIONS_TOTAL} pushed into Go's group (job am_demo)").into());
    }
    let dashboard =
        am_grafana_gen::Dashboard::for_machines(&DEMO_MACHINES).name("am-demo").source("am-demo").build()?;
    let queries = dashboard.prometheus_queries();
    let json: serde_json::Value = serde_json::from_str(&dashboard.to_json_string())?;
    let mut empty = Vec::new();
    for q in &queries {
        if backends::prom_query(port, &interpolate(&json, q))? == 0 {
            empty.push(q.clone());
        }
    }
    // the statically scraped series alone (no `service` or `namespace` label) match the
    // dashboards' selectors at their defaults too, not only the pushed ones
    let selector = queries
        .iter()
        .find_map(|q| {
            let start = q.find(&format!("{TRANSITIONS_TOTAL}{{"))? + TRANSITIONS_TOTAL.len();
            Some(q[start..start + q[start..].find('}')? + 1].to_string())
        })
        .ok_or("prom check: no dashboard query selects am_transitions_total")?;
    let scraped = interpolate(
        &json,
        &format!("{TRANSITIONS_TOTAL}{}", selector.replacen('{', "{job=\"am-demo\",namespace=\"\",", 1)),
    );
    if backends::prom_query(port, &scraped)? == 0 {
        return Err(
            format!("prom check: the dashboard's default selection misses the scraped series: {scraped}").into()
        );
    }
    if !empty.is_empty() {
        return Err(format!(
            "prom check: dashboard queries at the dashboard's default variable values returned no data:\n  {}",
            empty.join("\n  ")
        )
        .into());
    }
    let alerts = dashboard.alert_expressions();
    for a in &alerts {
        backends::prom_query(port, a)?;
    }
    // the Go layout (job = the pushed service) on the Go-compatible series
    let go = am_grafana_gen::Dashboard::for_machines(&DEMO_MACHINES)
        .name("am-demo")
        .source("am-demo")
        .layout(am_grafana_gen::Layout::Go)
        .build()?;
    let mut go_empty = Vec::new();
    let go_queries = go.prometheus_queries();
    for q in go_queries.iter().cloned() {
        if backends::prom_query(port, &q)? == 0 {
            go_empty.push(q);
        }
    }
    if !go_empty.is_empty() {
        return Err(format!("prom check: Go-layout queries returned no data:\n  {}", go_empty.join("\n  ")).into());
    }
    eprintln!(
        "itest prom: {} machines scraped, {pushed} pushed series, {} dashboard queries with data, {} alert expressions evaluated, {} Go-layout queries with data",
        DEMO_MACHINES.len(),
        queries.len(),
        alerts.len(),
        go_queries.len()
    );
    Ok(())
}

/// `k="v",…` for a target's labels.
fn matchers(labels: &[(&str, &str)]) -> String {
    labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join(",")
}

/// The Kubernetes objects of the demo, checked against the prometheus-operator-style target:
/// the dashboard's queries find it (its `service` is the Service name, `am-demo`) and skip
/// another app's, and the PrometheusRule's selectors select it and none of the look-alikes.
fn check_kubernetes(port: u16) -> Result<()> {
    use am_grafana_gen::{AlertRules, Dashboard, K8sOptions};
    // every rule on, the quiet-machine ones included
    let alerts = AlertRules { expect_transitions: DEMO_MACHINES.map(String::from).to_vec(), ..AlertRules::default() };
    let dashboard =
        Dashboard::for_machines(&DEMO_MACHINES).name("am-demo").source("am-demo").alert_rules(alerts).build()?;
    let mut o = K8sOptions::new("am-demo");
    o.namespace = Some("demo".into());
    let objects = dashboard.kubernetes(&o)?;
    let object = |kind: &str| -> Result<serde_json::Value> {
        let k = objects.iter().find(|k| k.file.ends_with(&format!(".{kind}.json"))).ok_or(format!("no {kind}"))?;
        Ok(serde_json::from_str(&k.text)?)
    };
    let cm = object("dashboard-configmap")?;
    let json: serde_json::Value = serde_json::from_str(cm["data"]["am-demo.json"].as_str().unwrap_or_default())?;
    let queries = dashboard.prometheus_queries();
    check_dashboard_on_target(port, &json, &queries)?;
    let rule = object("prometheusrule")?;
    let rules = rule["spec"]["groups"][0]["rules"].as_array().cloned().unwrap_or_default();
    let n = check_rule_selectors(port, &rules)?;
    eprintln!(
        "itest k8s: {} dashboard queries with data for the operator-labelled target, {} rules whose {n} selectors \
         select it alone",
        queries.len(),
        rules.len()
    );
    Ok(())
}

/// Each query, at the dashboard's defaults and restricted to one target, returns data for
/// the operator-labelled demo and none for another app.
fn check_dashboard_on_target(port: u16, dashboard: &serde_json::Value, queries: &[String]) -> Result<()> {
    let on = |q: &str, target: &[(&str, &str)]| {
        let pin = |l: &&(&str, &str)| l.0 == "namespace" || l.0 == "pod";
        let pinned: Vec<(&str, &str)> = target.iter().filter(pin).copied().collect();
        interpolate(dashboard, q).replace('{', &format!("{{{},", matchers(&pinned)))
    };
    let (mut empty, mut leaked) = (Vec::new(), Vec::new());
    for q in queries {
        if backends::prom_query(port, &on(q, K8S_TARGET))? == 0 {
            empty.push(on(q, K8S_TARGET));
        }
        if backends::prom_query(port, &on(q, OTHER_JOB))? != 0 {
            leaked.push(on(q, OTHER_JOB));
        }
    }
    if !empty.is_empty() {
        let list = empty.join("\n  ");
        return Err(format!(
            "k8s check: at its defaults the dashboard finds no data of the operator-labelled target:\n  {list}"
        )
        .into());
    }
    if !leaked.is_empty() {
        let list = leaked.join("\n  ");
        return Err(format!("k8s check: at its defaults the dashboard shows another app's series:\n  {list}").into());
    }
    Ok(())
}

/// Every rule evaluates, and each of its selectors selects the demo's workload (namespace
/// `demo`, job `am-demo`) and nothing else, although look-alikes exist. Returns the number
/// of selectors checked.
fn check_rule_selectors(port: u16, rules: &[serde_json::Value]) -> Result<usize> {
    let workloads = |sel: &str| -> Result<Vec<(String, String)>> {
        let series = backends::prom_series(port, &format!("group by (namespace, job) ({sel})"))?;
        Ok(series
            .iter()
            .map(|s| {
                let label = |k: &str| s["metric"][k].as_str().unwrap_or_default().to_string();
                (label("namespace"), label("job"))
            })
            .collect())
    };
    // the look-alikes are there, so an unscoped selector would pick them up
    let all = workloads("am_transitions_total")?;
    for (ns, job) in [("other", "am-demo"), ("demo", "other-app")] {
        if !all.contains(&(ns.to_string(), job.to_string())) {
            return Err(format!("k8s check: no look-alike series of namespace {ns}, job {job}: {all:?}").into());
        }
    }
    let mut n = 0;
    for r in rules {
        let (alert, expr) = (r["alert"].as_str().unwrap_or_default(), r["expr"].as_str().unwrap_or_default());
        backends::prom_query(port, expr)?;
        for sel in selectors(expr) {
            let found = workloads(&sel)?;
            if found != [("demo".to_string(), "am-demo".to_string())] {
                return Err(format!(
                    "k8s check: {alert}'s selector {sel} selects {found:?}, not exactly namespace demo, job am-demo"
                )
                .into());
            }
            n += 1;
        }
    }
    Ok(n)
}

/// The series selectors (`metric{matchers}`) of a PromQL expression, in order.
fn selectors(expr: &str) -> Vec<String> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(off) = expr[from..].find('{') {
        let open = from + off;
        let start =
            expr[..open].rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).map_or(0, |p| p + 1);
        // the closing brace, skipping quoted label values
        let (mut j, mut quoted) = (open + 1, false);
        while j < b.len() {
            match b[j] {
                b'\\' if quoted => j += 1,
                b'"' => quoted = !quoted,
                b'}' if !quoted => break,
                _ => {}
            }
            j += 1;
        }
        if j >= b.len() {
            break;
        }
        out.push(expr[start..=j].to_string());
        from = j + 1;
    }
    out
}

/// The span file holds one `mach:` span per demo machine, workers nested under the pool's
/// `submachines` span, and no span whose parent is missing.
fn check_spans(file: &Path) -> Result<()> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("otel check: {}: {e}", file.display()))?;
    let spans: Vec<serde_json::Value> =
        text.lines().map(serde_json::from_str).collect::<Result<_, _>>().map_err(|e| format!("otel check: {e}"))?;
    let by_id: std::collections::HashMap<&str, &serde_json::Value> =
        spans.iter().filter_map(|s| Some((s["spanId"].as_str()?, s))).collect();
    let name = |s: &serde_json::Value| s["name"].as_str().unwrap_or_default().to_string();
    let parent =
        |s: &serde_json::Value| s["parentSpanId"].as_str().filter(|p| !p.is_empty()).and_then(|p| by_id.get(p));
    let orphans = spans
        .iter()
        .filter(|s| s["parentSpanId"].as_str().is_some_and(|p| !p.is_empty()) && parent(s).is_none())
        .count();
    if orphans > 0 {
        return Err(format!("otel check: {orphans} spans have a parent that was never exported").into());
    }
    for m in DEMO_MACHINES {
        let Some(root) = spans.iter().find(|s| name(s).starts_with("mach:") && name(s).ends_with(&format!(":{m}")))
        else {
            return Err(format!("otel check: no `mach:` span for `{m}`").into());
        };
        if m != DEMO_MACHINES[0] {
            let p = parent(root).map(|p| name(p)).unwrap_or_default();
            if !p.ends_with("submachines") {
                return Err(format!("otel check: `{m}` is under `{p}`, not the pool's submachines span").into());
            }
        }
    }
    eprintln!("itest otel: {} spans, a tree for {} machines", spans.len(), DEMO_MACHINES.len());
    Ok(())
}

fn json_lines(file: &Path) -> Result<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", file.display()))?)
}

/// Every demo machine logged, and log lines name traces that were exported as spans.
fn check_logs(logs: &Path, spans: &Path) -> Result<()> {
    let (logs, spans) = (json_lines(logs)?, json_lines(spans)?);
    let traces: std::collections::HashSet<&str> = spans.iter().filter_map(|s| s["traceId"].as_str()).collect();
    for m in DEMO_MACHINES {
        if !logs.iter().any(|l| l["attributes"][0]["value"]["stringValue"] == m) {
            return Err(format!("otel check: no log lines of `{m}`").into());
        }
    }
    let traced = logs.iter().filter(|l| l["traceId"].as_str().is_some_and(|t| traces.contains(t))).count();
    if traced * 10 < logs.len() * 9 {
        return Err(format!("otel check: only {traced} of {} log lines carry an exported trace ID", logs.len()).into());
    }
    eprintln!("itest logs: {} lines, {traced} with an exported trace ID", logs.len());
    Ok(())
}

/// The recording summarises to every demo machine, with transitions and no drops.
fn check_dbg(sh: &Shell, am_dbg: &Path, file: &Path) -> Result<()> {
    let summary = cmd!(sh, "{am_dbg} summary {file}").read().map_err(|e| format!("am-dbg summary failed: {e}"))?;
    let first = summary.lines().next().unwrap_or_default();
    let field = |name: &str| -> Option<u64> {
        first.split(',').find_map(|part| part.trim().strip_prefix(name)?.trim().parse().ok())
    };
    let (machines, transitions, dropped) = (field("machines:"), field("transitions:"), field("dropped:"));
    let fail = |why: String| -> Result<()> { Err(format!("dbg check: {why}\n{summary}").into()) };
    if machines != Some(DEMO_MACHINES.len() as u64) {
        return fail(format!("expected {} machines, summary says {machines:?}", DEMO_MACHINES.len()));
    }
    if transitions.is_none_or(|t| t < 20) {
        return fail(format!("too few transitions: {transitions:?}"));
    }
    if dropped != Some(0) {
        return fail(format!("messages were dropped: {dropped:?}"));
    }
    for m in DEMO_MACHINES {
        if !summary.lines().any(|l| l.starts_with(m)) {
            return fail(format!("machine `{m}` missing"));
        }
    }
    eprintln!("itest dbg: {first}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_of_rule_expressions() {
        let e = r#"sum by (job) (increase(am_x_total{job="a",m="}{"}[5m])) == 0 or absent_over_time(up{job="a"}[5m])"#;
        assert_eq!(selectors(e), [r#"am_x_total{job="a",m="}{"}"#, r#"up{job="a"}"#]);
        assert!(selectors("sum(rate(x[1m]))").is_empty());
    }
}
