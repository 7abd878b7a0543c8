//! The span thread. Hooks copy what a span needs into a small record in the machine's own
//! bounded buffer ([`Hook`]); the tracer's span thread (or a flush, or the machine's
//! disposal) turns the records into spans ([`Tree`]) and sends them out ([`Out`]: the
//! pipeline's own export queue, or an SDK tracer). A transition pays for the copy, never for
//! span bookkeeping or the export queue.
//!
//! Per machine, `tree` is locked before `hook`, and records are applied in order: whoever
//! holds the tree lock takes the whole buffer and applies it before letting go.

mod interned;
mod open;
mod record;
mod thread;

use interned::{Interned, Key};
pub(crate) use open::{OpenSpan, Out};
pub(crate) use record::*;
pub(crate) use thread::{Queue, spawn};

use am_core::exporter::Unpoison;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use am_core::{MutationKind, Schema, StateIdx, TxId};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Event, Link, SpanContext, SpanId, Status, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::trace::SpanData;

use crate::filter::StateFilter;
use crate::ids::SpanIds;
use crate::options::TraceOptions;
use crate::stats::{DISCARD_KEY, SpanCounter};

/// How long the span thread lets records gather before it builds spans (a buffer half
/// full wakes it at once).
pub(crate) const LINGER: Duration = Duration::from_millis(10);

/// Records of capacity a drained buffer keeps for the next round (more is freed).
const SPARE_KEPT: usize = 1024;

/// Drains in a row that use under a quarter of the buffers before their capacity is given
/// back (at [`LINGER`] apart, a third of a second at least). Between the bursts of a bursty
/// load the buffers keep their size: given back at once, the hooks grew them again into
/// fresh pages, a page fault on the machine's thread every ~24 transitions.
const QUIET_DRAINS: u32 = 32;

/// The drained record buffers, kept for the hooks to fill next.
#[derive(Debug, Default)]
struct Spare {
    evs: Vec<Ev>,
    idx: Vec<u32>,
    /// Drains in a row that used under a quarter of the buffers.
    quiet: u32,
}

impl Spare {
    /// Keeps a drained pair that held `n` records and `ni` indices; once the load has
    /// stayed low for [`QUIET_DRAINS`] drains, with less capacity (memory follows the load,
    /// not its peak).
    fn put(&mut self, mut evs: Vec<Ev>, mut idx: Vec<u32>, n: usize, ni: usize) {
        let low = |len: usize, cap: usize| cap <= SPARE_KEPT || len < cap / 4;
        if low(n, evs.capacity()) && low(ni, idx.capacity()) {
            self.quiet += 1;
        } else {
            self.quiet = 0;
        }
        if self.quiet >= QUIET_DRAINS {
            self.quiet = 0;
            if n < evs.capacity() / 4 {
                evs.shrink_to((n * 2).max(SPARE_KEPT));
            }
            if ni < idx.capacity() / 4 {
                idx.shrink_to((ni * 2).max(SPARE_KEPT));
            }
        }
        (self.evs, self.idx) = (evs, idx);
    }
}

/// What every machine of a tracer shares with the span thread.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) out: Out,
    pub(crate) opts: TraceOptions,
    pub(crate) filter: StateFilter,
    /// Records a machine's buffer holds at most.
    pub(crate) limit: usize,
    pub(crate) dropped: AtomicU64,
    pub(crate) counter: Option<SpanCounter>,
    pub(crate) queue: Queue,
    preset_warned: AtomicBool,
}

impl Ctx {
    pub(crate) fn new(
        out: Out,
        opts: TraceOptions,
        filter: StateFilter,
        limit: usize,
        counter: Option<SpanCounter>,
    ) -> Self {
        Ctx {
            out,
            opts,
            filter,
            limit: limit.max(2),
            dropped: AtomicU64::new(0),
            counter,
            queue: Queue::default(),
            preset_warned: AtomicBool::new(false),
        }
    }

    /// A structural span under `parent` (a new trace without one): ended at once into `out`
    /// (Go) or kept in `open` until dispose.
    pub(crate) fn group(
        &self,
        name: String,
        parent: Option<&SpanContext>,
        attrs: Vec<KeyValue>,
        at: SystemTime,
        open: &mut Vec<OpenSpan>,
        out: &mut Vec<SpanData>,
    ) -> SpanContext {
        let span = self.out.start(name, parent, at, attrs);
        let sc = span.span_context();
        if self.opts.open_groups {
            open.push(span);
        } else {
            span.end(at, out);
        }
        sc
    }

    pub(crate) fn note_dropped(&self) {
        if self.dropped.fetch_add(1, Relaxed) == 0 {
            tracing::warn!(
                target: "am_otel",
                "a machine's span buffer is full (the span thread falls behind): dropping records"
            );
        }
        if let Some(c) = &self.counter {
            c.0.overflow.fetch_add(1, Relaxed);
        }
    }
}

/// The span context of a span this tracer gave `id` (in the trace `trace`).
pub(crate) fn span_context(trace: TraceId, id: SpanId) -> SpanContext {
    SpanContext::new(trace, id, TraceFlags::SAMPLED, false, TraceState::default())
}

pub(super) fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `[add] Foo Bar`: a transition's mutation as Go labels it.
pub(super) fn mutation_label(schema: &Schema, kind: MutationKind, called: &[u32]) -> String {
    let names = schema.names();
    let name = |i: &u32| names.get(*i as usize).map(String::as_str).unwrap_or("?");
    let k = kind.as_str();
    let mut s = String::with_capacity(k.len() + 2 + called.iter().map(|i| name(i).len() + 1).sum::<usize>());
    s.push('[');
    s.push_str(k);
    s.push(']');
    for i in called {
        s.push(' ');
        s.push_str(name(i));
    }
    s
}

/// Interned string tags: a mutation label by kind, a span name by kind and `raising`, a
/// state diff.
const TAG_LABEL: u8 = 0;
const TAG_NAME: u8 = 4;
const TAG_DIFF: u8 = 12;

fn tag(kind: MutationKind) -> u8 {
    match kind {
        MutationKind::Add => 0,
        MutationKind::Remove => 1,
        MutationKind::Set => 2,
    }
}

/// A transition span being assembled; built when the transition ends.
#[derive(Debug)]
pub(super) struct PendingTx {
    tx: TxId,
    span: SpanId,
    start: SystemTime,
    name: Arc<str>,
    attrs: Vec<KeyValue>,
    events: Vec<Event>,
    links: Vec<Link>,
}

/// The span side of one machine: its structural spans, the open state spans, the
/// transition span being assembled.
#[derive(Debug)]
pub(crate) struct Tree {
    pub(crate) index: usize,
    pub(crate) id: String,
    schema: Arc<Schema>,
    pub(crate) mach_cx: SpanContext,
    states_cx: SpanContext,
    txs_cx: Option<SpanContext>,
    pub(crate) subs_cx: Option<SpanContext>,
    groups: Vec<Option<SpanContext>>,
    names: Vec<Option<String>>,
    instances: Vec<Option<OpenSpan>>,
    traced: Vec<u8>,
    tx: Option<PendingTx>,
    pub(crate) open: Vec<OpenSpan>,
    /// Spans ended and not yet sent (the direct path sends a drain's at once).
    pub(crate) emitted: Vec<SpanData>,
    /// Labels, diffs and names of recent transitions.
    interned: Interned,
    spare: Spare,
    ended: bool,
}

/// One traced machine.
#[derive(Debug)]
pub(crate) struct Mach {
    pub(crate) hook: Mutex<Hook>,
    pub(crate) tree: Mutex<Tree>,
    /// Not a submachine of a traced machine.
    pub(crate) top_level: bool,
    /// The traced parent's ID (`None` when top-level).
    pub(crate) parent: Option<String>,
    /// The machine instance (`Machine::instance`) traced.
    pub(crate) instance: u64,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unpoison()
}
pub(crate) fn read<T>(m: &std::sync::RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unpoison()
}
pub(crate) fn write<T>(m: &std::sync::RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unpoison()
}

impl Mach {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        index: usize,
        id: String,
        schema: Arc<Schema>,
        mach_sc: &SpanContext,
        states_cx: SpanContext,
        txs_cx: Option<SpanContext>,
        open: Vec<OpenSpan>,
    ) -> Self {
        let n = schema.len();
        Mach {
            hook: Mutex::new(Hook::new(mach_sc)),
            tree: Mutex::new(Tree {
                index,
                id,
                schema,
                mach_cx: mach_sc.clone(),
                states_cx,
                txs_cx,
                subs_cx: None,
                groups: vec![None; n],
                names: vec![None; n],
                instances: std::iter::repeat_with(|| None).take(n).collect(),
                traced: vec![0; n],
                tx: None,
                open,
                emitted: Vec::new(),
                interned: Interned::default(),
                spare: Spare::default(),
                ended: false,
            }),
            top_level: false,
            parent: None,
            instance: 0,
        }
    }

    /// Applies every record buffered so far; returns the tree, still locked.
    pub(crate) fn drain(&self, cx: &Ctx) -> MutexGuard<'_, Tree> {
        let mut tree = lock(&self.tree);
        let (mut evs, mut idx) = (std::mem::take(&mut tree.spare.evs), std::mem::take(&mut tree.spare.idx));
        {
            let mut h = lock(&self.hook);
            std::mem::swap(&mut h.evs, &mut evs);
            std::mem::swap(&mut h.idx, &mut idx);
            h.dirty = false;
        }
        let (n, ni) = (evs.len(), idx.len());
        tree.apply(cx, &mut evs, &idx);
        cx.out.send(&mut tree.emitted);
        idx.clear();
        tree.spare.put(evs, idx, n, ni);
        tree
    }
}

impl Tree {
    fn apply(&mut self, cx: &Ctx, evs: &mut Vec<Ev>, idx: &[u32]) {
        for ev in evs.drain(..) {
            if self.ended {
                continue;
            }
            match ev {
                Ev::Start(s) => self.start(cx, s, idx),
                Ev::Handler { tx, at, handler, binding } => {
                    if let Some(t) = self.tx.as_mut().filter(|t| t.tx == tx) {
                        t.events.push(Event::new(
                            String::from(handler),
                            at,
                            vec![KeyValue::new("emitter", String::from(binding))],
                            0,
                        ));
                    }
                }
                Ev::Finals(f) => self.finals(cx, f, idx),
                Ev::End(e) => self.end(cx, e),
                Ev::Schema(s) => {
                    self.schema = s;
                    self.interned.clear();
                }
            }
        }
    }

    fn fit(&mut self) {
        let n = self.schema.len();
        if self.instances.len() < n {
            self.instances.resize_with(n, || None);
            self.groups.resize(n, None);
            self.names.resize(n, None);
            self.traced.resize(n, 0);
        }
    }

    /// `[add] Foo Bar`, shared.
    fn label(&mut self, kind: MutationKind, called: &[u32]) -> Arc<str> {
        let schema = &self.schema;
        self.interned.get(Key::new(TAG_LABEL + tag(kind), called, &[]), || mutation_label(schema, kind, called))
    }

    fn name(&self, i: StateIdx) -> &str {
        self.schema.names().get(i).map(String::as_str).unwrap_or("?")
    }

    fn start(&mut self, cx: &Ctx, s: Start, idx: &[u32]) {
        if let Some(old) = self.tx.take() {
            // a transition that never ended (its end record was dropped)
            self.build(cx, old, s.at, None);
        }
        let called = s.called.of(idx);
        let label = self.label(s.kind, called);
        let (schema, index) = (&self.schema, self.index);
        let name = self.interned.get(Key::new(TAG_NAME + tag(s.kind) * 2 + u8::from(s.raising), called, &[]), || {
            format!("{}{index}: {}", if s.raising { "!" } else { "" }, mutation_label(schema, s.kind, called))
        });
        // room for what the transition's finals and end add
        let mut attrs = Vec::with_capacity(9);
        attrs.extend([
            KeyValue::new(am_core::conventions::otel::ATTR_TX_ID, s.tx.as_str().to_owned()),
            KeyValue::new("time_before", i64_of(s.time_before)),
            KeyValue::new("mutation", label),
        ]);
        let mut links = Vec::new();
        if let Some((trace, span)) = s.link {
            links.push(Link::with_context(span_context(trace, span)));
        }
        if let Some(x) = s.extra {
            let StartExtra { err, args } = *x;
            if let Some(e) = err {
                attrs.push(KeyValue::new("error", e));
            }
            for (k, v) in args {
                attrs.push(KeyValue::new(format!("args.{k}"), v));
            }
        }
        self.tx = Some(PendingTx { tx: s.tx, span: s.span, start: s.at, name, attrs, events: Vec::new(), links });
    }

    fn is_traced(&mut self, cx: &Ctx, i: StateIdx) -> bool {
        match self.traced.get(i).copied().unwrap_or(0) {
            1 => true,
            2 => false,
            _ => {
                let name = self.name(i);
                let health = name == am_core::HEALTHCHECK || name == am_core::HEARTBEAT;
                let yes = (!health || cx.opts.include_health) && cx.filter.allows(&self.id, name);
                if let Some(t) = self.traced.get_mut(i) {
                    *t = if yes { 1 } else { 2 };
                }
                yes
            }
        }
    }

    fn finals(&mut self, cx: &Ctx, f: Finals, idx: &[u32]) {
        self.fit();
        let txs = cx.opts.transitions;
        let linking = txs && self.tx.as_ref().is_some_and(|t| t.tx == f.tx);
        let mut links = Vec::new();
        let exits = f.exits.of(idx);
        for &i in exits {
            if let Some(span) = self.instances.get_mut(i as usize).and_then(Option::take) {
                if linking {
                    links.push(span.span_context());
                }
                span.end(f.at, &mut self.emitted);
            }
        }
        let mut label = None;
        let enters = f.enters.of(idx);
        for &i in enters {
            let i = i as usize;
            if self.is_traced(cx, i) {
                let l = label.get_or_insert_with(|| self.label(f.kind, f.called.of(idx)).to_string());
                self.activate(cx, i, l.clone(), f.tx, f.at, linking.then_some(&mut links));
            }
        }
        if txs && let Some(t) = self.tx.as_mut().filter(|t| t.tx == f.tx) {
            t.links.reserve_exact(links.len());
            t.links.extend(links.into_iter().map(Link::with_context));
            let names = self.schema.names();
            let name = |i: &u32| names.get(*i as usize).map(String::as_str).unwrap_or("?");
            let states_diff = self.interned.get(Key::new(TAG_DIFF, enters, exits), || {
                let added = enters.iter().map(|i| format!("+{}", name(i)));
                let removed = exits.iter().map(|i| format!("-{}", name(i)));
                added.chain(removed).collect::<Vec<_>>().join(" ")
            });
            t.attrs.extend([
                KeyValue::new("states_diff", states_diff),
                KeyValue::new("time_after", i64_of(f.time_after)),
                KeyValue::new("accepted", true),
                KeyValue::new("auto", f.auto),
                KeyValue::new("steps_count", i64::from(f.steps)),
            ]);
        }
    }

    /// Opens the span of state `i` (or adds an event to the open one of a Multi state).
    fn activate(
        &mut self,
        cx: &Ctx,
        i: StateIdx,
        label: String,
        tx: TxId,
        at: SystemTime,
        links: Option<&mut Vec<SpanContext>>,
    ) {
        if let Some(span) = self.instances.get_mut(i).and_then(Option::as_mut) {
            span.add_event(label, at);
            if let Some(l) = links {
                l.push(span.span_context());
            }
            return;
        }
        let name = match self.names.get(i).and_then(Option::as_ref) {
            Some(n) => n.clone(),
            None => {
                let n = if self.schema.is_multi(i) {
                    format!("{}:{} [M]", self.index, self.name(i))
                } else {
                    format!("{}:{}", self.index, self.name(i))
                };
                if let Some(slot) = self.names.get_mut(i) {
                    *slot = Some(n.clone());
                }
                n
            }
        };
        let group_cx = match self.groups.get(i).and_then(Option::as_ref) {
            Some(c) => c.clone(),
            None => {
                let c =
                    cx.group(name.clone(), Some(&self.states_cx), Vec::new(), at, &mut self.open, &mut self.emitted);
                if let Some(g) = self.groups.get_mut(i) {
                    *g = Some(c.clone());
                }
                c
            }
        };
        let attrs = vec![KeyValue::new(am_core::conventions::otel::ATTR_TX_ID, tx.as_str().to_owned())];
        let mut span = cx.out.start(name, Some(&group_cx), at, attrs);
        span.add_event(label, at);
        if let Some(l) = links {
            l.push(span.span_context());
        }
        if let Some(slot) = self.instances.get_mut(i) {
            *slot = Some(span);
        }
    }

    fn end(&mut self, cx: &Ctx, e: End) {
        let Some(mut t) = self.tx.take_if(|t| t.tx == e.tx) else { return };
        let mut status = None;
        if e.accepted {
            if let Some(msg) = e.note {
                let msg = String::from(msg);
                t.events.push(Event::new(
                    "exception",
                    e.at,
                    vec![KeyValue::new("exception.type", "Exception"), KeyValue::new("exception.message", msg.clone())],
                    0,
                ));
                status = Some(Status::error(msg));
            }
        } else {
            t.attrs.extend([
                KeyValue::new("accepted", false),
                KeyValue::new("auto", e.auto),
                KeyValue::new("time_after", i64_of(e.time_after)),
            ]);
            if let Some(r) = e.note {
                t.attrs.push(KeyValue::new("cancel_reason", String::from(r)));
            }
        }
        if e.discard {
            if cx.out.sdk().is_none() {
                // the pipeline's queue counts it; nothing is built
                cx.out.discard();
                return;
            }
            t.attrs.push(KeyValue::new(DISCARD_KEY, true));
        }
        self.build(cx, t, e.at, status);
    }

    /// Builds and ends a transition span, with the ID its transition was given.
    fn build(&mut self, cx: &Ctx, t: PendingTx, end: SystemTime, status: Option<Status>) {
        let Some(parent) = &self.txs_cx else { return };
        let want = t.span;
        let got =
            cx.out.whole(want, parent, &t.name, (t.start, end), t.attrs, t.events, t.links, status, &mut self.emitted);
        if got != want && got != SpanId::INVALID && !cx.preset_warned.swap(true, Relaxed) {
            tracing::warn!(
                target: "am_otel",
                "the tracer provider does not use am_otel::AmIdGenerator: log records and links carry \
                 transition span IDs that no exported span has"
            );
        }
    }

    /// Ends every open span (disposal or shutdown); later records are ignored. The spans
    /// wait in `emitted` for the caller to send them.
    pub(crate) fn end_all(&mut self, cx: &Ctx, at: SystemTime) {
        if let Some(t) = self.tx.take() {
            self.build(cx, t, at, None);
        }
        for s in self.instances.drain(..).flatten() {
            s.end(at, &mut self.emitted);
        }
        for s in self.open.drain(..).rev() {
            s.end(at, &mut self.emitted);
        }
        self.ended = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drained_buffers_keep_their_size_between_bursts_and_shrink_after_a_quiet_spell() {
        let mut s = Spare::default();
        let put = |s: &mut Spare, cap: usize, n: usize| {
            let evs = Vec::with_capacity(cap);
            s.put(evs, Vec::new(), n, 0);
            s.evs.capacity()
        };
        // a burst filled 8,192; the next drains are small, then a busy one resets the count
        for _ in 0..QUIET_DRAINS - 1 {
            assert!(put(&mut s, 8192, 10) >= 8192, "kept between bursts");
        }
        assert!(put(&mut s, 8192, 4000) >= 8192, "busy again");
        for _ in 0..QUIET_DRAINS - 1 {
            assert!(put(&mut s, 8192, 10) >= 8192);
        }
        let cap = put(&mut s, 8192, 10);
        assert!((SPARE_KEPT..8192).contains(&cap), "given back after a quiet spell: {cap}");
        // small buffers count as quiet and are not shrunk below what is kept
        assert!(put(&mut s, 512, 500) >= 500);
    }
}
