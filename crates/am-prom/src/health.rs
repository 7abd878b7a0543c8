//! Health from machine states, for the scrape server's `/readyz` and `/healthz`: every bound
//! machine is checked when a probe asks (through a [`WeakMachine`], so checks never keep a
//! machine alive), never on a machine's own thread.
//!
//! - **Ready** when the machine has a `Ready` state and it is active; without one, when
//!   `Exception` is not active. Per machine ID another state can be the readiness state
//!   ([`PromTracerBuilder::ready_state`](crate::PromTracerBuilder::ready_state)).
//! - **Who decides readiness**: root machines (no parent), and the submachines named with
//!   `ready_state`. A submachine is a part of its root (a worker of a pool, a connection
//!   of a server): its transient `Exception` is the root's business, and must not take the
//!   whole pod out of its Service. Every machine still shows in the answer, and every
//!   machine decides liveness.
//! - **Live** unless a machine with a `Heartbeat` or `Healthcheck` state has not ticked it
//!   within [`HealthRules::heartbeat_window`], or its queue holds mutations and has not
//!   moved for [`HealthRules::stuck_after`] (a handler that never returns). Both windows
//!   start at the first probe that sees the machine.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use am_core::exporter::{Unpoison, json};
use am_core::{Machine, WeakMachine};

/// The windows of the liveness checks. Builder options win over `AM_HEALTH_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthRules {
    /// A machine with `Heartbeat`/`Healthcheck` must tick one of them this often
    /// (`AM_HEALTH_HEARTBEAT`, default 60 s).
    pub heartbeat_window: Duration,
    /// A non-empty queue must move at least this often (`AM_HEALTH_STUCK`, default 60 s).
    pub stuck_after: Duration,
}

impl Default for HealthRules {
    fn default() -> Self {
        HealthRules { heartbeat_window: Duration::from_secs(60), stuck_after: Duration::from_secs(60) }
    }
}

/// One machine's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineHealth {
    /// The machine ID.
    pub id: String,
    /// Ready, by the rule above.
    pub ready: bool,
    /// Live, by the rule above.
    pub live: bool,
    /// Whether its readiness counts for `/readyz`: a root machine, or a submachine named
    /// with `ready_state`.
    pub decides_readiness: bool,
    /// Why not (empty when ready and live).
    pub reason: String,
}

#[derive(Debug)]
struct Seen {
    heartbeat: u64,
    heartbeat_since: Instant,
    queue_tick: u64,
    queue_since: Instant,
}

/// What the probes remember between calls (when a heartbeat or the queue last moved).
#[derive(Debug, Default)]
pub(crate) struct HealthMemory {
    seen: Mutex<HashMap<(String, u64), Seen>>,
}

/// The readiness state a machine has unless told otherwise.
const READY: &str = "Ready";

fn heartbeat_ticks(m: &Machine) -> Option<u64> {
    let ticks: Vec<u64> = [am_core::HEARTBEAT, am_core::HEALTHCHECK].iter().filter_map(|s| m.tick(s).ok()).collect();
    (!ticks.is_empty()).then(|| ticks.iter().sum())
}

impl HealthMemory {
    /// Checks every machine still alive, now.
    pub(crate) fn check(
        &self,
        machines: &[WeakMachine],
        rules: &HealthRules,
        ready_states: &HashMap<String, String>,
    ) -> Vec<MachineHealth> {
        let now = Instant::now();
        let mut seen = self.seen.lock().unpoison();
        let mut alive = Vec::new();
        let mut out = Vec::new();
        for m in machines.iter().filter_map(WeakMachine::upgrade) {
            if m.is_disposed() {
                continue;
            }
            let key = (m.id().to_string(), m.instance());
            let hb = heartbeat_ticks(&m);
            let s = seen.entry(key.clone()).or_insert_with(|| Seen {
                heartbeat: hb.unwrap_or(0),
                heartbeat_since: now,
                queue_tick: m.queue_tick(),
                queue_since: now,
            });
            alive.push(key);
            let mut reasons = Vec::new();
            let ready_state = ready_states.get(m.id()).map_or(READY, String::as_str);
            let ready = if m.has_state(ready_state) {
                let on = m.is1(ready_state);
                if !on {
                    reasons.push(format!("{ready_state} is not active"));
                }
                on
            } else {
                let err = m.is_err();
                if err {
                    let last = m.last_error().map(|e| format!(": {e}")).unwrap_or_default();
                    reasons.push(format!("Exception is active{last}"));
                }
                !err
            };
            let mut live = true;
            if let Some(t) = hb {
                if t != s.heartbeat {
                    (s.heartbeat, s.heartbeat_since) = (t, now);
                } else if now.duration_since(s.heartbeat_since) > rules.heartbeat_window {
                    live = false;
                    reasons.push(format!(
                        "no Heartbeat/Healthcheck for {}s (window {}s)",
                        now.duration_since(s.heartbeat_since).as_secs(),
                        rules.heartbeat_window.as_secs_f64()
                    ));
                }
            }
            let (len, tick) = (m.queue_len(), m.queue_tick());
            if len == 0 || tick != s.queue_tick {
                (s.queue_tick, s.queue_since) = (tick, now);
            } else if now.duration_since(s.queue_since) > rules.stuck_after {
                live = false;
                reasons.push(format!(
                    "{len} queued mutations, queue not moved for {}s (a handler stuck?)",
                    now.duration_since(s.queue_since).as_secs()
                ));
            }
            let decides_readiness = m.parent_id().is_none() || ready_states.contains_key(m.id());
            out.push(MachineHealth {
                id: m.id().to_string(),
                ready,
                live,
                decides_readiness,
                reason: reasons.join("; "),
            });
        }
        seen.retain(|k, _| alive.contains(k));
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}

/// Which probe asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// `/readyz`: the machines that decide readiness.
    Ready,
    /// `/healthz`: every machine.
    Live,
}

/// The body's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    Text,
    Json,
}

/// A probe's answer: ok or not, and a body naming every machine and why.
pub(crate) fn answer(results: &[MachineHealth], probe: Probe, body: Body) -> (bool, String) {
    let counts = |h: &MachineHealth| probe == Probe::Live || h.decides_readiness;
    let ok_of = |h: &MachineHealth| match probe {
        Probe::Ready => h.ready,
        Probe::Live => h.live,
    };
    let ok = results.iter().filter(|h| counts(h)).all(ok_of);
    if body == Body::Json {
        let mut b = format!("{{\"status\":\"{}\",\"machines\":[", if ok { "ok" } else { "fail" });
        for (i, h) in results.iter().enumerate() {
            if i > 0 {
                b.push(',');
            }
            b.push_str("{\"id\":");
            json::push_quoted(&mut b, &h.id);
            let _ = write!(
                b,
                ",\"ready\":{},\"live\":{},\"decides_readiness\":{},\"reason\":",
                h.ready, h.live, h.decides_readiness
            );
            json::push_quoted(&mut b, &h.reason);
            b.push('}');
        }
        b.push_str("]}\n");
        return (ok, b);
    }
    let mut b = String::from(if ok { "ok\n" } else { "fail\n" });
    for h in results {
        let verdict = if ok_of(h) { "ok" } else { "fail" };
        let why = if h.reason.is_empty() { String::new() } else { format!(" ({})", h.reason) };
        let note = if counts(h) { "" } else { " [submachine: not counted]" };
        let _ = writeln!(b, "{} {verdict}{why}{note}", h.id);
    }
    (ok, b)
}
