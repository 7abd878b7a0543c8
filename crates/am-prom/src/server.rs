//! The scrape endpoint: `GET /metrics` (OpenMetrics or text 0.0.4 by `Accept`),
//! `GET /healthz` and `GET /readyz`, on a hyper 1 HTTP/1 server. It keeps accepting while
//! draining (`/readyz` then answers 503) and closes only when stopped.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::background::Phase;
use crate::exposition::{Format, encode};
use crate::health::{Body, Probe};
use crate::shared::Shared;

/// Serves until the phase is [`Phase::Stopped`]; open connections then finish their current
/// request. A connection whose request head has not arrived within `head_timeout` is
/// closed (a client that opens connections and sends nothing must not hold them).
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    registry: Arc<Registry>,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
    head_timeout: Duration,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("am-prom: scrape endpoint cannot start: {e}");
            return;
        }
    };
    loop {
        let accepted = tokio::select! {
            _ = crate::background::stopped(&mut phase) => break,
            r = listener.accept() => r,
        };
        let (io, _) = match accepted {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!("am-prom: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let (registry, shared, mut stop, now) = (registry.clone(), shared.clone(), phase.clone(), phase.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let r = respond(&req, &registry, &shared, *now.borrow());
                async move { Ok::<_, Infallible>(r) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(head_timeout)
                .serve_connection(TokioIo::new(io), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = crate::background::stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

fn respond(req: &Request<Incoming>, registry: &Registry, shared: &Shared, phase: Phase) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, body: &'static str| {
        let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *r.status_mut() = status;
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        r
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match req.uri().path() {
        "/metrics" if !shared.metrics => text(StatusCode::NOT_FOUND, "metrics are off (health probes only)\n"),
        "/metrics" => {
            shared.health.scrapes.fetch_add(1, Relaxed);
            let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
            let format = Format::negotiate(accept);
            match encode(registry, format) {
                Ok(body) => {
                    let mut r = Response::new(Full::new(Bytes::from(body)));
                    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
                    r
                }
                Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n"),
            }
        }
        "/readyz" if phase != Phase::Serving => text(StatusCode::SERVICE_UNAVAILABLE, "draining: shutting down\n"),
        path @ ("/healthz" | "/readyz") => {
            let wants_json =
                req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"));
            let probe = if path == "/readyz" { Probe::Ready } else { Probe::Live };
            let body = if wants_json { Body::Json } else { Body::Text };
            let (ok, body) = crate::health::answer(&shared.machine_health(), probe, body);
            let mut r = Response::new(Full::new(Bytes::from(body)));
            *r.status_mut() = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            let ct = if wants_json { "application/json" } else { "text/plain; charset=utf-8" };
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            r
        }
        _ => text(StatusCode::NOT_FOUND, "not found; try /metrics\n"),
    }
}
