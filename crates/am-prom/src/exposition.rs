//! Exposition formats: OpenMetrics 1.0 (what `prometheus-client` writes) and the Prometheus
//! text format 0.0.4 (derived from it), with `Accept` header negotiation.

use prometheus_client::registry::Registry;

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text: counters' `TYPE` lines name the family without `_total`,
    /// `# UNIT` lines, and a final `# EOF`.
    OpenMetrics,
    /// Prometheus text format 0.0.4 (also what the Pushgateway parses).
    Text,
}

impl Format {
    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// Picks the format an `Accept` header prefers (by `q` value; the first listed wins a
    /// tie). Without a header, or with nothing we serve, it is text 0.0.4.
    ///
    /// ```
    /// use am_prom::Format;
    /// let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
    /// assert_eq!(Format::negotiate(Some("text/plain")), Format::Text);
    /// assert_eq!(Format::negotiate(None), Format::Text);
    /// ```
    pub fn negotiate(accept: Option<&str>) -> Format {
        let mut best = (Format::Text, 0.0_f32);
        for range in accept.unwrap_or_default().split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, v)| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let format = match media.as_str() {
                "application/openmetrics-text" => Format::OpenMetrics,
                "text/plain" | "text/*" | "*/*" => Format::Text,
                _ => continue,
            };
            if q > best.1 {
                best = (format, q);
            }
        }
        best.0
    }
}

/// Encodes a registry in a format.
pub fn encode(registry: &Registry, format: Format) -> Result<String, std::fmt::Error> {
    let mut om = String::with_capacity(8 * 1024);
    prometheus_client::encoding::text::encode(&mut om, registry)?;
    Ok(match format {
        Format::OpenMetrics => om,
        Format::Text => openmetrics_to_text(&om),
    })
}

/// Rewrites OpenMetrics text as text format 0.0.4: counter (and info) `HELP`/`TYPE` lines
/// name the sample (`…_total`), `# UNIT` and `# EOF` go, unknown types become `untyped`.
pub(crate) fn openmetrics_to_text(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    let mut help: Option<(&str, &str)> = None; // (name, text)
    let flush = |out: &mut String, help: &mut Option<(&str, &str)>| {
        if let Some((name, text)) = help.take() {
            push_line(out, &["# HELP ", name, " ", text]);
        }
    };
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            flush(&mut out, &mut help);
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (suffix, kind) = match kind {
                "counter" => ("_total", "counter"),
                "info" => ("_info", "gauge"),
                "gauge" | "histogram" | "summary" => ("", kind),
                "gaugehistogram" => ("", "histogram"),
                "stateset" => ("", "gauge"),
                _ => ("", "untyped"),
            };
            if let Some((h, text)) = help.take() {
                if h == name {
                    push_line(&mut out, &["# HELP ", name, suffix, " ", text]);
                } else {
                    push_line(&mut out, &["# HELP ", h, " ", text]);
                }
            }
            push_line(&mut out, &["# TYPE ", name, suffix, " ", kind]);
        } else {
            flush(&mut out, &mut help);
            push_line(&mut out, &[line]);
        }
    }
    flush(&mut out, &mut help);
    out
}

fn push_line(out: &mut String, parts: &[&str]) {
    parts.iter().for_each(|p| out.push_str(p));
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_counters_units_and_eof() {
        let om = "# HELP am_x Things.\n# TYPE am_x counter\nam_x_total{a=\"1\"} 3\n\
                  # HELP am_d_seconds Time.\n# TYPE am_d_seconds histogram\n# UNIT am_d_seconds seconds\n\
                  am_d_seconds_sum 0.5\n# TYPE am_u unknown\nam_u 1\n# EOF\n";
        let text = openmetrics_to_text(om);
        assert_eq!(
            text,
            "# HELP am_x_total Things.\n# TYPE am_x_total counter\nam_x_total{a=\"1\"} 3\n\
             # HELP am_d_seconds Time.\n# TYPE am_d_seconds histogram\nam_d_seconds_sum 0.5\n\
             # TYPE am_u untyped\nam_u 1\n"
        );
    }

    #[test]
    fn negotiation_uses_q_values() {
        assert_eq!(Format::negotiate(Some("text/plain;q=0.9, application/openmetrics-text;q=0.3")), Format::Text);
        assert_eq!(Format::negotiate(Some("application/openmetrics-text; version=1.0.0")), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("application/json")), Format::Text);
        assert_eq!(Format::negotiate(Some("application/openmetrics-text;q=0")), Format::Text);
    }
}
