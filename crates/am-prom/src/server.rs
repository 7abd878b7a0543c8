//! The scrape endpoint: `GET /metrics` (OpenMetrics or text 0.0.4 by `Accept`),
//! `GET /healthz` and `GET /readyz` (answered by `endpoints.rs`), on a hyper 1 HTTP/1 server.
//! It keeps accepting while draining (`/readyz` then answers 503) and closes only when
//! stopped.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::background::Phase;
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
        let (registry, shared, mut stop) = (registry.clone(), shared.clone(), phase.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let r = respond(&req, &registry, &shared);
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

fn respond(req: &Request<Incoming>, registry: &Registry, shared: &Shared) -> Response<Full<Bytes>> {
    let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
    let a = crate::endpoints::answer(shared, registry, req.method().as_str(), req.uri().path(), accept);
    let mut r = Response::new(Full::new(Bytes::from(a.body)));
    *r.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    r
}
