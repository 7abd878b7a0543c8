//! What every tracer handle, machine tracer, collector, server and pusher of one
//! `PromTracer` share: the machines exported, the series rules, and health counters.

use am_core::exporter::Unpoison;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};

use am_core::Machine;
use am_core::env::normalize_id;

use crate::error::Error;
use crate::gocompat::go_names;
use crate::machine::{MachineMetrics, SeriesRules, StateTrack};
use crate::names::{HEALTH_FAMILIES, MACHINE_FAMILIES};

/// The exporter's own counters.
#[derive(Debug, Default)]
pub(crate) struct Health {
    pub(crate) pushes: AtomicU64,
    pub(crate) push_failures: AtomicU64,
    /// Unix time of the last accepted push, in milliseconds.
    pub(crate) last_push_ok_ms: AtomicU64,
    pub(crate) scrapes: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) refused_series: AtomicU64,
    pub(crate) refused_machines: AtomicU64,
    warned_cap: AtomicBool,
    warned_dup: AtomicBool,
}

/// Pushes are what this exporter delivers; updates it could not record are its drops (so
/// `produced` mixes pushes and dropped updates, to keep the identity of the shape).
impl am_core::exporter::StatsSource for Shared {
    fn exporter_stats(&self) -> am_core::exporter::ExporterStats {
        let h = &self.health;
        let (sent, dropped, failed) = (h.pushes.load(Relaxed), h.dropped.load(Relaxed), h.push_failures.load(Relaxed));
        am_core::exporter::ExporterStats {
            produced: sent + dropped + failed,
            sent,
            dropped,
            failed,
            queued: 0,
            connected: None,
            last_success_ms: am_core::exporter::last_ms(h.last_push_ok_ms.load(Relaxed)),
        }
    }
}

/// A machine's metrics and the state track its hooks write.
pub(crate) type Slot = (Arc<MachineMetrics>, Arc<StateTrack>);

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) id: Box<str>,
    pub(crate) rules: SeriesRules,
    pub(crate) max_machines: usize,
    pub(crate) inherit: bool,
    machines: RwLock<BTreeMap<Box<str>, Arc<MachineMetrics>>>,
    /// Go metric name → machine ID, to refuse colliding normalised IDs.
    go_names: Mutex<HashMap<String, Box<str>>>,
    pub(crate) health: Health,
    /// Liveness windows and what the probes remember.
    pub(crate) health_rules: crate::health::HealthRules,
    pub(crate) health_memory: crate::health::HealthMemory,
    /// `false`: health probes only (no metrics, no hooks).
    pub(crate) metrics: bool,
    /// Per machine ID, the state that means ready (default `Ready`).
    pub(crate) ready_states: HashMap<String, String>,
    /// Machines watched by a health-only tracer.
    probes: Mutex<Vec<am_core::WeakMachine>>,
    /// Shutdown began: readiness answers "not ready" (`/readyz` 503), wherever it is served.
    pub(crate) draining: AtomicBool,
}

impl Shared {
    pub(crate) fn new(
        id: Box<str>,
        rules: SeriesRules,
        max_machines: usize,
        inherit: bool,
        health_rules: crate::health::HealthRules,
    ) -> Self {
        Shared {
            health_rules,
            health_memory: Default::default(),
            metrics: true,
            ready_states: HashMap::new(),
            probes: Mutex::default(),
            draining: AtomicBool::new(false),
            id,
            rules,
            max_machines,
            inherit,
            machines: RwLock::default(),
            go_names: Mutex::default(),
            health: Health::default(),
        }
    }

    /// In Go-compatible mode: an error when the machine's Go metric names would collide
    /// with another machine's, or with a labelled family.
    pub(crate) fn check_go_names(&self, id: &str) -> Result<(), Error> {
        if !self.rules.go_compat {
            return Ok(());
        }
        let norm = normalize_id(id);
        let taken = self.go_names.lock().unpoison();
        for name in go_names(&norm) {
            if let Some(other) = taken.get(&name).filter(|o| &***o != id) {
                return Err(Error::IdCollision { id: id.into(), other: other.to_string(), name });
            }
            if is_reserved(&name) {
                return Err(Error::IdCollision { id: id.into(), other: "(a labelled family)".into(), name });
            }
        }
        Ok(())
    }

    /// Registers a machine's series. `None` when it is refused (machine cap or a duplicate
    /// ID); the refusal is counted and logged once. The same machine (instance) asking again
    /// keeps its series, tracked for its grown schema.
    pub(crate) fn admit(&self, m: &Machine) -> Option<Slot> {
        let mut map = self.machines.write().unpoison();
        let h = &self.health;
        if let Some(mm) = map.get(m.id()).filter(|mm| mm.instance == m.instance()) {
            // the same machine again, after its schema grew
            let (track, refused) = mm.retrack(m, &self.rules);
            h.refused_series.fetch_add(refused as u64, Relaxed);
            return Some((mm.clone(), track));
        }
        if map.contains_key(m.id()) {
            h.refused_machines.fetch_add(1, Relaxed);
            if !h.warned_dup.swap(true, Relaxed) {
                tracing::warn!(
                    mach_id = m.id(),
                    "am-prom: a machine with this ID is already exported; not exporting it"
                );
            }
            return None;
        }
        if map.len() >= self.max_machines {
            h.refused_machines.fetch_add(1, Relaxed);
            if !h.warned_cap.swap(true, Relaxed) {
                tracing::warn!(
                    mach_id = m.id(),
                    max = self.max_machines,
                    "am-prom: machine cap reached; further machines are not exported"
                );
            }
            return None;
        }
        let go_id = match self.check_go_names(m.id()) {
            Ok(()) if self.rules.go_compat => Some(normalize_id(m.id()).into_boxed_str()),
            Ok(()) => None,
            Err(e) => {
                h.refused_machines.fetch_add(1, Relaxed);
                tracing::error!("am-prom: no Go-compatible series for this machine: {e}");
                None
            }
        };
        if let Some(norm) = &go_id {
            let mut taken = self.go_names.lock().unpoison();
            for name in go_names(norm) {
                taken.insert(name, m.id().into());
            }
        }
        let (mm, track) = MachineMetrics::new(m, &self.rules, go_id);
        h.refused_series.fetch_add(track.refused as u64, Relaxed);
        let mm = Arc::new(mm);
        map.insert(m.id().into(), mm.clone());
        Some((mm, track))
    }

    /// The metrics of a machine, by ID (the path for a tracer not bound directly).
    pub(crate) fn lookup(&self, id: &str) -> Option<Arc<MachineMetrics>> {
        self.machines.read().unpoison().get(id).cloned()
    }

    /// Drops a disposed machine's series, if they are `mm`'s (not those of another machine
    /// with the same ID).
    pub(crate) fn remove_if(&self, id: &str, mm: &Arc<MachineMetrics>) {
        if self.lookup(id).is_some_and(|m| Arc::ptr_eq(&m, mm)) {
            self.remove(id);
        }
    }

    /// Drops a disposed machine's series.
    pub(crate) fn remove(&self, id: &str) {
        let removed = self.machines.write().unpoison().remove(id);
        if let Some(norm) = removed.as_ref().and_then(|m| m.go_id.as_deref()) {
            let mut taken = self.go_names.lock().unpoison();
            for name in go_names(norm) {
                taken.remove(&name);
            }
        }
    }

    /// The machines exported now, sorted by ID.
    /// Watches a machine for the health probes only (a health-only tracer).
    pub(crate) fn watch(&self, m: &Machine) {
        let mut probes = self.probes.lock().unpoison();
        if !probes.iter().any(|w| w.upgrade().is_some_and(|o| o.instance() == m.instance())) {
            probes.push(m.downgrade());
        }
    }

    /// Health of every exported machine, now.
    pub(crate) fn machine_health(&self) -> Vec<crate::health::MachineHealth> {
        let mut weak: Vec<am_core::WeakMachine> = self.machines().iter().map(|m| m.machine.clone()).collect();
        {
            let mut probes = self.probes.lock().unpoison();
            probes.retain(|w| w.upgrade().is_some_and(|m| !m.is_disposed()));
            weak.extend(probes.iter().cloned());
        }
        self.health_memory.check(&weak, &self.health_rules, &self.ready_states)
    }

    pub(crate) fn machines(&self) -> Vec<Arc<MachineMetrics>> {
        self.machines.read().unpoison().values().cloned().collect()
    }
}

/// Whether a name is, or is a sample name of, one of the labelled or health families.
fn is_reserved(name: &str) -> bool {
    MACHINE_FAMILIES.iter().chain(&HEALTH_FAMILIES).any(|f| {
        let base = f.strip_suffix("_total").unwrap_or(f);
        name == *f
            || name == base
            || ["_bucket", "_sum", "_count", "_created", "_total"]
                .iter()
                .any(|s| name.strip_suffix(s).is_some_and(|b| b == base || b == *f))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names() {
        assert!(is_reserved("am_transitions_total"));
        assert!(is_reserved("am_transition_ticks_bucket"));
        assert!(is_reserved("am_states_active"));
        assert!(!is_reserved("am_states_worker_1"));
    }
}
