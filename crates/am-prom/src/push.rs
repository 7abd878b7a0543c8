//! The Pushgateway pusher: every interval (and once more on shutdown) it sends the
//! registry, in text format 0.0.4, to `/metrics/job/<job>/instance/<instance>`, or to
//! `/metrics/job/<job>` without an instance (Go's grouping).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::registry::Registry;
use reqwest::header::CONTENT_TYPE;
use tokio::sync::watch;

use crate::error::Error;
use crate::exposition::{Format, encode};
use crate::shared::Shared;

/// How a push replaces what the Pushgateway holds for the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PushMethod {
    /// `PUT`: replaces the whole group, so series of disposed machines disappear (Go's push).
    #[default]
    Put,
    /// `POST`: replaces only the families pushed.
    Post,
}

/// Where and how to push.
#[derive(Debug, Clone)]
pub(crate) struct PushTarget {
    pub(crate) url: reqwest::Url,
    pub(crate) method: PushMethod,
    pub(crate) interval: Duration,
    /// The Go-compatible series to sync before each push (Go syncs, then pushes).
    pub(crate) sync: Option<Arc<crate::gocompat::GoSeries>>,
}

/// The grouping URL under a Pushgateway base URL: by job, and by instance when there is one.
pub(crate) fn group_url(base: &str, job: &str, instance: Option<&str>) -> Result<reqwest::Url, Error> {
    let base = base.trim();
    let with_scheme = if base.contains("://") { base.to_string() } else { format!("http://{base}") };
    let invalid =
        |reason: String| Error::Env(am_core::env::EnvError::new(crate::env::AM_PROM_PUSH_URL, &with_scheme, reason));
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("needs an http(s) URL with a host".into()));
    }
    let mut full = format!("{}/metrics/{}", url.as_str().trim_end_matches('/'), segment("job", job));
    if let Some(instance) = instance {
        full = format!("{full}/{}", segment("instance", instance));
    }
    reqwest::Url::parse(&full).map_err(|e| invalid(e.to_string()))
}

/// `label/value`, or `label@base64/<urlsafe base64>` for a value a path cannot carry.
fn segment(label: &str, value: &str) -> String {
    // `.` and `..` are path steps a URL parser resolves away: they go as base64 too
    let plain =
        !matches!(value, "" | "." | "..") && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-~".contains(&b));
    if plain { format!("{label}/{value}") } else { format!("{label}@base64/{}", base64_url(value.as_bytes())) }
}

fn base64_url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if data.is_empty() {
        return "=".into();
    }
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= c.len() { char::from(A[(n >> shift) as usize & 63]) } else { '=' });
        }
    }
    out
}

/// Pushes every interval until `stop`, then once more.
pub(crate) async fn run(
    target: PushTarget,
    registry: Arc<Registry>,
    shared: Arc<Shared>,
    client: reqwest::Client,
    mut stop: watch::Receiver<crate::background::Phase>,
) {
    let mut tick = tokio::time::interval(target.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = crate::background::stopped(&mut stop) => break,
            _ = tick.tick() => push_once(&target, &registry, &shared, &client, &mut failing).await,
        }
    }
    push_once(&target, &registry, &shared, &client, &mut failing).await;
}

async fn push_once(t: &PushTarget, registry: &Registry, shared: &Shared, client: &reqwest::Client, failing: &mut bool) {
    let h = &shared.health;
    if let Some(go) = &t.sync {
        go.sync();
    }
    let body = match encode(registry, Format::Text) {
        Ok(b) => b,
        Err(_) => {
            h.push_failures.fetch_add(1, Relaxed);
            return;
        }
    };
    let method = match t.method {
        PushMethod::Put => reqwest::Method::PUT,
        PushMethod::Post => reqwest::Method::POST,
    };
    let timeout = t.interval.clamp(Duration::from_secs(1), Duration::from_secs(10));
    let sent = client
        .request(method, t.url.clone())
        .header(CONTENT_TYPE, Format::Text.content_type())
        .timeout(timeout)
        .body(body)
        .send()
        .await;
    let error = match sent {
        Ok(r) if r.status().is_success() => None,
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            Some(format!("HTTP {status}: {}", text.trim().chars().take(200).collect::<String>()))
        }
        Err(e) => Some(e.without_url().to_string()),
    };
    match error {
        None => {
            h.pushes.fetch_add(1, Relaxed);
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
            h.last_push_ok_ms.store(now, Relaxed);
            if std::mem::take(failing) {
                tracing::info!("am-prom: pushing to the Pushgateway works again");
            }
        }
        Some(e) => {
            h.push_failures.fetch_add(1, Relaxed);
            let url = am_core::env::redact_url(t.url.as_str());
            if std::mem::replace(failing, true) {
                tracing::debug!("am-prom: push to {url} failed: {e}");
            } else {
                tracing::warn!("am-prom: push to {url} failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_urls() {
        let u = group_url("localhost:9091/", "shop", Some("host-1.local")).unwrap();
        assert_eq!(u.as_str(), "http://localhost:9091/metrics/job/shop/instance/host-1.local");
        let u = group_url("https://gw/prefix", "shop", Some("a/b")).unwrap();
        assert_eq!(u.as_str(), "https://gw/prefix/metrics/job/shop/instance@base64/YS9i");
        // Go's grouping: the job alone
        let u = group_url("http://gw:9091", "shop", None).unwrap();
        assert_eq!(u.as_str(), "http://gw:9091/metrics/job/shop");
        assert!(group_url("ftp://x", "j", Some("i")).is_err());
    }

    #[test]
    fn base64() {
        assert_eq!(base64_url(b""), "=");
        assert_eq!(base64_url(b"f"), "Zg==");
        assert_eq!(base64_url(b"fo"), "Zm8=");
        assert_eq!(base64_url(b"foo"), "Zm9v");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8=");
    }

    /// Any job and instance give a URL, and each segment carries its value back: as is, or
    /// in URL-safe base64 (decoded here independently of the encoder).
    #[test]
    fn fuzz_group_urls() {
        fn decode(s: &str) -> Vec<u8> {
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let bits: Vec<u8> =
                s.bytes().take_while(|b| *b != b'=').map(|b| A.iter().position(|a| *a == b).unwrap() as u8).collect();
            let mut out = Vec::new();
            for c in bits.chunks(4) {
                let n = c.iter().enumerate().fold(0u32, |n, (i, v)| n | (u32::from(*v) << (18 - 6 * i)));
                out.extend(n.to_be_bytes()[1..c.len()].iter());
            }
            out
        }
        am_testkit::fuzz("Pushgateway group URLs", |u| {
            let (job, instance): (String, String) = (u.arbitrary()?, u.arbitrary()?);
            let url =
                group_url("http://gw:9091/base/", &job, Some(&instance)).expect("every job and instance fit a URL");
            let path = url.path();
            let rest = path.strip_prefix("/base/metrics/").unwrap_or_else(|| panic!("{path}"));
            let parts: Vec<&str> = rest.split('/').collect();
            assert_eq!(parts.len(), 4, "{path}");
            for ((label, value), want) in
                [(parts[0], parts[1]), (parts[2], parts[3])].into_iter().zip([&job, &instance])
            {
                let got = if label.ends_with("@base64") {
                    String::from_utf8(decode(value)).unwrap()
                } else {
                    value.to_string()
                };
                assert_eq!(&got, want, "{path}");
            }
            Ok(())
        });
    }
}
