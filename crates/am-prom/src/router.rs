//! `/metrics`, `/healthz` and `/readyz` on the app's own axum server (feature `axum`): the
//! same answers as the built-in endpoint (`endpoints.rs`), merged into the app's `Router`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderValue, Response, StatusCode};
use axum::routing::any;

use crate::PromTracer;

impl PromTracer {
    /// A router answering `GET`/`HEAD` on `/metrics` (OpenMetrics or text 0.0.4 by
    /// `Accept`), `/healthz` and `/readyz` (text, or JSON with `Accept: application/json`;
    /// 503 from [`drain`](Self::drain) on) exactly as the built-in endpoint does. Merge it
    /// into the app's router; it works with any app state.
    ///
    /// ```
    /// use axum::Router;
    /// let prom = am_prom::PromTracer::builder().build()?; // no listener of its own
    /// let app: Router = Router::new()
    ///     .route("/hello", axum::routing::get(|| async { "hello" }))
    ///     .merge(prom.router());
    /// # let _ = app;
    /// # Ok::<(), am_prom::Error>(())
    /// ```
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        let mut r = axum::Router::new();
        for path in ["/metrics", "/healthz", "/readyz"] {
            let t = self.clone();
            r = r.route(path, any(move |req: Request| std::future::ready(respond(&t, &req))));
        }
        r
    }
}

fn respond(t: &PromTracer, req: &Request) -> Response<Body> {
    let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
    let a = t.answer(req.method().as_str(), req.uri().path(), accept);
    let mut r = Response::new(Body::from(a.body));
    *r.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    r
}
