//! `/metrics`, `/healthz` and `/readyz` from the app's own axum server answer exactly as the
//! built-in endpoint of the same tracer: status, content type and body, in every format, and
//! 503 on `/readyz` once draining begins.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use am_core::{Machine, Schema};
use am_prom::PromTracer;
use support::http_get;

/// Serves `router` on a loopback port of a runtime of its own (kept alive by the return).
fn serve(router: axum::Router) -> (SocketAddr, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, router).await });
    (addr, rt)
}

/// The answer with lines that count scrapes themselves left out (each GET moves them).
fn answer(addr: SocketAddr, path: &str, accept: &[(&str, &str)]) -> (u16, Option<String>, String) {
    let r = http_get(addr, path, accept).unwrap();
    let ct = r.headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.clone());
    let body: Vec<&str> = r.body.lines().filter(|l| !l.contains("scrape")).collect();
    (r.status, ct, body.join("\n"))
}

#[test]
fn the_router_answers_as_the_built_in_server() {
    let prom = PromTracer::builder().listen("127.0.0.1:0").build().unwrap();
    let built_in = prom.local_addr().unwrap();
    let app = axum::Router::new().route("/hello", axum::routing::get(|| async { "hi" })).merge(prom.router());
    let (own, _rt) = serve(app);

    let schema = Schema::builder().states(["Ready", "Busy"]).build().unwrap();
    let svc = Machine::builder(schema.clone()).id("svc").build();
    prom.bind(&svc).unwrap();
    let worker = Machine::builder(schema).id("worker-1").parent(&svc).build();
    worker.add(&["Busy"]).unwrap();

    let json = [("Accept", "application/json")];
    let open_metrics = [("Accept", "application/openmetrics-text;version=1.0.0")];
    let cases: [(&str, &[(&str, &str)]); 6] = [
        ("/metrics", &[]),
        ("/metrics", &open_metrics),
        ("/readyz", &[]),
        ("/readyz", &json),
        ("/healthz", &json),
        ("/nothing", &[]),
    ];
    let check = |when: &str| {
        for (path, accept) in cases {
            let (a, b) = (answer(built_in, path, accept), answer(own, path, accept));
            if path == "/nothing" {
                assert_eq!((a.0, b.0), (404, 404), "{when}: the router answers only its three paths");
                continue;
            }
            assert_eq!(a, b, "{when}: {path} {accept:?}");
        }
    };
    check("not ready");
    assert_eq!(answer(own, "/readyz", &[]).0, 503);
    svc.add(&["Ready"]).unwrap();
    check("ready");
    let (status, _, body) = answer(own, "/readyz", &[]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("worker-1 fail (Ready is not active) [submachine: not counted]"), "{body}");
    assert_eq!(http_get(own, "/hello", &[]).unwrap().body, "hi", "the app's own routes still answer");

    // draining: both say 503, /metrics still serves
    prom.drain();
    check("draining");
    assert_eq!(
        answer(own, "/readyz", &[]),
        (503, Some("text/plain; charset=utf-8".into()), "draining: shutting down".into())
    );
    assert_eq!(answer(own, "/metrics", &[]).0, 200);
    assert!(prom.shutdown_within(Duration::from_secs(2)).in_time);
}

#[test]
fn verdicts_for_any_framework() {
    let prom = PromTracer::builder().build().unwrap();
    let m = Machine::builder(Schema::builder().states(["Ready"]).build().unwrap()).id("api").build();
    prom.bind(&m).unwrap();
    let v = prom.readiness();
    assert_eq!((v.ok, v.status(), v.draining), (false, 503, false));
    assert_eq!(v.machines[0].id, "api");
    assert!(v.to_json().starts_with(r#"{"status":"fail","machines":[{"id":"api","ready":false"#), "{}", v.to_json());
    m.add(&["Ready"]).unwrap();
    assert!(prom.readiness().ok && prom.liveness().ok);
    let a = prom.answer("GET", "/metrics", None);
    assert_eq!((a.status, a.content_type), (200, "text/plain; version=0.0.4; charset=utf-8"));
    assert!(String::from_utf8_lossy(&a.body).contains(r#"am_transitions_total{mach_id="api",result="accepted"} 1"#));
    assert_eq!(prom.answer("POST", "/metrics", None).status, 405);
}
