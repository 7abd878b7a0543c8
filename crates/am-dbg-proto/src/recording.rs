//! Recordings: one JSON line per [`DbgMsg`] (serde's externally tagged form, Go field
//! names), in arrival order, so every machine's schema precedes its transitions. Lines carry
//! no connection data, which makes record → replay → record byte-identical. One writer
//! ([`RecordingWriter`]) serves `record`, the TUI's `--record` and `import`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::addr::DbgAddr;
use crate::error::Error;
use crate::json::write_json;
use crate::messages::{ClientIdentity, DbgMsg};
use crate::server::{Server, ServerEvent, Sink};
use crate::transport::{AnyClient, ClientTransport, Link};

/// Writes a recording, one JSON line per message, buffered: what was written is on disk
/// after [`flush`](Self::flush), or within [`FLUSH_EVERY`](Self::FLUSH_EVERY) when the
/// writer's owner calls [`flush_if_due`](Self::flush_if_due) as it goes.
///
/// ```
/// use am_dbg_proto::{DbgMsg, DbgMsgStruct, RecordingWriter, parse_recording};
/// let mut w = RecordingWriter::new(Vec::new());
/// w.write(&DbgMsg::Schema(DbgMsgStruct { id: "m".into(), ..Default::default() }))?;
/// let bytes = w.finish()?;
/// assert_eq!(parse_recording(&bytes[..], "mem")?.len(), 1);
/// # Ok::<(), am_dbg_proto::Error>(())
/// ```
#[derive(Debug)]
pub struct RecordingWriter<W: Write> {
    out: BufWriter<W>,
    line: Vec<u8>,
    written: u64,
    dirty: bool,
    flushed: Instant,
}

impl<W: Write> RecordingWriter<W> {
    /// The longest a written message waits in the buffer when the owner calls
    /// [`flush_if_due`](Self::flush_if_due).
    pub const FLUSH_EVERY: Duration = Duration::from_millis(250);

    /// A writer into `out`.
    pub fn new(out: W) -> Self {
        RecordingWriter {
            out: BufWriter::with_capacity(1 << 16, out),
            line: Vec::with_capacity(1024),
            written: 0,
            dirty: false,
            flushed: Instant::now(),
        }
    }

    /// Appends one message.
    pub fn write(&mut self, msg: &DbgMsg) -> Result<(), Error> {
        self.line.clear();
        write_json(msg, &mut self.line);
        self.line.push(b'\n');
        self.out.write_all(&self.line).map_err(|e| Error::io("write the recording", e))?;
        self.written += 1;
        self.dirty = true;
        Ok(())
    }

    /// Messages written.
    pub fn messages(&self) -> u64 {
        self.written
    }

    /// Writes the buffer out when something waits in it.
    pub fn flush(&mut self) -> Result<(), Error> {
        if self.dirty {
            self.out.flush().map_err(|e| Error::io("write the recording", e))?;
            self.dirty = false;
        }
        self.flushed = Instant::now();
        Ok(())
    }

    /// [`flush`](Self::flush) when [`FLUSH_EVERY`](Self::FLUSH_EVERY) has passed since the
    /// last one.
    pub fn flush_if_due(&mut self) -> Result<(), Error> {
        if self.dirty && self.flushed.elapsed() >= Self::FLUSH_EVERY { self.flush() } else { Ok(()) }
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> Result<W, Error> {
        self.flush()?;
        self.out.into_inner().map_err(|e| Error::io("write the recording", e.into_error()))
    }
}

/// Options of [`Recorder::start`].
#[derive(Clone, Debug, Default)]
pub struct RecordOptions {
    /// Print a live progress line on stderr (messages/s, clients, drops) once a second.
    pub progress: bool,
    /// Stop by itself after this many messages.
    pub max_messages: Option<u64>,
}

/// What a recording session saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordStats {
    /// Lines written.
    pub messages: u64,
    /// Connections that completed the handshake.
    pub clients: u64,
    /// Messages the clients reported dropped.
    pub dropped_reported: u64,
}

#[derive(Default)]
struct Live {
    messages: AtomicU64,
    clients: AtomicU64,
    dropped: AtomicU64,
}

/// A server writing every message it receives to a file.
pub struct Recorder {
    server: Server,
    stop: Option<oneshot::Sender<()>>,
    task: Option<oneshot::Receiver<Result<RecordStats, Error>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    live: Arc<Live>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder").field("addr", &self.server.local_addr()).finish()
    }
}

impl Recorder {
    /// The longest a received message waits in the recorder's buffer before it is written to
    /// the file while the stream goes on; a stop writes everything at once.
    pub const FLUSH_EVERY: Duration = RecordingWriter::<std::fs::File>::FLUSH_EVERY;
    /// How long [`stop`](Recorder::stop) waits for the closed connections' last batches.
    pub const STOP_DEADLINE: Duration = Duration::from_secs(5);

    /// Listens on `listen` and records into `out` (created or truncated).
    pub async fn start(listen: &str, out: &Path, opts: RecordOptions) -> Result<Recorder, Error> {
        let file = std::fs::File::create(out).map_err(|e| Error::io(format!("create {}", out.display()), e))?;
        // whole batches travel to the writer, which runs on its own thread: JSON encoding
        // never competes with receiving and decoding on the server's runtime
        let (tx, rx) = mpsc::channel(64);
        let server = Server::start(listen, Sink::Batches(tx)).await?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let live = Arc::new(Live::default());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
        let (l, path) = (live.clone(), out.to_path_buf());
        let writer = RecordingWriter::new(file);
        let thread = std::thread::Builder::new()
            .name("am-dbg-recorder".into())
            .spawn(move || {
                let _ = done_tx.send(rt.block_on(write_loop(rx, writer, path, opts, stop_rx, l)));
            })
            .map_err(Error::Runtime)?;
        Ok(Recorder { server, stop: Some(stop_tx), task: Some(done_rx), thread: Some(thread), live })
    }

    /// The listening address.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Messages written so far.
    pub fn messages(&self) -> u64 {
        self.live.messages.load(Relaxed)
    }

    /// Stops gracefully: closes the listener and every connection (a client's batch is
    /// either acknowledged and written, or not acknowledged and still the client's), writes
    /// everything received, and closes the file. At most [`Recorder::STOP_DEADLINE`].
    pub async fn stop(mut self) -> Result<RecordStats, Error> {
        self.server.close();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.finish().await
    }

    /// Waits until the recording ends by itself (`max_messages`) and closes the file.
    pub async fn wait(mut self) -> Result<RecordStats, Error> {
        self.finish().await
    }

    async fn finish(&mut self) -> Result<RecordStats, Error> {
        let res = match self.task.take() {
            Some(rx) => rx.await.map_err(|e| Error::Rpc(format!("recorder task: {e}")))?,
            None => Err(Error::Rpc("recorder already finished".into())),
        };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        res
    }
}

async fn write_loop(
    mut rx: mpsc::Receiver<Vec<ServerEvent>>,
    mut out: RecordingWriter<std::fs::File>,
    path: PathBuf,
    opts: RecordOptions,
    mut stop: oneshot::Receiver<()>,
    live: Arc<Live>,
) -> Result<RecordStats, Error> {
    let io = |e: Error| match e {
        Error::Io { source, .. } => Error::io(format!("write {}", path.display()), source),
        e => e,
    };
    let mut stats = RecordStats::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // what arrived is on disk within FLUSH_EVERY even while the stream goes on
    let mut flush = tokio::time::interval(Recorder::FLUSH_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = false;
    let (mut last_n, mut last_t) = (0u64, Instant::now());
    let tty = std::io::stderr().is_terminal();
    let limit = opts.max_messages.unwrap_or(u64::MAX);
    // after a stop request the server is closed: receive until its connections' senders
    // are gone (the channel ends), or the deadline
    let mut stopping = false;
    let drained = tokio::time::sleep(Duration::MAX);
    tokio::pin!(drained);
    while stats.messages < limit {
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            _ = &mut stop, if !stopping => {
                stopping = true;
                drained.as_mut().reset(tokio::time::Instant::now() + Recorder::STOP_DEADLINE);
                continue
            }
            _ = &mut drained, if stopping => {
                tracing::warn!(target: "am_dbg_proto", "am-dbg recorder: connections still open after {:?}; closing the file", Recorder::STOP_DEADLINE);
                break
            }
            _ = tick.tick(), if opts.progress => {
                let rate = (stats.messages - last_n) as f64 / last_t.elapsed().as_secs_f64().max(1e-3);
                (last_n, last_t) = (stats.messages, Instant::now());
                let line = format!(
                    "[am-dbg] {} msgs, {rate:.0} msg/s, {} clients, {} dropped",
                    stats.messages, live.clients.load(Relaxed), stats.dropped_reported
                );
                if tty { eprint!("\r\x1b[2K{line}") } else { eprintln!("{line}") }
                continue;
            }
            _ = flush.tick(), if dirty => {
                out.flush().map_err(io)?;
                dirty = false;
                continue;
            }
        };
        let Some(evs) = ev else { break };
        for ev in evs {
            if stats.messages >= limit {
                break;
            }
            match ev {
                ServerEvent::Message { msg, .. } => {
                    if let DbgMsg::Dropped(d) = &msg {
                        stats.dropped_reported += d.count;
                        live.dropped.fetch_add(d.count, Relaxed);
                    }
                    out.write(&msg).map_err(io)?;
                    dirty = true;
                    stats.messages += 1;
                    live.messages.fetch_add(1, Relaxed);
                }
                ServerEvent::Connected { .. } => {
                    stats.clients += 1;
                    live.clients.fetch_add(1, Relaxed);
                }
                ServerEvent::Disconnected { .. } => {
                    let _ = live.clients.fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
                }
            }
        }
    }
    if opts.progress && tty {
        eprintln!();
    }
    out.flush().map_err(io)?;
    Ok(stats)
}

/// Reads a recording: JSON lines, or — by the name ending in `.gob.br`, feature `go` — a Go
/// `am-dbg` export ([`read_gob_br`](crate::read_gob_br)).
pub fn read_recording(path: &Path) -> Result<Vec<DbgMsg>, Error> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    #[cfg(feature = "go")]
    if path.to_string_lossy().ends_with(".gob.br") {
        return crate::transport::gob::recording::read_gob_br(BufReader::new(f))
            .map_err(|e| Error::Decode(format!("{}: {e}", path.display())));
    }
    parse_recording(BufReader::new(f), &path.display().to_string())
}

/// Writes messages as a recording of JSON lines (the form [`read_recording`] reads).
pub fn write_recording(msgs: &[DbgMsg], out: impl std::io::Write) -> Result<(), Error> {
    let mut w = RecordingWriter::new(out);
    for m in msgs {
        w.write(m)?;
    }
    w.finish().map(drop)
}

/// Reads a recording from `reader`; `name` goes into errors (`name:line: why`). Any bytes
/// give messages or an error, never a panic.
///
/// ```
/// let msgs = am_dbg_proto::parse_recording(&b"\n"[..], "empty").unwrap();
/// assert!(msgs.is_empty());
/// let e = am_dbg_proto::parse_recording(&b"{\"Tx\":"[..], "cut").unwrap_err();
/// assert!(e.to_string().contains("cut:1"), "{e}");
/// ```
pub fn parse_recording(reader: impl BufRead, name: &str) -> Result<Vec<DbgMsg>, Error> {
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Error::io(format!("read {name}"), e))?;
        if line.trim().is_empty() {
            continue;
        }
        let msg = serde_json::from_str(&line).map_err(|e| Error::Decode(format!("{name}:{}: {e}", i + 1)))?;
        out.push(msg);
    }
    Ok(out)
}

/// Sends a recording to the debugger at `to` — any address the tracer takes: `host:port`
/// (ours, or the Go `am-dbg`, found out as the tracer does), `gob://host:port`,
/// `ws://host:port/dbg.ws` — in order and without drops (each batch waits for its answer).
/// Returns the number of messages sent.
pub async fn replay(path: &Path, to: &str) -> Result<u64, Error> {
    let msgs = read_recording(path)?;
    let identity = ClientIdentity {
        name: "am-dbg replay".into(),
        host: String::new(),
        pid: std::process::id(),
        session: 0,
        library: env!("CARGO_PKG_VERSION").into(),
    };
    let link = Link { addr: DbgAddr::parse_required(to)?, client: identity, call_timeout: Duration::from_secs(30) };
    let mut client = AnyClient::new(link);
    client.connect().await?;
    let n = msgs.len() as u64;
    let mut it = msgs.into_iter().peekable();
    let mut left_out = 0;
    while it.peek().is_some() {
        let batch: Vec<_> = it.by_ref().take(1024).collect();
        left_out += client.send(batch).await.map_err(|f| Error::from(f.error))?.dropped;
    }
    if left_out > 0 {
        tracing::warn!(target: "am_dbg_proto", "am-dbg replay: {left_out} transitions had no schema before them and were left out");
    }
    Ok(n - left_out)
}

/// Per-machine figures of a recording.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MachineSummary {
    /// Parent machine ID, or empty.
    pub parent: String,
    /// State names from the last schema.
    pub states: Vec<String>,
    /// Schema messages.
    pub schemas: u64,
    /// Transitions (queued-mutation messages not included).
    pub transitions: u64,
    /// Accepted transitions.
    pub accepted: u64,
    /// Canceled transitions.
    pub canceled: u64,
    /// Queued-mutation messages.
    pub queued: u64,
    /// Activations per state name, from the clocks (odd ticks crossed).
    pub activations: BTreeMap<String, u64>,
    /// Activations of `Exception`.
    pub exceptions: u64,
    /// Messages the client reported dropped.
    pub dropped: u64,
    /// Missing sequence numbers after the machine's first message in the recording.
    pub seq_gaps: u64,
}

/// What `am-dbg summary` prints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Machines by ID.
    pub machines: BTreeMap<String, MachineSummary>,
}

impl Summary {
    /// Summarises messages in order.
    pub fn from_messages<'a>(msgs: impl IntoIterator<Item = &'a DbgMsg>) -> Summary {
        let mut s = Summary::default();
        let mut clocks: HashMap<String, Vec<u64>> = HashMap::new();
        let mut seqs: HashMap<String, u64> = HashMap::new();
        for msg in msgs {
            let m = s.machines.entry(msg.machine_id().to_string()).or_default();
            match msg {
                DbgMsg::Schema(sc) => {
                    m.schemas += 1;
                    m.parent = sc.parent.clone();
                    m.states = sc.states_index.clone();
                }
                DbgMsg::Dropped(d) => m.dropped += d.count,
                DbgMsg::Tx(t) => {
                    let last = seqs.entry(t.machine_id.clone()).or_default();
                    if *last != 0 && t.seq > *last + 1 {
                        m.seq_gaps += t.seq - *last - 1;
                    }
                    *last = (*last).max(t.seq);
                    if t.is_queued {
                        m.queued += 1;
                        continue;
                    }
                    m.transitions += 1;
                    if t.accepted {
                        m.accepted += 1
                    } else {
                        m.canceled += 1
                    }
                    let prev = clocks.entry(t.machine_id.clone()).or_default();
                    for (i, &new) in t.clocks.iter().enumerate() {
                        let old = prev.get(i).copied().unwrap_or(0);
                        let n = new.div_ceil(2).saturating_sub(old.div_ceil(2));
                        if new > old && n > 0 {
                            let name = m.states.get(i).cloned().unwrap_or_else(|| format!("#{i}"));
                            if name == am_core::EXCEPTION {
                                m.exceptions += n;
                            }
                            *m.activations.entry(name).or_default() += n;
                        }
                    }
                    prev.clone_from(&t.clocks);
                }
            }
        }
        s
    }

    /// Reads and summarises a recording.
    pub fn from_file(path: &Path) -> Result<Summary, Error> {
        Ok(Self::from_messages(&read_recording(path)?))
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = |g: fn(&MachineSummary) -> u64| self.machines.values().map(g).sum::<u64>();
        writeln!(
            f,
            "machines: {}, transitions: {}, exceptions: {}, dropped: {}",
            self.machines.len(),
            total(|m| m.transitions),
            total(|m| m.exceptions),
            total(|m| m.dropped)
        )?;
        for (id, m) in &self.machines {
            let parent = if m.parent.is_empty() { String::new() } else { format!(" (parent {})", m.parent) };
            writeln!(f, "\n{id}{parent}")?;
            writeln!(
                f,
                "  transitions {} (accepted {}, canceled {}), queued {}, schemas {}",
                m.transitions, m.accepted, m.canceled, m.queued, m.schemas
            )?;
            writeln!(f, "  exceptions {}, dropped {}, sequence gaps {}", m.exceptions, m.dropped, m.seq_gaps)?;
            if !m.activations.is_empty() {
                writeln!(f, "  activations:")?;
                for (state, n) in &m.activations {
                    writeln!(f, "    {state:<24} {n}")?;
                }
            }
        }
        Ok(())
    }
}
