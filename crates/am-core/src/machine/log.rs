//! The machine's log: its settings, and entries handed to tracers (and `tracing`).

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;

use crate::dispatch::Dispatch;
use crate::log::{LogEntry, LogLevel};
use crate::mutation::Args;
use crate::wait::lock;

use super::*;

impl Machine {
    /// Logs a message at level `External` (recorded when the level is ≥ 1).
    pub fn log(&self, msg: impl fmt::Display) {
        self.log_plain(LogLevel::External, || msg.to_string());
    }

    /// Whether args are included in log lines (`log_args` / `AM_LOG_ARGS`).
    pub fn log_args(&self) -> bool {
        self.0.opts.log_args
    }
    /// Whether check transitions are logged (`log_checks` / `AM_LOG_CHECKS`).
    pub fn log_checks(&self) -> bool {
        self.0.opts.log_checks
    }
    /// Whether transitions record steps.
    pub fn log_steps(&self) -> bool {
        self.0.steps.load(Relaxed)
    }
    /// Args as the short pairs this machine's args mapper shows in logs.
    pub fn map_args(&self, args: &Args) -> Vec<(String, String)> {
        (self.0.opts.args_mapper)(args)
    }
    /// The `[id]` text log lines start with (the ID, shortened to 5 characters unless
    /// `short_id_in_logs(false)`), without brackets.
    pub fn log_prefix(&self) -> &str {
        let id = &self.0.id;
        if self.0.opts.short_id { id.get(..5.min(id.len())).unwrap_or(id) } else { id }
    }

    /// Records an entry: into the running transition's `log_entries` while one runs (a
    /// handler, or another thread, logging during it; semantics page, *Logging*), else kept
    /// for the next one's `pre_log_entries` (a consecutive duplicate dropped).
    pub(crate) fn log_plain(&self, level: LogLevel, text: impl FnOnce() -> String) {
        if level > self.log_level() || level == LogLevel::Nothing {
            return;
        }
        let entry = LogEntry { level, text: format!("[{}] {}", self.log_prefix(), text()) };
        // tracers hear it first, outside the lock, tagged with the transition running now
        let seq = self.0.running_tx.load(Relaxed);
        let tx = (seq != 0).then(|| self.0.tx_ids.id(seq));
        self.emit_log(tx.as_ref().map(crate::transition::TxId::as_str), &entry, None);
        let mut st = lock(&self.0.st);
        // a run is in progress: the line belongs to its transition (one that ended takes
        // it as its successor's pre-log, or the end of the run does)
        if st.running {
            st.tx_log.push(entry);
            // the runner takes it after the handler returns (or at the transition's end)
            self.0.tx_log_pending.store(true, Relaxed);
        } else if st.pre_log.last() != Some(&entry) {
            st.pre_log.push(entry);
        }
    }

    /// Moves what was logged into the running transition (by a handler, or another thread)
    /// into its `log_entries`; a relaxed load when nothing was.
    #[inline]
    pub(crate) fn drain_tx_log(&self, into: &mut Vec<LogEntry>) {
        if self.0.tx_log_pending.load(Relaxed) {
            let mut st = lock(&self.0.st);
            self.0.tx_log_pending.store(false, Relaxed);
            into.append(&mut st.tx_log);
        }
    }

    /// Passes an entry to `tracing` (feature) and to the tracers interested in logs: the
    /// runner's cached dispatch inside a transition, else the bound one.
    pub(crate) fn emit_log(&self, tx_id: Option<&str>, entry: &LogEntry, cached: Option<&Dispatch>) {
        #[cfg(feature = "tracing")]
        self.trace_event(tx_id, entry);
        match cached {
            Some(d) => d.log(self, tx_id, entry),
            None if self.0.has_tracers.load(Relaxed) => self.dispatch().log(self, tx_id, entry),
            None => {}
        }
    }

    /// The entry as a `tracing` event (target `am_core`): `machine`, `tx`, `trace_id` and
    /// `span_id` (of the machine's span, when a tracing exporter set one) as fields, so a
    /// JSON log line joins the trace it belongs to. Decisions and everything are `DEBUG`,
    /// the rest `INFO`.
    #[cfg(feature = "tracing")]
    fn trace_event(&self, tx_id: Option<&str>, entry: &LogEntry) {
        use crate::trace_ctx::{SpanIdHex, TraceIdHex};
        let cx = self.trace_context();
        let (trace, span) = match &cx {
            Some(c) => (Some(TraceIdHex(&c.trace_id)), Some(SpanIdHex(&c.span_id))),
            None => (None, None),
        };
        macro_rules! event {
            ($lvl:expr) => {
                tracing::event!(
                    target: "am_core",
                    $lvl,
                    machine = %self.0.id,
                    tx = tx_id.unwrap_or(""),
                    trace_id = trace.as_ref().map(tracing::field::display),
                    span_id = span.as_ref().map(tracing::field::display),
                    level = entry.level as u8,
                    "{}",
                    entry.text
                )
            };
        }
        if entry.level >= LogLevel::Decisions {
            event!(tracing::Level::DEBUG);
        } else {
            event!(tracing::Level::INFO);
        }
    }
}
