//! The simulated service: a pool machine with worker submachines, driven by timers with
//! random delays: workers connect, work, idle, fail with network errors and retry.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::Duration;

use am_core::{Error, Handlers, Machine, MachineBuilder, Schema, State, err_msg};

/// ID of the pool machine; workers are `worker-1`, `worker-2`, …
pub const POOL_ID: &str = "worker-pool";

/// The machine IDs of a pool with `workers` workers, pool first.
pub fn machine_ids(workers: usize) -> Vec<String> {
    std::iter::once(POOL_ID.to_string()).chain((1..=workers).map(|i| format!("worker-{i}"))).collect()
}

/// `Ready` once a worker connected (the pool serves from then on: it is what the readiness
/// probe follows); `Degraded` while a worker is not connected — a pool that lost a worker
/// for a moment still serves, so it stays `Ready` and the pod stays in its Service.
fn pool_schema() -> Result<Schema, Error> {
    Schema::builder()
        .state("Start", State::new())
        .state("Ready", State::new().require(["Start"]))
        .state("Degraded", State::new().require(["Start"]))
        .state("Healthcheck", State::new())
        .group("status", ["Ready", "Degraded"])
        .build()
}

fn worker_schema() -> Result<Schema, Error> {
    Schema::builder()
        .state("Start", State::new())
        .state("Connecting", State::new().require(["Start"]).remove(["Connected"]))
        .state("Connected", State::new().require(["Start"]).remove(["Connecting"]))
        .state("Idle", State::new().auto().require(["Connected"]).remove(["Working"]))
        .state("Working", State::new().require(["Connected"]).remove(["Idle"]))
        .state("ErrNetwork", State::new().require(["Exception"]))
        .group("connection", ["Connecting", "Connected"])
        .group("activity", ["Idle", "Working"])
        .build()
}

/// A running simulation.
#[derive(Debug)]
pub struct Sim {
    /// The pool machine.
    pub pool: Machine,
    /// Worker machines (submachines of the pool).
    pub workers: Vec<Machine>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// Small xorshift generator: deterministic per seed, no dependency.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

impl Sim {
    /// Builds the machines: `configure` adds tracers and options to the pool's builder;
    /// workers inherit inheritable tracers from the pool.
    pub fn build(workers: usize, configure: impl FnOnce(MachineBuilder) -> MachineBuilder) -> Result<Sim, Error> {
        let pool = configure(Machine::builder(pool_schema()?).id(POOL_ID).tags(["demo", "pool"])).build();
        let mut list = Vec::with_capacity(workers);
        for i in 1..=workers {
            let w = Machine::builder(worker_schema()?).id(format!("worker-{i}")).parent(&pool).tags(["demo"]).build();
            // leaving Exception restarts the connection
            w.bind_handlers(
                Handlers::new("worker")
                    .end("Exception", |e| {
                        let m = e.machine();
                        let _ = m.remove(&["ErrNetwork"]);
                        let _ = m.add(&["Connecting"]);
                    })
                    .state("Connected", |e| e.machine().log("connected")),
            )?;
            list.push(w);
        }
        Ok(Sim { pool, workers: list, stop: Arc::new(AtomicBool::new(false)), threads: Vec::new() })
    }

    /// Starts the drivers: without a rate, one thread per worker mutating it every 20–100 ms;
    /// with `rate` (mutations per second over all workers), [`PACED_THREADS`] threads taking
    /// the workers in turn at that pace. Plus one thread for the pool.
    pub fn start(&mut self, seed: u64, rate: Option<f64>) -> Result<(), Error> {
        self.pool.add(&["Start"])?;
        match rate {
            None => self.start_random(seed),
            Some(rate) => self.start_paced(seed, rate),
        }
        self.start_pool();
        Ok(())
    }

    fn start_random(&mut self, seed: u64) {
        for (i, w) in self.workers.iter().enumerate() {
            let (w, stop) = (w.clone(), self.stop.clone());
            let mut rng = Rng(seed.wrapping_add(i as u64 * 7919) | 1);
            self.threads.push(std::thread::spawn(move || {
                let _ = w.add(&["Start", "Connecting"]);
                while !stop.load(Relaxed) {
                    std::thread::sleep(Duration::from_millis(20 + rng.below(80)));
                    drive_worker(&w, &mut rng, Duration::from_millis(10));
                }
            }));
        }
    }

    fn start_paced(&mut self, seed: u64, rate: f64) {
        let threads = PACED_THREADS.min(self.workers.len());
        for t in 0..threads {
            let mine: Vec<Machine> = self.workers.iter().skip(t).step_by(threads).cloned().collect();
            let stop = self.stop.clone();
            let mut rng = Rng(seed.wrapping_add(t as u64 * 7919) | 1);
            let per_thread = rate / threads as f64;
            self.threads.push(std::thread::spawn(move || {
                for w in &mine {
                    let _ = w.add(&["Start", "Connecting"]);
                }
                let started = std::time::Instant::now();
                let (mut done, mut next) = (0u64, 0usize);
                while !stop.load(Relaxed) {
                    let due = (started.elapsed().as_secs_f64() * per_thread) as u64;
                    if done >= due {
                        std::thread::sleep(Duration::from_millis(1));
                        continue;
                    }
                    // catch up at most one second's worth at once, so a stall does not
                    // turn into a burst
                    done = done.max(due.saturating_sub(per_thread as u64));
                    while done < due && !stop.load(Relaxed) {
                        drive_worker(&mine[next], &mut rng, Duration::ZERO);
                        next = (next + 1) % mine.len();
                        done += 1;
                    }
                }
            }));
        }
    }

    fn start_pool(&mut self) {
        let (pool, workers, stop) = (self.pool.clone(), self.workers.clone(), self.stop.clone());
        self.threads.push(std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                n += 1;
                let connected = workers.iter().filter(|w| w.is1("Connected")).count();
                if connected > 0 {
                    let _ = pool.add(&["Ready"]);
                }
                let _ = if connected == workers.len() { pool.remove(&["Degraded"]) } else { pool.add(&["Degraded"]) };
                if n.is_multiple_of(10) {
                    let _ = pool.add(&["Healthcheck"]);
                    let _ = pool.remove(&["Healthcheck"]);
                }
            }
        }));
    }

    /// Stops the drivers, waits for them, and disposes the machines.
    pub fn stop(&mut self) {
        self.stop.store(true, Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        for w in &self.workers {
            w.dispose();
        }
        self.pool.dispose();
    }
}

/// Driver threads of a paced run (`--rate`).
pub const PACED_THREADS: usize = 2;

/// One random step of a worker; a network error lasts `outage`.
fn drive_worker(w: &Machine, rng: &mut Rng, outage: Duration) {
    let r = match rng.below(20) {
        0 => w.add_err_state("ErrNetwork", err_msg("connection reset by peer"), None).and_then(|_| {
            if !outage.is_zero() {
                std::thread::sleep(outage);
            }
            w.remove(&["Exception"])
        }),
        1..=5 if w.is1("Connecting") => w.add(&["Connected"]),
        6..=12 => w.add(&["Working"]),
        _ => w.remove(&["Working"]),
    };
    if let Err(e) = r {
        eprintln!("{}: {e}", w.id());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_connect_and_work() {
        let mut sim = Sim::build(3, |b| b).unwrap();
        sim.start(42, None).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        let ticks: u64 = sim.workers.iter().map(|w| w.tick("Connected").unwrap() + w.tick("Working").unwrap()).sum();
        sim.stop();
        assert!(ticks > 3, "the workers made transitions ({ticks})");
        assert!(sim.workers.iter().all(|w| w.is_disposed()));
        assert_eq!(machine_ids(2), ["worker-pool", "worker-1", "worker-2"]);
    }

    #[test]
    fn paced_workers_follow_the_rate() {
        let mut sim = Sim::build(50, |b| b).unwrap();
        sim.start(7, Some(2000.0)).unwrap();
        std::thread::sleep(Duration::from_millis(1000));
        let ticks: u64 = sim.workers.iter().map(|w| w.machine_time()).sum();
        sim.stop();
        // ~2,000 mutations in a second, each one transition or more (auto Idle)
        assert!(ticks > 1000, "too slow: {ticks}");
        assert!(ticks < 20_000, "not paced: {ticks}");
    }
}
