//! What `/metrics`, `/healthz` and `/readyz` answer, written once for every server that
//! serves them: the built-in one (`server.rs`), the app's own axum router (`router.rs`), or
//! any other framework through [`PromTracer::answer`](crate::PromTracer::answer) and the
//! verdicts ([`PromTracer::readiness`](crate::PromTracer::readiness),
//! [`PromTracer::liveness`](crate::PromTracer::liveness)).

use std::sync::atomic::Ordering::Relaxed;

use prometheus_client::registry::Registry;

use crate::exposition::{Format, encode};
use crate::health::{Body, MachineHealth, Probe};
use crate::shared::Shared;

/// An HTTP answer, framework-neutral: status, `Content-Type`, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    fn text(status: u16, body: &str) -> Answer {
        Answer { status, content_type: "text/plain; charset=utf-8", body: body.as_bytes().to_vec() }
    }
}

/// A readiness or liveness verdict: whether the probe passes, whether shutdown began, and
/// every machine with why (from [`PromTracer::readiness`](crate::PromTracer::readiness) and
/// [`PromTracer::liveness`](crate::PromTracer::liveness)). `Display` is the `/readyz` /
/// `/healthz` text body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The probe passes (HTTP 200).
    pub ok: bool,
    /// Shutdown began ([`PromTracer::drain`](crate::PromTracer::drain)): not ready, whatever
    /// the machines say.
    pub draining: bool,
    /// Every machine checked, sorted by ID.
    pub machines: Vec<MachineHealth>,
    probe: Probe,
}

impl Verdict {
    /// 200 or 503.
    pub fn status(&self) -> u16 {
        if self.ok { 200 } else { 503 }
    }
    /// The JSON body (`{"status":"ok|fail","machines":[…]}`), as `/readyz` answers
    /// `Accept: application/json`.
    pub fn to_json(&self) -> String {
        self.body(Body::Json)
    }
    fn body(&self, format: Body) -> String {
        if self.draining {
            return match format {
                Body::Text => "draining: shutting down\n".into(),
                Body::Json => "{\"status\":\"draining\",\"machines\":[]}\n".into(),
            };
        }
        crate::health::answer(&self.machines, self.probe, format).1
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.body(Body::Text))
    }
}

/// The verdict of `probe` now.
pub(crate) fn verdict(shared: &Shared, probe: Probe) -> Verdict {
    let draining = probe == Probe::Ready && shared.draining.load(Relaxed);
    let machines = shared.machine_health();
    let ok = !draining && crate::health::answer(&machines, probe, Body::Text).0;
    Verdict { ok, draining, machines, probe }
}

/// The answer to `method path` with the request's `Accept` header.
pub(crate) fn answer(shared: &Shared, registry: &Registry, method: &str, path: &str, accept: Option<&str>) -> Answer {
    if method != "GET" && method != "HEAD" {
        return Answer::text(405, "only GET\n");
    }
    match path {
        "/metrics" if !shared.metrics => Answer::text(404, "metrics are off (health probes only)\n"),
        "/metrics" => {
            shared.health.scrapes.fetch_add(1, Relaxed);
            let format = Format::negotiate(accept);
            match encode(registry, format) {
                Ok(body) => Answer { status: 200, content_type: format.content_type(), body: body.into_bytes() },
                Err(_) => Answer::text(500, "encoding failed\n"),
            }
        }
        "/healthz" | "/readyz" => {
            let probe = if path == "/readyz" { Probe::Ready } else { Probe::Live };
            let v = verdict(shared, probe);
            let json = accept.is_some_and(|a| a.contains("application/json"));
            let (content_type, body) =
                if json { ("application/json", v.to_json()) } else { ("text/plain; charset=utf-8", v.to_string()) };
            Answer { status: v.status(), content_type, body: body.into_bytes() }
        }
        _ => Answer::text(404, "not found; try /metrics\n"),
    }
}
