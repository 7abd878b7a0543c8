//! String escaping for exporters that write JSON (or text with the same string rules: Loki
//! label selectors, YAML double-quoted scalars) without a serializer on the hot path.

use std::fmt::Write as _;

/// Appends `s` escaped for the inside of a double-quoted JSON string: `"` and `\` escaped,
/// `\n` `\r` `\t` short, every other control character (C0, DEL, C1) as `\uXXXX`. The same
/// text is a valid Go string literal body and YAML double-quoted scalar body.
///
/// ```
/// let mut out = String::new();
/// am_core::exporter::json::push_str(&mut out, "say \"hi\"\n\u{1}");
/// assert_eq!(out, r#"say \"hi\"\n\u0001"#);
/// ```
pub fn push_str(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(i) = rest.find(|c: char| c == '"' || c == '\\' || c.is_control()) {
        out.push_str(&rest[..i]);
        let c = rest[i..].chars().next().unwrap_or_default();
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        rest = &rest[i + c.len_utf8()..];
    }
    out.push_str(rest);
}

/// Appends `s` as a quoted JSON string: `"` + [`push_str`] + `"`.
///
/// ```
/// let mut out = String::new();
/// am_core::exporter::json::push_quoted(&mut out, "a\tb");
/// assert_eq!(out, r#""a\tb""#);
/// ```
pub fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    push_str(out, s);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_char_class_round_trips_through_a_json_parser_shape() {
        let mut out = String::new();
        push_quoted(&mut out, "é\u{7f}\u{85}\\/\u{0}z");
        assert_eq!(out, "\"é\\u007f\\u0085\\\\/\\u0000z\"");
    }
}
