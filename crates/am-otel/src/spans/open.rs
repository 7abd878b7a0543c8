//! Where the span thread's spans go ([`Out`]) and a span between its start and its end
//! ([`OpenSpan`]).
//!
//! A tracer of an [`OtlpPipeline`](crate::OtlpPipeline) builds the exporter's `SpanData`
//! itself and hands each drain's spans to the pipeline's [`DirectQueue`] at once: no SDK
//! span objects, no sampler, processor or channel per span (most of what a span cost). A
//! tracer over an SDK tracer of the application's own provider goes through that provider,
//! whose sampler, ID generator and processors then apply.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::{
    Event, Link, Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceState,
    Tracer as _,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{IdGenerator as _, RandomIdGenerator, SdkTracer, Span, SpanData, SpanEvents, SpanLinks};

use crate::direct::DirectQueue;
use crate::ids::with_preset;

/// Events a span keeps, as the SDK's default span limits (more are counted as dropped).
const MAX_EVENTS: usize = 128;

/// How the span thread's spans leave.
#[derive(Debug)]
pub(crate) enum Out {
    /// Through the SDK tracer (of a provider the application built).
    Sdk(SdkTracer),
    /// As `SpanData`, straight into the pipeline's export queue.
    Direct { queue: Arc<DirectQueue>, scope: InstrumentationScope },
}

/// The context a span is started under: the parent's, or none (a new trace).
fn context_of(parent: Option<&SpanContext>) -> Context {
    match parent {
        Some(sc) => Context::new().with_remote_span_context(sc.clone()),
        None => Context::new(),
    }
}

impl Out {
    /// The SDK tracer, when spans go through one.
    pub(crate) fn sdk(&self) -> Option<&SdkTracer> {
        match self {
            Out::Sdk(t) => Some(t),
            Out::Direct { .. } => None,
        }
    }

    /// Starts a span under `parent` (a new trace without one).
    pub(crate) fn start(
        &self,
        name: String,
        parent: Option<&SpanContext>,
        at: SystemTime,
        attrs: Vec<KeyValue>,
    ) -> OpenSpan {
        match self {
            Out::Sdk(tracer) => OpenSpan::Sdk(Box::new(
                tracer
                    .span_builder(name)
                    .with_kind(SpanKind::Internal)
                    .with_start_time(at)
                    .with_attributes(attrs)
                    .start_with_context(tracer, &context_of(parent)),
            )),
            Out::Direct { scope, .. } => {
                let ids = RandomIdGenerator::default();
                let trace = parent.map(SpanContext::trace_id).unwrap_or_else(|| ids.new_trace_id());
                let sc = SpanContext::new(trace, ids.new_span_id(), TraceFlags::SAMPLED, false, TraceState::NONE);
                OpenSpan::Own(Box::new(own(sc, parent, name, at, attrs, scope)))
            }
        }
    }

    /// A whole span at once (a transition's): its ID chosen up front, its events and links
    /// known; ended at `end`. `discard`: built but not exported (counted as discarded).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn whole(
        &self,
        id: SpanId,
        parent: &SpanContext,
        name: &str,
        (start, end): (SystemTime, SystemTime),
        attrs: Vec<KeyValue>,
        events: Vec<Event>,
        links: Vec<Link>,
        status: Option<Status>,
        out: &mut Vec<SpanData>,
    ) -> SpanId {
        match self {
            Out::Sdk(tracer) => {
                let mut span = with_preset(id, || {
                    tracer
                        .span_builder(name.to_string())
                        .with_kind(SpanKind::Internal)
                        .with_start_time(start)
                        .with_attributes(attrs)
                        .with_events(events)
                        .with_links(links)
                        .start_with_context(tracer, &context_of(Some(parent)))
                });
                let got = span.span_context().span_id();
                if let Some(s) = status {
                    span.set_status(s);
                }
                span.end_with_timestamp(end);
                got
            }
            Out::Direct { scope, .. } => {
                let sc = SpanContext::new(parent.trace_id(), id, TraceFlags::SAMPLED, false, TraceState::NONE);
                let mut d = own(sc, Some(parent), name.to_string(), start, attrs, scope);
                push_events(&mut d.events, events);
                let mut l = SpanLinks::default();
                l.links = links;
                d.links = l;
                d.status = status.unwrap_or(Status::Unset);
                d.end_time = end;
                out.push(d);
                id
            }
        }
    }

    /// Hands a drain's spans to the export queue (nothing for the SDK path, whose spans left
    /// as they ended).
    pub(crate) fn send(&self, spans: &mut Vec<SpanData>) {
        if let Out::Direct { queue, .. } = self
            && !spans.is_empty()
        {
            queue.push(spans);
        }
    }

    /// Ends one span at `at` and sends it at once.
    pub(crate) fn end_now(&self, span: OpenSpan, at: SystemTime) {
        let mut out = Vec::new();
        span.end(at, &mut out);
        self.send(&mut out);
    }

    /// Counts a span built but not exported on purpose (direct path; the SDK path marks it
    /// with [`DISCARD_KEY`](crate::DISCARD_KEY) for the pipeline's gate).
    pub(crate) fn discard(&self) {
        if let Out::Direct { queue, .. } = self {
            queue.discarded();
        }
    }
}

fn own(
    sc: SpanContext,
    parent: Option<&SpanContext>,
    name: String,
    at: SystemTime,
    attrs: Vec<KeyValue>,
    scope: &InstrumentationScope,
) -> SpanData {
    SpanData {
        span_context: sc,
        parent_span_id: parent.map_or(SpanId::INVALID, SpanContext::span_id),
        parent_span_is_remote: parent.is_some_and(SpanContext::is_remote),
        span_kind: SpanKind::Internal,
        name: Cow::Owned(name),
        start_time: at,
        end_time: at,
        attributes: attrs,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: scope.clone(),
    }
}

fn push_events(to: &mut SpanEvents, events: Vec<Event>) {
    if to.events.is_empty() && events.len() <= MAX_EVENTS {
        to.events = events;
        return;
    }
    events.into_iter().for_each(|e| push_event(to, e));
}

fn push_event(to: &mut SpanEvents, e: Event) {
    if to.events.len() < MAX_EVENTS {
        to.events.push(e);
    } else {
        to.dropped_count += 1;
    }
}

/// A span started and not yet ended: an SDK span, or the exporter's `SpanData` being filled.
#[derive(Debug)]
pub(crate) enum OpenSpan {
    Sdk(Box<Span>),
    Own(Box<SpanData>),
}

impl OpenSpan {
    pub(crate) fn span_context(&self) -> SpanContext {
        match self {
            OpenSpan::Sdk(s) => s.span_context().clone(),
            OpenSpan::Own(d) => d.span_context.clone(),
        }
    }

    pub(crate) fn add_event(&mut self, name: String, at: SystemTime) {
        match self {
            OpenSpan::Sdk(s) => s.add_event_with_timestamp(name, at, Vec::new()),
            OpenSpan::Own(d) => push_event(&mut d.events, Event::new(name, at, Vec::new(), 0)),
        }
    }

    /// Ends it at `at`: an SDK span goes to its processors; an own one into `out`.
    pub(crate) fn end(self, at: SystemTime, out: &mut Vec<SpanData>) {
        match self {
            OpenSpan::Sdk(mut s) => s.end_with_timestamp(at),
            OpenSpan::Own(mut d) => {
                d.end_time = at;
                out.push(*d);
            }
        }
    }
}
