//! The `prometheus-client` collector: reads the machines' atomics at scrape or push time
//! and encodes every family.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use am_core::conventions::prom as n;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use crate::hist::HistSnapshot;
use crate::machine::MachineMetrics;
use crate::names::{self, counter, seconds};
use crate::shared::Shared;

/// Encodes the tracer's families into any registry it is registered with.
#[derive(Debug, Clone)]
pub(crate) struct PromCollector(pub(crate) Arc<Shared>);

type Ms = [Arc<MachineMetrics>];

fn counters(
    enc: &mut DescriptorEncoder<'_>,
    full: &'static str,
    help: &str,
    ms: &Ms,
    get: fn(&MachineMetrics) -> &AtomicU64,
) -> std::fmt::Result {
    let mut f = enc.encode_descriptor(counter(full), help, None, MetricType::Counter)?;
    for m in ms {
        let v = get(m).load(Relaxed);
        f.encode_family(&[(n::LABEL_MACH_ID, &*m.id)])?.encode_counter::<NoLabelSet, _, u64>(&v, None)?;
    }
    Ok(())
}

fn gauges(
    enc: &mut DescriptorEncoder<'_>,
    name: &'static str,
    help: &str,
    ms: &Ms,
    get: fn(&MachineMetrics) -> u64,
) -> std::fmt::Result {
    let mut f = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for m in ms {
        f.encode_family(&[(n::LABEL_MACH_ID, &*m.id)])?.encode_gauge(&get(m))?;
    }
    Ok(())
}

fn histograms(
    enc: &mut DescriptorEncoder<'_>,
    name: &'static str,
    unit: Option<&Unit>,
    help: &str,
    ms: &Ms,
    get: fn(&MachineMetrics) -> HistSnapshot,
) -> std::fmt::Result {
    let mut f = enc.encode_descriptor(name, help, unit, MetricType::Histogram)?;
    for m in ms {
        let s = get(m);
        f.encode_family(&[(n::LABEL_MACH_ID, &*m.id)])?
            .encode_histogram::<NoLabelSet>(s.sum, s.count, &s.buckets, None)?;
    }
    Ok(())
}

fn health_counter(enc: &mut DescriptorEncoder<'_>, full: &'static str, help: &str, v: &AtomicU64) -> std::fmt::Result {
    enc.encode_descriptor(counter(full), help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&v.load(Relaxed), None)
}

/// Every exporter's own health in the process (`am_core::exporter::exporter_stats`), one
/// series per exporter.
fn exporters(e: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    use am_core::exporter::ExporterStats;
    let stats = am_core::exporter::exporter_stats();
    type Read = fn(&ExporterStats) -> u64;
    let counters: [(&'static str, &str, Read); 3] = [
        (n::EXPORTER_SENT_TOTAL, "Items each exporter delivered", |s| s.sent),
        (n::EXPORTER_DROPPED_TOTAL, "Items each exporter dropped before delivery", |s| s.dropped),
        (n::EXPORTER_FAILED_TOTAL, "Deliveries each exporter failed", |s| s.failed),
    ];
    for (full, help, get) in counters {
        let mut f = e.encode_descriptor(counter(full), help, None, MetricType::Counter)?;
        for (name, s) in &stats {
            f.encode_family(&[(n::LABEL_EXPORTER, *name)])?.encode_counter::<NoLabelSet, _, u64>(&get(s), None)?;
        }
    }
    let mut f = e.encode_descriptor(n::EXPORTER_QUEUED, "Items waiting in each exporter", None, MetricType::Gauge)?;
    for (name, s) in &stats {
        f.encode_family(&[(n::LABEL_EXPORTER, *name)])?.encode_gauge(&s.queued)?;
    }
    let mut f = e.encode_descriptor(
        n::EXPORTER_CONNECTED,
        "1 while an exporter that keeps a connection holds one",
        None,
        MetricType::Gauge,
    )?;
    for (name, s) in &stats {
        if let Some(c) = s.connected {
            f.encode_family(&[(n::LABEL_EXPORTER, *name)])?.encode_gauge(&u64::from(c))?;
        }
    }
    let (last, unit) = seconds(n::EXPORTER_LAST_SUCCESS_SECONDS);
    let mut f = e.encode_descriptor(
        last,
        "Unix time of each exporter's last successful delivery",
        Some(&unit),
        MetricType::Gauge,
    )?;
    for (name, s) in &stats {
        if let Some(ms) = s.last_success_ms {
            f.encode_family(&[(n::LABEL_EXPORTER, *name)])?.encode_gauge(&(ms as f64 / 1000.0))?;
        }
    }
    Ok(())
}

impl Collector for PromCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
        let ms = self.0.machines();
        let e = &mut enc;
        {
            let mut f =
                e.encode_descriptor(n::MACHINE_INFO, "Machine identity and parent (value 1)", None, MetricType::Gauge)?;
            for m in &ms {
                f.encode_family(&[(n::LABEL_MACH_ID, &*m.id), (n::LABEL_PARENT_ID, &*m.parent_id)])?
                    .encode_gauge(&1u64)?;
            }
        }
        {
            let mut f = e.encode_descriptor(
                counter(n::TRANSITIONS_TOTAL),
                "Transitions by result (accepted or canceled)",
                None,
                MetricType::Counter,
            )?;
            for m in &ms {
                for (result, v) in [("accepted", &m.accepted), ("canceled", &m.canceled)] {
                    f.encode_family(&[(n::LABEL_MACH_ID, &*m.id), (n::LABEL_RESULT, result)])?
                        .encode_counter::<NoLabelSet, _, u64>(&v.load(Relaxed), None)?;
                }
            }
        }
        counters(e, n::EXCEPTIONS_TOTAL, "Exception state activations", &ms, |m| &m.exceptions)?;
        counters(e, n::STATES_ADDED_TOTAL, "States activated (Multi re-activations included)", &ms, |m| &m.added)?;
        counters(e, n::STATES_REMOVED_TOTAL, "States deactivated", &ms, |m| &m.removed)?;
        let (name, unit) = seconds(n::TRANSITION_DURATION_SECONDS);
        histograms(e, name, Some(&unit), "Transition wall time (timed transitions)", &ms, |m| m.duration.snapshot())?;
        histograms(e, n::TRANSITION_TICKS, None, "Machine-time ticks per transition", &ms, |m| {
            m.ticks.snapshot(m.observed())
        })?;
        histograms(e, n::TRANSITION_STEPS, None, "Steps per transition (needs step logging)", &ms, |m| {
            m.steps.snapshot(m.observed())
        })?;
        histograms(e, n::TRANSITION_HANDLERS, None, "Handler calls per transition", &ms, |m| {
            m.handlers.snapshot(m.observed())
        })?;
        gauges(e, n::QUEUE_LENGTH, "Mutations queued after the last transition", &ms, |m| m.queue_len.load(Relaxed))?;
        gauges(e, n::STATES_ACTIVE, "Active states", &ms, |m| m.track().active_count())?;
        {
            let mut f = e.encode_descriptor(
                n::STATE_ACTIVE,
                "1 while the state is active (allow-listed, capped per machine)",
                None,
                MetricType::Gauge,
            )?;
            for m in &ms {
                let t = m.track();
                for (i, state) in t.tracked.iter() {
                    f.encode_family(&[(n::LABEL_MACH_ID, &*m.id), (n::LABEL_STATE, &**state)])?
                        .encode_gauge(&u64::from(t.is_active(*i)))?;
                }
            }
        }
        gauges(e, n::SCHEMA_STATES, "States in the schema", &ms, |m| m.schema_states.load(Relaxed))?;
        gauges(e, n::SCHEMA_RELATIONS, "Non-empty relation lists in the schema", &ms, |m| {
            m.schema_relations.load(Relaxed)
        })?;
        gauges(e, n::SCHEMA_REF_STATES, "State references in relations", &ms, |m| m.schema_refs.load(Relaxed))?;

        let h = &self.0.health;
        health_counter(e, names::PUSHES_TOTAL, "Pushes the Pushgateway accepted", &h.pushes)?;
        health_counter(e, names::PUSH_FAILURES_TOTAL, "Pushes that failed", &h.push_failures)?;
        let (name, unit) = seconds(names::LAST_PUSH_SUCCESS_SECONDS);
        let last = h.last_push_ok_ms.load(Relaxed) as f64 / 1000.0;
        e.encode_descriptor(name, "Unix time of the last accepted push", Some(&unit), MetricType::Gauge)?
            .encode_gauge(&last)?;
        health_counter(e, names::SCRAPES_TOTAL, "Scrapes of /metrics answered", &h.scrapes)?;
        health_counter(e, names::DROPPED_UPDATES_TOTAL, "Transitions of refused machines, not recorded", &h.dropped)?;
        health_counter(
            e,
            names::REFUSED_SERIES_TOTAL,
            "State series refused by the per-machine cap",
            &h.refused_series,
        )?;
        health_counter(e, names::REFUSED_MACHINES_TOTAL, "Machines (or their Go series) refused", &h.refused_machines)?;
        e.encode_descriptor(names::MACHINES, "Machines exported", None, MetricType::Gauge)?
            .encode_gauge(&(ms.len() as u64))?;
        exporters(e)?;

        self.0.rules.go_series.encode(e)?;
        Ok(())
    }
}
