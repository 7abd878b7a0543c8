//! The generated dashboards against Grafana's own dashboard schema (from npm
//! `@grafana/schema` 13.2.3; see `fixtures/README.md`), with a validator of the JSON Schema
//! keywords that file uses. Fails on any keyword it does not know, so a regenerated schema
//! cannot silently weaken the check.

use std::path::PathBuf;

use am_grafana_gen::Dashboard;
use serde_json::Value;

struct Validator<'a> {
    root: &'a Value,
    errors: Vec<String>,
}

const KEYWORDS: &[&str] = &[
    "$ref",
    "$schema",
    "definitions",
    "description",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "anyOf",
];

impl Validator<'_> {
    fn resolve(&self, r: &str) -> &Value {
        let name = r.strip_prefix("#/definitions/").unwrap_or_else(|| panic!("unsupported $ref {r}"));
        &self.root["definitions"][name]
    }

    fn valid(&mut self, schema: &Value, v: &Value, path: &str) -> bool {
        let before = self.errors.len();
        self.check(schema, v, path);
        self.errors.len() == before
    }

    fn check(&mut self, schema: &Value, v: &Value, path: &str) {
        let Some(s) = schema.as_object() else {
            if schema == &Value::Bool(false) {
                self.errors.push(format!("{path}: not allowed"));
            }
            return;
        };
        for k in s.keys() {
            assert!(KEYWORDS.contains(&k.as_str()), "schema keyword {k} is not supported by this validator");
        }
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let target = self.resolve(r).clone();
            self.check(&target, v, path);
        }
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !types.iter().any(|t| type_ok(t, v)) {
                self.errors.push(format!("{path}: expected {types:?}, got {v}"));
                return;
            }
        }
        if let Some(c) = s.get("const")
            && c != v
        {
            self.errors.push(format!("{path}: expected {c}"));
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array)
            && !e.contains(v)
        {
            self.errors.push(format!("{path}: {v} not in {e:?}"));
        }
        if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
            let ok = any.iter().any(|alt| {
                let mut sub = Validator { root: self.root, errors: Vec::new() };
                sub.valid(alt, v, path)
            });
            if !ok {
                self.errors.push(format!("{path}: matches no alternative of anyOf"));
            }
        }
        if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
            for (i, item) in arr.iter().enumerate() {
                self.check(items, item, &format!("{path}/{i}"));
            }
        }
        if let Some(obj) = v.as_object() {
            let props = s.get("properties").and_then(Value::as_object);
            for req in s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                if !obj.contains_key(req) {
                    self.errors.push(format!("{path}: missing required {req}"));
                }
            }
            for (k, val) in obj {
                match props.and_then(|p| p.get(k)) {
                    Some(ps) => self.check(ps, val, &format!("{path}/{k}")),
                    None => match s.get("additionalProperties") {
                        Some(Value::Bool(false)) => self.errors.push(format!("{path}: unknown property {k}")),
                        Some(extra @ Value::Object(_)) => self.check(extra, val, &format!("{path}/{k}")),
                        _ => {}
                    },
                }
            }
        }
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("unsupported type {other}"),
    }
}

fn schema() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grafana-dashboard.schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(dashboard: &Value) -> Vec<String> {
    let schema = schema();
    let mut v = Validator { root: &schema, errors: Vec::new() };
    let top = schema["$ref"].as_str().unwrap_or("#/definitions/Dashboard");
    let target = v.resolve(top).clone();
    v.check(&target, dashboard, "");
    v.errors
}

#[test]
fn generated_dashboards_match_grafana_schema() {
    let cases = [
        Dashboard::for_machines(&["mach1", "mach2"]).name("Golden").source("svc").build(),
        Dashboard::for_machines(&["a.b", "c\"d", "e\\f"]).prometheus_datasource("prom").build(),
        Dashboard::for_machines(&["solo"]).build(),
        Dashboard::for_machines(&["mach1", "mach2"]).source("shop").layout(am_grafana_gen::Layout::Go).build(),
        Dashboard::for_machines(&["a.b"])
            .source("s")
            .prometheus_datasource("p")
            .layout(am_grafana_gen::Layout::Go)
            .build(),
    ];
    for d in cases {
        let d = d.unwrap_or_else(|e| panic!("{e}"));
        let errs = errors(&d.to_json());
        assert!(errs.is_empty(), "{}: {errs:#?}", d.title());
    }
}

#[test]
fn committed_demo_dashboard_matches_schema() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dashboards/am-demo.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let errs = errors(&v);
    assert!(errs.is_empty(), "{errs:#?}");
}

#[test]
fn validator_rejects_broken_models() {
    let d = Dashboard::for_machines(&["m"]).build().unwrap_or_else(|e| panic!("{e}"));
    let mut v = d.to_json();
    v["panels"][1]["gridPos"] = serde_json::json!({"x": 0});
    v["bogus"] = Value::Bool(true);
    v["templating"]["list"][3]["current"] = serde_json::json!({});
    let errs = errors(&v);
    assert!(errs.iter().any(|e| e.contains("unknown property bogus")), "{errs:?}");
    // Panels are `anyOf` [Panel, RowPanel]: a broken gridPos fails both.
    assert!(errs.iter().any(|e| e.starts_with("/panels/1: matches no alternative")), "{errs:?}");
    assert!(errs.iter().any(|e| e.contains("missing required text")), "{errs:?}");
}
