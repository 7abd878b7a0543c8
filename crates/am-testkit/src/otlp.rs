//! A loopback OTLP receiver built on the official protobufs (`opentelemetry-proto`): the
//! gRPC trace/logs/metrics collector services (tonic) and a tiny hyper HTTP server decoding
//! protobuf `Export*ServiceRequest` bodies (and keeping OTLP/JSON bodies as JSON). Tests
//! assert on what it decoded. It can be told to fail the next requests ([`Failure`]).
//! [`Receiver::counting`] only counts what it accepted, for long runs.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;

#[derive(Default)]
struct Store {
    traces: Vec<ExportTraceServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    /// OTLP/JSON bodies received over HTTP, with their path.
    json: Vec<(String, serde_json::Value)>,
    requests: usize,
    /// The `authorization` header (gRPC metadata) of each request that had one.
    authorization: Vec<String>,
    /// How to answer the next requests, instead of accepting them.
    fail: VecDeque<Failure>,
}

/// How the receiver answers a request it was told to fail ([`Receiver::fail_next`]).
#[derive(Clone, Copy, Debug)]
pub enum Failure {
    /// gRPC `UNAVAILABLE`, HTTP 503 (retryable).
    Unavailable,
    /// gRPC `INVALID_ARGUMENT`, HTTP 400 (not retryable by the OTLP specification).
    Invalid,
    /// gRPC `RESOURCE_EXHAUSTED`, HTTP 429, with a retry delay (`RetryInfo`, `Retry-After`) of
    /// the given seconds when `Some`.
    Throttled(Option<u64>),
}

/// `google.rpc.Status`, `google.protobuf.Any`, `google.rpc.RetryInfo` and
/// `google.protobuf.Duration`: the gRPC status details carrying a retry delay.
mod rpc {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Status {
        #[prost(int32, tag = "1")]
        pub code: i32,
        #[prost(string, tag = "2")]
        pub message: String,
        #[prost(message, repeated, tag = "3")]
        pub details: Vec<Any>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Any {
        #[prost(string, tag = "1")]
        pub type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RetryInfo {
        #[prost(message, optional, tag = "1")]
        pub retry_delay: Option<Duration>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Duration {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
}

impl Failure {
    fn grpc(self) -> tonic::Status {
        match self {
            Failure::Unavailable => tonic::Status::unavailable("test receiver: unavailable"),
            Failure::Invalid => tonic::Status::invalid_argument("test receiver: invalid"),
            Failure::Throttled(None) => tonic::Status::resource_exhausted("test receiver: exhausted"),
            Failure::Throttled(Some(secs)) => {
                let info = rpc::RetryInfo { retry_delay: Some(rpc::Duration { seconds: secs as i64, nanos: 0 }) };
                let details = rpc::Status {
                    code: tonic::Code::ResourceExhausted as i32,
                    message: "test receiver: throttled".into(),
                    details: vec![rpc::Any {
                        type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
                        value: info.encode_to_vec(),
                    }],
                };
                tonic::Status::with_details(
                    tonic::Code::ResourceExhausted,
                    "test receiver: throttled",
                    details.encode_to_vec().into(),
                )
            }
        }
    }

    fn http(self) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
        let b = hyper::Response::builder();
        let b = match self {
            Failure::Unavailable => b.status(503),
            Failure::Invalid => b.status(400),
            Failure::Throttled(None) => b.status(429),
            Failure::Throttled(Some(secs)) => b.status(429).header("retry-after", secs.to_string()),
        };
        b.body(http_body_util::Full::new(hyper::body::Bytes::new())).unwrap()
    }
}

/// What a receiver accepted, by signal: spans, log records, metric data points' metrics.
#[derive(Debug, Default)]
pub struct Counts {
    /// Spans accepted.
    pub spans: AtomicU64,
    /// Log records accepted.
    pub logs: AtomicU64,
    /// Metrics accepted.
    pub metrics: AtomicU64,
}

#[derive(Clone, Default)]
struct Shared {
    store: Arc<Mutex<Store>>,
    counts: Arc<Counts>,
    delay: Duration,
    /// Count only; keep no request.
    discard: bool,
}

fn span_count(r: &ExportTraceServiceRequest) -> u64 {
    r.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len() as u64).sum()
}

fn log_count(r: &ExportLogsServiceRequest) -> u64 {
    r.resource_logs.iter().flat_map(|rl| &rl.scope_logs).map(|sl| sl.log_records.len() as u64).sum()
}

fn metric_count(r: &ExportMetricsServiceRequest) -> u64 {
    r.resource_metrics.iter().flat_map(|rm| &rm.scope_metrics).map(|sm| sm.metrics.len() as u64).sum()
}

impl Shared {
    fn traces(&self, r: ExportTraceServiceRequest) {
        self.counts.spans.fetch_add(span_count(&r), Relaxed);
        if !self.discard {
            self.store.lock().unwrap().traces.push(r);
        }
    }

    fn logs(&self, r: ExportLogsServiceRequest) {
        self.counts.logs.fetch_add(log_count(&r), Relaxed);
        if !self.discard {
            self.store.lock().unwrap().logs.push(r);
        }
    }

    fn metrics(&self, r: ExportMetricsServiceRequest) {
        self.counts.metrics.fetch_add(metric_count(&r), Relaxed);
        if !self.discard {
            self.store.lock().unwrap().metrics.push(r);
        }
    }

    fn authorization(&self, value: Option<&str>) {
        if let Some(v) = value {
            self.store.lock().unwrap().authorization.push(v.to_string());
        }
    }

    async fn hold(&self) {
        self.store.lock().unwrap().requests += 1;
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }

    /// The failure to answer this request with, if it is one of those told to fail.
    fn failure(&self) -> Option<Failure> {
        self.store.lock().unwrap().fail.pop_front()
    }
}

#[tonic::async_trait]
impl TraceService for Shared {
    async fn export(
        &self,
        r: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.authorization(r.metadata().get("authorization").and_then(|v| v.to_str().ok()));
        self.hold().await;
        if let Some(f) = self.failure() {
            return Err(f.grpc());
        }
        self.traces(r.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Shared {
    async fn export(
        &self,
        r: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.authorization(r.metadata().get("authorization").and_then(|v| v.to_str().ok()));
        self.hold().await;
        if let Some(f) = self.failure() {
            return Err(f.grpc());
        }
        self.logs(r.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Shared {
    async fn export(
        &self,
        r: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.authorization(r.metadata().get("authorization").and_then(|v| v.to_str().ok()));
        self.hold().await;
        if let Some(f) = self.failure() {
            return Err(f.grpc());
        }
        self.metrics(r.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// A running receiver; stopped when dropped.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Shared,
    rt: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("addr", &self.addr).field("counts", &self.shared.counts).finish()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

impl Receiver {
    /// gRPC receiver on an ephemeral loopback port.
    pub fn grpc() -> Self {
        Self::grpc_with_delay(Duration::ZERO)
    }

    /// gRPC receiver answering each request after `delay`.
    pub fn grpc_with_delay(delay: Duration) -> Self {
        Self::grpc_on("127.0.0.1:0".parse().unwrap(), Shared { delay, ..Default::default() })
    }

    /// gRPC receiver on `addr` that keeps no request, only [`Receiver::counts`] (for long
    /// runs: `am-receiver otlp`).
    pub fn counting(addr: SocketAddr) -> Self {
        Self::grpc_on(addr, Shared { discard: true, ..Default::default() })
    }

    /// gRPC receiver on `addr` that keeps every request (for `am-receiver otlp --spans`).
    pub fn grpc_at(addr: SocketAddr) -> Self {
        Self::grpc_on(addr, Shared::default())
    }

    /// What it accepted so far (also in [`counting`](Receiver::counting) mode).
    pub fn counts(&self) -> &Counts {
        &self.shared.counts
    }

    fn grpc_on(addr: SocketAddr, shared: Shared) -> Self {
        let rt = runtime();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .unwrap_or_else(|e| panic!("OTLP receiver cannot listen on {addr}: {e}"));
        let addr = listener.local_addr().unwrap();
        let s = shared.clone();
        rt.spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            let _ = tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(s.clone()))
                .add_service(LogsServiceServer::new(s.clone()))
                .add_service(MetricsServiceServer::new(s))
                .serve_with_incoming(incoming)
                .await;
        });
        Receiver { addr, shared, rt: Some(rt) }
    }

    /// HTTP receiver (`POST /v1/traces`, `/v1/logs`, `/v1/metrics`): protobuf bodies are
    /// decoded as with gRPC, JSON bodies kept as JSON ([`Receiver::json`]).
    pub fn http() -> Self {
        use http_body_util::{BodyExt, Full};
        use hyper::body::{Bytes, Incoming};
        use hyper::{Request, Response};

        let rt = runtime();
        let shared = Shared::default();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let s = shared.clone();
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let s = s.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let s = s.clone();
                        async move {
                            let path = req.uri().path().to_string();
                            let ct = req
                                .headers()
                                .get("content-type")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string();
                            s.authorization(req.headers().get("authorization").and_then(|v| v.to_str().ok()));
                            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            s.hold().await;
                            if let Some(f) = s.failure() {
                                return Ok::<_, std::convert::Infallible>(f.http());
                            }
                            if ct == "application/json" {
                                let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
                                    return Ok(Response::builder().status(400).body(Full::new(Bytes::new())).unwrap());
                                };
                                s.store.lock().unwrap().json.push((path, v));
                                return Ok(Response::builder()
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from_static(b"{}")))
                                    .unwrap());
                            }
                            let ok = ct == "application/x-protobuf"
                                && match path.as_str() {
                                    "/v1/traces" => {
                                        ExportTraceServiceRequest::decode(body).map(|r| s.traces(r)).is_ok()
                                    }
                                    "/v1/logs" => ExportLogsServiceRequest::decode(body).map(|r| s.logs(r)).is_ok(),
                                    "/v1/metrics" => {
                                        ExportMetricsServiceRequest::decode(body).map(|r| s.metrics(r)).is_ok()
                                    }
                                    _ => false,
                                };
                            let resp = if ok {
                                Response::builder()
                                    .header("content-type", "application/x-protobuf")
                                    .body(Full::new(Bytes::from(ExportTraceServiceResponse::default().encode_to_vec())))
                            } else {
                                Response::builder().status(400).body(Full::new(Bytes::new()))
                            };
                            Ok::<_, std::convert::Infallible>(resp.unwrap())
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
                });
            }
        });
        Receiver { addr, shared, rt: Some(rt) }
    }

    /// The `authorization` header of every request that carried one, in order.
    pub fn authorization(&self) -> Vec<String> {
        self.shared.store.lock().unwrap().authorization.clone()
    }

    /// `http://ADDR`, as an OTLP endpoint.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received (failed ones included).
    pub fn requests(&self) -> usize {
        self.shared.store.lock().unwrap().requests
    }

    /// Answers `n` more export requests (any signal) with `how` instead of accepting them,
    /// after the failures already queued.
    pub fn fail_next(&self, n: usize, how: Failure) {
        self.shared.store.lock().unwrap().fail.extend(std::iter::repeat_n(how, n));
    }

    /// The OTLP/JSON bodies received at `path` (`/v1/traces`, `/v1/logs`, `/v1/metrics`).
    pub fn json(&self, path: &str) -> Vec<serde_json::Value> {
        let st = self.shared.store.lock().unwrap();
        st.json.iter().filter(|(p, _)| p == path).map(|(_, v)| v.clone()).collect()
    }

    /// Every received span, flattened.
    pub fn spans(&self) -> Vec<RSpan> {
        let st = self.shared.store.lock().unwrap();
        let mut out = Vec::new();
        for req in &st.traces {
            for rs in &req.resource_spans {
                let service =
                    rs.resource.as_ref().map(|r| attrs(&r.attributes)).and_then(|a| a.get("service.name").cloned());
                for ss in &rs.scope_spans {
                    let scope = ss.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
                    for s in &ss.spans {
                        out.push(RSpan {
                            name: s.name.clone(),
                            trace_id: hex(&s.trace_id),
                            span_id: hex(&s.span_id),
                            parent_id: hex(&s.parent_span_id),
                            attrs: attrs(&s.attributes),
                            events: s.events.iter().map(|e| (e.name.clone(), attrs(&e.attributes))).collect(),
                            links: s.links.iter().map(|l| hex(&l.span_id)).collect(),
                            status: s
                                .status
                                .as_ref()
                                .map(|st| (st.code, st.message.clone()))
                                .unwrap_or((0, String::new())),
                            start: s.start_time_unix_nano,
                            end: s.end_time_unix_nano,
                            kind: s.kind,
                            service: service.clone().unwrap_or_default(),
                            scope: scope.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Every received log record.
    pub fn logs(&self) -> Vec<RLog> {
        let st = self.shared.store.lock().unwrap();
        let mut out = Vec::new();
        for req in &st.logs {
            for rl in &req.resource_logs {
                let service =
                    rl.resource.as_ref().map(|r| attrs(&r.attributes)).and_then(|a| a.get("service.name").cloned());
                for sl in &rl.scope_logs {
                    for r in &sl.log_records {
                        out.push(RLog {
                            body: r.body.as_ref().map(value).unwrap_or_default(),
                            severity: r.severity_number,
                            severity_text: r.severity_text.clone(),
                            attrs: attrs(&r.attributes),
                            trace_id: hex(&r.trace_id),
                            span_id: hex(&r.span_id),
                            service: service.clone().unwrap_or_default(),
                            scope: sl.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Names of every received metric.
    pub fn metric_names(&self) -> Vec<String> {
        let st = self.shared.store.lock().unwrap();
        let mut out: Vec<String> = st
            .metrics
            .iter()
            .flat_map(|r| &r.resource_metrics)
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .map(|m| m.name.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Waits until `f` holds on the received spans (up to 10 s).
    pub fn wait_spans(&self, f: impl Fn(&[RSpan]) -> bool) -> Vec<RSpan> {
        let t0 = Instant::now();
        loop {
            let s = self.spans();
            if f(&s) || t0.elapsed() > Duration::from_secs(10) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[derive(Clone, Debug)]
pub struct RSpan {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_id: String,
    pub attrs: BTreeMap<String, String>,
    pub events: Vec<(String, BTreeMap<String, String>)>,
    pub links: Vec<String>,
    pub status: (i32, String),
    pub start: u64,
    pub end: u64,
    pub kind: i32,
    pub service: String,
    pub scope: String,
}

#[derive(Clone, Debug)]
pub struct RLog {
    pub body: String,
    pub severity: i32,
    pub severity_text: String,
    pub attrs: BTreeMap<String, String>,
    pub trace_id: String,
    pub span_id: String,
    pub service: String,
    pub scope: String,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn value(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map(value).unwrap_or_default())).collect()
}

/// Finds the only span named `name`.
pub fn one<'a>(spans: &'a [RSpan], name: &str) -> &'a RSpan {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "spans named {name:?}: {:#?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>());
    found[0]
}

/// The tree of span names, children sorted by start time then name, two spaces per level.
pub fn render_tree(spans: &[RSpan]) -> String {
    let ids: std::collections::HashSet<_> = spans.iter().map(|s| s.span_id.clone()).collect();
    let mut roots: Vec<&RSpan> = spans.iter().filter(|s| !ids.contains(&s.parent_id)).collect();
    roots.sort_by(|a, b| (a.start, &a.name).cmp(&(b.start, &b.name)));
    let mut out = String::new();
    fn walk(s: &RSpan, spans: &[RSpan], depth: usize, out: &mut String) {
        out.push_str(&"  ".repeat(depth));
        out.push_str(&s.name);
        out.push('\n');
        let mut kids: Vec<&RSpan> = spans.iter().filter(|c| c.parent_id == s.span_id).collect();
        kids.sort_by(|a, b| (a.start, &a.name).cmp(&(b.start, &b.name)));
        for k in kids {
            walk(k, spans, depth + 1, out);
        }
    }
    for r in roots {
        walk(r, spans, 0, &mut out);
    }
    out
}
