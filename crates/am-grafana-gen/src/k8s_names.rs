//! Kubernetes name and label syntax, checked before an object is written: the API server
//! refuses a bad `metadata.name`, and a selector built from a name it would refuse (such as
//! `checkout_api`) silently matches nothing.
//!
//! The rules are the apimachinery ones (`IsDNS1123Label`, `IsDNS1123Subdomain`,
//! `IsQualifiedName`, `IsValidLabelValue`, `IsValidPortName`).

use crate::Error;

/// Longest DNS-1123 label: Service and namespace names, label names and values.
const LABEL_MAX: usize = 63;
/// Longest DNS-1123 subdomain: `metadata.name` of most objects.
const SUBDOMAIN_MAX: usize = 253;
/// Longest port name (an IANA service name).
const PORT_MAX: usize = 15;

fn lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Why `s` is not `[a-z0-9]([-a-z0-9]*[a-z0-9])?` of at most 63 characters, if it is not.
fn label_problem(s: &str) -> Option<String> {
    if s.len() > LABEL_MAX {
        return Some(format!("it is {} characters long, at most {LABEL_MAX} are allowed", s.len()));
    }
    chars_problem(s)
}

/// Why `s` is not `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, whatever its length.
fn chars_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("it is empty, or has an empty part between dots".into());
    }
    if let Some(c) = s.chars().find(|&c| !(lower_alnum(c) || c == '-')) {
        return Some(format!("{c:?} is not allowed (only lower-case letters, digits and `-`)"));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Some("it must start and end with a letter or digit".into());
    }
    None
}

/// A DNS-1123 label (RFC 1123): what Service and namespace names must be.
pub(crate) fn dns1123_label(what: &'static str, s: &str) -> Result<(), Error> {
    match label_problem(s) {
        None => Ok(()),
        Some(reason) => Err(invalid(what, s, reason)),
    }
}

/// A DNS-1123 subdomain: labels joined by `.`, at most 253 characters (`metadata.name`).
pub(crate) fn dns1123_subdomain(what: &'static str, s: &str) -> Result<(), Error> {
    if s.len() > SUBDOMAIN_MAX {
        return Err(invalid(
            what,
            s,
            format!("it is {} characters long, at most {SUBDOMAIN_MAX} are allowed", s.len()),
        ));
    }
    // Each dot-separated part has the label's characters (apimachinery limits only the whole).
    match s.split('.').find_map(chars_problem) {
        Some(reason) => Err(invalid(what, s, reason)),
        None => Ok(()),
    }
}

/// A label key: an optional DNS-1123 subdomain prefix and `/`, then a name of at most 63
/// alphanumerics, `-`, `_` or `.`, starting and ending with an alphanumeric.
pub(crate) fn label_key(s: &str) -> Result<(), Error> {
    let name = match s.split_once('/') {
        Some((prefix, name)) => {
            dns1123_subdomain("label key prefix", prefix)?;
            name
        }
        None => s,
    };
    match label_name_problem(name) {
        None => Ok(()),
        Some(reason) => Err(invalid("label key", s, reason)),
    }
}

/// A label value: empty, or at most 63 alphanumerics, `-`, `_` or `.`, starting and ending
/// with an alphanumeric. (Values may hold `-` and `_`; only Prometheus label *names* are
/// restricted to `_`.)
pub(crate) fn label_value(key: &str, s: &str) -> Result<(), Error> {
    match label_name_problem(s).filter(|_| !s.is_empty()) {
        None => Ok(()),
        Some(reason) => Err(invalid("label value", s, format!("{reason} (label {key})"))),
    }
}

fn label_name_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("it is empty".into());
    }
    if s.len() > LABEL_MAX {
        return Some(format!("it is {} characters long, at most {LABEL_MAX} are allowed", s.len()));
    }
    if let Some(c) = s.chars().find(|&c| !(c.is_ascii_alphanumeric() || "-_.".contains(c))) {
        return Some(format!("{c:?} is not allowed (only letters, digits, `-`, `_` and `.`)"));
    }
    if !(s.starts_with(|c: char| c.is_ascii_alphanumeric()) && s.ends_with(|c: char| c.is_ascii_alphanumeric())) {
        return Some("it must start and end with a letter or digit".into());
    }
    None
}

/// A port name (an IANA service name): at most 15 of `[a-z0-9-]`, at least one letter, no
/// `-` at either end or twice in a row — what a ServiceMonitor's `port` refers to.
pub(crate) fn port_name(s: &str) -> Result<(), Error> {
    let reason = if s.is_empty() || s.len() > PORT_MAX {
        Some(format!("it must be 1 to {PORT_MAX} characters long"))
    } else if let Some(c) = s.chars().find(|&c| !(lower_alnum(c) || c == '-')) {
        Some(format!("{c:?} is not allowed (only lower-case letters, digits and `-`)"))
    } else if s.starts_with('-') || s.ends_with('-') || s.contains("--") {
        Some("`-` may not start or end it, or appear twice in a row".into())
    } else if !s.chars().any(|c| c.is_ascii_lowercase()) {
        Some("it needs at least one letter".into())
    } else {
        None
    };
    reason.map_or(Ok(()), |r| Err(invalid("port name", s, r)))
}

fn invalid(what: &'static str, name: &str, reason: String) -> Error {
    // A nearby valid spelling, when there is one: `checkout_api` → `checkout-api`.
    let hint = crate::uid_for(name);
    let hint = (label_problem(&hint).is_none() && hint != name && what != "label value" && what != "label key")
        .then_some(hint);
    Error::InvalidName { what, name: name.to_string(), reason, hint }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for ok in ["a", "checkout-api", "a1", "0", &"x".repeat(63)] {
            assert!(dns1123_label("Service name", ok).is_ok(), "{ok}");
        }
        for bad in ["", "checkout_api", "Checkout", "-a", "a-", "a.b", "a b", &"x".repeat(64)] {
            assert!(dns1123_label("Service name", bad).is_err(), "{bad:?}");
        }
        let e = dns1123_label("Service name", "checkout_api").map_err(|e| e.to_string());
        let e = e.err().unwrap_or_default();
        assert!(e.contains("'_' is not allowed") && e.contains("checkout-api"), "{e}");
    }

    #[test]
    fn subdomains() {
        for ok in ["am-demo-rules", "a.b.c", "x", &"a".repeat(64), &format!("{}.{}", "a".repeat(200), "b".repeat(52))] {
            assert!(dns1123_subdomain("name", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a..b", ".a", "a_b-rules", "A", &"a".repeat(254), "a.-b"] {
            assert!(dns1123_subdomain("name", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn label_keys_and_values() {
        for ok in ["release", "app.kubernetes.io/name", "grafana_dashboard", "a.B-c_d"] {
            assert!(label_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/x", "a/", "Bad_Prefix/x", "-x", "a/b/c", "x y"] {
            assert!(label_key(bad).is_err(), "{bad:?}");
        }
        for ok in ["", "kube-prometheus-stack", "checkout_api", "1", "a.b"] {
            assert!(label_value("k", ok).is_ok(), "{ok}");
        }
        for bad in ["-a", "a b", "a/b", &"v".repeat(64)] {
            assert!(label_value("k", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ports() {
        for ok in ["metrics", "http-metrics", "web9"] {
            assert!(port_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "9464", "Metrics", "a--b", "-a", "sixteen-letters-", "a_b"] {
            assert!(port_name(bad).is_err(), "{bad:?}");
        }
    }
}
