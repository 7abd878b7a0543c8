//! [`OtelTracer`]: the asyncmachine span tree (spec telemetry §3.4–3.8).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use am_core::{Interest, Machine, StateIdx, TraceContext, Tracer, Transition, TxId};
use opentelemetry::trace::{Span as _, SpanContext, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, Span};

use crate::filter::StateFilter;
use crate::options::{OtelTracerBuilder, TraceOptions};
use crate::stats::DISCARD_KEY;

/// How many traced transitions per machine are kept to link mutations to their source.
pub const SOURCE_LOOKUP: usize = 300;

/// The tracer ID (`Tracer::id`).
pub const TRACER_ID: &str = "am-otel";

/// A [`Tracer`] recording machines as OpenTelemetry spans: a `mach:N:ID` span per machine
/// with `N:states`, `N:transitions` and `N:submachines` groups, one span per state
/// activation and (optionally) per transition. Inherited by submachines, which nest under
/// their parent's `N:submachines` span.
///
/// State is kept per machine (one mutex each); hooks only create and end SDK spans, which the
/// provider's batch processor exports on its own thread. Cloning shares the tracer.
#[derive(Clone, Debug)]
pub struct OtelTracer(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    tracer: SdkTracer,
    opts: TraceOptions,
    filter: StateFilter,
    parent: Option<SpanContext>,
    root_span: bool,
    root: OnceLock<(Context, Option<Mutex<Span>>)>,
    next_index: AtomicUsize,
    machines: RwLock<HashMap<String, Arc<Mutex<MachState>>, BuildHasherDefault<Fnv>>>,
    top_level: AtomicUsize,
    shutdown: Option<(Duration, SdkTracerProvider)>,
}

#[derive(Debug)]
struct TxSpan {
    id: TxId,
    span: Span,
}

#[derive(Debug)]
struct MachState {
    index: usize,
    id: String,
    top_level: bool,
    mach_sc: SpanContext,
    mach_cx: Context,
    states_cx: Context,
    txs_cx: Option<Context>,
    subs_cx: Option<Context>,
    groups: Vec<Option<Context>>,
    names: Vec<Option<String>>,
    instances: Vec<Option<Span>>,
    traced: Vec<u8>,
    tx: Option<TxSpan>,
    recent: VecDeque<(TxId, SpanContext)>,
    open: Vec<Span>,
}

/// FNV-1a: machine IDs are short, and SipHash's DoS resistance buys nothing for keys the
/// program itself chose; the lookup runs in every hook.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

fn ctx_of(sc: &SpanContext) -> Context {
    Context::new().with_remote_span_context(sc.clone())
}

fn trace_ctx(sc: &SpanContext) -> TraceContext {
    TraceContext { trace_id: sc.trace_id().to_bytes(), span_id: sc.span_id().to_bytes() }
}

fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `add Foo Bar` style label of a transition's mutation (without brackets).
fn mutation_label(tx: &Transition<'_>) -> String {
    let kind = tx.kind().as_str();
    let len = kind.len() + 2 + tx.called_names().map(|n| n.len() + 1).sum::<usize>();
    let mut s = String::with_capacity(len);
    s.push('[');
    s.push_str(kind);
    s.push(']');
    for n in tx.called_names() {
        s.push(' ');
        s.push_str(n);
    }
    s
}

impl OtelTracer {
    /// A builder over an SDK tracer (for example `provider.tracer("my-service")`). Prefer
    /// [`OtlpPipeline::tracer_builder`](crate::OtlpPipeline::tracer_builder), which also
    /// wires shutdown.
    pub fn builder(tracer: SdkTracer) -> OtelTracerBuilder {
        OtelTracerBuilder::new(tracer)
    }

    pub(crate) fn new(
        tracer: SdkTracer,
        opts: TraceOptions,
        filter: StateFilter,
        parent: Option<SpanContext>,
        root_span: bool,
        shutdown: Option<(Duration, SdkTracerProvider)>,
    ) -> Self {
        OtelTracer(Arc::new(Shared {
            tracer,
            opts,
            filter,
            parent,
            root_span,
            root: OnceLock::new(),
            next_index: AtomicUsize::new(0),
            machines: RwLock::new(HashMap::default()),
            top_level: AtomicUsize::new(0),
            shutdown,
        }))
    }

    /// The options in force.
    pub fn options(&self) -> &TraceOptions {
        &self.0.opts
    }

    /// The span top-level machines nest under: the remote parent (from the builder or the
    /// env), else the `root` span (created on first use), else `None`.
    pub fn root_span_context(&self) -> Option<SpanContext> {
        let sc = self.root_cx().span().span_context().clone();
        sc.is_valid().then_some(sc)
    }

    /// The env a child process needs to join this trace (see [`child_env`](crate::child_env)).
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        self.root_span_context().map(|sc| crate::root::child_env(&sc)).unwrap_or_default()
    }

    /// The span context of a traced machine's `mach:` span.
    pub fn machine_span_context(&self, machine_id: &str) -> Option<SpanContext> {
        self.state_of(machine_id).map(|s| lock(&s).mach_sc.clone())
    }

    /// Binds this tracer to an already built machine (calling `machine_init`); machines
    /// built later with it as parent inherit it.
    pub fn bind(&self, m: &Machine) {
        m.bind_tracer(Arc::new(self.clone()));
        self.machine_init(m);
    }

    /// Ends every open span, then flushes and shuts the provider down within `timeout`
    /// (when built with one); returns whether the shutdown succeeded.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.end_all();
        match &self.0.shutdown {
            Some((_, p)) => p.shutdown_with_timeout(timeout).is_ok(),
            None => true,
        }
    }

    fn end_all(&self) {
        let all: Vec<_> = write(&self.0.machines).drain().map(|(_, s)| s).collect();
        for s in all {
            lock(&s).end_all();
        }
        if let Some((_, Some(root))) = self.0.root.get() {
            lock(root).end();
        }
    }

    fn root_cx(&self) -> &Context {
        &self
            .0
            .root
            .get_or_init(|| {
                if let Some(sc) = &self.0.parent {
                    return (ctx_of(sc), None);
                }
                if !self.0.root_span {
                    return (Context::new(), None);
                }
                let mut span = self.0.tracer.span_builder("root").with_kind(SpanKind::Internal).start(&self.0.tracer);
                let cx = ctx_of(span.span_context());
                if self.0.opts.open_groups {
                    (cx, Some(Mutex::new(span)))
                } else {
                    span.end();
                    (cx, None)
                }
            })
            .0
    }

    fn state_of(&self, id: &str) -> Option<Arc<Mutex<MachState>>> {
        read(&self.0.machines).get(id).cloned()
    }

    /// A structural span: ended at once (Go) or kept until dispose.
    fn group(
        &self,
        name: String,
        parent: &Context,
        attrs: Vec<KeyValue>,
        open: &mut Vec<Span>,
    ) -> (Context, SpanContext) {
        let mut span = self
            .0
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Internal)
            .with_attributes(attrs)
            .start_with_context(&self.0.tracer, parent);
        let sc = span.span_context().clone();
        if self.0.opts.open_groups {
            open.push(span);
        } else {
            span.end();
        }
        (ctx_of(&sc), sc)
    }

    fn health_hidden(&self, tx: &Transition<'_>) -> bool {
        tx.is_health() && !self.0.opts.include_health
    }

    fn is_traced(&self, st: &mut MachState, tx: &Transition<'_>, i: StateIdx) -> bool {
        if st.traced.len() <= i {
            st.traced.resize(tx.schema().len(), 0);
        }
        match st.traced.get(i).copied().unwrap_or(0) {
            1 => true,
            2 => false,
            _ => {
                let name = tx.state_name(i);
                let health = name == am_core::HEALTHCHECK || name == am_core::HEARTBEAT;
                let yes = (!health || self.0.opts.include_health) && self.0.filter.allows(&st.id, name);
                if let Some(t) = st.traced.get_mut(i) {
                    *t = if yes { 1 } else { 2 };
                }
                yes
            }
        }
    }

    /// Opens the instance span of state `i` (or adds an event to the open one); `links`
    /// collects it for the transition span (only when transitions are traced).
    fn activate(
        &self,
        st: &mut MachState,
        tx: &Transition<'_>,
        i: StateIdx,
        label: String,
        links: Option<&mut Vec<SpanContext>>,
    ) {
        let n = tx.schema().len();
        if st.instances.len() < n {
            st.instances.resize_with(n, || None);
            st.groups.resize_with(n, || None);
            st.names.resize_with(n, || None);
        }
        if let Some(span) = st.instances.get_mut(i).and_then(Option::as_mut) {
            span.add_event(label, Vec::new());
            if let Some(l) = links {
                l.push(span.span_context().clone());
            }
            return;
        }
        let name = match st.names.get(i).and_then(Option::as_ref) {
            Some(n) => n.clone(),
            None => {
                let n = if tx.schema().is_multi(i) {
                    format!("{}:{} [M]", st.index, tx.state_name(i))
                } else {
                    format!("{}:{}", st.index, tx.state_name(i))
                };
                if let Some(slot) = st.names.get_mut(i) {
                    *slot = Some(n.clone());
                }
                n
            }
        };
        let group_cx = match st.groups.get(i).and_then(Option::as_ref) {
            Some(cx) => cx.clone(),
            None => {
                let states_cx = st.states_cx.clone();
                let (cx, _) = self.group(name.clone(), &states_cx, Vec::new(), &mut st.open);
                if let Some(g) = st.groups.get_mut(i) {
                    *g = Some(cx.clone());
                }
                cx
            }
        };
        let mut span = self
            .0
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Internal)
            .with_attributes([KeyValue::new("tx_id", tx.id().as_str().to_owned())])
            .start_with_context(&self.0.tracer, &group_cx);
        span.add_event(label, Vec::new());
        if let Some(l) = links {
            l.push(span.span_context().clone());
        }
        if let Some(slot) = st.instances.get_mut(i) {
            *slot = Some(span);
        }
    }
}

impl MachState {
    fn end_all(&mut self) {
        if let Some(mut tx) = self.tx.take() {
            tx.span.end();
        }
        for mut s in self.instances.drain(..).flatten() {
            s.end();
        }
        for mut s in self.open.drain(..).rev() {
            s.end();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}
fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

impl Tracer for OtelTracer {
    fn id(&self) -> &str {
        TRACER_ID
    }
    fn inheritable(&self) -> bool {
        true
    }
    fn interest(&self) -> Interest {
        if self.0.opts.transitions {
            Interest::TRANSITION_INIT | Interest::HANDLERS | Interest::TRANSITION_FINALS | Interest::TRANSITION_END
        } else {
            Interest::TRANSITION_FINALS
        }
    }

    fn machine_init(&self, m: &Machine) {
        if am_core::env::is_rpc_machine(m.tags())
            || self.0.filter.skips_machine(m.id())
            || self.state_of(m.id()).is_some()
        {
            return;
        }
        let index = self.0.next_index.fetch_add(1, Relaxed);
        // under the parent's `N:submachines` span, else the root / remote parent
        let parent = m.parent_id().and_then(|pid| self.state_of(pid));
        let top_level = parent.is_none();
        let parent_cx = match parent {
            Some(p) => {
                let mut p = lock(&p);
                match &p.subs_cx {
                    Some(cx) => cx.clone(),
                    None => {
                        let mach_cx = p.mach_cx.clone();
                        let attrs = vec![KeyValue::new("mach_id", p.id.clone())];
                        let name = format!("{}:submachines", p.index);
                        let (cx, _) = self.group(name, &mach_cx, attrs, &mut p.open);
                        p.subs_cx = Some(cx.clone());
                        cx
                    }
                }
            }
            None => self.root_cx().clone(),
        };
        let mut open = Vec::new();
        let mut attrs = vec![KeyValue::new("id", m.id().to_string())];
        if let Some(pid) = m.parent_id() {
            attrs.push(KeyValue::new("parent_id", pid.to_string()));
        }
        if !m.tags().is_empty() {
            attrs.push(KeyValue::new("tags", m.tags().join(",")));
        }
        let (mach_cx, mach_sc) = self.group(format!("mach:{index}:{}", m.id()), &parent_cx, attrs, &mut open);
        let mid = || vec![KeyValue::new("mach_id", m.id().to_string())];
        let (states_cx, _) = self.group(format!("{index}:states"), &mach_cx, mid(), &mut open);
        let txs_cx =
            self.0.opts.transitions.then(|| self.group(format!("{index}:transitions"), &mach_cx, mid(), &mut open).0);
        m.set_trace_context(Some(trace_ctx(&mach_sc)));
        let n = m.schema().len();
        let st = MachState {
            index,
            id: m.id().to_string(),
            top_level,
            mach_sc,
            mach_cx,
            states_cx,
            txs_cx,
            subs_cx: None,
            groups: std::iter::repeat_with(|| None).take(n).collect(),
            names: std::iter::repeat_with(|| None).take(n).collect(),
            instances: std::iter::repeat_with(|| None).take(n).collect(),
            traced: vec![0; n],
            tx: None,
            recent: VecDeque::new(),
            open,
        };
        if top_level {
            self.0.top_level.fetch_add(1, Relaxed);
        }
        write(&self.0.machines).insert(m.id().to_string(), Arc::new(Mutex::new(st)));
    }

    fn transition_init(&self, tx: &Transition<'_>) {
        let o = &self.0.opts;
        if !o.transitions || tx.is_check() || self.health_hidden(tx) || (o.skip_auto && tx.is_auto()) {
            return;
        }
        let Some(st) = self.state_of(tx.machine_id()) else { return };
        // the source machine's lock is taken (and released) before ours
        let source = tx.mutation().source().and_then(|src| {
            let sm = self.state_of(&src.machine_id)?;
            let sm = lock(&sm);
            // a running source (mutation from one of its handlers) or a recent one
            let running = sm.tx.as_ref().filter(|t| t.id.as_str() == src.tx_id).map(|t| t.span.span_context().clone());
            running
                .or_else(|| sm.recent.iter().rev().find(|(id, _)| id.as_str() == src.tx_id).map(|(_, sc)| sc.clone()))
        });
        let mut st = lock(&st);
        let Some(parent) = st.txs_cx.clone() else { return };
        let label = mutation_label(tx);
        let exc = tx.schema().exception();
        let raising = tx.target().contains(&exc) && !tx.was_active(exc);
        let name = format!("{}{}: {label}", if raising { "!" } else { "" }, st.index);
        let mut attrs = vec![
            KeyValue::new("tx_id", tx.id().to_string()),
            KeyValue::new("time_before", i64_of(tx.machine_time_before())),
            KeyValue::new("mutation", label),
        ];
        if raising && let Some(err) = tx.args().and_then(|a| a.get("err")) {
            attrs.push(KeyValue::new("error", err.to_string()));
        }
        if o.args
            && let Some(args) = tx.args()
        {
            for (k, v) in tx.machine().map_args(args) {
                attrs.push(KeyValue::new(format!("args.{k}"), v));
            }
        }
        let mut b = self.0.tracer.span_builder(name).with_kind(SpanKind::Internal).with_attributes(attrs);
        if let Some(sc) = source {
            b = b.with_links(vec![opentelemetry::trace::Link::with_context(sc)]);
        }
        let span = b.start_with_context(&self.0.tracer, &parent);
        tx.machine().set_trace_context(Some(trace_ctx(span.span_context())));
        if let Some(mut old) = st.tx.replace(TxSpan { id: tx.id(), span }) {
            old.span.end();
        }
    }

    fn handler_end(&self, tx: &Transition<'_>, binding: &str, handler: &str) {
        let Some(st) = self.state_of(tx.machine_id()) else { return };
        let mut st = lock(&st);
        if let Some(t) = st.tx.as_mut().filter(|t| t.id == tx.id()) {
            t.span.add_event(handler.to_string(), vec![KeyValue::new("emitter", binding.to_string())]);
        }
    }

    fn transition_finals(&self, tx: &Transition<'_>) {
        if tx.is_check() || self.health_hidden(tx) {
            return;
        }
        let Some(st) = self.state_of(tx.machine_id()) else { return };
        let mut st = lock(&st);
        let st = &mut *st;
        let txs = self.0.opts.transitions;
        let mut links = Vec::new();
        let mut diff = String::new();
        for &i in tx.exits() {
            if tx.is_active_after(i) {
                continue;
            }
            if let Some(mut span) = st.instances.get_mut(i).and_then(Option::take) {
                if txs {
                    links.push(span.span_context().clone());
                }
                span.end();
            }
            if self.0.opts.transitions {
                diff.push_str(if diff.is_empty() { "-" } else { " -" });
                diff.push_str(tx.state_name(i));
            }
        }
        let mut added = String::new();
        let mut label = None;
        let enters = tx.enters();
        for (k, &i) in enters.iter().enumerate() {
            if txs {
                added.push_str(if added.is_empty() { "+" } else { " +" });
                added.push_str(tx.state_name(i));
            }
            if self.is_traced(st, tx, i) {
                let l = label.get_or_insert_with(|| mutation_label(tx));
                // the last state takes the label itself
                let l = if k + 1 == enters.len() { std::mem::take(l) } else { l.clone() };
                self.activate(st, tx, i, l, txs.then_some(&mut links));
            }
        }
        if let Some(t) = st.tx.as_mut().filter(|t| t.id == tx.id()) {
            for sc in links {
                t.span.add_link(sc, Vec::new());
            }
            let states_diff = match (added.is_empty(), diff.is_empty()) {
                (false, false) => format!("{added} {diff}"),
                (false, true) => added,
                _ => diff,
            };
            t.span.set_attributes([
                KeyValue::new("states_diff", states_diff),
                KeyValue::new("time_after", i64_of(tx.machine_time_after())),
                KeyValue::new("accepted", true),
                KeyValue::new("auto", tx.is_auto()),
                KeyValue::new("steps_count", i64_of(tx.steps().len() as u64)),
            ]);
        }
    }

    fn transition_end(&self, tx: &Transition<'_>) {
        let Some(st) = self.state_of(tx.machine_id()) else { return };
        let mut st = lock(&st);
        let Some(mut t) = st.tx.take_if(|t| t.id == tx.id()) else { return };
        let o = &self.0.opts;
        let span = &mut t.span;
        if tx.accepted() {
            let exc = tx.schema().exception();
            if tx.enters().contains(&exc) {
                let msg =
                    tx.args().and_then(|a| a.get("err")).map(|e| e.to_string()).unwrap_or_else(|| "Exception".into());
                span.add_event(
                    "exception",
                    vec![KeyValue::new("exception.type", "Exception"), KeyValue::new("exception.message", msg.clone())],
                );
                span.set_status(Status::error(msg));
            }
            if o.skip_empty && tx.enters().is_empty() && tx.exits().is_empty() {
                span.set_attribute(KeyValue::new(DISCARD_KEY, true));
            }
        } else {
            span.set_attributes([
                KeyValue::new("accepted", false),
                KeyValue::new("auto", tx.is_auto()),
                KeyValue::new("time_after", i64_of(tx.machine_time_after())),
            ]);
            if let Some(r) = tx.cancel_reason() {
                let reason = match r {
                    am_core::CancelReason::Relations(_) => "relations".to_string(),
                    am_core::CancelReason::Handler(h) => format!("handler {h}"),
                    am_core::CancelReason::Panic(h) => format!("panic {h}"),
                    am_core::CancelReason::Timeout(h) => format!("timeout {h}"),
                    am_core::CancelReason::Admission => "admission".to_string(),
                };
                span.set_attribute(KeyValue::new("cancel_reason", reason));
            }
            if o.skip_canceled {
                span.set_attribute(KeyValue::new(DISCARD_KEY, true));
            }
        }
        let sc = span.span_context().clone();
        span.end();
        if st.recent.len() >= SOURCE_LOOKUP {
            st.recent.pop_front();
        }
        st.recent.push_back((t.id, sc));
        tx.machine().set_trace_context(Some(trace_ctx(&st.mach_sc)));
    }

    fn machine_dispose(&self, machine_id: &str) {
        let Some(st) = write(&self.0.machines).remove(machine_id) else { return };
        let mut st = lock(&st);
        st.end_all();
        if st.top_level && self.0.top_level.fetch_sub(1, Relaxed) == 1 {
            drop(st);
            if let Some((timeout, _)) = &self.0.shutdown {
                // the last top-level machine: end the rest and shut the provider down
                self.shutdown(*timeout);
            }
        }
    }
}
