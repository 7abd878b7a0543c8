//! The background task: waits for a full batch or the interval, encodes, pushes, retries
//! with exponential backoff, and counts what happened to every record.

use am_core::exporter::{Unpoison, Watch};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use crate::encode::{Encoder, PushFormat};
use crate::queue::{Queue, Record};

/// A credential: shown as `***` by `Debug`, never put in a log line or an error.
#[derive(Clone)]
pub(crate) struct Secret(pub(crate) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How requests authenticate.
#[derive(Clone, Debug)]
pub(crate) enum Auth {
    Basic { user: Secret, password: Secret },
    Bearer(Secret),
}

/// Sender settings, fixed at build time.
#[derive(Clone, Debug)]
pub(crate) struct SenderConfig {
    /// The push URL (never carries credentials).
    pub(crate) url: String,
    pub(crate) format: PushFormat,
    pub(crate) tenant: Option<String>,
    pub(crate) auth: Option<Auth>,
    pub(crate) batch_entries: usize,
    pub(crate) batch_bytes: usize,
    pub(crate) interval: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) max_retries: u32,
}

/// Counters behind [`LokiStats`](crate::LokiStats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Entries the hook saw. Every change that moves an entry between these counters (or
    /// into or out of the queue) happens under the queue's lock, so a snapshot taken under
    /// it adds up: `produced = sent + dropped + overflow + rejected + failed + queued + in flight`.
    pub(crate) produced: AtomicU64,
    pub(crate) enqueued: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) overflow_machines: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    /// Unix ms of the last accepted push (0: none yet).
    pub(crate) last_ok_ms: AtomicU64,
}

/// Everything the hook, the sender and the handle share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) queue: Mutex<Queue>,
    /// A batch filled up, a flush was asked for, or shutdown began.
    pub(crate) wake: Notify,
    pub(crate) flush_now: AtomicBool,
    /// `Some(deadline)` once shutdown began.
    pub(crate) deadline: watch::Sender<Option<Instant>>,
    /// The sender finished (after shutdown); also notified after every push, for flushes
    /// waiting for [`idle`](Self::idle).
    pub(crate) done: Watch<bool>,
    pub(crate) counters: Counters,
    pub(crate) config: SenderConfig,
    pub(crate) log: am_core::exporter::LogLimiter,
}

impl Shared {
    pub(crate) fn new(queue: Queue, config: SenderConfig) -> Self {
        Shared {
            queue: Mutex::new(queue),
            wake: Notify::new(),
            flush_now: AtomicBool::new(false),
            deadline: watch::Sender::new(None),
            done: Watch::new(false),
            counters: Counters::default(),
            config,
            log: am_core::exporter::LogLimiter::default(),
        }
    }
    pub(crate) fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unpoison()
    }
    pub(crate) fn shutdown_deadline(&self) -> Option<Instant> {
        *self.deadline.borrow()
    }
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown_deadline().is_some()
    }
    /// Starts shutdown (once): no new records, flush the rest before `deadline`.
    pub(crate) fn begin_shutdown(&self, deadline: Instant) {
        let before = self.queue().close();
        let started = self.deadline.send_if_modified(|d| {
            if d.is_none() {
                *d = Some(deadline);
                true
            } else {
                false
            }
        });
        if started {
            tracing::debug!(target: "am_loki", queued = before, "am-loki: shutting down");
        }
        self.wake.notify_one();
    }
    pub(crate) fn is_done(&self) -> bool {
        *self.done.lock()
    }
    fn finish(&self) {
        self.done.update(|d| *d = true);
    }
    /// Blocks until the sender finished or `until` passed; true when it finished.
    pub(crate) fn wait_done(&self, until: Instant) -> bool {
        self.done.wait_until(until, |d| *d)
    }
    /// [`wait_done`](Self::wait_done) for async code.
    pub(crate) async fn wait_done_async(&self, until: Instant) -> bool {
        self.done.wait_until_async(until, |d| *d).await
    }
    /// Blocks until nothing is queued or in flight, or the sender finished, or `until`
    /// passed; true when idle.
    pub(crate) fn wait_idle(&self, until: Instant) -> bool {
        self.done.wait_until(until, |d| *d || self.idle());
        self.idle()
    }
    /// Whether nothing is queued or being pushed.
    pub(crate) fn idle(&self) -> bool {
        let q = self.queue();
        q.len() == 0 && self.counters.in_flight.load(Relaxed) == 0
    }
}

impl am_core::exporter::StatsSource for Shared {
    fn exporter_stats(&self) -> am_core::exporter::ExporterStats {
        let c = &self.counters;
        let q = self.queue();
        am_core::exporter::ExporterStats {
            produced: c.produced.load(Relaxed),
            sent: c.sent.load(Relaxed),
            dropped: c.dropped.load(Relaxed) + c.overflow_machines.load(Relaxed),
            failed: c.failed.load(Relaxed) + c.rejected.load(Relaxed),
            queued: q.len() as u64 + c.in_flight.load(Relaxed),
            connected: None,
            last_success_ms: am_core::exporter::last_ms(c.last_ok_ms.load(Relaxed)),
        }
    }
}

impl Shared {
    /// Settles the batch in flight: its `n` entries move to `to` (sent, rejected or failed)
    /// under the queue's lock, so a stats snapshot never sees them twice or not at all.
    fn settle(&self, to: &AtomicU64, n: u64, batch: &mut Vec<Record>) {
        let mut q = self.queue();
        to.fetch_add(n, Relaxed);
        self.counters.in_flight.store(0, Relaxed);
        q.recycle(batch);
    }
}

/// Logs a warning about `url`, at most once per interval (the rest are counted).
fn warn(shared: &Shared, url: &str, msg: &dyn std::fmt::Display) {
    if let Some(held) = shared.log.allow() {
        tracing::warn!(target: "am_loki", url, held_back = held, "am-loki: {msg}");
    }
}

/// The sender's main loop; returns after shutdown, once the queue is empty or the
/// deadline passed.
pub(crate) async fn run(shared: Arc<Shared>, client: reqwest::Client) {
    let cfg = shared.config.clone();
    let mut batch: Vec<Record> = Vec::with_capacity(cfg.batch_entries.min(4096));
    let mut encoder = Encoder::default();
    loop {
        let tick = tokio::time::Instant::now() + cfg.interval;
        loop {
            if shared.shutdown_deadline().is_some() || shared.flush_now.load(Relaxed) || batch_due(&shared, &cfg) {
                break;
            }
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = tokio::time::sleep_until(tick) => break,
            }
        }
        loop {
            {
                let mut q = shared.queue();
                q.take(cfg.batch_entries, cfg.batch_bytes, &mut batch);
                shared.counters.in_flight.store(batch.len() as u64, Relaxed);
            }
            if batch.is_empty() {
                shared.flush_now.store(false, Relaxed);
                shared.done.notify();
                break;
            }
            let outcome = push(&shared, &client, &mut encoder, &batch).await;
            let c = &shared.counters;
            let to = match outcome {
                Settled::Sent => &c.sent,
                Settled::Rejected => &c.rejected,
                Settled::Failed => &c.failed,
            };
            shared.settle(to, batch.len() as u64, &mut batch);
            shared.done.notify();
            let hurry = shared.shutdown_deadline().is_some() || shared.flush_now.load(Relaxed);
            if !hurry && !batch_due(&shared, &cfg) {
                break;
            }
        }
        if shared.shutdown_deadline().is_some() {
            // the queue is closed and was drained above (pushes past the deadline count as failed)
            let mut q = shared.queue();
            let left = q.clear() as u64;
            shared.counters.failed.fetch_add(left, Relaxed);
            drop(q);
            shared.finish();
            return;
        }
    }
}

fn batch_due(shared: &Shared, cfg: &SenderConfig) -> bool {
    let q = shared.queue();
    q.len() >= cfg.batch_entries || q.bytes() >= cfg.batch_bytes
}

enum Outcome {
    Sent,
    Retry(String),
    Reject(String),
}

/// Where a pushed batch ended up.
enum Settled {
    Sent,
    Rejected,
    Failed,
}

/// Pushes one batch, retrying what Loki may accept later; says whether its records were
/// sent, rejected or failed (the caller counts them).
async fn push(shared: &Shared, client: &reqwest::Client, encoder: &mut Encoder, batch: &[Record]) -> Settled {
    let cfg = &shared.config;
    let n = batch.len() as u64;
    let body = match encoder.encode(cfg.format, batch) {
        Ok(b) => b,
        Err(e) => {
            warn(shared, &cfg.url, &format_args!("cannot encode a batch of {n}: {e}"));
            return Settled::Failed;
        }
    };
    let mut deadline_rx = shared.deadline.subscribe();
    let mut backoff = cfg.backoff_min;
    let mut attempt = 0u32;
    loop {
        let deadline = shared.shutdown_deadline();
        let mut timeout = cfg.request_timeout;
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                warn(shared, &cfg.url, &format_args!("shutdown deadline passed, {n} entries not sent"));
                return Settled::Failed;
            }
            timeout = timeout.min(left);
        }
        let why = match tokio::time::timeout(timeout, attempt_once(cfg, client, body.clone())).await {
            Ok(Outcome::Sent) => {
                shared.counters.last_ok_ms.store(am_core::exporter::unix_ms(), Relaxed);
                shared.counters.batches.fetch_add(1, Relaxed);
                return Settled::Sent;
            }
            Ok(Outcome::Reject(why)) => {
                warn(shared, &cfg.url, &format_args!("push rejected, {n} entries dropped: {why}"));
                return Settled::Rejected;
            }
            Ok(Outcome::Retry(why)) => why,
            Err(_) => format!("timed out after {timeout:?}"),
        };
        attempt += 1;
        if attempt > cfg.max_retries {
            let retries = cfg.max_retries;
            warn(shared, &cfg.url, &format_args!("push failed after {retries} retries, {n} entries dropped: {why}"));
            return Settled::Failed;
        }
        warn(shared, &cfg.url, &format_args!("push failed, retrying: {why}"));
        shared.counters.retries.fetch_add(1, Relaxed);
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            // shutdown cuts a backoff short: the deadline decides how long we keep trying
            _ = deadline_rx.wait_for(|d| d.is_some()), if deadline.is_none() => {}
        }
        backoff = (backoff * 2).min(cfg.backoff_max);
    }
}

async fn attempt_once(cfg: &SenderConfig, client: &reqwest::Client, body: Vec<u8>) -> Outcome {
    let mut req = client.post(&cfg.url).header(reqwest::header::CONTENT_TYPE, cfg.format.content_type()).body(body);
    if let Some(t) = &cfg.tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    req = match &cfg.auth {
        Some(Auth::Basic { user, password }) => req.basic_auth(&user.0, Some(&password.0)),
        Some(Auth::Bearer(token)) => req.bearer_auth(&token.0),
        None => req,
    };
    let resp = match req.send().await {
        Ok(r) => r,
        // without_url: the URL holds no credentials, but the message needs no repeat of it
        Err(e) => return Outcome::Retry(e.without_url().to_string()),
    };
    let status = resp.status();
    if status.is_success() {
        return Outcome::Sent;
    }
    // an auth failure's body may echo what we sent: leave it out
    let why = if matches!(status.as_u16(), 401 | 403 | 407) {
        format!("HTTP {status}")
    } else {
        let text: String = resp.text().await.unwrap_or_default().chars().take(256).collect();
        format!("HTTP {status}: {}", redact(cfg, text.trim()))
    };
    if status.as_u16() == 429 || status.is_server_error() { Outcome::Retry(why) } else { Outcome::Reject(why) }
}

/// Replaces any configured credential found in a server's reply with `***`.
fn redact(cfg: &SenderConfig, text: &str) -> String {
    let mut out = text.to_string();
    let secrets: Vec<String> = match &cfg.auth {
        // the header form first: it contains no raw secret once those are replaced
        Some(Auth::Basic { user, password }) => {
            vec![base64(format!("{}:{}", user.0, password.0).as_bytes()), password.0.clone(), user.0.clone()]
        }
        Some(Auth::Bearer(t)) => vec![t.0.clone()],
        None => vec![],
    };
    for s in secrets.iter().filter(|s| s.len() >= 3) {
        out = out.replace(s.as_str(), "***");
    }
    out
}

/// Standard base64 with padding, as in a basic-auth header.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_basic_auth_header() {
        assert_eq!(super::base64(b"loki-user:s3cr3t-Pa55"), "bG9raS11c2VyOnMzY3IzdC1QYTU1");
        assert_eq!(super::base64(b"ab"), "YWI=");
        assert_eq!(super::base64(b"a"), "YQ==");
        assert_eq!(super::base64(b""), "");
    }
}
