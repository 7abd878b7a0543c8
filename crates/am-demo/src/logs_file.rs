//! Machine log entries as JSON lines with OTLP LogRecord field names (`timeUnixNano`,
//! `severityText`, `body`, `attributes`, `traceId`, `spanId`), written off the machine's
//! thread: the hook only hands a line to a bounded channel.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use am_core::{Interest, LogEntry, Machine, Tracer};
use serde_json::json;

/// Writes log entries of every machine it is bound to (inherited by submachines).
pub struct LogsFile {
    tx: SyncSender<String>,
    /// Entries dropped because the writer fell behind.
    pub dropped: AtomicU64,
}

impl LogsFile {
    /// Creates `path` and starts the writer thread.
    pub fn create(path: &Path) -> std::io::Result<(LogsFile, JoinHandle<std::io::Result<u64>>)> {
        let out = BufWriter::new(std::fs::File::create(path)?);
        let (tx, rx) = sync_channel(10_000);
        let writer = std::thread::spawn(move || write_all(rx, out));
        Ok((LogsFile { tx, dropped: AtomicU64::new(0) }, writer))
    }
}

fn write_all(rx: Receiver<String>, mut out: BufWriter<std::fs::File>) -> std::io::Result<u64> {
    let mut n = 0;
    for line in rx {
        if line.is_empty() {
            break; // `close` was called
        }
        writeln!(out, "{line}")?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

impl LogsFile {
    /// Asks the writer to stop after the lines already queued (machines may still hold the
    /// tracer, so the channel itself does not close).
    pub fn close(&self) {
        let _ = self.tx.send(String::new());
    }
}

impl Tracer for LogsFile {
    fn id(&self) -> &str {
        "am-demo-logs"
    }
    fn inheritable(&self) -> bool {
        true
    }
    fn interest(&self) -> Interest {
        Interest::LOG
    }
    fn log(&self, m: &Machine, tx_id: Option<&str>, e: &LogEntry) {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let ctx = m.trace_context();
        let line = json!({
            "timeUnixNano": nanos.to_string(),
            "severityText": e.level.as_str(),
            "body": {"stringValue": e.message()},
            "attributes": [
                {"key": "asyncmachine.id", "value": {"stringValue": m.id()}},
                {"key": "asyncmachine.tx_id", "value": {"stringValue": tx_id.unwrap_or("")}},
            ],
            "traceId": ctx.map(|c| c.trace_id_hex()).unwrap_or_default(),
            "spanId": ctx.map(|c| c.span_id_hex()).unwrap_or_default(),
        });
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(line.to_string()) {
            self.dropped.fetch_add(1, Relaxed);
        }
    }
}
