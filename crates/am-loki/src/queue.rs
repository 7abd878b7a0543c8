//! The bounded in-memory queue between the tracer hook and the sender, and the records it
//! holds. Stream label sets are built once per machine and shared by its records.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use am_core::TraceContext;

/// Stream label: the normalised service name (`AM_SERVICE`).
pub const LABEL_SERVICE: &str = am_core::conventions::loki::SERVICE_NAME;
/// Stream label: the raw machine ID (as the Go binding names it).
pub const LABEL_MACHINE_ID: &str = am_core::conventions::loki::MACHINE_ID;
/// Stream label: `DEBUG`, `INFO` or `ERROR`.
pub const LABEL_LEVEL: &str = am_core::conventions::loki::LEVEL;
/// Structured metadata: the ID of the transition the entry was logged in.
pub const META_TX_ID: &str = am_core::conventions::loki::META_TX_ID;
/// Structured metadata: the W3C trace ID (32 hex chars) of the machine's span, when a
/// tracing exporter set one.
pub const META_TRACE_ID: &str = am_core::conventions::loki::META_TRACE_ID;
/// Structured metadata: the span ID (16 hex chars) of the machine's span.
pub const META_SPAN_ID: &str = am_core::conventions::loki::META_SPAN_ID;
/// Structured metadata: the machine's active states, space-separated (opt-in).
pub const META_STATES: &str = am_core::conventions::loki::META_STATES;

/// The `level` label of an entry.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum LokiLevel {
    /// Decisions and Everything.
    Debug,
    /// External, Changes and Ops.
    Info,
    /// Lines starting with `[error`.
    Error,
}

impl LokiLevel {
    /// `DEBUG`, `INFO` or `ERROR`, as the Go binding sends.
    pub fn as_str(self) -> &'static str {
        match self {
            LokiLevel::Debug => "DEBUG",
            LokiLevel::Info => "INFO",
            LokiLevel::Error => "ERROR",
        }
    }
    /// Maps a machine log entry (its text without the `[id] ` prefix) to a level.
    pub fn of(level: am_core::LogLevel, text: &str) -> Self {
        use am_core::LogLevel::*;
        if text.starts_with("[error") {
            return LokiLevel::Error;
        }
        match level {
            Decisions | Everything => LokiLevel::Debug,
            Nothing | External | Changes | Ops => LokiLevel::Info,
        }
    }
    fn index(self) -> usize {
        self as usize
    }
}

/// One stream's label set, in both the forms the push formats need.
#[derive(Debug)]
pub(crate) struct StreamKey {
    /// Selector form, labels sorted by name: `{asyncmachine_id="m", level="INFO", …}`.
    pub(crate) selector: String,
    /// `(name, value)` pairs, sorted by name.
    pub(crate) labels: [(&'static str, String); 3],
}

impl StreamKey {
    fn new(service: &str, machine_id: &str, level: LokiLevel) -> Self {
        let labels = [
            (LABEL_MACHINE_ID, machine_id.to_string()),
            (LABEL_LEVEL, level.as_str().to_string()),
            (LABEL_SERVICE, service.to_string()),
        ];
        let mut selector = String::from("{");
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                selector.push_str(", ");
            }
            selector.push_str(k);
            selector.push_str("=\"");
            // Go string-literal rules, which JSON escaping satisfies
            am_core::exporter::json::push_str(&mut selector, v);
            selector.push('"');
        }
        selector.push('}');
        StreamKey { selector, labels }
    }
}

/// The three streams of one machine.
#[derive(Debug)]
pub(crate) struct MachineStreams {
    streams: [Arc<StreamKey>; 3],
}

impl MachineStreams {
    fn new(service: &str, id: &str) -> Self {
        let k = |l| Arc::new(StreamKey::new(service, id, l));
        MachineStreams { streams: [k(LokiLevel::Debug), k(LokiLevel::Info), k(LokiLevel::Error)] }
    }
}

/// A transition ID, inline when short (they are 16 chars), so the hook does not allocate.
#[derive(Clone, Debug)]
pub(crate) enum TxIdBuf {
    Inline(u8, [u8; 24]),
    Heap(Box<str>),
}

impl TxIdBuf {
    pub(crate) fn new(s: &str) -> Self {
        let mut b = [0u8; 24];
        match b.get_mut(..s.len()) {
            Some(dst) => {
                dst.copy_from_slice(s.as_bytes());
                TxIdBuf::Inline(s.len() as u8, b)
            }
            None => TxIdBuf::Heap(s.into()),
        }
    }
    pub(crate) fn as_str(&self) -> &str {
        match self {
            TxIdBuf::Inline(n, b) => std::str::from_utf8(&b[..*n as usize]).unwrap_or_default(),
            TxIdBuf::Heap(s) => s,
        }
    }
}

/// One log line waiting to be pushed: its text without the `LEVEL: ` the push adds.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) stream: Arc<StreamKey>,
    pub(crate) level: LokiLevel,
    pub(crate) ts_ns: i64,
    pub(crate) text: String,
    pub(crate) tx_id: Option<TxIdBuf>,
    pub(crate) trace: Option<TraceContext>,
    pub(crate) states: Option<String>,
}

impl Record {
    /// Approximate encoded size, for the batch byte limit.
    pub(crate) fn size(&self) -> usize {
        self.text.len()
            + self.level.as_str().len()
            + 2
            + self.tx_id.as_ref().map_or(0, |t| t.as_str().len() + 8)
            + self.trace.map_or(0, |_| 64)
            + self.states.as_ref().map_or(0, |s| s.len() + 8)
            + 16
    }
}

/// A record before it has a stream and a timestamp.
#[derive(Debug)]
pub(crate) struct NewRecord {
    pub(crate) level: LokiLevel,
    pub(crate) ts_ns: i64,
    pub(crate) text: String,
    pub(crate) tx_id: Option<TxIdBuf>,
    pub(crate) trace: Option<TraceContext>,
    pub(crate) states: Option<String>,
}

/// What happened to a pushed record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; the queue now holds `len` records of about `bytes` bytes.
    Queued { len: usize, bytes: usize, dropped_oldest: bool },
    /// Refused: the tracer is shutting down.
    Closed,
}

/// The bounded queue: on overflow the oldest record is dropped.
#[derive(Debug)]
pub(crate) struct Queue {
    items: VecDeque<Record>,
    bytes: usize,
    cap: usize,
    last_ts: i64,
    service: String,
    machines: HashMap<Box<str>, Arc<MachineStreams>>,
    max_machines: usize,
    closed: bool,
    /// Line buffers of pushed records, for the next records to reuse (lines are written by
    /// the hook and read by the sender: without this, every line is allocated on one thread
    /// and freed on another).
    spare: Vec<String>,
}

/// Line buffers kept for reuse at most, and the longest kept.
const SPARE_LINES: usize = 4096;
const SPARE_LINE_CAP: usize = 512;

impl Queue {
    pub(crate) fn new(service: String, cap: usize, max_machines: usize) -> Self {
        Queue {
            items: VecDeque::with_capacity(cap.min(1024)),
            bytes: 0,
            cap: cap.max(1),
            last_ts: 0,
            service,
            machines: HashMap::new(),
            max_machines,
            closed: false,
            spare: Vec::new(),
        }
    }

    /// An empty line buffer, reused when one is spare.
    pub(crate) fn line_buf(&mut self) -> String {
        self.spare.pop().unwrap_or_default()
    }

    /// Takes the line buffers of pushed records back.
    pub(crate) fn recycle(&mut self, batch: &mut Vec<Record>) {
        for r in batch.drain(..) {
            self.keep(r.text);
        }
    }

    fn keep(&mut self, mut line: String) {
        if self.spare.len() < SPARE_LINES && line.capacity() <= SPARE_LINE_CAP {
            line.clear();
            self.spare.push(line);
        }
    }

    /// The streams of a machine, made on first use; `None` beyond `max_machines`.
    pub(crate) fn machine_streams(&mut self, machine_id: &str) -> Option<Arc<MachineStreams>> {
        if let Some(s) = self.machines.get(machine_id) {
            return Some(s.clone());
        }
        if self.machines.len() >= self.max_machines {
            return None;
        }
        let s = Arc::new(MachineStreams::new(&self.service, machine_id));
        self.machines.insert(machine_id.into(), s.clone());
        Some(s)
    }

    /// Queues a record of the machine `machine_id` (its streams found or made here).
    #[cfg(test)]
    fn push(&mut self, machine_id: &str, r: NewRecord) -> Pushed {
        match self.machine_streams(machine_id) {
            Some(s) => self.push_to(&s, r),
            None => Pushed::Closed,
        }
    }

    /// Queues a record into a machine's streams.
    pub(crate) fn push_to(&mut self, streams: &MachineStreams, r: NewRecord) -> Pushed {
        if self.closed {
            return Pushed::Closed;
        }
        let stream = streams.streams[r.level.index()].clone();
        // strictly increasing timestamps keep the order of lines within every stream
        let ts_ns = r.ts_ns.max(self.last_ts + 1);
        self.last_ts = ts_ns;
        let rec =
            Record { stream, level: r.level, ts_ns, text: r.text, tx_id: r.tx_id, trace: r.trace, states: r.states };
        let mut dropped_oldest = false;
        if self.items.len() >= self.cap
            && let Some(old) = self.items.pop_front()
        {
            self.bytes -= old.size();
            dropped_oldest = true;
            self.keep(old.text);
        }
        self.bytes += rec.size();
        self.items.push_back(rec);
        Pushed::Queued { len: self.items.len(), bytes: self.bytes, dropped_oldest }
    }

    /// Takes the oldest records, at most `max_entries` and about `max_bytes` (at least one).
    pub(crate) fn take(&mut self, max_entries: usize, max_bytes: usize, out: &mut Vec<Record>) {
        let mut bytes = 0;
        while out.len() < max_entries {
            let Some(size) = self.items.front().map(Record::size) else { break };
            if !out.is_empty() && bytes + size > max_bytes {
                break;
            }
            if let Some(r) = self.items.pop_front() {
                bytes += size;
                self.bytes -= size;
                out.push(r);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
    /// Forgets a disposed machine's label sets (queued records keep theirs).
    pub(crate) fn forget_machine(&mut self, machine_id: &str) {
        self.machines.remove(machine_id);
    }
    /// Refuses further records; returns how many are still queued.
    pub(crate) fn close(&mut self) -> usize {
        self.closed = true;
        self.items.len()
    }
    /// Empties the queue, returning how many records were discarded.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.items.len();
        self.items.clear();
        self.bytes = 0;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(line: &str) -> NewRecord {
        NewRecord { level: LokiLevel::Info, ts_ns: 5, text: line.into(), tx_id: None, trace: None, states: None }
    }

    #[test]
    fn drops_oldest_and_orders_timestamps() {
        let mut q = Queue::new("svc".into(), 2, 10);
        assert!(matches!(q.push("m", rec("a")), Pushed::Queued { dropped_oldest: false, .. }));
        q.push("m", rec("b"));
        assert!(matches!(q.push("m", rec("c")), Pushed::Queued { len: 2, dropped_oldest: true, .. }));
        let mut out = Vec::new();
        q.take(10, usize::MAX, &mut out);
        let lines: Vec<_> = out.iter().map(|r| (r.text.as_str(), r.ts_ns)).collect();
        assert_eq!(lines, [("b", 6), ("c", 7)]);
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn caps_machines_and_escapes_labels() {
        let mut q = Queue::new("svc".into(), 8, 1);
        q.push("a\"b\\c\n", rec("x"));
        assert!(q.machine_streams("other").is_none(), "one machine at most");
        let mut out = Vec::new();
        q.take(1, 1, &mut out);
        assert_eq!(out[0].stream.selector, r#"{asyncmachine_id="a\"b\\c\n", level="INFO", service_name="svc"}"#);
        q.forget_machine("a\"b\\c\n");
        assert!(matches!(q.push("other", rec("y")), Pushed::Queued { .. }));
        q.close();
        assert_eq!(q.push("other", rec("z")), Pushed::Closed);
    }

    #[test]
    fn batch_byte_limit_takes_at_least_one() {
        let mut q = Queue::new("svc".into(), 8, 10);
        for l in ["aaaa", "bbbb", "cccc"] {
            q.push("m", rec(l));
        }
        let mut out = Vec::new();
        // 26 bytes each: "INFO: aaaa" and the entry's overhead
        q.take(10, 60, &mut out);
        assert_eq!(out.len(), 2);
        out.clear();
        q.push("m", rec("dddd"));
        q.take(10, 1, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn tx_ids_inline_or_on_the_heap() {
        assert_eq!(TxIdBuf::new("0123456789abcdef").as_str(), "0123456789abcdef");
        assert!(matches!(TxIdBuf::new("0123456789abcdef"), TxIdBuf::Inline(..)));
        let long = "x".repeat(40);
        assert_eq!(TxIdBuf::new(&long).as_str(), long);
        assert_eq!(TxIdBuf::new("").as_str(), "");
    }

    #[test]
    fn level_mapping() {
        use am_core::LogLevel::*;
        assert_eq!(LokiLevel::of(Changes, "[error] boom"), LokiLevel::Error);
        assert_eq!(LokiLevel::of(External, "hi"), LokiLevel::Info);
        assert_eq!(LokiLevel::of(Ops, "[add] A"), LokiLevel::Info);
        assert_eq!(LokiLevel::of(Decisions, "[rel:remove] A"), LokiLevel::Debug);
        assert_eq!(LokiLevel::of(Everything, "x"), LokiLevel::Debug);
    }
}
