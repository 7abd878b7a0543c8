//! [`OtelMetricsTracer`] (feature `metrics`): am-prom's labelled machine metrics
//! ([`am_core::conventions::prom`]) as OTel instruments, exported over OTLP metrics.

use am_core::exporter::Unpoison;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use am_core::conventions::prom as n;
use am_core::{Attach, Interest, Machine, Schema, Tracer, Transition};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, MeterProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};

/// The tracer ID (`Tracer::id`).
pub const METRICS_TRACER_ID: &str = "am-otel-metrics";

/// Distinct machine IDs recorded at most; further machines are counted, not recorded.
pub const MAX_MACHINES: usize = 1000;

#[derive(Debug)]
struct Instruments {
    transitions: Counter<u64>,
    exceptions: Counter<u64>,
    duration: Histogram<f64>,
    ticks: Histogram<u64>,
    steps: Histogram<u64>,
    handlers: Histogram<u64>,
    added: Counter<u64>,
    removed: Counter<u64>,
    queue: Gauge<u64>,
    active: Gauge<u64>,
    state_active: Gauge<u64>,
    schema_states: Gauge<u64>,
    schema_relations: Gauge<u64>,
    schema_refs: Gauge<u64>,
    info: Gauge<u64>,
}

#[derive(Debug)]
struct MachMetrics {
    label: [KeyValue; 1],
    handlers: AtomicU64,
    /// The machine instance (`Machine::instance`) recorded.
    instance: u64,
}

/// A [`Tracer`] updating OTel instruments named as am-prom's metrics, with the `mach_id`
/// label (and `result`, `state`, `parent_id` where am-prom has them). Inherited by
/// submachines. The provider's periodic reader exports them on its own thread.
#[derive(Clone, Debug)]
pub struct OtelMetricsTracer(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    i: Instruments,
    machines: RwLock<HashMap<String, Arc<MachMetrics>>>,
    overflow: AtomicU64,
}

impl OtelMetricsTracer {
    /// Instruments from `provider` (meter name `am-otel`).
    pub fn new(provider: &SdkMeterProvider) -> Self {
        let m = provider.meter("am-otel");
        let i = Instruments {
            transitions: m.u64_counter(n::TRANSITIONS_TOTAL).with_description("transitions").build(),
            exceptions: m.u64_counter(n::EXCEPTIONS_TOTAL).with_description("Exception activations").build(),
            duration: m.f64_histogram(n::TRANSITION_DURATION_SECONDS).with_unit("s").build(),
            ticks: m.u64_histogram(n::TRANSITION_TICKS).build(),
            steps: m.u64_histogram(n::TRANSITION_STEPS).build(),
            handlers: m.u64_histogram(n::TRANSITION_HANDLERS).build(),
            added: m.u64_counter(n::STATES_ADDED_TOTAL).build(),
            removed: m.u64_counter(n::STATES_REMOVED_TOTAL).build(),
            queue: m.u64_gauge(n::QUEUE_LENGTH).build(),
            active: m.u64_gauge(n::STATES_ACTIVE).build(),
            state_active: m.u64_gauge(n::STATE_ACTIVE).build(),
            schema_states: m.u64_gauge(n::SCHEMA_STATES).build(),
            schema_relations: m.u64_gauge(n::SCHEMA_RELATIONS).build(),
            schema_refs: m.u64_gauge(n::SCHEMA_REF_STATES).build(),
            info: m.u64_gauge(n::MACHINE_INFO).build(),
        };
        OtelMetricsTracer(Arc::new(Inner { i, machines: RwLock::new(HashMap::new()), overflow: AtomicU64::new(0) }))
    }

    /// Machines not recorded because [`MAX_MACHINES`] was reached.
    pub fn overflow(&self) -> u64 {
        self.0.overflow.load(Relaxed)
    }

    /// Binds it to an already built machine.
    pub fn bind(&self, m: &Machine) {
        m.bind_tracer(Arc::new(self.clone()));
    }

    fn schema(&self, label: &[KeyValue], s: &Schema) {
        let (lists, refs) = s.relation_counts();
        self.0.i.schema_states.record(s.len() as u64, label);
        self.0.i.schema_relations.record(lists as u64, label);
        self.0.i.schema_refs.record(refs as u64, label);
    }
}

/// What gets bound (and inherited): each machine gets a `MachMetricsTracer` holding its
/// label set.
impl Tracer for OtelMetricsTracer {
    fn id(&self) -> &str {
        METRICS_TRACER_ID
    }
    fn inheritable(&self) -> bool {
        true
    }
    fn attach(&self, m: &Machine) -> Attach {
        if am_core::env::is_rpc_machine(m.tags()) {
            return Attach::Decline;
        }
        let mut g = self.0.machines.write().unpoison();
        let mm = match g.get(m.id()) {
            // the same machine again, after its schema grew
            Some(mm) if mm.instance == m.instance() => {
                self.schema(&mm.label, &m.schema());
                mm.clone()
            }
            Some(_) => return Attach::Decline,
            None if g.len() >= MAX_MACHINES => {
                self.0.overflow.fetch_add(1, Relaxed);
                return Attach::Decline;
            }
            None => {
                let label = [KeyValue::new(n::LABEL_MACH_ID, m.id().to_string())];
                self.schema(&label, &m.schema());
                let parent = m.parent_id().unwrap_or_default().to_string();
                self.0.i.info.record(1, &[label[0].clone(), KeyValue::new(n::LABEL_PARENT_ID, parent)]);
                let mm = Arc::new(MachMetrics { label, handlers: AtomicU64::new(0), instance: m.instance() });
                g.insert(m.id().to_string(), mm.clone());
                mm
            }
        };
        Attach::With(Arc::new(MachMetricsTracer { tracer: self.clone(), mm }))
    }
}

/// Made by [`OtelMetricsTracer`]'s `attach` for one machine.
struct MachMetricsTracer {
    tracer: OtelMetricsTracer,
    mm: Arc<MachMetrics>,
}

impl Tracer for MachMetricsTracer {
    fn id(&self) -> &str {
        METRICS_TRACER_ID
    }
    fn wants_timing(&self) -> bool {
        true
    }
    fn interest(&self) -> Interest {
        Interest::HANDLERS | Interest::TRANSITION_END
    }
    fn handler_end(&self, _tx: &Transition<'_>, _binding: &str, _handler: &str) {
        self.mm.handlers.fetch_add(1, Relaxed);
    }
    fn transition_end(&self, tx: &Transition<'_>) {
        if tx.is_check() {
            return;
        }
        let mm = &self.mm;
        let i = &self.tracer.0.i;
        let label = &mm.label;
        let handlers = mm.handlers.swap(0, Relaxed);
        let result = if tx.accepted() { "accepted" } else { "canceled" };
        i.transitions.add(1, &[label[0].clone(), KeyValue::new(n::LABEL_RESULT, result)]);
        i.handlers.record(handlers, label);
        i.queue.record(tx.queue_len() as u64, label);
        if !tx.accepted() {
            return;
        }
        if let Some(d) = tx.duration() {
            i.duration.record(d.as_secs_f64(), label);
        }
        i.ticks.record(tx.machine_time_after().saturating_sub(tx.machine_time_before()), label);
        i.steps.record(tx.steps().len() as u64, label);
        i.added.add(tx.enters().len() as u64, label);
        i.removed.add(tx.exits().len() as u64, label);
        if tx.enters().contains(&tx.schema().exception()) {
            i.exceptions.add(1, label);
        }
        let after = tx.time_after();
        i.active.record(after.iter().filter(|t| *t % 2 == 1).count() as u64, label);
        for &s in tx.enters().iter().chain(tx.exits()) {
            let v = u64::from(tx.is_active_after(s));
            i.state_active.record(v, &[label[0].clone(), KeyValue::new(n::LABEL_STATE, tx.state_name(s).to_string())]);
        }
    }
    fn machine_dispose(&self, machine_id: &str) {
        let mut g = self.tracer.0.machines.write().unpoison();
        if g.get(machine_id).is_some_and(|x| Arc::ptr_eq(x, &self.mm)) {
            g.remove(machine_id);
        }
    }
}

/// Runs metric exports on the pipeline's runtime (the periodic reader's thread has none).
#[derive(Debug)]
struct RtMetricExporter<E> {
    inner: E,
    rt: tokio::runtime::Handle,
}

impl<E: PushMetricExporter> PushMetricExporter for RtMetricExporter<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        if tokio::runtime::Handle::try_current().is_err() {
            self.rt.block_on(self.inner.export(metrics))
        } else {
            self.inner.export(metrics).await
        }
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

pub(crate) fn meter_provider<E: PushMetricExporter>(
    exporter: E,
    rt: tokio::runtime::Handle,
    interval: Duration,
    resource: Resource,
) -> SdkMeterProvider {
    let reader = PeriodicReader::builder(RtMetricExporter { inner: exporter, rt }).with_interval(interval).build();
    SdkMeterProvider::builder().with_reader(reader).with_resource(resource).build()
}
