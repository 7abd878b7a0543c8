//! PromQL and LogQL text: label matchers, escaping, and the query shapes the panels use.

use am_core::conventions::prom::{LABEL_MACH_ID, LABEL_SERVICE};

/// Grafana's rate window variable, sized to the scrape interval.
pub(crate) const RATE_WINDOW: &str = "$__rate_interval";

/// A double-quoted PromQL/LogQL string literal.
pub(crate) fn quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// Escapes RE2 metacharacters so `v` matches itself literally inside a regex matcher.
pub(crate) fn regex_escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// A regex matching exactly the given IDs: `a|b|c`.
pub(crate) fn alternation(ids: &[String]) -> String {
    ids.iter().map(|id| regex_escape(id)).collect::<Vec<_>>().join("|")
}

/// The `service` matcher of every Prometheus query: the selected service, or no `service`
/// label at all — scraped series have none unless the scrape adds one (a ServiceMonitor adds
/// the Kubernetes Service's name), pushed series always do. So the default selection (the
/// generator's `--source`) shows a scraped service too.
pub(crate) fn service_matcher() -> String {
    format!("{LABEL_SERVICE}=~\"$service|\"")
}

/// The label filter of one machine's panels: `mach_id="<id>",service=~"$service|"`.
pub(crate) fn machine_filter(id: &str) -> String {
    format!("{LABEL_MACH_ID}={},{}", quote(id), service_matcher())
}

/// The label filter of the overview panels, driven by the `mach_id` variable.
pub(crate) fn overview_filter() -> String {
    format!("{LABEL_MACH_ID}=~\"$mach_id\",{}", service_matcher())
}

/// `sum by (<by>) (rate(<metric>{<filter>}[<window>]))`; no `by` clause when `by` is empty.
pub(crate) fn sum_rate(by: &str, metric: &str, filter: &str, window: &str) -> String {
    format!("sum{} (rate({metric}{{{filter}}}[{window}]))", by_clause(by))
}

/// `histogram_quantile(q, sum by (<by>, le) (rate(<hist>_bucket{<filter>}[<window>])))`.
pub(crate) fn quantile(q: f64, by: &str, histogram: &str, filter: &str, window: &str) -> String {
    let by = if by.is_empty() { "le".to_string() } else { format!("{by}, le") };
    format!("histogram_quantile({q}, sum by ({by}) (rate({histogram}_bucket{{{filter}}}[{window}])))")
}

/// Average observation of a histogram over the window: `rate(_sum) / rate(_count)`.
pub(crate) fn histogram_avg(histogram: &str, filter: &str, window: &str) -> String {
    format!("sum (rate({histogram}_sum{{{filter}}}[{window}])) / sum (rate({histogram}_count{{{filter}}}[{window}]))")
}

/// `<agg> by (<by>) (<metric>{<filter>})`.
pub(crate) fn gauge(agg: &str, by: &str, metric: &str, filter: &str) -> String {
    format!("{agg}{} ({metric}{{{filter}}})", by_clause(by))
}

/// A Prometheus duration (`15s`, `1m30s`, `0`): numbers with units in the order y, w, d,
/// h, m, s, ms, each at most once — what the operator's CRDs accept for an interval.
pub(crate) fn is_duration(s: &str) -> bool {
    const UNITS: [&str; 7] = ["y", "w", "d", "h", "m", "s", "ms"];
    if s == "0" {
        return true;
    }
    let (mut rest, mut next_unit) = (s, 0);
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        // `ms` before `m`: the longer unit wins where both fit.
        let Some(i) = (next_unit..UNITS.len())
            .rev()
            .find(|&i| rest.starts_with(UNITS[i]) && !(UNITS[i] == "m" && rest.starts_with("ms")))
        else {
            return false;
        };
        rest = &rest[UNITS[i].len()..];
        next_unit = i + 1;
    }
    !s.is_empty()
}

fn by_clause(by: &str) -> String {
    if by.is_empty() { String::new() } else { format!(" by ({by})") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(regex_escape("a.b|c"), r"a\.b\|c");
        assert_eq!(alternation(&["w-1".into(), "x.y".into()]), r"w-1|x\.y");
    }

    #[test]
    fn durations() {
        for ok in ["15s", "1m30s", "0", "1h", "500ms", "1y2w3d4h5m6s7ms"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["", "15", "s", "1s1m", "1m1m", "1.5s", " 15s", "15S", "-1s"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }

    #[test]
    fn shapes() {
        assert_eq!(sum_rate("", "m_total", "a=\"b\"", "5m"), "sum (rate(m_total{a=\"b\"}[5m]))");
        assert_eq!(
            quantile(0.99, "mach_id", "h", "a=\"b\"", "5m"),
            "histogram_quantile(0.99, sum by (mach_id, le) (rate(h_bucket{a=\"b\"}[5m])))"
        );
        assert_eq!(gauge("max", "state", "g", "x=\"1\""), "max by (state) (g{x=\"1\"})");
    }
}
