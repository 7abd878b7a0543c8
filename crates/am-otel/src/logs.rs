//! [`OtelLogTracer`]: machine log entries as OTel log records (spec telemetry §4).

use std::sync::Arc;
use std::time::SystemTime;

use am_core::{Attach, Interest, LogEntry, LogLevel, Machine, Tracer};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};
use opentelemetry_sdk::logs::{SdkLogger, SdkLoggerProvider};

/// The tracer ID (`Tracer::id`).
pub const LOG_TRACER_ID: &str = "am-otel-log";
/// Record attribute: the machine ID.
pub const ATTR_MACHINE_ID: &str = am_core::conventions::otel::LOG_MACHINE_ID;
/// Record attribute: the transition ID, for lines logged inside a transition.
pub const ATTR_TX_ID: &str = am_core::conventions::otel::LOG_TX_ID;
/// Record attribute: the machine's active states, space-separated (opt-in).
pub const ATTR_STATES: &str = am_core::conventions::otel::LOG_STATES;

/// A [`Tracer`] whose `log` hook emits each machine log entry (at the machine's log level)
/// as an OTel log record: body = the line without the `[id] ` prefix, attributes
/// [`ATTR_MACHINE_ID`], [`ATTR_TX_ID`] (and [`ATTR_STATES`] when enabled), severity by
/// level (errors: ERROR), and the trace/span IDs an [`OtelTracer`](crate::OtelTracer) set
/// on the machine ([`Machine::trace_context`]). The service name is the provider's
/// resource. It composes with other tracers instead of replacing the machine's logger.
/// The records go to the logger provider's batch processor; nothing is exported inline.
#[derive(Clone, Debug)]
pub struct OtelLogTracer(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    provider: SdkLoggerProvider,
    states: bool,
    inheritable: bool,
}

/// Severity number and text of a log line, fixing Go's wrong `changes` text for External
/// and catching `[error` after an event prefix too.
pub fn severity(level: LogLevel, text: &str) -> (Severity, &'static str) {
    if text.contains("[error") {
        return (Severity::Error, "error");
    }
    match level {
        LogLevel::External => (Severity::Info4, "external"),
        LogLevel::Changes => (Severity::Info3, "changes"),
        LogLevel::Ops => (Severity::Info, "ops"),
        LogLevel::Decisions => (Severity::Trace4, "decisions"),
        LogLevel::Everything | LogLevel::Nothing => (Severity::Trace, "everything"),
    }
}

impl OtelLogTracer {
    /// Records go to `provider` (whose resource should carry `service.name`); the
    /// instrumentation scope is the machine ID, as in Go.
    pub fn new(provider: &SdkLoggerProvider, _service: &str) -> Self {
        OtelLogTracer(Arc::new(Inner { provider: provider.clone(), states: false, inheritable: false }))
    }
    /// Adds the active states to every record ([`ATTR_STATES`]).
    pub fn with_states(self, on: bool) -> Self {
        self.rebuild(|i| i.states = on)
    }
    /// Whether submachines inherit it (default false, as Go).
    pub fn with_inheritance(self, on: bool) -> Self {
        self.rebuild(|i| i.inheritable = on)
    }
    fn rebuild(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner =
            Inner { provider: self.0.provider.clone(), states: self.0.states, inheritable: self.0.inheritable };
        f(&mut inner);
        OtelLogTracer(Arc::new(inner))
    }
    /// Binds it to an already built machine.
    pub fn bind(&self, m: &Machine) {
        m.bind_tracer(Arc::new(self.clone()));
    }
}

/// What gets bound (and inherited): each machine gets a `MachLogs` with its own logger.
impl Tracer for OtelLogTracer {
    fn id(&self) -> &str {
        LOG_TRACER_ID
    }
    fn inheritable(&self) -> bool {
        self.0.inheritable
    }
    fn attach(&self, m: &Machine) -> Attach {
        Attach::With(Arc::new(MachLogs { tracer: self.clone(), logger: self.0.provider.logger(m.id().to_string()) }))
    }
}

/// Made by [`OtelLogTracer`]'s `attach` for one machine: its logger (scope = machine ID).
struct MachLogs {
    tracer: OtelLogTracer,
    logger: SdkLogger,
}

impl Tracer for MachLogs {
    fn id(&self) -> &str {
        LOG_TRACER_ID
    }
    fn interest(&self) -> Interest {
        Interest::LOG
    }
    fn log(&self, m: &Machine, tx_id: Option<&str>, entry: &LogEntry) {
        let logger = &self.logger;
        let mut r = logger.create_log_record();
        let now = SystemTime::now();
        r.set_timestamp(now);
        r.set_observed_timestamp(now);
        let (sev, text) = severity(entry.level, &entry.text);
        r.set_severity_number(sev);
        r.set_severity_text(text);
        let prefix = m.log_prefix();
        let body = entry
            .text
            .strip_prefix('[')
            .and_then(|t| t.strip_prefix(prefix))
            .and_then(|t| t.strip_prefix("] "))
            .unwrap_or(&entry.text);
        r.set_body(AnyValue::from(body.to_string()));
        r.add_attribute(ATTR_MACHINE_ID, m.id().to_string());
        if let Some(tx) = tx_id {
            r.add_attribute(ATTR_TX_ID, tx.to_string());
        }
        if self.tracer.0.states {
            r.add_attribute(ATTR_STATES, m.active_states().join(" "));
        }
        if let Some(cx) = m.trace_context() {
            r.set_trace_context(
                TraceId::from_bytes(cx.trace_id),
                SpanId::from_bytes(cx.span_id),
                Some(TraceFlags::SAMPLED),
            );
        }
        logger.emit(r);
    }
}
