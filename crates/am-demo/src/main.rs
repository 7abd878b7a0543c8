//! `am-demo`: a simulated worker-pool service whose machines feed every exporter on local
//! defaults. See `am-demo --help`.

mod logs_file;
mod outputs;
mod sim;
mod spans_file;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use am_core::{Interest, Tracer, Transition};

const HELP: &str = "\
am-demo: a simulated worker pool (a pool machine and worker submachines) with telemetry.

USAGE: am-demo [--duration SECS] [--workers N] [--seed N] [--out-dir DIR] [--quiet]

  --duration SECS   stop after SECS seconds (default: run until Ctrl-C)
  --workers N       worker submachines (default 3)
  --seed N          seed of the simulation's randomness (default: time based)
  --out-dir DIR     where local outputs are written (default target/am-demo)
  --quiet           no live status line

Every exporter runs on a local default unless its variable points elsewhere:
  prom  /metrics on 127.0.0.1:9464 (AM_PROM_ADDR), pushed when AM_PROM_PUSH_URL is set
  otel  spans and machine logs as JSON lines in DIR/spans.jsonl and DIR/logs.jsonl
        (OTEL_EXPORTER_OTLP_ENDPOINT set: OTLP traces and logs to a collector instead)
  dbg   recorded to DIR/dbg.jsonl by an in-process am-dbg recorder (AM_DBG_ADDR: a server)
  loki  off unless AM_LOKI_ADDR is set (service AM_SERVICE, default am-demo)
  grafana  the dashboard and alert rules for the demo's machines, written to DIR
Machines log at level 2 (state changes) unless AM_LOG says otherwise.
";

/// Counts transitions for the status line; inherited by every worker.
#[derive(Default)]
struct Stats {
    accepted: AtomicU64,
    canceled: AtomicU64,
}

impl Tracer for Stats {
    fn id(&self) -> &str {
        "am-demo-stats"
    }
    fn inheritable(&self) -> bool {
        true
    }
    fn interest(&self) -> Interest {
        Interest::TRANSITION_END
    }
    fn transition_end(&self, tx: &Transition<'_>) {
        let c = if tx.accepted() { &self.accepted } else { &self.canceled };
        c.fetch_add(1, Relaxed);
    }
}

struct Opts {
    out_dir: std::path::PathBuf,
    duration: Option<Duration>,
    workers: usize,
    seed: u64,
    quiet: bool,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts { out_dir: "target/am-demo".into(), duration: None, workers: 3, seed: 0, quiet: false };
    o.seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            "--duration" => {
                let v = val("--duration")?;
                let secs: f64 = v.trim_end_matches('s').parse().map_err(|_| format!("bad --duration `{v}`"))?;
                o.duration = Some(Duration::from_secs_f64(secs));
            }
            "--workers" => o.workers = val("--workers")?.parse().map_err(|_| "bad --workers".to_string())?,
            "--seed" => o.seed = val("--seed")?.parse().map_err(|_| "bad --seed".to_string())?,
            "--quiet" => o.quiet = true,
            "--out-dir" => o.out_dir = val("--out-dir")?.into(),
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    Ok(o)
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("am-demo: {e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("am-demo: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(opts)) {
        eprintln!("am-demo: {e}");
        std::process::exit(1);
    }
}

async fn run(opts: Opts) -> Result<(), Box<dyn std::error::Error>> {
    let stats = Arc::new(Stats::default());
    let mut outputs = outputs::Outputs::start(&opts.out_dir).await?;
    outputs.write_dashboard(&opts.out_dir, &sim::machine_ids(opts.workers))?;
    let st = stats.clone();
    let level = am_core::env::value(am_core::env::AM_LOG)
        .and_then(|v| v.trim().parse::<u8>().ok())
        .map_or(am_core::LogLevel::Changes, am_core::LogLevel::from_u8);
    let mut sim = sim::Sim::build(opts.workers, |b| outputs.bind(b.tracer_arc(st).log_level(level)))?;
    println!("am-demo: machines {}", sim::machine_ids(opts.workers).join(", "));
    for line in &outputs.plan {
        println!("  {line}");
    }
    match opts.duration {
        Some(d) => println!("am-demo: running for {:.1}s", d.as_secs_f64()),
        None => println!("am-demo: running until Ctrl-C"),
    }
    sim.start(opts.seed)?;
    let started = Instant::now();
    let deadline = opts.duration.map(|d| tokio::time::Instant::now() + d);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                eprintln!();
                println!("am-demo: Ctrl-C, shutting down");
                break;
            }
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => break,
            _ = tick.tick() => {
                let now = stats.accepted.load(Relaxed);
                if !opts.quiet {
                    eprint!(
                        "\r{:>6.1}s  {:>6} transitions/s  {:>8} total  sent/dropped: {}  ",
                        started.elapsed().as_secs_f64(),
                        now - last,
                        now,
                        outputs.status()
                    );
                }
                last = now;
            }
        }
    }
    let finals: Vec<String> = sim.workers.iter().map(|w| format!("  {:<12} {}", w.id(), w.string_all())).collect();
    sim.stop();
    if !opts.quiet {
        eprintln!();
    }
    let secs = started.elapsed().as_secs_f64();
    let (acc, can) = (stats.accepted.load(Relaxed), stats.canceled.load(Relaxed));
    println!("am-demo: {acc} accepted and {can} canceled transitions in {secs:.1}s");
    for f in finals {
        println!("{f}");
    }
    for line in outputs.shutdown().await {
        println!("am-demo: {line}");
    }
    Ok(())
}
