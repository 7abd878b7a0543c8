//! [`HealthcheckTicker`]: adds `Healthcheck` to machines every interval (Go's
//! `amhelp.Healthcheck`, switched on by `AM_HEALTHCHECK`).

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::machine::{Machine, WeakMachine};
use crate::schema::HEALTHCHECK;
use crate::tracer::{Attach, Tracer};
use crate::unpoison::Unpoison;

/// Go's healthcheck interval.
pub const HEALTHCHECK_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Watched {
    machines: Mutex<Vec<WeakMachine>>,
    /// Set and notified when the ticker is dropped, so its thread ends at once.
    stopped: AtomicBool,
    stop: Condvar,
}

/// A tracer that adds the `Healthcheck` state every interval to each machine it is bound to
/// whose schema has that state (Multi, as in Go's basic states, so that each add is a
/// transition), and to their submachines (it is inherited), until the machine is disposed:
/// lines logged between transitions then travel with a transition
/// (tracers that ship them with the next one), and heartbeat-based liveness (am-prom's
/// `/healthz`) sees an idle machine alive. One thread serves every machine of one ticker;
/// it ends with the ticker. It adds no hook to the machines' transitions.
///
/// ```
/// use am_core::{HealthcheckTicker, Machine, Schema, State, HEALTHCHECK};
/// use std::time::Duration;
/// let s = Schema::builder().state(HEALTHCHECK, State::new().multi()).states(["Ready"]).build()?;
/// let m = Machine::builder(s).tracer(HealthcheckTicker::every(Duration::from_millis(10))).build();
/// m.when_ticks(HEALTHCHECK, 2)?.wait_timeout(Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HealthcheckTicker {
    watched: Arc<Watched>,
    every: Duration,
    started: std::sync::Once,
}

impl std::fmt::Debug for HealthcheckTicker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthcheckTicker").field("every", &self.every).finish_non_exhaustive()
    }
}

impl Default for HealthcheckTicker {
    fn default() -> Self {
        HealthcheckTicker::every(HEALTHCHECK_INTERVAL)
    }
}

impl Drop for HealthcheckTicker {
    fn drop(&mut self) {
        self.watched.stopped.store(true, Relaxed);
        let _guard = self.watched.machines.lock().unpoison();
        self.watched.stop.notify_all();
    }
}

impl HealthcheckTicker {
    /// A ticker with Go's interval ([`HEALTHCHECK_INTERVAL`], 30 s).
    pub fn new() -> Self {
        HealthcheckTicker::default()
    }
    /// A ticker adding `Healthcheck` every `every`.
    pub fn every(every: Duration) -> Self {
        HealthcheckTicker { watched: Arc::default(), every, started: std::sync::Once::new() }
    }
    /// The ticker [`AM_HEALTHCHECK`](crate::env::AM_HEALTHCHECK) asks for, if it is on:
    /// every 30 s (Go's), or every the duration it holds (`5s`; `1` means on, as in Go).
    ///
    /// ```
    /// assert!(am_core::HealthcheckTicker::from_env().is_none()); // unset here
    /// ```
    pub fn from_env() -> Option<Self> {
        use crate::env::{AM_HEALTHCHECK, ON_WORDS, is_on, parse_duration, value};
        if !is_on(AM_HEALTHCHECK) {
            return None;
        }
        let v = value(AM_HEALTHCHECK).unwrap_or_default();
        let every = match ON_WORDS.iter().any(|w| v.trim().eq_ignore_ascii_case(w)) {
            true => HEALTHCHECK_INTERVAL,
            false => parse_duration(v.trim()).ok().filter(|d| !d.is_zero()).unwrap_or(HEALTHCHECK_INTERVAL),
        };
        Some(HealthcheckTicker::every(every))
    }

    fn start(&self) {
        let weak: Weak<Watched> = Arc::downgrade(&self.watched);
        let every = self.every;
        let spawned = std::thread::Builder::new().name("am-healthcheck".into()).spawn(move || {
            loop {
                let Some(w) = weak.upgrade() else { return };
                let deadline = Instant::now() + every;
                let mut guard = w.machines.lock().unpoison();
                // the lock is released while waiting for the tick (or the ticker's drop)
                while !w.stopped.load(Relaxed) {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    guard = w.stop.wait_timeout(guard, left).unpoison().0;
                }
                if w.stopped.load(Relaxed) {
                    return;
                }
                guard.retain(|m| m.upgrade().is_some_and(|m| !m.is_disposed()));
                let machines: Vec<Machine> = guard.iter().filter_map(WeakMachine::upgrade).collect();
                drop(guard);
                drop(w);
                for m in machines {
                    // queued behind a running transition at worst; never blocks on one
                    let _ = m.add(&[HEALTHCHECK]);
                }
            }
        });
        if let Err(e) = spawned {
            eprintln!("am-core: no healthcheck thread: {e}");
        }
    }
}

impl Tracer for HealthcheckTicker {
    fn id(&self) -> &str {
        "am-healthcheck"
    }
    fn inheritable(&self) -> bool {
        true
    }
    /// Watches the machine when its schema has `Healthcheck`; receives no hooks.
    fn attach(&self, m: &Machine) -> Attach {
        if m.schema().index(HEALTHCHECK).is_ok() {
            self.started.call_once(|| self.start());
            let mut machines = self.watched.machines.lock().unpoison();
            if !machines.iter().any(|w| w.upgrade().is_some_and(|o| o.instance() == m.instance())) {
                machines.push(m.downgrade());
            }
        }
        Attach::Decline
    }
}
