//! The upload flow and the sync tracer against a loopback stand-in for Grafana implementing
//! `/api/search`, `/api/folders` and `/api/dashboards/db` as Grafana documents them.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use am_core::{Machine, Schema};
use am_grafana_gen::{Dashboard, Error, GrafanaClient, GrafanaTracer};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{Value, json};

const TOKEN: &str = "glsa_TopSecretToken_0123456789";

// ---- captured log lines (every `tracing` event of the process) ----

static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;
struct Visitor<'a>(&'a mut String);

impl tracing::field::Visit for Visitor<'_> {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={v:?} ", f.name());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        let mut line = format!("{} {}: ", e.metadata().level(), e.metadata().target());
        e.record(&mut Visitor(&mut line));
        lock(&LOGS).push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn capture_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing::subscriber::set_global_default(Capture);
    });
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn assert_no_token_in_logs() {
    for line in lock(&LOGS).iter() {
        assert!(!line.contains(TOKEN), "token in a log line: {line}");
    }
}

// ---- the stand-in Grafana ----

#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    auth: Option<String>,
    body: Value,
}

#[derive(Default)]
struct State {
    /// (id, uid, title)
    folders: Vec<(u64, String, String)>,
    /// uid -> (version, folderUid, model)
    dashboards: BTreeMap<String, (u64, String, Value)>,
    requests: Vec<Req>,
    /// Answer `POST /api/dashboards/db` with this status.
    fail_dashboards: Option<u16>,
    /// Put the request's Authorization header into error messages (a leaky proxy).
    echo_auth: bool,
    delay: Duration,
}

struct FakeGrafana {
    url: String,
    state: Arc<Mutex<State>>,
    _rt: tokio::runtime::Runtime,
}

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    r
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let delay = lock(&state).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut st = lock(&state);
    st.requests.push(Req { method: method.clone(), path: path.clone(), auth: auth.clone(), body: body.clone() });
    if auth.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return Ok(reply(401, json!({"message": "invalid API key"})));
    }
    let r = match (method.as_str(), path.as_str()) {
        ("GET", "/api/search") => {
            let params: BTreeMap<String, String> =
                query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), decode(v))).collect();
            let q = params.get("query").cloned().unwrap_or_default().to_lowercase();
            let hits: Vec<Value> = st
                .folders
                .iter()
                .filter(|(_, _, t)| params.get("type").map(String::as_str) == Some("dash-folder") && t.to_lowercase().contains(&q))
                .map(|(id, uid, t)| json!({"id": id, "uid": uid, "title": t, "type": "dash-folder", "url": format!("/dashboards/f/{uid}/")}))
                .collect();
            reply(200, Value::Array(hits))
        }
        ("GET", "/api/folders") => {
            reply(200, st.folders.iter().map(|(id, uid, t)| json!({"id": id, "uid": uid, "title": t})).collect())
        }
        ("POST", "/api/folders") => {
            let title = body["title"].as_str().unwrap_or("").to_string();
            let uid = body["uid"].as_str().map_or_else(|| format!("f{}", st.folders.len() + 1), str::to_string);
            if st.folders.iter().any(|(_, u, t)| *u == uid || t.eq_ignore_ascii_case(&title)) {
                reply(409, json!({"message": "a folder with the same name or uid already exists"}))
            } else {
                let id = st.folders.len() as u64 + 1;
                st.folders.push((id, uid.clone(), title.clone()));
                reply(
                    200,
                    json!({"id": id, "uid": uid, "title": title, "url": format!("/dashboards/f/{uid}/"), "version": 1}),
                )
            }
        }
        ("POST", "/api/dashboards/db") => {
            if let Some(code) = st.fail_dashboards {
                let mut message = match code {
                    412 => "The dashboard has been changed by someone else".to_string(),
                    _ => "Internal Server Error".to_string(),
                };
                if st.echo_auth {
                    message.push_str(&format!(" (request had Authorization: {})", auth.unwrap_or_default()));
                }
                let status = if code == 412 { "version-mismatch" } else { "error" };
                return Ok(reply(code, json!({"message": message, "status": status})));
            }
            let folder = body["folderUid"].as_str().unwrap_or("").to_string();
            let uid = body["dashboard"]["uid"].as_str().unwrap_or("").to_string();
            if !st.folders.iter().any(|(_, u, _)| *u == folder) {
                reply(400, json!({"message": "folder not found"}))
            } else if uid.is_empty() || !body["dashboard"]["id"].is_null() {
                reply(400, json!({"message": "dashboard needs a uid and a null id"}))
            } else if st.dashboards.contains_key(&uid) && body["overwrite"] != true {
                reply(412, json!({"message": "A dashboard with the same uid already exists", "status": "name-exists"}))
            } else {
                let version = st.dashboards.get(&uid).map_or(1, |d| d.0 + 1);
                st.dashboards.insert(uid.clone(), (version, folder, body["dashboard"].clone()));
                reply(
                    200,
                    json!({"id": 7, "uid": uid, "url": format!("/d/{uid}/x"), "status": "success", "version": version, "slug": "x"}),
                )
            }
        }
        _ => reply(404, json!({"message": "not found"})),
    };
    Ok(r)
}

impl FakeGrafana {
    fn start() -> FakeGrafana {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let listener =
            rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        rt.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FakeGrafana { url: format!("http://{addr}/"), state, _rt: rt }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn requests(&self, method: &str, path: &str) -> Vec<Req> {
        self.state().requests.iter().filter(|r| r.method == method && r.path == path).cloned().collect()
    }

    fn client(&self, token: &str) -> GrafanaClient {
        GrafanaClient::builder()
            .url(&self.url)
            .token(token)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}")).block_on(f)
}

fn dashboard(ids: &[&str]) -> Dashboard {
    Dashboard::for_machines(ids).name("Upload Test").build().unwrap_or_else(|e| panic!("{e}"))
}

fn assert_secret_free(e: &Error) {
    assert!(!e.to_string().contains(TOKEN), "token in error: {e}");
    assert!(!format!("{e:?}").contains(TOKEN), "token in error: {e:?}");
}

#[test]
fn folder_created_once_then_overwrite() {
    capture_logs();
    let g = FakeGrafana::start();
    let c = g.client(TOKEN);
    assert!(!format!("{c:?}").contains(TOKEN));
    let first = block_on(c.upload(&dashboard(&["m1"]))).unwrap_or_else(|e| panic!("{e}"));
    let second = block_on(c.upload(&dashboard(&["m1", "m2"]))).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((first.uid.as_str(), first.version, first.folder_uid.as_str()), ("upload-test", 1, "asyncmachine"));
    assert_eq!((second.uid.as_str(), second.version), ("upload-test", 2));
    assert_eq!(first.url, "/d/upload-test/x");

    let folders = g.requests("POST", "/api/folders");
    assert_eq!(folders.len(), 1, "folder created once");
    assert_eq!(folders[0].body, json!({"title": "asyncmachine", "uid": "asyncmachine"}));
    assert_eq!(g.requests("GET", "/api/search").len(), 2);
    let posts = g.requests("POST", "/api/dashboards/db");
    assert_eq!(posts.len(), 2);
    for p in &posts {
        assert_eq!(p.body["overwrite"], true);
        assert_eq!(p.body["folderUid"], "asyncmachine");
        assert!(p.body.get("folderId").is_none(), "the deprecated folderId is not sent");
    }
    for r in &g.state().requests {
        assert_eq!(r.auth.as_deref(), Some(format!("Bearer {TOKEN}").as_str()), "{} {}", r.method, r.path);
    }
    // The stored model is the second one: both machines.
    let st = g.state();
    let stored = &st.dashboards["upload-test"].2;
    let text = stored.to_string();
    assert!(text.contains("Machine: m1") && text.contains("Machine: m2"));
    drop(st);
    assert_no_token_in_logs();
}

#[test]
fn existing_folder_found_by_title() {
    let g = FakeGrafana::start();
    g.state().folders.push((1, "team-folder".into(), "AsyncMachine".into()));
    let up = block_on(g.client(TOKEN).upload(&dashboard(&["m1"]))).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(up.folder_uid, "team-folder");
    assert!(g.requests("POST", "/api/folders").is_empty());
}

#[test]
fn folder_uid_conflict_means_exists() {
    let g = FakeGrafana::start();
    g.state().folders.push((1, "asyncmachine".into(), "Renamed by someone".into()));
    let up = block_on(g.client(TOKEN).upload(&dashboard(&["m1"]))).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(up.folder_uid, "asyncmachine");
    assert_eq!(g.requests("POST", "/api/folders").len(), 1);
}

#[test]
fn error_messages() {
    capture_logs();
    let g = FakeGrafana::start();
    let d = dashboard(&["m1"]);

    let e = block_on(g.client("wrong-token").upload(&d)).err().unwrap_or_else(|| panic!("401 expected"));
    assert!(matches!(e, Error::Unauthorized { status: 401, .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("401") && msg.contains("AM_GRAFANA_TOKEN") && msg.contains("/api/search"), "{msg}");
    assert!(!msg.contains("wrong-token"), "{msg}");

    g.state().fail_dashboards = Some(412);
    let e = block_on(g.client(TOKEN).upload(&d)).err().unwrap_or_else(|| panic!("412 expected"));
    assert!(matches!(e, Error::PreconditionFailed { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("412") && msg.contains("version") && msg.contains("changed by someone else"), "{msg}");

    for code in [500, 503] {
        g.state().fail_dashboards = Some(code);
        g.state().echo_auth = true;
        let e = block_on(g.client(TOKEN).upload(&d)).err().unwrap_or_else(|| panic!("{code} expected"));
        assert!(matches!(e, Error::Server { status, .. } if status == code), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains(&code.to_string()) && msg.contains("try again later"), "{msg}");
        assert!(msg.contains("<redacted>"), "the echoed token is redacted: {msg}");
        assert_secret_free(&e);
    }

    // Nothing listens on a port we just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(9);
    let c = GrafanaClient::builder().url(format!("http://127.0.0.1:{port}")).token(TOKEN).build();
    let e =
        block_on(c.unwrap_or_else(|e| panic!("{e}")).upload(&d)).err().unwrap_or_else(|| panic!("refused expected"));
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    assert_secret_free(&e);
    assert_no_token_in_logs();
}

fn schema() -> Schema {
    Schema::builder().states(["A", "B"]).build().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn tracer_syncs_submachines_at_any_depth_debounced() {
    capture_logs();
    let g = FakeGrafana::start();
    let t = Arc::new(
        GrafanaTracer::builder()
            .url(&g.url)
            .token(TOKEN)
            .source("svc")
            .debounce(Duration::from_millis(300))
            .build()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(!format!("{t:?}").contains(TOKEN));
    let root = Machine::builder(schema()).id("root").tracer(t.clone()).build();
    let child = Machine::builder(schema()).id("child").parent(&root).build();
    let grandchild = Machine::builder(schema()).id("grand-child").parent(&child).build();
    let rpc = Machine::builder(schema()).id("rpc-side").tags(["rpc-client"]).parent(&root).build();
    grandchild.add(&["A"]).unwrap_or_else(|e| panic!("{e}"));
    let d = t.flush(Duration::from_secs(15));
    assert!(d.complete(), "upload did not finish: {d}");

    let mut want = vec!["root", "child", "grand-child"];
    if std::env::var_os("AM_RPC_DBG").is_some() {
        want.push(rpc.id());
    }
    assert_eq!(t.ids(), want);
    let stats = t.stats();
    assert_eq!((stats.failures, stats.last_error), (0, None));
    let posts = g.requests("POST", "/api/dashboards/db");
    // Debounced: one upload for machines built together, not one per machine.
    assert_eq!(posts.len(), 1, "uploads: {}", posts.len());
    assert_eq!(stats.uploads, 1);
    let model = &posts[0].body["dashboard"];
    assert_eq!(model["uid"], "root", "named after the first (root) machine");
    let text = model.to_string();
    for id in ["root", "child", "grand-child"] {
        assert!(text.contains(&format!("Machine: {id}")), "no row for {id}");
    }
    assert!(!text.contains("Machine: rpc-side") || std::env::var_os("AM_RPC_DBG").is_some());

    // A later machine triggers another upload of the same dashboard.
    let _late = Machine::builder(schema()).id("late").parent(&root).build();
    assert!(t.flush(Duration::from_secs(15)).complete());
    let posts = g.requests("POST", "/api/dashboards/db");
    assert_eq!(posts.len(), 2);
    assert!(posts[1].body["dashboard"].to_string().contains("Machine: late"));
    assert_eq!(g.requests("POST", "/api/folders").len(), 1, "folder created once");
    assert_no_token_in_logs();
}

#[test]
fn tracer_failures_are_counted_not_raised() {
    capture_logs();
    let g = FakeGrafana::start();
    let t = Arc::new(
        GrafanaTracer::builder()
            .url(&g.url)
            .token(format!("{TOKEN}-revoked"))
            .debounce(Duration::from_millis(50))
            .build()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let m = Machine::builder(schema()).id("m").tracer(t.clone()).build();
    let d = t.flush(Duration::from_secs(15));
    assert!(d.in_time && !d.complete() && d.balanced(), "{d}");
    assert_eq!(d.to_string(), "1 uploads: 0 sent, 0 dropped, 1 failed, 0 pending");
    let stats = t.stats();
    assert_eq!((stats.uploads, stats.failures), (0, 1));
    let last = stats.last_error.unwrap_or_default();
    assert!(last.contains("401"), "{last}");
    assert!(!last.contains(TOKEN));
    assert!(!m.is_err(), "upload failures never reach the machine");
    let logs = lock(&LOGS).clone();
    assert!(logs.iter().any(|l| l.contains("dashboard upload failed") && l.contains("401")), "{logs:#?}");
    assert_no_token_in_logs();
}

#[test]
fn slow_grafana_never_blocks_the_machine() {
    let g = FakeGrafana::start();
    g.state().delay = Duration::from_millis(1500);
    let t = Arc::new(
        GrafanaTracer::builder()
            .url(&g.url)
            .token(TOKEN)
            .debounce(Duration::from_millis(10))
            .build()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let start = Instant::now();
    let root = Machine::builder(schema()).id("root").tracer(t.clone()).build();
    std::thread::sleep(Duration::from_millis(50)); // the upload is now in flight
    for i in 0..20 {
        let _child = Machine::builder(schema()).id(format!("c{i}")).parent(&root).build();
        root.add(&["A"]).unwrap_or_else(|e| panic!("{e}"));
        root.remove(&["A"]).unwrap_or_else(|e| panic!("{e}"));
    }
    let took = start.elapsed();
    assert!(took < Duration::from_millis(1000), "machine work took {took:?} while Grafana was slow");
    assert!(t.flush(Duration::from_secs(20)).complete());
    assert_eq!(t.ids().len(), 21);
    let posts = g.requests("POST", "/api/dashboards/db");
    assert!(posts.last().is_some_and(|p| p.body["dashboard"].to_string().contains("Machine: c19")));
}

/// Grafana behind HTTPS (a hosted Grafana, an ingress): the upload goes over TLS with a CA
/// of the test's own; a certificate nobody trusts is a clear error, never a token in it.
#[cfg(feature = "tls")]
#[test]
fn uploads_over_tls() {
    use am_core::exporter::TlsSettings;
    use am_testkit::tls::{ProxyOptions, TestCa, TlsProxy};
    let g = FakeGrafana::start();
    let backend = g.url.trim_start_matches("http://").trim_end_matches('/').parse().unwrap_or_else(|e| panic!("{e}"));
    let ca = TestCa::new("grafana");
    let proxy = TlsProxy::start(backend, &ca, &ca.server, ProxyOptions::http());
    let client = |tls: TlsSettings| {
        GrafanaClient::builder().url(proxy.url()).token(TOKEN).tls(tls).build().unwrap_or_else(|e| panic!("{e}"))
    };
    let trusted = TlsSettings::default().ca_file(&ca.ca_file).unwrap_or_else(|e| panic!("{e}"));
    let up = block_on(client(trusted).upload(&dashboard(&["m1"]))).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(up.folder_uid, "asyncmachine");
    assert_eq!(g.requests("POST", "/api/dashboards/db").len(), 1);

    let other = TestCa::new("grafana-other");
    let untrusted = TlsSettings::default().ca_file(&other.ca_file).unwrap_or_else(|e| panic!("{e}"));
    let e = block_on(client(untrusted).upload(&dashboard(&["m1"]))).expect_err("an untrusted certificate");
    let text = am_core::ErrorChain(&e).to_string();
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    assert!(!text.contains(TOKEN));
    assert_eq!(g.requests("POST", "/api/dashboards/db").len(), 1, "nothing more arrived");
}
