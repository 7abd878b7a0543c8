//! The scrape endpoint: `GET /metrics` (OpenMetrics or text 0.0.4 by `Accept`),
//! `GET /healthz` and `GET /readyz`, on a hyper 1 HTTP/1 server.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::exposition::{Format, encode};
use crate::shared::Shared;

/// Serves until `stop` turns true; open connections then finish their current request.
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    registry: Arc<Registry>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
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
            _ = crate::background::stopped(&mut stop) => break,
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
        let (registry, shared, mut stop, stopping) = (registry.clone(), shared.clone(), stop.clone(), stop.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let r = respond(&req, &registry, &shared, *stopping.borrow());
                async move { Ok::<_, Infallible>(r) }
            });
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service);
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

fn respond(req: &Request<Incoming>, registry: &Registry, shared: &Shared, stopping: bool) -> Response<Full<Bytes>> {
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
        "/readyz" if stopping => text(StatusCode::SERVICE_UNAVAILABLE, "stopping\n"),
        path @ ("/healthz" | "/readyz") => {
            let wants_json =
                req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"));
            let (ok, body) = crate::health::answer(&shared.machine_health(), path == "/readyz", wants_json);
            let mut r = Response::new(Full::new(Bytes::from(body)));
            *r.status_mut() = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            let ct = if wants_json { "application/json" } else { "text/plain; charset=utf-8" };
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            r
        }
        _ => text(StatusCode::NOT_FOUND, "not found; try /metrics\n"),
    }
}
