//! The tracer's background task: connect, handshake, send schemas, then batches; reconnect
//! with backoff when the server goes away.

use am_core::exporter::{Unpoison, Watch};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tarpc::client;
use tarpc::tokio_serde::formats::Bincode;
use tokio::sync::Notify;

use crate::addr::Transport;
use crate::clock::Clock;
use crate::error::Error;
use crate::messages::{Batch, ClientIdentity, DbgMsg, Hello, PROTOCOL_VERSION};
use crate::outbox::{Outbox, Taken};
use crate::service::{DbgServiceClient, MAX_FRAME_LEN};

/// Sender settings, fixed at build time.
#[derive(Debug, Clone)]
pub(crate) struct SenderConfig {
    /// `host:port`, without the transport's scheme.
    pub(crate) addr: String,
    #[cfg_attr(not(feature = "go"), allow(dead_code))]
    pub(crate) transport: Transport,
    pub(crate) client: ClientIdentity,
    pub(crate) max_batch: usize,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) call_timeout: Duration,
    pub(crate) linger: Duration,
}

/// Counters shared by the hooks, the sender and [`DbgStats`](crate::DbgStats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sent: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) connects: AtomicU64,
    pub(crate) send_errors: AtomicU64,
    pub(crate) connected: AtomicBool,
    /// Unix ms of the last batch the server accepted (0: none yet).
    pub(crate) last_ok_ms: AtomicU64,
}

/// Everything the hooks and the sender share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) outbox: Mutex<Outbox>,
    pub(crate) work: Notify,
    pub(crate) stop: Notify,
    pub(crate) shutdown: AtomicBool,
    /// The sender found nothing to do and waits for a wake-up; only then do hooks notify.
    pub(crate) parked: AtomicBool,
    pub(crate) counters: Counters,
    /// Notified after every batch sent or failed, for flushes waiting on [`settled`](Self::settled).
    pub(crate) progress: Watch<()>,
    pub(crate) config: SenderConfig,
    pub(crate) log: am_core::exporter::LogLimiter,
    /// Hooks read it; the sender turns the readings into Unix time.
    pub(crate) clock: Clock,
}

impl Shared {
    pub(crate) fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unpoison()
    }
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Relaxed)
    }
    /// Called by hooks after a push into an empty outbox: wakes the sender only when it is
    /// parked, so a busy stream costs no wake-ups on the machine's thread.
    pub(crate) fn wake(&self) {
        if self.parked.load(Relaxed) && self.parked.swap(false, SeqCst) {
            self.work.notify_one();
        }
    }
    /// A batch went out: `sent` of its transitions delivered, `dropped` left out; the chunk
    /// goes back for reuse and flushes waiting on progress wake up.
    pub(crate) fn batch_sent(&self, mut taken: Taken, sent: u64, dropped: u64) {
        self.counters.batches.fetch_add(1, Relaxed);
        self.counters.sent.fetch_add(sent, Relaxed);
        self.counters.last_ok_ms.store(am_core::exporter::unix_ms(), Relaxed);
        if dropped > 0 {
            self.counters.dropped.fetch_add(dropped, Relaxed);
        }
        taken.clear();
        self.outbox().done(taken);
        self.progress.notify();
    }
    /// A batch failed: its `n` transitions are dropped (and noted for the drop notice).
    pub(crate) fn batch_failed(&self, taken: &Taken, n: u64) {
        self.outbox().fail(taken);
        self.counters.dropped.fetch_add(n, Relaxed);
        self.progress.notify();
    }
    /// Records that left the outbox for good (sent or dropped).
    pub(crate) fn settled(&self) -> u64 {
        self.counters.sent.load(Relaxed) + self.counters.dropped.load(Relaxed)
    }
}

impl am_core::exporter::StatsSource for Shared {
    fn exporter_stats(&self) -> am_core::exporter::ExporterStats {
        let c = &self.counters;
        // the settled counts first: whatever they count was enqueued before, so the
        // outbox's count read after covers it
        let (sent, dropped) = (c.sent.load(Relaxed), c.dropped.load(Relaxed));
        let produced = self.outbox().enqueued();
        am_core::exporter::ExporterStats {
            produced,
            sent,
            // a batch that failed is dropped (and announced to the server with a drop notice)
            dropped,
            failed: 0,
            // in the outbox or in the batch being sent
            queued: produced.saturating_sub(sent + dropped),
            connected: Some(c.connected.load(Relaxed)),
            last_success_ms: am_core::exporter::last_ms(c.last_ok_ms.load(Relaxed)),
        }
    }
}

/// Logs a warning about `addr`, at most once per interval (the rest are counted).
pub(crate) fn warn(shared: &Shared, addr: &str, msg: &dyn std::fmt::Display) {
    if let Some(held) = shared.log.allow() {
        tracing::warn!(target: "am_dbg_proto", addr, held_back = held, "am-dbg: {msg}");
    }
}

enum Ended {
    Shutdown,
    Failed(Error),
}

/// The sender's main loop; returns when the tracer is dropped.
pub(crate) async fn run(shared: Arc<Shared>) {
    #[cfg(feature = "go")]
    if shared.config.transport != Transport::Native {
        return crate::go::client::run(shared).await;
    }
    let cfg = shared.config.clone();
    let mut backoff = cfg.backoff_min;
    while !shared.is_shutdown() {
        match connect(&cfg).await {
            Ok(client) => {
                backoff = cfg.backoff_min;
                shared.counters.connects.fetch_add(1, Relaxed);
                shared.counters.connected.store(true, Relaxed);
                tracing::debug!(target: "am_dbg_proto", addr = cfg.addr, "am-dbg: connected");
                let ended = serve(&shared, &client).await;
                shared.counters.connected.store(false, Relaxed);
                match ended {
                    Ended::Shutdown => return,
                    Ended::Failed(e) => {
                        shared.counters.send_errors.fetch_add(1, Relaxed);
                        warn(&shared, &cfg.addr, &format_args!("connection lost, reconnecting: {e}"));
                    }
                }
            }
            Err(e) => warn(&shared, &cfg.addr, &format_args!("cannot connect: {e}")),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shared.stop.notified() => {}
        }
        backoff = (backoff * 2).min(cfg.backoff_max);
    }
}

async fn connect(cfg: &SenderConfig) -> Result<DbgServiceClient, Error> {
    let mut conn = tarpc::serde_transport::tcp::connect(cfg.addr.as_str(), Bincode::default);
    conn.config_mut().max_frame_length(MAX_FRAME_LEN);
    let transport = tokio::time::timeout(cfg.call_timeout, conn)
        .await
        .map_err(|_| Error::Rpc("connect timed out".into()))?
        .map_err(|e| Error::io(format!("connect to {}", cfg.addr), e))?;
    let client = DbgServiceClient::new(client::Config::default(), transport).spawn();
    let hello = Hello { protocol: PROTOCOL_VERSION, client: cfg.client.clone() };
    client.hello(ctx(cfg), hello).await.map_err(|e| Error::Rpc(e.to_string()))??;
    Ok(client)
}

fn ctx(cfg: &SenderConfig) -> tarpc::context::Context {
    let mut c = tarpc::context::current();
    c.deadline = Instant::now() + cfg.call_timeout;
    c
}

async fn push(cfg: &SenderConfig, client: &DbgServiceClient, messages: Vec<DbgMsg>) -> Result<(), Error> {
    client.push(ctx(cfg), Batch { messages }).await.map_err(|e| Error::Rpc(e.to_string()))??;
    Ok(())
}

/// The next chunk with something to send, waiting (parked) while the outbox is empty and
/// lingering briefly after a wake-up to gather a batch; `None` once shut down and drained.
/// Both transports' loops take from the outbox through this.
pub(crate) async fn next_chunk(shared: &Shared) -> Option<Taken> {
    let cfg = &shared.config;
    loop {
        let mut taken = shared.outbox().take();
        if !taken.is_empty() {
            return Some(taken);
        }
        taken.clear();
        shared.outbox().done(taken);
        if shared.is_shutdown() {
            return None;
        }
        shared.parked.store(true, SeqCst);
        if !shared.outbox().is_empty() {
            shared.parked.store(false, SeqCst);
            continue;
        }
        tokio::select! {
            _ = shared.work.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        shared.parked.store(false, SeqCst);
        // gather a batch rather than sending each message as it comes
        if !shared.is_shutdown() && !cfg.linger.is_zero() {
            tokio::time::sleep(cfg.linger).await;
        }
    }
}

async fn serve(shared: &Shared, client: &DbgServiceClient) -> Ended {
    let cfg = &shared.config;
    // schemas first, on every (re)connect; they stay in the outbox's machine table if this fails
    let schemas = shared.outbox().take_schemas();
    if !schemas.is_empty()
        && let Err(e) = push(cfg, client, schemas).await
    {
        return Ended::Failed(e);
    }
    let mut messages = Vec::with_capacity(cfg.max_batch);
    loop {
        let Some(mut taken) = next_chunk(shared).await else { return Ended::Shutdown };
        let n = taken.write_messages(&mut messages, &shared.clock.anchor());
        match push(cfg, client, std::mem::take(&mut messages)).await {
            Ok(()) => shared.batch_sent(taken, n, 0),
            Err(e) => {
                shared.batch_failed(&taken, n);
                return Ended::Failed(e);
            }
        }
    }
}
