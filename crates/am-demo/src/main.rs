//! `am-demo`: a simulated worker-pool service whose machines feed every exporter on local
//! defaults. See `am-demo --help`.

mod logs_file;
mod outputs;
mod sim;
mod spans_file;

use std::io::Write;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use am_core::{Interest, Tracer, Transition};

const HELP: &str = "\
am-demo: a simulated worker pool (a pool machine and worker submachines) with telemetry.

USAGE: am-demo [--duration SECS] [--machines N] [--rate R] [--seed N] [--out-dir DIR]
               [--stats-json FILE] [--quiet]

  --duration SECS    stop after SECS seconds (default: run until Ctrl-C or SIGTERM)
  --machines N       worker submachines under the pool (default 3; alias --workers)
  --rate R           drive the workers at R mutations per second in total, from two
                     threads (default: each worker on its own thread every 20-100 ms)
  --seed N           seed of the simulation's randomness (default: time based)
  --out-dir DIR      where local outputs are written (default target/am-demo)
  --stats-json FILE  append one JSON line per second (transitions, rate, RSS, every
                     exporter's counters) and a last one after shutdown
  --quiet            no live status line

Every exporter runs on a local default unless its variable points elsewhere:
  prom  /metrics on 127.0.0.1:9464 (AM_PROM_ADDR), pushed when AM_PROM_PUSH_URL is set
  otel  spans and machine logs as JSON lines in DIR/spans.jsonl and DIR/logs.jsonl
        (OTEL_EXPORTER_OTLP_ENDPOINT set: OTLP traces and logs to a collector instead)
  dbg   recorded to DIR/dbg.jsonl by an in-process am-dbg recorder (AM_DBG_ADDR: a server)
  loki  off unless AM_LOKI_ADDR is set (service AM_SERVICE, default am-demo)
  grafana  the dashboard and alert rules for the demo's machines, written to DIR
Machines log at level 2 (state changes) unless AM_LOG says otherwise.
Ctrl-C or SIGTERM stops the machines, flushes every exporter (3 s each at most) and prints
a summary; a second signal exits at once.
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
    rate: Option<f64>,
    seed: u64,
    stats_json: Option<std::path::PathBuf>,
    quiet: bool,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        out_dir: "target/am-demo".into(),
        duration: None,
        workers: 3,
        rate: None,
        seed: 0,
        stats_json: None,
        quiet: false,
    };
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
                if !(secs.is_finite() && secs > 0.0) {
                    return Err(format!("bad --duration `{v}`: a positive number of seconds"));
                }
                o.duration = Some(Duration::from_secs_f64(secs));
            }
            "--machines" | "--workers" => {
                let v = val(&a)?;
                o.workers = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| format!("bad {a} `{v}`: 1 or more"))?;
            }
            "--rate" => {
                let v = val("--rate")?;
                let r: f64 = v.parse().map_err(|_| format!("bad --rate `{v}`"))?;
                if !(r.is_finite() && r > 0.0) {
                    return Err(format!("bad --rate `{v}`: mutations per second, above 0"));
                }
                o.rate = Some(r);
            }
            "--seed" => o.seed = val("--seed")?.parse().map_err(|_| "bad --seed".to_string())?,
            "--quiet" => o.quiet = true,
            "--out-dir" => o.out_dir = val("--out-dir")?.into(),
            "--stats-json" => o.stats_json = Some(val("--stats-json")?.into()),
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
        eprintln!("am-demo: {}", am_core::ErrorChain(&*e));
        std::process::exit(1);
    }
}

async fn run(opts: Opts) -> Result<(), Box<dyn std::error::Error>> {
    let mut signals = am_core::exporter::StopSignals::new()?;
    let stats = Arc::new(Stats::default());
    let mut outputs = outputs::Outputs::start(&opts.out_dir).await?;
    let ids = sim::machine_ids(opts.workers);
    outputs.write_dashboard(&opts.out_dir, &ids)?;
    let st = stats.clone();
    let level = am_core::env::value(am_core::env::AM_LOG)
        .and_then(|v| v.trim().parse::<u8>().ok())
        .map_or(am_core::LogLevel::Changes, am_core::LogLevel::from_u8);
    let mut sim = sim::Sim::build(opts.workers, |b| outputs.bind(b.tracer_arc(st).log_level(level)))?;
    if ids.len() <= 10 {
        println!("am-demo: machines {}", ids.join(", "));
    } else {
        println!("am-demo: machines {}, {} … {}", ids[0], ids[1], ids[ids.len() - 1]);
    }
    for line in &outputs.plan {
        println!("  {line}");
    }
    match (opts.duration, opts.rate) {
        (Some(d), _) => print!("am-demo: running for {:.1}s", d.as_secs_f64()),
        (None, _) => print!("am-demo: running until Ctrl-C or SIGTERM"),
    }
    match opts.rate {
        Some(r) => println!(" at {r} mutations/s"),
        None => println!(),
    }
    let mut stats_file = match &opts.stats_json {
        Some(p) => Some(std::fs::OpenOptions::new().create(true).append(true).open(p)?),
        None => None,
    };
    sim.start(opts.seed, opts.rate)?;
    let started = Instant::now();
    let deadline = opts.duration.map(|d| tokio::time::Instant::now() + d);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let (mut last, mut last_t) = (0, Instant::now());
    loop {
        tokio::select! {
            name = signals.next() => {
                if !opts.quiet {
                    eprintln!();
                }
                println!("am-demo: {name}, shutting down (again to exit at once)");
                break;
            }
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => break,
            _ = tick.tick() => {
                let now = stats.accepted.load(Relaxed);
                let rate = (now - last) as f64 / last_t.elapsed().as_secs_f64();
                (last, last_t) = (now, Instant::now());
                if !opts.quiet {
                    eprint!(
                        "\r{:>6.1}s  {:>8.0} transitions/s  {:>9} total  sent/dropped: {}  ",
                        started.elapsed().as_secs_f64(),
                        rate,
                        now,
                        outputs.status()
                    );
                }
                if let Some(f) = &mut stats_file {
                    let line = stats_line(started, &stats, rate, outputs.counters(), false);
                    writeln!(f, "{line}")?;
                }
            }
        }
    }
    // a second signal while the exporters flush exits at once
    let shutdown = async {
        // readiness first: /readyz answers 503 while the machines still run, held for
        // AM_HEALTH_DRAIN so that endpoints stop routing here before anything stops
        let hold = outputs.drain();
        println!(
            "am-demo: draining: /readyz answers 503{}",
            if hold.is_zero() { String::new() } else { format!(" for {:.1}s before the flush", hold.as_secs_f64()) }
        );
        tokio::time::sleep(hold).await;
        let finals: Vec<String> =
            sim.workers.iter().take(10).map(|w| format!("  {:<12} {}", w.id(), w.string_all())).collect();
        tokio::task::block_in_place(|| sim.stop());
        if !opts.quiet {
            eprintln!();
        }
        let secs = started.elapsed().as_secs_f64();
        let (acc, can) = (stats.accepted.load(Relaxed), stats.canceled.load(Relaxed));
        println!("am-demo: {acc} accepted and {can} canceled transitions in {secs:.1}s");
        for f in finals {
            println!("{f}");
        }
        let (lines, counters) = outputs.shutdown().await;
        for line in lines {
            println!("am-demo: {line}");
        }
        if let Some(f) = &mut stats_file {
            let rate = acc as f64 / secs.max(1e-3);
            writeln!(f, "{}", stats_line(started, &stats, rate, counters, true))?;
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    };
    tokio::select! {
        r = shutdown => r,
        name = signals.next() => {
            println!("am-demo: {name} again, exiting without flushing");
            std::process::exit(1);
        }
    }
}

/// One `--stats-json` line.
fn stats_line(started: Instant, stats: &Stats, rate: f64, exporters: serde_json::Value, last: bool) -> String {
    serde_json::json!({
        "secs": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        "unix_ms": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
        "transitions": stats.accepted.load(Relaxed) + stats.canceled.load(Relaxed),
        "rate": rate.round(),
        "rss_kib": rss_kib(),
        "exporters": exporters,
        "final": last,
    })
    .to_string()
}

/// The process's resident set, from `/proc/self/status` (0 where there is none).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
