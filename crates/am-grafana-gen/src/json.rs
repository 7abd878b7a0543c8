//! Byte-stable JSON: object keys sorted, two-space indent, trailing newline.
//!
//! The ordering of `serde_json::Map` depends on a cargo feature (`preserve_order`) that any
//! crate in a build can switch on, so the output is written here instead of by serde_json.

use serde_json::Value;

/// Renders `v` with sorted keys, whatever `serde_json`'s map ordering is.
pub(crate) fn canonical(v: &Value) -> String {
    let mut out = String::with_capacity(64 * 1024);
    write(v, 0, &mut out);
    out.push('\n');
    out
}

fn write(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => string(s, out),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                pad(indent + 2, out);
                write(item, indent + 2, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            pad(indent, out);
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                pad(indent + 2, out);
                string(k, out);
                out.push_str(": ");
                write(&map[k.as_str()], indent + 2, out);
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            pad(indent, out);
            out.push('}');
        }
    }
}

fn pad(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A JSON string literal (also a valid YAML double-quoted scalar).
pub(crate) fn string(s: &str, out: &mut String) {
    am_core::exporter::json::push_quoted(out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sorted_and_nested() {
        let v = serde_json::json!({"b": [1, {"z": null, "a": "x\"y"}], "a": {}, "c": []});
        assert_eq!(
            canonical(&v),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"a\": \"x\\\"y\",\n      \"z\": null\n    }\n  ],\n  \"c\": []\n}\n"
        );
        let back: Value = serde_json::from_str(&canonical(&v)).unwrap_or_default();
        assert_eq!(back, v);
    }

    #[test]
    fn control_characters_escaped() {
        let mut s = String::new();
        string("a\u{1}\tb", &mut s);
        assert_eq!(s, "\"a\\u0001\\tb\"");
    }
}
