//! A Loki-compatible push receiver on loopback: decodes both push formats as Loki does
//! (snappy block → `logproto.PushRequest`; the JSON schema), validates labels, records
//! every request, and answers with scripted statuses, delays or a closed gate.
mod loki_proto;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request as HttpRequest, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prost::Message;
use tokio::sync::watch;

/// One log entry as Loki stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub ts_ns: i128,
    pub line: String,
    pub metadata: BTreeMap<String, String>,
}

/// One stream of a push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    pub labels: BTreeMap<String, String>,
    pub entries: Vec<Entry>,
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Request {
    pub status: u16,
    pub content_type: String,
    pub tenant: Option<String>,
    pub authorization: Option<String>,
    pub push: Result<Vec<Stream>, String>,
}

#[derive(Debug)]
struct State {
    requests: Mutex<Vec<Request>>,
    script: Mutex<VecDeque<u16>>,
    default_status: AtomicU16,
    delay_ms: AtomicU64,
    gate: watch::Sender<bool>,
    reply_body: Mutex<Option<String>>,
    /// Entries in accepted (2xx) pushes.
    accepted: AtomicU64,
    /// Count only; keep no request.
    discard: bool,
}

/// The receiver; stops when dropped.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    rt: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("addr", &self.addr).field("accepted", &self.entries_accepted()).finish()
    }
}

impl Receiver {
    /// A receiver on a free loopback port, keeping every request.
    pub fn start() -> Receiver {
        Receiver::start_on("127.0.0.1:0".parse().unwrap())
    }

    /// A receiver on `addr`, keeping every request.
    pub fn start_on(addr: SocketAddr) -> Receiver {
        Self::listen(addr, false)
    }

    /// A receiver on `addr` that keeps no request, only
    /// [`entries_accepted`](Receiver::entries_accepted) (for long runs: `am-receiver loki`).
    pub fn counting(addr: SocketAddr) -> Receiver {
        Self::listen(addr, true)
    }

    /// Entries in the pushes it accepted (answered 2xx) so far.
    pub fn entries_accepted(&self) -> u64 {
        self.state.accepted.load(Relaxed)
    }

    fn listen(addr: SocketAddr, discard: bool) -> Receiver {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .unwrap_or_else(|e| panic!("Loki receiver cannot listen on {addr}: {e}"));
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            requests: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            default_status: AtomicU16::new(204),
            delay_ms: AtomicU64::new(0),
            gate: watch::Sender::new(true),
            reply_body: Mutex::new(None),
            accepted: AtomicU64::new(0),
            discard,
        });
        let st = state.clone();
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        Receiver { addr, state, rt: Some(rt) }
    }

    /// `127.0.0.1:PORT`, as a tracer's `addr`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }
    /// Statuses for the next requests, in order; then the default status.
    pub fn script(&self, statuses: &[u16]) {
        self.state.script.lock().unwrap().extend(statuses);
    }
    /// The status of requests no script covers (default 204).
    pub fn set_default_status(&self, s: u16) {
        self.state.default_status.store(s, Relaxed);
    }
    /// Answers every request after `d`.
    pub fn set_delay(&self, d: Duration) {
        self.state.delay_ms.store(d.as_millis() as u64, Relaxed);
    }
    /// The body of every error reply from now on.
    pub fn set_reply_body(&self, body: &str) {
        *self.state.reply_body.lock().unwrap() = Some(body.to_string());
    }
    /// A closed gate holds every response until it opens.
    pub fn set_gate(&self, open: bool) {
        self.state.gate.send_replace(open);
    }
    /// Every request so far, as it arrived.
    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }
    /// Streams of accepted (2xx) requests, in arrival order, with any decode error
    /// turned into a panic.
    pub fn accepted(&self) -> Vec<Stream> {
        let mut out = Vec::new();
        for r in self.requests() {
            let push = r.push.unwrap_or_else(|e| panic!("receiver could not decode a push: {e}"));
            if (200..300).contains(&r.status) {
                out.extend(push);
            }
        }
        out
    }
    /// Accepted entries of streams whose labels include `asyncmachine_id = machine`, in
    /// arrival order.
    pub fn entries_of(&self, machine: &str) -> Vec<(BTreeMap<String, String>, Entry)> {
        self.accepted()
            .into_iter()
            .filter(|s| s.labels.get("asyncmachine_id").map(String::as_str) == Some(machine))
            .flat_map(|s| s.entries.into_iter().map(move |e| (s.labels.clone(), e)))
            .collect()
    }
    /// Accepted lines of a machine, in arrival order.
    pub fn lines_of(&self, machine: &str) -> Vec<String> {
        self.entries_of(machine).into_iter().map(|(_, e)| e.line).collect()
    }
    /// Waits until `f` holds, at most `timeout`.
    pub fn wait_until(&self, timeout: Duration, f: impl Fn(&Receiver) -> bool) -> bool {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if f(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        f(self)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

async fn handle(st: Arc<State>, req: HttpRequest<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    if req.method() != hyper::Method::POST || req.uri().path() != "/loki/api/v1/push" {
        return Ok(reply(404, "404 page not found"));
    }
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_type = header("content-type").unwrap_or_default();
    let tenant = header("x-scope-orgid");
    let authorization = header("authorization");
    let encoding = header("content-encoding");
    let body = req.into_body().collect().await?.to_bytes();
    let push = if encoding.is_some() {
        Err(format!("unexpected content-encoding {encoding:?}"))
    } else {
        decode(&content_type, &body)
    };
    let status = match (&push, st.script.lock().unwrap().pop_front()) {
        (Err(_), _) => 400,
        (Ok(_), Some(s)) => s,
        (Ok(_), None) => st.default_status.load(Relaxed),
    };
    let error = push.as_ref().err().cloned();
    if let (Ok(streams), 200..=299) = (&push, status) {
        st.accepted.fetch_add(streams.iter().map(|s| s.entries.len() as u64).sum(), Relaxed);
    }
    if !st.discard {
        st.requests.lock().unwrap().push(Request { status, content_type, tenant, authorization, push });
    }
    let delay = st.delay_ms.load(Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let _ = st.gate.subscribe().wait_for(|open| *open).await;
    let custom = st.reply_body.lock().unwrap().clone().filter(|_| status >= 300);
    let body =
        error.or(custom).unwrap_or_else(|| if status == 400 { "entry too far behind".into() } else { String::new() });
    Ok(reply(status, &body))
}

fn reply(status: u16, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    r
}

/// Loki's `ParseRequest`: protobuf (the default, also for an empty content type) is a
/// snappy block-compressed `PushRequest`; `application/json` is the JSON schema.
pub fn decode(content_type: &str, body: &[u8]) -> Result<Vec<Stream>, String> {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let streams = match ct {
        "application/json" => decode_json(body)?,
        "" | "application/x-protobuf" => decode_protobuf(body)?,
        other => return Err(format!("unsupported content type {other:?}")),
    };
    for s in &streams {
        if s.labels.is_empty() {
            return Err("a stream without labels".into());
        }
        for name in s.labels.keys().chain(s.entries.iter().flat_map(|e| e.metadata.keys())) {
            if !valid_label_name(name) {
                return Err(format!("invalid label name {name:?}"));
            }
        }
    }
    Ok(streams)
}

fn decode_protobuf(body: &[u8]) -> Result<Vec<Stream>, String> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("snappy: {e}"))?;
    let req = loki_proto::PushRequest::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))?;
    req.streams
        .into_iter()
        .map(|s| {
            let labels = parse_selector(&s.labels)?;
            let entries = s
                .entries
                .into_iter()
                .map(|e| {
                    let ts = e.timestamp.ok_or("entry without timestamp")?;
                    Ok(Entry {
                        ts_ns: ts.seconds as i128 * 1_000_000_000 + ts.nanos as i128,
                        line: e.line,
                        metadata: e.structured_metadata.into_iter().map(|p| (p.name, p.value)).collect(),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(Stream { labels, entries })
        })
        .collect()
}

fn decode_json(body: &[u8]) -> Result<Vec<Stream>, String> {
    use serde_json::Value;
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("json: {e}"))?;
    let streams = v.get("streams").and_then(Value::as_array).ok_or("no `streams` array")?;
    streams
        .iter()
        .map(|s| {
            let labels = s
                .get("stream")
                .and_then(Value::as_object)
                .ok_or("no `stream` object")?
                .iter()
                .map(|(k, v)| Ok((k.clone(), v.as_str().ok_or("label value not a string")?.to_string())))
                .collect::<Result<BTreeMap<_, _>, String>>()?;
            let entries = s
                .get("values")
                .and_then(Value::as_array)
                .ok_or("no `values` array")?
                .iter()
                .map(|e| {
                    let a = e.as_array().ok_or("value not an array")?;
                    if !(2..=3).contains(&a.len()) {
                        return Err(format!("value of {} elements", a.len()));
                    }
                    let ts = a[0].as_str().ok_or("timestamp not a string")?;
                    let ts_ns = ts.parse::<i128>().map_err(|e| format!("timestamp {ts:?}: {e}"))?;
                    let line = a[1].as_str().ok_or("line not a string")?.to_string();
                    let metadata = match a.get(2) {
                        None => BTreeMap::new(),
                        Some(m) => m
                            .as_object()
                            .ok_or("metadata not an object")?
                            .iter()
                            .map(|(k, v)| Ok((k.clone(), v.as_str().ok_or("metadata value not a string")?.to_string())))
                            .collect::<Result<_, String>>()?,
                    };
                    Ok(Entry { ts_ns, line, metadata })
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(Stream { labels, entries })
        })
        .collect()
}

fn valid_label_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// Parses a stream selector of equality matchers, `{a="b", c="d"}`, with Go string escapes.
pub fn parse_selector(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let body =
        s.trim().strip_prefix('{').and_then(|r| r.strip_suffix('}')).ok_or_else(|| format!("not a selector: {s:?}"))?;
    let mut chars = body.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        if !valid_label_name(&name) {
            return Err(format!("bad label name {name:?} in {s:?}"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') || chars.peek() == Some(&'~') {
            return Err(format!("expected `=` after {name:?} in {s:?}"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('"') {
            return Err(format!("expected a quoted value in {s:?}"));
        }
        let mut value = String::new();
        loop {
            match chars.next().ok_or_else(|| format!("unterminated value in {s:?}"))? {
                '"' => break,
                '\\' => match chars.next().ok_or("dangling escape")? {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    'r' => value.push('\r'),
                    't' => value.push('\t'),
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                        let code = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                        value.push(char::from_u32(code).ok_or("bad \\u escape")?);
                    }
                    c => return Err(format!("unknown escape \\{c}")),
                },
                c => value.push(c),
            }
        }
        if out.insert(name.clone(), value).is_some() {
            return Err(format!("duplicate label {name:?}"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some(',') => continue,
            Some(c) => return Err(format!("unexpected {c:?} in {s:?}")),
        }
    }
    Ok(out)
}
