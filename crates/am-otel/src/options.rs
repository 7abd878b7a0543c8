//! Tracer options and the builder of [`OtelTracer`](crate::OtelTracer).

use std::time::Duration;

use opentelemetry::trace::SpanContext;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use crate::env;
use crate::error::Error;
use crate::filter::StateFilter;
use crate::spans::{Ctx, Out};
use crate::stats::SpanCounter;
use crate::tracer::{DEFAULT_BUFFER, OtelTracer};

/// What the tracer records. Defaults (and env variables) as in the Go exporter: states
/// only; transitions, args and health are opt-in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TraceOptions {
    /// One span per transition, with handler events and links (`AM_OTEL_TRACE_TXS`).
    pub transitions: bool,
    /// Mapped args as `args.<name>` attributes (`AM_OTEL_TRACE_ARGS`).
    pub args: bool,
    /// No transition spans for auto transitions (`AM_OTEL_TRACE_NOAUTO`).
    pub skip_auto: bool,
    /// No transition spans for canceled transitions (`AM_OTEL_TRACE_SKIP_CANCELED`).
    pub skip_canceled: bool,
    /// No transition spans for accepted transitions changing nothing (`AM_OTEL_TRACE_SKIP_EMPTY`).
    pub skip_empty: bool,
    /// Trace `Healthcheck` / `Heartbeat` transitions and states (`AM_OTEL_TRACE_HEALTH`).
    pub include_health: bool,
    /// Keep the structural spans (`mach:`, `:states`, …) open until the machine is
    /// disposed, instead of Go's zero-length spans.
    pub open_groups: bool,
}

impl TraceOptions {
    /// Options from the `AM_OTEL_TRACE_*` switches.
    pub fn from_env() -> Self {
        let on = am_core::env::is_on;
        TraceOptions {
            transitions: on(env::AM_OTEL_TRACE_TXS),
            args: on(env::AM_OTEL_TRACE_ARGS),
            skip_auto: on(env::AM_OTEL_TRACE_NOAUTO),
            skip_canceled: on(env::AM_OTEL_TRACE_SKIP_CANCELED),
            skip_empty: on(env::AM_OTEL_TRACE_SKIP_EMPTY),
            include_health: on(env::AM_OTEL_TRACE_HEALTH),
            open_groups: false,
        }
    }
}

/// Builds an [`OtelTracer`]. Every option left unset falls back to its env variable, then
/// to the default.
#[derive(Debug)]
pub struct OtelTracerBuilder {
    pub(crate) tracer: SdkTracer,
    pub(crate) provider: Option<SdkTracerProvider>,
    transitions: Option<bool>,
    args: Option<bool>,
    skip_auto: Option<bool>,
    skip_canceled: Option<bool>,
    skip_empty: Option<bool>,
    include_health: Option<bool>,
    open_groups: bool,
    filter: Option<StateFilter>,
    parent: Option<Option<SpanContext>>,
    root_span: bool,
    shutdown_timeout: Option<Duration>,
    buffer: usize,
    pub(crate) counter: Option<SpanCounter>,
    /// A pipeline's own export queue and scope name: spans go there as `SpanData`.
    pub(crate) direct: Option<(std::sync::Arc<crate::direct::DirectQueue>, &'static str)>,
}

impl OtelTracerBuilder {
    pub(crate) fn new(tracer: SdkTracer) -> Self {
        OtelTracerBuilder {
            tracer,
            provider: None,
            transitions: None,
            args: None,
            skip_auto: None,
            skip_canceled: None,
            skip_empty: None,
            include_health: None,
            open_groups: false,
            filter: None,
            parent: None,
            root_span: true,
            shutdown_timeout: None,
            buffer: DEFAULT_BUFFER,
            counter: None,
            direct: None,
        }
    }
    /// Transition spans on or off.
    pub fn transitions(mut self, on: bool) -> Self {
        self.transitions = Some(on);
        self
    }
    /// `args.<name>` attributes on or off.
    pub fn args(mut self, on: bool) -> Self {
        self.args = Some(on);
        self
    }
    /// Skip transition spans of auto transitions.
    pub fn skip_auto(mut self, on: bool) -> Self {
        self.skip_auto = Some(on);
        self
    }
    /// Skip transition spans of canceled transitions (otherwise they carry `accepted=false`).
    pub fn skip_canceled(mut self, on: bool) -> Self {
        self.skip_canceled = Some(on);
        self
    }
    /// Skip transition spans of accepted transitions that changed no state.
    pub fn skip_empty(mut self, on: bool) -> Self {
        self.skip_empty = Some(on);
        self
    }
    /// Trace health transitions and the `Healthcheck` / `Heartbeat` states.
    pub fn include_health(mut self, on: bool) -> Self {
        self.include_health = Some(on);
        self
    }
    /// Keep structural spans open until dispose (default: zero-length, as Go).
    pub fn open_groups(mut self, on: bool) -> Self {
        self.open_groups = on;
        self
    }
    /// State allow/skip rules (replaces the `AM_OTEL_TRACE_*_STATES*` variables).
    pub fn filter(mut self, f: StateFilter) -> Self {
        self.filter = Some(f);
        self
    }
    /// Joins this (remote) parent span instead of reading `AM_OTEL_TRACE_ID` /
    /// `AM_OTEL_SPAN_ID` / `TRACEPARENT`; `None` ignores the env too.
    pub fn parent(mut self, sc: Option<SpanContext>) -> Self {
        self.parent = Some(sc);
        self
    }
    /// Whether top-level machines without a parent to join nest under a `root` span
    /// (default true, as Go); `false` starts one trace per top-level machine.
    pub fn root_span(mut self, on: bool) -> Self {
        self.root_span = on;
        self
    }
    /// Shuts the provider down (bounded by `timeout`) when the last top-level machine
    /// traced by this tracer is disposed. Needs a provider (set by
    /// [`OtlpPipeline::tracer_builder`](crate::OtlpPipeline::tracer_builder) or
    /// [`provider`](Self::provider)).
    pub fn shutdown_on_dispose(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }
    /// The provider to flush and shut down (see [`shutdown_on_dispose`](Self::shutdown_on_dispose)).
    pub fn provider(mut self, p: SdkTracerProvider) -> Self {
        self.provider = Some(p);
        self
    }
    /// Records each machine may buffer while the span thread catches up (default
    /// [`DEFAULT_BUFFER`]); more are dropped and counted ([`OtelTracer::dropped`]).
    pub fn buffer(mut self, records: usize) -> Self {
        self.buffer = records.max(2);
        self
    }
    /// Builds the tracer and starts its span thread; fails on an invalid filter regex from
    /// the env, or when the thread cannot be started.
    pub fn build(self) -> Result<OtelTracer, Error> {
        let env = TraceOptions::from_env();
        let opts = TraceOptions {
            transitions: self.transitions.unwrap_or(env.transitions),
            args: self.args.unwrap_or(env.args),
            skip_auto: self.skip_auto.unwrap_or(env.skip_auto),
            skip_canceled: self.skip_canceled.unwrap_or(env.skip_canceled),
            skip_empty: self.skip_empty.unwrap_or(env.skip_empty),
            include_health: self.include_health.unwrap_or(env.include_health),
            open_groups: self.open_groups,
        };
        let filter = match self.filter {
            Some(f) => f,
            None => StateFilter::from_env()?,
        };
        let parent = self.parent.unwrap_or_else(crate::root::env_parent);
        let shutdown = self.shutdown_timeout.zip(self.provider);
        // the pipeline's queue takes what the provider's sampler would keep: everything,
        // unless the parent to join was not sampled (then the provider decides)
        let out = match self.direct {
            Some((queue, scope)) if parent.as_ref().is_none_or(SpanContext::is_sampled) => {
                Out::Direct { queue, scope: opentelemetry::InstrumentationScope::builder(scope).build() }
            }
            _ => Out::Sdk(self.tracer),
        };
        let cx = Ctx::new(out, opts, filter, self.buffer, self.counter);
        OtelTracer::new(cx, parent, self.root_span, shutdown).map_err(Error::Runtime)
    }
}
