//! A small worker pool driven by timers: a parent machine with three worker submachines.
//! Every transition is printed by a tracer every submachine inherits.
//!
//! `cargo run --release -p am-core --example demo [-- SECONDS]` (default 3 s).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use am_core::{Handlers, Machine, Schema, State, Tracer, Transition, err_msg};

/// Prints accepted transitions as `[machine] +Added -Removed (kind called)`.
#[derive(Default)]
struct Printer {
    transitions: AtomicU64,
    canceled: AtomicU64,
}

impl Tracer for Printer {
    fn id(&self) -> &str {
        "printer"
    }
    fn inheritable(&self) -> bool {
        true
    }
    fn transition_end(&self, tx: &Transition<'_>) {
        if !tx.accepted() {
            self.canceled.fetch_add(1, Relaxed);
            return;
        }
        self.transitions.fetch_add(1, Relaxed);
        let mut changes: Vec<String> = tx.enters().iter().map(|&i| format!("+{}", tx.state_name(i))).collect();
        changes.extend(tx.exits().iter().map(|&i| format!("-{}", tx.state_name(i))));
        if changes.is_empty() {
            return;
        }
        let called: Vec<&str> = tx.called_names().collect();
        let kind = if tx.is_auto() { "auto" } else { tx.kind().as_str() };
        println!("[{:<11}] {:<40} ({kind} {})", tx.machine_id(), changes.join(" "), called.join(" "));
    }
}

fn worker_schema() -> Result<Schema, am_core::Error> {
    Schema::builder()
        .state("Start", State::new())
        .state("Connecting", State::new().require(["Start"]).remove(["Connected"]))
        .state("Connected", State::new().require(["Start"]).remove(["Connecting"]))
        .state("Idle", State::new().auto().require(["Connected"]).remove(["Working"]))
        .state("Working", State::new().require(["Connected"]).remove(["Idle"]))
        .state("ErrNetwork", State::new().require(["Exception"]))
        .build()
}

fn main() -> Result<(), am_core::Error> {
    let secs: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let printer = std::sync::Arc::new(Printer::default());
    let pool_schema = Schema::builder()
        .state("Start", State::new())
        .state("Ready", State::new().require(["Start"]))
        .state("Degraded", State::new().require(["Start"]))
        .build()?;
    let pool = Machine::builder(pool_schema).id("worker-pool").tracer_arc(printer.clone()).build();
    pool.add(&["Start"])?;
    let workers: Vec<Machine> = (1..=3)
        .map(|i| Machine::builder(worker_schema()?).id(format!("worker-{i}")).parent(&pool).build_ok())
        .collect::<Result<_, _>>()?;
    for w in &workers {
        // retry: leaving Exception restarts the connection
        w.bind_handlers(Handlers::new("worker").end("Exception", |e| {
            let _ = e.machine().remove(&["ErrNetwork"]);
            let _ = e.machine().add(&["Connecting"]);
        }))?;
        w.add(&["Start", "Connecting"])?;
    }
    let started = Instant::now();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(50 + rand(100)));
        let w = &workers[rand(3) as usize];
        match rand(10) {
            0 => {
                w.add_err_state("ErrNetwork", err_msg("connection reset"), None)?;
                w.remove(&["Exception"])?;
            }
            1..=3 if w.is1("Connecting") => {
                w.add(&["Connected"])?;
            }
            4..=7 => {
                w.add(&["Working"])?;
            }
            _ => {
                w.remove(&["Working"])?;
            }
        }
        let connected = workers.iter().filter(|w| w.is1("Connected")).count();
        if connected == workers.len() {
            pool.remove(&["Degraded"])?;
            pool.add(&["Ready"])?;
        } else {
            pool.remove(&["Ready"])?;
            pool.add(&["Degraded"])?;
        }
    }
    for w in &workers {
        println!("{:<11} {}", w.id(), w.string_all());
        w.dispose();
    }
    pool.dispose();
    println!(
        "{} accepted transitions, {} canceled, in {:.1}s",
        printer.transitions.load(Relaxed),
        printer.canceled.load(Relaxed),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `build()` never fails; this keeps the iterator above in `Result` form.
trait BuildOk {
    fn build_ok(self) -> Result<Machine, am_core::Error>;
}
impl BuildOk for am_core::MachineBuilder {
    fn build_ok(self) -> Result<Machine, am_core::Error> {
        Ok(self.build())
    }
}
