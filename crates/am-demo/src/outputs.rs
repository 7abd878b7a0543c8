//! Where the demo's telemetry goes: each exporter on a local default unless its `AM_*`
//! variable points somewhere else.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use am_core::{MachineBuilder, Tracer};
use am_telemetry::dbg::{DbgTracer, RecordOptions, Recorder};
use am_telemetry::loki::{LokiGuard, LokiTracer};
use am_telemetry::otel::{OtelTracer, OtlpPipeline};
use am_telemetry::prom::PromTracer;

use crate::logs_file::LogsFile;
use crate::spans_file::JsonLinesExporter;

/// The exporters the demo bound, and how to report on them.
pub struct Outputs {
    tracers: Vec<Arc<dyn Tracer>>,
    dbg: Option<(DbgTracer, Option<Recorder>)>,
    loki: Option<LokiGuard>,
    prom: Option<PromTracer>,
    otel: Option<(OtelTracer, OtlpPipeline)>,
    logs_file: Option<(Arc<LogsFile>, std::thread::JoinHandle<std::io::Result<u64>>)>,
    /// One line per output: where it goes.
    pub plan: Vec<String>,
}

impl Outputs {
    /// Starts every output under `dir`.
    pub async fn start(dir: &Path) -> Result<Outputs, Box<dyn std::error::Error>> {
        std::fs::create_dir_all(dir)?;
        let mut o = Outputs {
            tracers: Vec::new(),
            dbg: None,
            loki: None,
            prom: None,
            otel: None,
            logs_file: None,
            plan: Vec::new(),
        };
        o.start_prom()?;
        o.start_otel(dir)?;
        o.start_dbg(dir).await?;
        o.start_loki()?;
        Ok(o)
    }

    async fn start_dbg(&mut self, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let (addr, recorder) = match am_telemetry::dbg::env_addr()? {
            Some(addr) => {
                self.plan.push(format!("dbg        → am-dbg server at {addr} (AM_DBG_ADDR)"));
                (addr, None)
            }
            None => {
                let file: PathBuf = dir.join("dbg.jsonl");
                let rec = Recorder::start("127.0.0.1:0", &file, RecordOptions::default()).await?;
                self.plan.push(format!("dbg        → {} (recorded; `am-dbg summary` reads it)", file.display()));
                (rec.local_addr().to_string(), Some(rec))
            }
        };
        let tracer = DbgTracer::builder().addr(addr).client_name("am-demo").build()?;
        self.tracers.push(Arc::new(tracer.clone()));
        self.dbg = Some((tracer, recorder));
        Ok(())
    }

    fn start_prom(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        use am_telemetry::prom::env::{AM_PROM_ADDR, AM_PROM_PUSH_URL, DEFAULT_ADDR};
        let addr = am_core::env::value(AM_PROM_ADDR).unwrap_or_else(|| DEFAULT_ADDR.to_string());
        let mut b = PromTracer::builder().listen(addr).from_env();
        if am_core::env::value(am_core::env::AM_SERVICE).is_none() {
            b = b.service("am-demo");
        }
        let t = b.build()?;
        if let Some(a) = t.local_addr() {
            self.plan.push(format!("prometheus → http://{a}/metrics"));
        }
        match t.push_url() {
            Some(url) => self.plan.push(format!("prometheus → pushed to {url} ({AM_PROM_PUSH_URL})")),
            None => self.plan.push(format!("prometheus → not pushed (set {AM_PROM_PUSH_URL} for a Pushgateway)")),
        }
        self.tracers.push(Arc::new(t.clone()));
        self.prom = Some(t);
        Ok(())
    }

    fn start_otel(&mut self, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let service = am_core::env::value(am_core::env::AM_SERVICE).unwrap_or_else(|| "am-demo".into());
        let pipeline = match am_core::env::value("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Some(ep) => {
                let p = OtlpPipeline::builder().service(service).logs(true).build()?;
                self.plan.push(format!("otel       → OTLP traces and logs to {ep} (OTEL_EXPORTER_OTLP_ENDPOINT)"));
                p
            }
            None => {
                let logs = dir.join("logs.jsonl");
                let (writer, handle) = LogsFile::create(&logs)?;
                let writer = Arc::new(writer);
                self.tracers.push(writer.clone());
                self.logs_file = Some((writer, handle));
                self.plan.push(format!("otel       → {} (machine logs as JSON lines with trace IDs)", logs.display()));
                let file = dir.join("spans.jsonl");
                let p = OtlpPipeline::with_exporter(JsonLinesExporter::create(&file)?, &service);
                self.plan.push(format!(
                    "otel       → {} (spans as JSON lines; set OTEL_EXPORTER_OTLP_ENDPOINT for a collector)",
                    file.display()
                ));
                p
            }
        };
        let tracer = pipeline.tracer_builder().build()?;
        self.tracers.push(Arc::new(tracer.clone()));
        if let Some(logs) = pipeline.log_tracer() {
            self.tracers.push(Arc::new(logs));
        }
        self.otel = Some((tracer, pipeline));
        Ok(())
    }

    fn start_loki(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        if !am_core::env::is_on(am_telemetry::loki::env::AM_LOKI_ADDR) {
            self.plan.push("loki       → off (set AM_LOKI_ADDR to push machine logs to Loki)".into());
            return Ok(());
        }
        let mut b = LokiTracer::builder();
        if am_core::env::value(am_core::env::AM_SERVICE).is_none() {
            b = b.service("am-demo");
        }
        let t = b.build()?;
        self.plan.push(format!("loki       → {} (service {})", t.url(), t.service()));
        self.tracers.push(Arc::new(t.clone()));
        self.loki = Some(t.guard());
        Ok(())
    }

    /// Writes the Grafana dashboard and alert rules for `ids` into `dir`.
    pub fn write_dashboard(&mut self, dir: &Path, ids: &[String]) -> Result<(), Box<dyn std::error::Error>> {
        let d = am_telemetry::grafana::Dashboard::for_machines(ids).name("am-demo").source("am-demo").build()?;
        let (json, rules) = (dir.join("am-demo.json"), dir.join("am-demo.rules.yml"));
        std::fs::write(&json, d.to_json_string())?;
        std::fs::write(&rules, d.alert_rules_yaml())?;
        self.plan.push(format!(
            "grafana    → {} and {} (mount dashboards/provisioning into Grafana to load it)",
            json.display(),
            rules.display()
        ));
        Ok(())
    }

    /// Binds every exporter to the root machine's builder (workers inherit them).
    pub fn bind(&self, mut b: MachineBuilder) -> MachineBuilder {
        for t in &self.tracers {
            b = b.tracer_arc(t.clone());
        }
        b
    }

    /// `name sent/dropped` per exporter, for the status line.
    pub fn status(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.prom {
            let s = p.stats();
            parts.push(format!("prom {} scrapes {} pushes/{} failed", s.scrapes, s.pushes, s.push_failures));
        }
        if let Some((_, p)) = &self.otel {
            let s = p.span_stats();
            parts.push(format!("otel {}/{}", s.exported, s.dropped + s.failed));
        }
        if let Some((t, _)) = &self.dbg {
            let s = t.stats();
            parts.push(format!("dbg {}/{}", s.sent, s.dropped));
        }
        if let Some(l) = &self.loki {
            let s = l.stats();
            parts.push(format!("loki {}/{}", s.sent, s.dropped));
        }
        parts.join("  ")
    }

    /// Every exporter's counters, as `--stats-json` writes them: what the exporter produced
    /// (accepted from the machines), sent, dropped and failed, and what is still queued.
    pub fn counters(&self) -> serde_json::Value {
        let mut o = serde_json::Map::new();
        if let Some(p) = &self.prom {
            o.insert("prom".into(), prom_json(&p.stats()));
        }
        if let Some((_, p)) = &self.otel {
            o.insert("otel".into(), otel_json(&p.span_stats()));
        }
        if let Some((t, _)) = &self.dbg {
            o.insert("dbg".into(), dbg_json(&t.stats()));
        }
        if let Some(l) = &self.loki {
            o.insert("loki".into(), loki_json(&l.stats()));
        }
        serde_json::Value::Object(o)
    }

    /// The start of a graceful stop: `/readyz` answers 503 from now on (the machines keep
    /// running, `/metrics` keeps serving); returns how long to hold that before stopping
    /// anything (`AM_HEALTH_DRAIN`).
    pub fn drain(&self) -> Duration {
        self.prom.as_ref().map_or(Duration::ZERO, PromTracer::drain)
    }

    /// Flushes and closes everything — the scrape endpoint last, so probes get 503 (never a
    /// refused connection) and the last scrape sees every exporter's final counts — and
    /// returns a summary line per output and the final [`counters`](Outputs::counters).
    pub async fn shutdown(self) -> (Vec<String>, serde_json::Value) {
        let mut counters = serde_json::Map::new();
        let mut out = Vec::new();
        if let Some((t, p)) = self.otel {
            let done = tokio::task::spawn_blocking(move || {
                // ends the spans still open (active states, machine roots), then flushes
                t.shutdown(Duration::from_secs(3));
                let counter = p.span_counter();
                let delivery = p.shutdown(Duration::from_secs(3));
                (delivery, counter.stats())
            })
            .await;
            if let Ok((d, s)) = done {
                out.push(format!("otel: {d}"));
                counters.insert("otel".into(), otel_json(&s));
            }
        }
        if let Some((writer, handle)) = self.logs_file {
            let dropped = writer.dropped.load(std::sync::atomic::Ordering::Relaxed);
            writer.close();
            if let Ok(Ok(n)) = tokio::task::spawn_blocking(move || handle.join()).await {
                match n {
                    Ok(n) => out.push(format!("logs: {n} entries written, {dropped} dropped")),
                    Err(e) => out.push(format!("logs file failed: {e}")),
                }
            }
        }
        if let Some((t, rec)) = self.dbg {
            let flushed = tokio::task::spawn_blocking(move || (t.flush(Duration::from_secs(3)), t.stats())).await;
            if let Ok((d, s)) = flushed {
                out.push(format!("dbg: {d}"));
                counters.insert("dbg".into(), dbg_json(&s));
            }
            if let Some(rec) = rec {
                match rec.stop().await {
                    Ok(stats) => out.push(format!("dbg recording: {} messages", stats.messages)),
                    Err(e) => out.push(format!("dbg recording failed: {e}")),
                }
            }
        }
        if let Some(l) = self.loki {
            let done = tokio::task::spawn_blocking(move || (l.shutdown(), l.stats())).await;
            if let Ok((d, s)) = done {
                out.push(format!("loki: {d}"));
                counters.insert("loki".into(), loki_json(&s));
            }
        }
        if let Some(p) = self.prom {
            let unix_ms =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
            eprintln!("am-demo: closing the scrape endpoint (unix_ms={unix_ms})");
            let d = p.shutdown_async().await;
            let s = p.stats();
            out.push(format!("prometheus: {} scrapes, {} machines refused, {d}", s.scrapes, s.refused_machines));
            counters.insert("prom".into(), prom_json(&s));
        }
        (out, serde_json::Value::Object(counters))
    }
}

fn prom_json(s: &am_telemetry::prom::PromStats) -> serde_json::Value {
    serde_json::json!({
        "machines": s.machines, "scrapes": s.scrapes, "pushes": s.pushes, "push_failures": s.push_failures,
        "refused_machines": s.refused_machines, "refused_series": s.refused_series, "dropped_updates": s.dropped_updates,
    })
}

fn otel_json(s: &am_telemetry::otel::SpanStats) -> serde_json::Value {
    serde_json::json!({
        "produced": s.ended, "sent": s.exported, "dropped": s.dropped, "failed": s.failed,
        "queued": s.queued, "overflow": s.overflow, "discarded": s.discarded,
    })
}

fn dbg_json(s: &am_telemetry::dbg::DbgStats) -> serde_json::Value {
    // queued: in the outbox, or in the batch being sent
    let queued = s.enqueued.saturating_sub(s.sent + s.dropped);
    serde_json::json!({
        "produced": s.enqueued, "sent": s.sent, "dropped": s.dropped, "failed": 0, "queued": queued,
        "connected": s.connected, "connects": s.connects,
    })
}

fn loki_json(s: &am_telemetry::loki::LokiStats) -> serde_json::Value {
    serde_json::json!({
        "produced": s.produced, "sent": s.sent, "dropped": s.dropped + s.dropped_machines,
        "failed": s.failed + s.rejected, "queued": s.queued,
    })
}
