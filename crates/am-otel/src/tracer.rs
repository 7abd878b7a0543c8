//! [`OtelTracer`]: the asyncmachine span tree (spec telemetry §3.4–3.8). The hooks here
//! only record; [`crate::spans`] builds the spans on the tracer's span thread.

use am_core::conventions::otel;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use am_core::{Attach, Interest, Machine, Schema, TraceContext, Tracer, Transition};
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanContext, SpanId, TraceId};
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::options::{OtelTracerBuilder, TraceOptions};
use crate::spans::{
    Ctx, End, Ev, Finals, Hook, Mach, OpenSpan, Pushed, Start, StartExtra, lock, read, span_context, write,
};
use crate::stats::{Drain, SpanCounter};

/// How many traced transitions per machine are kept to link mutations to their source.
pub const SOURCE_LOOKUP: usize = 300;

/// The tracer ID (`Tracer::id`).
pub const TRACER_ID: &str = "am-otel";

/// Records a machine keeps by default while the span thread catches up (about 100 bytes
/// each, three per traced transition); beyond that they are dropped and counted
/// ([`OtelTracer::dropped`]). 8,192 holds about 25 ms of a machine making 100,000
/// transitions a second: enough for the span thread to miss a few time slices on a busy
/// machine without losing spans. The memory is taken only while the buffer fills and given
/// back once the span thread has drained it.
pub const DEFAULT_BUFFER: usize = 8192;

/// A [`Tracer`] recording machines as OpenTelemetry spans: a `mach:N:ID` span per machine
/// with `N:states`, `N:transitions` and `N:submachines` groups, one span per state
/// activation and (optionally) per transition. Inherited by submachines, which nest under
/// their parent's `N:submachines` span.
///
/// A transition only copies what its spans need into its machine's bounded buffer (one
/// mutex per machine, no lock shared across machines); the tracer's `am-otel-spans` thread
/// builds the SDK spans every few milliseconds and hands them to the provider's batch
/// processor. Transition span IDs are drawn up front, so the machine's trace context (log
/// records, mutations from handlers) names the right span; a provider built by hand needs
/// [`AmIdGenerator`](crate::AmIdGenerator) for that. [`flush`](Self::flush) builds what is
/// buffered now; disposal, [`shutdown`](Self::shutdown) and dropping the last handle do it
/// too. Cloning shares the tracer.
#[derive(Clone, Debug)]
pub struct OtelTracer(Arc<Shared>);

/// What top-level machines nest under, and the open `root` span (`open_groups`).
type Root = (Option<SpanContext>, Option<Mutex<Option<OpenSpan>>>);

#[derive(Debug)]
struct Shared {
    cx: Arc<Ctx>,
    parent: Option<SpanContext>,
    root_span: bool,
    /// What top-level machines nest under (`None`: each starts a trace), and the `root`
    /// span while it is open.
    root: OnceLock<Root>,
    next_index: AtomicUsize,
    /// Traced machines by ID: for attaching submachines under their parent, ending spans at
    /// shutdown, and linking sources; hooks hold their machine's entry directly.
    machines: RwLock<HashMap<String, Arc<Mach>>>,
    top_level: AtomicUsize,
    shutdown: Option<(Duration, SdkTracerProvider)>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // build what is still buffered here rather than leave it to the span thread: a flush
        // of the pipeline right after the last handle is gone can no longer reach this tracer
        // (its registration is a `Weak`), so it would not wait for those spans
        self.drain();
        // the span thread finishes what it has taken, then exits
        self.cx.queue.stop();
    }
}

impl Drain for Shared {
    fn drain(&self) {
        for m in self.all() {
            drop(m.drain(&self.cx));
        }
    }
}

impl Shared {
    fn all(&self) -> Vec<Arc<Mach>> {
        read(&self.machines).values().cloned().collect()
    }
}

fn trace_ctx(trace: TraceId, span: SpanId) -> TraceContext {
    TraceContext { trace_id: trace.to_bytes(), span_id: span.to_bytes() }
}

impl OtelTracer {
    /// A builder over an SDK tracer (for example `provider.tracer("my-service")`). Prefer
    /// [`OtlpPipeline::tracer_builder`](crate::OtlpPipeline::tracer_builder), which also
    /// wires shutdown, flushing and the drop counter.
    pub fn builder(tracer: opentelemetry_sdk::trace::SdkTracer) -> OtelTracerBuilder {
        OtelTracerBuilder::new(tracer)
    }

    pub(crate) fn new(
        cx: Ctx,
        parent: Option<SpanContext>,
        root_span: bool,
        shutdown: Option<(Duration, SdkTracerProvider)>,
    ) -> std::io::Result<Self> {
        let cx = Arc::new(cx);
        crate::spans::spawn(cx.clone())?;
        let counter: Option<SpanCounter> = cx.counter.clone();
        let shared = Arc::new(Shared {
            cx,
            parent,
            root_span,
            root: OnceLock::new(),
            next_index: AtomicUsize::new(0),
            machines: RwLock::new(HashMap::default()),
            top_level: AtomicUsize::new(0),
            shutdown,
        });
        if let Some(c) = counter {
            let weak: std::sync::Weak<dyn Drain> = Arc::downgrade(&shared) as std::sync::Weak<dyn Drain>;
            c.register(weak);
        }
        Ok(OtelTracer(shared))
    }

    /// The options in force.
    pub fn options(&self) -> &TraceOptions {
        &self.0.cx.opts
    }

    /// The span top-level machines nest under: the remote parent (from the builder or the
    /// env), else the `root` span (created on first use), else `None`.
    pub fn root_span_context(&self) -> Option<SpanContext> {
        self.root_cx().clone().filter(SpanContext::is_valid)
    }

    /// The env a child process needs to join this trace (see [`child_env`](crate::child_env)).
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        self.root_span_context().map(|sc| crate::root::child_env(&sc)).unwrap_or_default()
    }

    /// The span context of a traced machine's `mach:` span.
    pub fn machine_span_context(&self, machine_id: &str) -> Option<SpanContext> {
        self.mach(machine_id).map(|m| {
            let h = lock(&m.hook);
            span_context(h.trace_id, h.mach_span)
        })
    }

    /// Binds this tracer to an already built machine; machines built later with it as
    /// parent inherit it. Binding a machine that already has an OTel tracer is a no-op.
    pub fn bind(&self, m: &Machine) {
        if !m.tracers().iter().any(|t| t.id() == TRACER_ID) {
            m.bind_tracer(Arc::new(self.clone()));
        }
    }

    /// Builds the spans of everything recorded so far and hands them to the provider's
    /// processors (the span thread does this every few milliseconds on its own). Call the
    /// provider's `force_flush` after it to export them now;
    /// [`OtlpPipeline::force_flush`](crate::OtlpPipeline::force_flush) does both.
    pub fn flush(&self) {
        self.0.drain();
    }

    /// Records dropped because a machine's buffer was full (the span thread fell behind):
    /// each is a missing span, span event or span end.
    pub fn dropped(&self) -> u64 {
        self.0.cx.dropped.load(Relaxed)
    }

    /// Ends every open span, then flushes and shuts the provider down within `timeout`
    /// (when built with one); returns whether the shutdown succeeded (a provider someone
    /// else already shut down counts as success).
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.end_all();
        match &self.0.shutdown {
            Some((_, p)) => match p.shutdown_with_timeout(timeout) {
                Ok(()) | Err(opentelemetry_sdk::error::OTelSdkError::AlreadyShutdown) => true,
                Err(_) => false,
            },
            None => true,
        }
    }

    /// Ends the spans of machine `id` and of every machine traced under it, as their
    /// disposal would; those machines go on untraced by this tracer.
    pub(crate) fn release_machine(&self, id: &str) {
        let gone: Vec<Arc<Mach>> = {
            let mut map = write(&self.0.machines);
            let ids: Vec<String> = map
                .keys()
                .filter(|k| {
                    // bounded: a machine rebuilt under a reused ID could close a cycle
                    let mut at: &str = k;
                    for _ in 0..=map.len() {
                        if at == id {
                            return true;
                        }
                        match map.get(at).and_then(|m| m.parent.as_deref()) {
                            Some(p) => at = p,
                            None => return false,
                        }
                    }
                    false
                })
                .cloned()
                .collect();
            ids.iter().filter_map(|k| map.remove(k)).collect()
        };
        let now = SystemTime::now();
        for m in gone {
            if m.top_level {
                self.0.top_level.fetch_sub(1, Relaxed);
            }
            self.finish(&m, now);
        }
    }

    fn end_all(&self) {
        let all: Vec<_> = write(&self.0.machines).drain().map(|(_, m)| m).collect();
        let now = SystemTime::now();
        for m in all {
            self.finish(&m, now);
        }
        if let Some((_, Some(root))) = self.0.root.get()
            && let Some(span) = lock(root).take()
        {
            self.0.cx.out.end_now(span, now);
        }
    }

    /// Builds a machine's buffered spans, ends its open ones and refuses later records.
    fn finish(&self, m: &Mach, at: SystemTime) {
        let mut tree = m.drain(&self.0.cx);
        lock(&m.hook).disposed = true;
        tree.end_all(&self.0.cx, at);
        self.0.cx.out.send(&mut tree.emitted);
    }

    fn root_cx(&self) -> &Option<SpanContext> {
        &self
            .0
            .root
            .get_or_init(|| {
                if let Some(sc) = &self.0.parent {
                    return (Some(sc.clone()), None);
                }
                if !self.0.root_span {
                    return (None, None);
                }
                let now = SystemTime::now();
                let span = self.0.cx.out.start(otel::ROOT_SPAN.into(), None, now, Vec::new());
                let sc = span.span_context();
                if self.0.cx.opts.open_groups {
                    (Some(sc), Some(Mutex::new(Some(span))))
                } else {
                    self.0.cx.out.end_now(span, now);
                    (Some(sc), None)
                }
            })
            .0
    }

    fn mach(&self, id: &str) -> Option<Arc<Mach>> {
        read(&self.0.machines).get(id).cloned()
    }

    fn health_hidden(&self, tx: &Transition<'_>) -> bool {
        tx.is_health() && !self.0.cx.opts.include_health
    }

    /// Locks a machine's hook state when it takes one more record; counts a drop otherwise.
    fn hook<'a>(&self, m: &'a Mach) -> Option<std::sync::MutexGuard<'a, Hook>> {
        self.room(lock(&m.hook))
    }

    /// The locked hook state back when it takes one more record; counts a drop otherwise.
    fn room<'a>(&self, h: std::sync::MutexGuard<'a, Hook>) -> Option<std::sync::MutexGuard<'a, Hook>> {
        if h.disposed {
            return None;
        }
        if !h.has_room(self.0.cx.limit) {
            drop(h);
            self.0.cx.note_dropped();
            return None;
        }
        Some(h)
    }

    /// Stores a record and queues the machine for the span thread when needed.
    fn record(&self, m: &Arc<Mach>, mut h: std::sync::MutexGuard<'_, Hook>, ev: Ev) {
        let pushed = h.push(ev, self.0.cx.limit);
        drop(h);
        match pushed {
            Pushed::Stored(true) => self.0.cx.queue.mark(m.clone()),
            Pushed::Stored(false) => {}
            Pushed::Urgent => self.0.cx.queue.hurry(),
            Pushed::Dropped => self.0.cx.note_dropped(),
        }
    }

    /// The running or a recent transition span of the mutation's source machine.
    fn source_link(&self, tx: &Transition<'_>) -> Option<(TraceId, SpanId)> {
        let src = tx.mutation().source()?;
        let sm = self.mach(&src.machine_id)?;
        let h = lock(&sm.hook);
        let span = match h.tx.filter(|(id, _)| id.as_str() == src.tx_id) {
            Some((_, span)) => span,
            None => h.recent.iter().rev().find(|(id, _)| id.as_str() == src.tx_id)?.1,
        };
        Some((h.trace_id, span))
    }
}

impl Tracer for OtelTracer {
    fn id(&self) -> &str {
        TRACER_ID
    }
    fn inheritable(&self) -> bool {
        true
    }
    fn attach(&self, m: &Machine) -> Attach {
        match self.attach_machine(m) {
            Some(mach) => Attach::With(Arc::new(MachTracer { tracer: self.clone(), mach })),
            None => Attach::Decline,
        }
    }
}

/// Made by [`OtelTracer`]'s `attach` for one machine: its hooks record into that machine's
/// span buffer directly.
struct MachTracer {
    tracer: OtelTracer,
    mach: Arc<Mach>,
}

impl Tracer for MachTracer {
    fn id(&self) -> &str {
        TRACER_ID
    }
    fn inheritable(&self) -> bool {
        true
    }
    fn interest(&self) -> Interest {
        if self.tracer.0.cx.opts.transitions {
            Interest::TRANSITION_INIT | Interest::HANDLERS | Interest::TRANSITION_FINALS | Interest::TRANSITION_END
        } else {
            Interest::TRANSITION_FINALS
        }
    }
    fn schema_change(&self, m: &Machine, _old: &Schema) {
        self.tracer.on_schema_change(&self.mach, m);
    }
    fn transition_init(&self, tx: &Transition<'_>) {
        self.tracer.on_transition_init(&self.mach, tx);
    }
    fn handler_end(&self, tx: &Transition<'_>, binding: &str, handler: &str) {
        self.tracer.on_handler_end(&self.mach, tx, binding, handler);
    }
    fn transition_finals(&self, tx: &Transition<'_>) {
        self.tracer.on_transition_finals(&self.mach, tx);
    }
    fn transition_end(&self, tx: &Transition<'_>) {
        self.tracer.on_transition_end(&self.mach, tx);
    }
    fn machine_dispose(&self, machine_id: &str) {
        self.tracer.on_machine_dispose(&self.mach, machine_id);
    }
}

impl OtelTracer {
    /// The machine's span tree, made once per machine instance: `None` for a machine not
    /// traced (`rpc-*`, skipped by the filter, or sharing its ID with a traced one).
    fn attach_machine(&self, m: &Machine) -> Option<Arc<Mach>> {
        let cx = &self.0.cx;
        if am_core::env::is_rpc_machine(m.tags()) || cx.filter.skips_machine(m.id()) {
            return None;
        }
        if let Some(known) = self.mach(m.id()) {
            // the same machine again (its schema grew), or another one with this ID: untraced
            return (known.instance == m.instance()).then_some(known);
        }
        let index = self.0.next_index.fetch_add(1, Relaxed);
        let now = SystemTime::now();
        // a span given from outside (the builder's `trace_parent`, e.g. an HTTP request)
        // holds the machine; else the parent's `N:submachines` span, else the root
        let given = m.trace_context().map(|c| crate::root::remote_of(&c));
        let parent = m.parent_id().and_then(|pid| self.mach(pid));
        let top_level = parent.is_none();
        let mut out = Vec::new();
        let parent_cx = match parent {
            _ if given.is_some() => given,
            Some(p) => {
                let mut p = lock(&p.tree);
                let p = &mut *p;
                Some(match &p.subs_cx {
                    Some(c) => c.clone(),
                    None => {
                        let attrs = vec![KeyValue::new(otel::ATTR_MACH_ID, p.id.clone())];
                        let c = cx.group(
                            otel::group_span(p.index, otel::GROUP_SUBMACHINES),
                            Some(&p.mach_cx),
                            attrs,
                            now,
                            &mut p.open,
                            &mut out,
                        );
                        p.subs_cx = Some(c.clone());
                        c
                    }
                })
            }
            None => self.root_cx().clone(),
        };
        let mut open = Vec::new();
        let mut attrs = vec![KeyValue::new(otel::ATTR_ID, m.id().to_string())];
        if let Some(pid) = m.parent_id() {
            attrs.push(KeyValue::new(otel::ATTR_PARENT_ID, pid.to_string()));
        }
        if !m.tags().is_empty() {
            attrs.push(KeyValue::new(otel::ATTR_TAGS, m.tags().join(",")));
        }
        let mach_sc = cx.group(otel::machine_span(index, m.id()), parent_cx.as_ref(), attrs, now, &mut open, &mut out);
        let mid = || vec![KeyValue::new(otel::ATTR_MACH_ID, m.id().to_string())];
        let group = |name, open: &mut Vec<OpenSpan>, out: &mut Vec<_>| {
            cx.group(otel::group_span(index, name), Some(&mach_sc), mid(), now, open, out)
        };
        let states_cx = group(otel::GROUP_STATES, &mut open, &mut out);
        let txs_cx = cx.opts.transitions.then(|| group(otel::GROUP_TRANSITIONS, &mut open, &mut out));
        cx.out.send(&mut out);
        m.set_trace_context(Some(trace_ctx(mach_sc.trace_id(), mach_sc.span_id())));
        let mut mach = Mach::new(index, m.id().to_string(), m.schema(), &mach_sc, states_cx, txs_cx, open);
        mach.top_level = top_level;
        mach.parent = if top_level { None } else { m.parent_id().map(String::from) };
        if top_level {
            self.0.top_level.fetch_add(1, Relaxed);
        }
        mach.instance = m.instance();
        let mach = Arc::new(mach);
        write(&self.0.machines).insert(m.id().to_string(), mach.clone());
        Some(mach)
    }

    fn on_schema_change(&self, mach: &Arc<Mach>, m: &Machine) {
        let mut h = lock(&mach.hook);
        if h.disposed {
            return;
        }
        // never dropped: later records index the new states
        let pushed = h.push(Ev::Schema(m.schema()), usize::MAX);
        drop(h);
        if let Pushed::Stored(true) = pushed {
            self.0.cx.queue.mark(mach.clone());
        }
    }

    fn on_transition_init(&self, m: &Arc<Mach>, tx: &Transition<'_>) {
        let o = &self.0.cx.opts;
        if !o.transitions || tx.is_check() || self.health_hidden(tx) || (o.skip_auto && tx.is_auto()) {
            return;
        }
        // the source machine's lock is taken (and released) before ours
        let link = self.source_link(tx);
        let Some(mut h) = self.hook(m) else { return };
        let exc = tx.schema().exception();
        let raising = tx.target().contains(&exc) && !tx.was_active(exc);
        let err = if raising { tx.args().and_then(|a| a.get("err")).map(|e| e.to_string()) } else { None };
        let args = match tx.args() {
            Some(a) if o.args => tx.machine().map_args(a),
            _ => Vec::new(),
        };
        let extra = (err.is_some() || !args.is_empty()).then(|| Box::new(StartExtra { err, args }));
        let span = h.next_span_id();
        let trace = h.trace_id;
        let called = h.idx(tx.called().iter().copied());
        h.tx = Some((tx.id(), span));
        let ev = Start {
            tx: tx.id(),
            span,
            at: SystemTime::now(),
            kind: tx.kind(),
            called,
            time_before: tx.machine_time_before(),
            raising,
            link,
            extra,
        };
        self.record(m, h, Ev::Start(ev));
        tx.machine().set_trace_context(Some(trace_ctx(trace, span)));
    }

    fn on_handler_end(&self, m: &Arc<Mach>, tx: &Transition<'_>, binding: &str, handler: &str) {
        let h = lock(&m.hook);
        if h.tx.is_none_or(|(id, _)| id != tx.id()) {
            return;
        }
        let Some(h) = self.room(h) else { return };
        let ev = Ev::Handler { tx: tx.id(), at: SystemTime::now(), handler: handler.into(), binding: binding.into() };
        self.record(m, h, ev);
    }

    fn on_transition_finals(&self, m: &Arc<Mach>, tx: &Transition<'_>) {
        if tx.is_check() || self.health_hidden(tx) {
            return;
        }
        let txs = self.0.cx.opts.transitions;
        let left = |i: &&usize| !tx.is_active_after(**i);
        if !txs && tx.enters().is_empty() && !tx.exits().iter().any(|i| left(&i)) {
            return;
        }
        let Some(mut h) = self.hook(m) else { return };
        let called = h.idx(tx.called().iter().copied());
        let enters = h.idx(tx.enters().iter().copied());
        let exits = h.idx(tx.exits().iter().filter(left).copied());
        let ev = Finals {
            tx: tx.id(),
            at: SystemTime::now(),
            kind: tx.kind(),
            called,
            enters,
            exits,
            time_after: tx.machine_time_after(),
            auto: tx.is_auto(),
            steps: u32::try_from(tx.steps().len()).unwrap_or(u32::MAX),
        };
        self.record(m, h, Ev::Finals(ev));
    }

    fn on_transition_end(&self, m: &Arc<Mach>, tx: &Transition<'_>) {
        // one lock: the transition is taken off the hook state and its end recorded
        let mut h = lock(&m.hook);
        let Some((id, span)) = h.tx.take_if(|(id, _)| *id == tx.id()) else { return };
        if h.recent.len() >= SOURCE_LOOKUP {
            h.recent.pop_front();
        }
        h.recent.push_back((id, span));
        let mach_ctx = trace_ctx(h.trace_id, h.mach_span);
        let o = &self.0.cx.opts;
        let (note, discard) = if tx.accepted() {
            let exc = tx.schema().exception();
            let note = tx.enters().contains(&exc).then(|| {
                tx.args().and_then(|a| a.get("err")).map(|e| e.to_string()).unwrap_or_else(|| "Exception".into())
            });
            (note, o.skip_empty && tx.enters().is_empty() && tx.exits().is_empty())
        } else {
            let note = tx.cancel_reason().map(|r| match r {
                am_core::CancelReason::Relations(_) => "relations".to_string(),
                am_core::CancelReason::Handler(h) => format!("handler {h}"),
                am_core::CancelReason::Panic(h) => format!("panic {h}"),
                am_core::CancelReason::Timeout(h) => format!("timeout {h}"),
                am_core::CancelReason::Admission => "admission".to_string(),
            });
            (note, o.skip_canceled)
        };
        let Some(h) = self.room(h) else {
            tx.machine().set_trace_context(Some(mach_ctx));
            return;
        };
        let ev = End {
            tx: id,
            at: SystemTime::now(),
            accepted: tx.accepted(),
            auto: tx.is_auto(),
            time_after: tx.machine_time_after(),
            discard,
            note: note.map(String::into_boxed_str),
        };
        self.record(m, h, Ev::End(ev));
        tx.machine().set_trace_context(Some(mach_ctx));
    }

    fn on_machine_dispose(&self, m: &Arc<Mach>, machine_id: &str) {
        // only its own entry: a later machine with this ID may have one by now
        let mut map = write(&self.0.machines);
        if !map.get(machine_id).is_some_and(|x| Arc::ptr_eq(x, m)) {
            return;
        }
        map.remove(machine_id);
        drop(map);
        self.finish(m, SystemTime::now());
        if m.top_level
            && self.0.top_level.fetch_sub(1, Relaxed) == 1
            && let Some((timeout, _)) = &self.0.shutdown
        {
            // the last top-level machine: end the rest and shut the provider down
            self.shutdown(*timeout);
        }
    }
}
