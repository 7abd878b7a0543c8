//! The tracer's background task, the same for every protocol: connect (the transport does
//! the handshake), send every schema, then batches from the outbox; count what arrived and
//! what did not; reconnect with backoff when the server goes away.

use am_core::exporter::{Unpoison, Watch};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use crate::clock::Clock;
use crate::outbox::{Outbox, Taken};
use crate::service::EncodedBatch;
use crate::transport::{AnyClient, Arrived, ClientTransport, Link, TransportError};

/// Sender settings, fixed at build time.
#[derive(Debug, Clone)]
pub(crate) struct SenderConfig {
    /// Where to, and as whom.
    pub(crate) link: Link,
    pub(crate) max_batch: usize,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
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
    /// A batch failed: of its `n` transitions, those that arrived before the failure count as
    /// sent, the rest are dropped (and noted for the drop notice).
    pub(crate) fn batch_failed(&self, taken: &Taken, n: u64, arrived: Arrived) {
        self.outbox().fail(taken, arrived);
        let sent = arrived.txs.min(n);
        if sent > 0 {
            self.counters.sent.fetch_add(sent, Relaxed);
            self.counters.last_ok_ms.store(am_core::exporter::unix_ms(), Relaxed);
        }
        self.counters.dropped.fetch_add(n - sent, Relaxed);
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
    Failed(TransportError),
}

/// The sender's main loop; returns when the tracer is dropped.
pub(crate) async fn run(shared: Arc<Shared>) {
    let cfg = shared.config.clone();
    let addr = cfg.link.addr.to_string();
    let mut transport = AnyClient::new(cfg.link.clone());
    let mut backoff = cfg.backoff_min;
    while !shared.is_shutdown() {
        let connected = transport.connect().await;
        shared.counters.connects.store(transport.connections(), Relaxed);
        match connected {
            Ok(()) => {
                backoff = cfg.backoff_min;
                shared.counters.connected.store(true, Relaxed);
                tracing::debug!(target: "am_dbg_proto", addr, "am-dbg: connected");
                let ended = serve(&shared, &mut transport).await;
                shared.counters.connected.store(false, Relaxed);
                match ended {
                    Ended::Shutdown => return,
                    Ended::Failed(e) => {
                        shared.counters.send_errors.fetch_add(1, Relaxed);
                        warn(&shared, &addr, &format_args!("connection lost, reconnecting: {e}"));
                    }
                }
            }
            Err(e) => warn(&shared, &addr, &format_args!("cannot connect: {e}")),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shared.stop.notified() => {}
        }
        backoff = (backoff * 2).min(cfg.backoff_max);
    }
}

/// The next chunk with something to send, waiting (parked) while the outbox is empty and
/// lingering briefly after a wake-up to gather a batch; `None` once shut down and drained.
async fn next_chunk(shared: &Shared) -> Option<Taken> {
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

async fn serve<T: ClientTransport>(shared: &Shared, transport: &mut T) -> Ended {
    let cfg = &shared.config;
    // schemas first, on every (re)connect; they stay in the outbox's machine table if this fails
    let schemas = shared.outbox().take_schemas();
    if !schemas.is_empty() {
        let sent = transport.send(schemas).await;
        shared.counters.connects.store(transport.connections(), Relaxed);
        if let Err(f) = sent {
            return Ended::Failed(f.error);
        }
    }
    let mut messages = Vec::with_capacity(cfg.max_batch);
    loop {
        let Some(mut taken) = next_chunk(shared).await else { return Ended::Shutdown };
        // a server that takes encoded pushes gets the chunk serialised in place; others the
        // messages
        let encoded = match transport.takes_encoded() {
            true => match taken.encode(&shared.clock.anchor()) {
                Ok(e) => Some(e),
                Err(e) => {
                    warn(shared, &cfg.link.addr.to_string(), &format_args!("cannot encode a batch: {e}"));
                    None
                }
            },
            false => None,
        };
        let (n, sent) = match encoded {
            Some((bytes, n)) => (n, transport.send_encoded(EncodedBatch(bytes)).await),
            None => {
                let n = taken.write_messages(&mut messages, &shared.clock.anchor());
                (n, transport.send(std::mem::take(&mut messages)).await)
            }
        };
        shared.counters.connects.store(transport.connections(), Relaxed);
        match sent {
            Ok(s) => shared.batch_sent(taken, n - s.dropped.min(n), s.dropped.min(n)),
            Err(f) => {
                shared.batch_failed(&taken, n, f.arrived);
                return Ended::Failed(f.error);
            }
        }
    }
}
