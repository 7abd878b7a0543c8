//! `cargo xtask soak`: the demo at scale with every exporter bound to a real local backend,
//! and each backend killed and started again while the machines run. Checks that no outage
//! stalls the machines ([`stall`]), that memory stays bounded, that data flows again after
//! each restart, and that every exporter accounts for everything it produced.

mod cpu_wait;
mod stall;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use xshell::{Shell, cmd};

use self::stall::{Outage, Second};
use crate::backends::{self, Proc, Ready};
use crate::{Args, Result};

const HELP: &str = "\
cargo xtask soak [--secs N] [--machines N] [--rate R] [--max-rss-mib M] [--release] [--keep]

Runs am-demo with N worker machines (default 1000) driven at R mutations/s (default 2000)
for N seconds (default 60, at least 40), every exporter bound to a local backend:
  prom   scraped by a real Prometheus, pushed to a real Pushgateway every second
  otel   OTLP/gRPC traces and logs to `am-receiver otlp`
  loki   pushed to `am-receiver loki`
  dbg    streamed to `am-dbg record`
After a warm-up, each backend in turn is stopped (receivers and the recorder with SIGTERM,
Prometheus and the Pushgateway with SIGKILL), left down for a while, and started again on
the same port (a killed Prometheus replays its WAL first: up to 110 s on a loaded machine,
which lengthens the run). Then the demo is stopped with SIGTERM. Fails unless:
  - no outage stalls the machines: the transition rate inside each outage is compared with
    the all-up windows before and after it, and 2 s in a row under 50% of theirs, while the
    load generator was not waiting for a CPU, fail (a busy machine slows every window and
    starves the generator; an exporter that blocks a mutation leaves the generator asleep)
  - the demo's RSS stays under --max-rss-mib (default 1024)
  - after each restart, data reaches the new backend
  - per exporter, produced = sent + dropped + failed (+ queued, 0 after the flush), and the
    backends received at least what the exporters counted as sent
  - the Prometheus cardinality guard refused machines beyond its cap (with 1000+ machines)
Prints the figures. Outputs go to a temporary directory, kept with --keep or on failure.
";

struct Opts {
    secs: f64,
    machines: u32,
    rate: f64,
    max_rss_mib: u64,
    release: bool,
}

pub(crate) fn run(sh: &Shell, args: &mut Args) -> Result<()> {
    if args.help() {
        print!("{HELP}");
        return Ok(());
    }
    let num = |v: Option<String>, name: &str, default: f64| -> Result<f64> {
        match v {
            None => Ok(default),
            Some(v) => v.parse::<f64>().ok().filter(|n| *n > 0.0).ok_or_else(|| format!("bad {name} `{v}`").into()),
        }
    };
    let o = Opts {
        secs: num(args.value(&["--secs"])?, "--secs", 60.0)?,
        machines: num(args.value(&["--machines"])?, "--machines", 1000.0)? as u32,
        rate: num(args.value(&["--rate"])?, "--rate", 2000.0)?,
        max_rss_mib: num(args.value(&["--max-rss-mib"])?, "--max-rss-mib", 1024.0)? as u64,
        release: args.flag(&["--release"]),
    };
    let keep = args.flag(&["--keep"]);
    args.finish()?;
    if o.secs < 40.0 {
        return Err("--secs must be at least 40 (five backends, each down and up again)".into());
    }
    crate::deps::apt_tools(sh)?;
    let profile = if o.release { vec!["--release"] } else { vec![] };
    cmd!(sh, "cargo build --quiet {profile...} -p am-demo -p am-dbg -p am-testkit --bins").run()?;
    let dir = std::env::temp_dir().join(format!("am-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let bin_dir = sh.current_dir().join("target").join(if o.release { "release" } else { "debug" });
    let result = run_in(&dir, &bin_dir, &o);
    if keep || result.is_err() {
        eprintln!("soak outputs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// A backend of the run, and whether it is stopped gently (SIGTERM) or killed.
struct Backend {
    proc: Proc,
    graceful: bool,
    /// Answers `GET /-/ready` when started, maybe long after `Proc::restart` gave up: a
    /// killed Prometheus replays its write-ahead log first (tens of MB here), which on a
    /// loaded machine takes over the 20 s that allows.
    slow_start: bool,
    /// Unix ms when it went down and came back.
    down: (u64, u64),
    /// Whether it showed the demo's data after its restart, where it is asked.
    has_data: Option<bool>,
}

/// How long a `slow_start` backend may take to be ready, beyond `Proc::restart`'s wait.
const SLOW_START: Duration = Duration::from_secs(90);

impl Backend {
    fn new(proc: Proc, graceful: bool, slow_start: bool) -> Self {
        Self { proc, graceful, slow_start, down: (0, 0), has_data: None }
    }

    /// Starts it again on its port and waits until it is ready.
    fn restart(&mut self, name: &str) -> Result<()> {
        let Err(err) = self.proc.restart() else { return Ok(()) };
        if !self.slow_start {
            return Err(err);
        }
        let until = Instant::now() + SLOW_START;
        while Instant::now() < until {
            if backends::http_get(self.proc.port, "/-/ready").is_ok_and(|(code, _)| code == 200) {
                eprintln!("==> soak: {name} was ready late ({err})");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(err)
    }
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn run_in(dir: &Path, bin_dir: &Path, o: &Opts) -> Result<()> {
    let bin = |name: &str| bin_dir.join(name).to_string_lossy().into_owned();
    let metrics_port = backends::free_port()?;
    let pushgateway = backends::pushgateway(dir)?;
    let prometheus = backends::prometheus(dir, &[("am-soak", metrics_port), ("pushgateway", pushgateway.port)])?;
    let listen = |port: u16| vec!["--listen".to_string(), format!("127.0.0.1:{port}")];
    let (dbg_port, otlp_port, loki_port) = (backends::free_port()?, backends::free_port()?, backends::free_port()?);
    let recordings = dir.join("dbg");
    std::fs::create_dir_all(&recordings)?;
    let record_args = [
        vec!["record".to_string(), "--quiet".into(), "--out".into()],
        vec![recordings.join("dbg.{run}.jsonl").to_string_lossy().into_owned()],
        listen(dbg_port),
    ]
    .concat();
    let recorder = Proc::start("am-dbg", &bin("am-dbg"), &record_args, dbg_port, dir, Ready::Listening)?;
    let otlp = [vec!["otlp".to_string()], listen(otlp_port)].concat();
    let otlp = Proc::start("otlp", &bin("am-receiver"), &otlp, otlp_port, dir, Ready::Listening)?;
    let loki = [vec!["loki".to_string()], listen(loki_port)].concat();
    let loki = Proc::start("loki", &bin("am-receiver"), &loki, loki_port, dir, Ready::Listening)?;

    let stats = dir.join("stats.jsonl");
    let mut demo = Command::new(bin("am-demo"))
        .args(["--quiet", "--machines", &o.machines.to_string(), "--rate", &o.rate.to_string(), "--out-dir"])
        .arg(dir.join("demo"))
        .arg("--stats-json")
        .arg(&stats)
        .env("AM_SERVICE", "am-soak")
        .env("AM_PROM_ADDR", format!("127.0.0.1:{metrics_port}"))
        .env("AM_PROM_PUSH_URL", format!("http://127.0.0.1:{}", pushgateway.port))
        .env("AM_PROM_PUSH_INTERVAL", "1s")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{otlp_port}"))
        .env("AM_DBG_ADDR", format!("127.0.0.1:{dbg_port}"))
        .env("AM_LOKI_ADDR", format!("http://127.0.0.1:{loki_port}"))
        .stdout(std::fs::File::create(dir.join("demo.log"))?)
        .stderr(std::fs::File::create(dir.join("demo.err"))?)
        .spawn()
        .map_err(|e| format!("cannot start the demo: {e}"))?;
    if let Err(err) = first_stats(&mut demo, &stats) {
        let _ = demo.kill();
        let _ = demo.wait();
        return Err(err);
    }
    let started = Instant::now();
    eprintln!(
        "==> soak: {} machines at {} mutations/s for {}s; prometheus :{}, pushgateway :{}, otlp :{otlp_port}, loki :{loki_port}, am-dbg :{dbg_port}",
        o.machines, o.rate, o.secs, prometheus.port, pushgateway.port
    );
    let backends = vec![
        ("otlp", Backend::new(otlp, true, false)),
        ("loki", Backend::new(loki, true, false)),
        ("am-dbg", Backend::new(recorder, true, false)),
        ("pushgateway", Backend::new(pushgateway, false, false)),
        ("prometheus", Backend::new(prometheus, false, true)),
    ];
    let cpu = cpu_wait::Sampler::start(demo.id());
    let result = faults(&mut demo, started, backends, o, metrics_port);
    if result.is_err() {
        let _ = demo.kill();
        let _ = demo.wait();
    }
    let cpu = cpu.finish();
    let (backends, ok_before) = result?;
    check(dir, &stats, &backends, o, ok_before, &cpu)
}

/// Whether the restarted Prometheus holds a successful scrape of the demo within
/// [`SCRAPED_AGAIN`]. On a loaded machine a scrape of 1,000 machines overruns the 1 s scrape
/// timeout, so this only informs; the demo's count of scrapes served decides ([`check`]).
fn prom_has_demo(prom_port: u16, metrics_port: u16) -> Result<bool> {
    let query = format!(r#"up{{job="am-soak",instance="127.0.0.1:{metrics_port}"}} == 1"#);
    let until = Instant::now() + SCRAPED_AGAIN;
    while backends::prom_query(prom_port, &query)? == 0 {
        if Instant::now() > until {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(true)
}

const SCRAPED_AGAIN: Duration = Duration::from_secs(10);

/// Waits for the demo's first stats line: building 1,000 machines and binding every exporter
/// takes seconds on a loaded machine, and the warm-up counts from when they run.
fn first_stats(demo: &mut Child, stats: &Path) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(120);
    while std::fs::read_to_string(stats).map_or(true, |t| !t.contains('\n')) {
        if let Some(status) = demo.try_wait()? {
            return Err(format!("the demo exited early: {status}").into());
        }
        if Instant::now() > until {
            return Err("soak: the demo wrote no stats line within 120 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Stops and restarts each backend in turn, then stops the demo with SIGTERM.
fn faults(
    demo: &mut Child,
    started: Instant,
    mut backends: Vec<(&'static str, Backend)>,
    o: &Opts,
    metrics_port: u16,
) -> Result<(Vec<(&'static str, Backend)>, u64)> {
    // warm-up 2 units, each backend down 1 and up 1, a tail of 1; each at least a unit from
    // when the step before it ended (a slow stop or start delays the rest)
    let unit = Duration::from_secs_f64(o.secs / (3 + 2 * backends.len()) as f64);
    let wait_until = |t: Duration, demo: &mut Child| -> Result<()> {
        while started.elapsed() < t {
            if let Some(status) = demo.try_wait()? {
                return Err(format!("the demo exited early: {status}").into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    };
    let mut at = unit * 2;
    wait_until(at, demo)?;
    let ok_before = unix_ms();
    for (name, b) in &mut backends {
        b.down.0 = unix_ms();
        b.proc.stop(b.graceful)?;
        eprintln!("==> soak {:>5.1}s: {name} down", started.elapsed().as_secs_f64());
        at = at.max(started.elapsed()) + unit;
        wait_until(at, demo)?;
        b.restart(name)?;
        b.down.1 = unix_ms();
        eprintln!("==> soak {:>5.1}s: {name} up again", started.elapsed().as_secs_f64());
        at = at.max(started.elapsed()) + unit;
        wait_until(at, demo)?;
        if *name == "prometheus" {
            b.has_data = Some(prom_has_demo(b.proc.port, metrics_port)?);
        }
    }
    wait_until(at + unit, demo)?;
    Command::new("kill").args(["-TERM", &demo.id().to_string()]).status()?;
    let until = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = demo.try_wait()? {
            break s;
        }
        if Instant::now() > until {
            return Err("soak: the demo did not exit within 60 s of SIGTERM".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        return Err(format!("soak: the demo exited with {status} after SIGTERM").into());
    }
    for (_, b) in &mut backends {
        if b.graceful {
            b.proc.stop(true)?;
        }
    }
    Ok((backends, ok_before))
}

/// The last JSON line of a file.
fn last_json(file: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let line = text.lines().rev().find(|l| l.starts_with('{')).ok_or(format!("no JSON line in {}", file.display()))?;
    Ok(serde_json::from_str(line)?)
}

/// The stall criterion ([`stall`]) over each outage; prints a line per backend.
fn check_stalls(
    dir: &Path,
    periodic: &[&Value],
    backends: &[(&str, Backend)],
    o: &Opts,
    ok_before: u64,
    cpu: &[(u64, u64)],
) -> Result<Vec<String>> {
    let points: Vec<(u64, u64)> =
        periodic.iter().map(|l| (l["unix_ms"].as_u64().unwrap_or(0), l["transitions"].as_u64().unwrap_or(0))).collect();
    let seconds = stall::seconds(&points, cpu);
    let table: String =
        seconds.iter().map(|s| format!("{}\t{:.0}\t{:.0}\n", s.end, s.rate, s.generator_wait_ms)).collect();
    std::fs::write(dir.join("seconds.tsv"), format!("end_unix_ms\trate\tgenerator_wait_ms\n{table}"))?;
    // all up: after a 3 s start, and until the demo was stopped
    let start = points.first().map_or(0, |p| p.0 + 3000);
    let end = points.last().map_or(0, |p| p.0);
    let all_up: Vec<Second> = stall::within(&seconds, start, ok_before).collect();
    println!(
        "soak: {} machines at {} mutations/s; all up before the first outage: {:.0} transitions/s, the generator waiting {:.0} ms/s for a CPU; load average {}",
        o.machines,
        o.rate,
        stall::mean_rate(&all_up),
        stall::mean_generator_wait(&all_up),
        load_average()
    );
    let outages: Vec<Outage> = backends.iter().map(|(_, b)| Outage { down: b.down.0, up: b.down.1 }).collect();
    let mut failures = Vec::new();
    for ((name, b), v) in backends.iter().zip(stall::judge(&seconds, &outages, start, end)) {
        let (down, up) = b.down;
        let during: Vec<Second> = stall::within(&seconds, down, up).collect();
        println!(
            "soak: {name:<12} down {:>4.1}s: {:>5.0} transitions/s, {:>3.0}% of the {:.0}/s beside it; longest stall {} s of {}, {} s slow but excused (generator waiting {:.0} ms/s for a CPU)",
            (up - down) as f64 / 1000.0,
            v.rate,
            if v.baseline > 0.0 { v.rate / v.baseline * 100.0 } else { 0.0 },
            v.baseline,
            v.stall,
            v.secs,
            v.excused,
            stall::mean_generator_wait(&during)
        );
        if let Some(why) = v.failure() {
            failures.push(format!("{name} down: {why}"));
        }
    }
    Ok(failures)
}

/// The restarted Prometheus scrapes the demo again: the demo counts the scrapes it served
/// (Prometheus is the only scraper), since on a loaded machine Prometheus itself may time
/// them out.
fn check_scraped_again(periodic: &[&Value], backends: &[(&str, Backend)], scrapes: u64) -> Option<String> {
    let (_, b) = backends.iter().find(|(n, _)| *n == "prometheus")?;
    let before = periodic
        .iter()
        .take_while(|l| l["unix_ms"].as_u64().unwrap_or(0) <= b.down.1)
        .last()
        .and_then(|l| l["exporters"]["prom"]["scrapes"].as_u64())
        .unwrap_or(0);
    let held = match b.has_data {
        Some(true) => "holds one",
        Some(false) => "holds none: its scrapes timed out (1 s), a loaded machine",
        None => "not asked",
    };
    let after = scrapes.saturating_sub(before);
    println!("soak: prometheus scraped the demo {after} times after its restart; a successful scrape in it: {held}");
    (after == 0).then(|| "the restarted Prometheus did not scrape the demo".to_string())
}

/// `/proc/loadavg`'s three averages, for the record.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn check(
    dir: &Path,
    stats: &Path,
    backends: &[(&str, Backend)],
    o: &Opts,
    ok_before: u64,
    cpu: &[(u64, u64)],
) -> Result<()> {
    let text = std::fs::read_to_string(stats)?;
    let lines: Vec<Value> = text.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    let last = lines.last().filter(|l| l["final"] == true).ok_or("soak: the demo wrote no final stats line")?;
    let periodic: Vec<&Value> = lines.iter().filter(|l| l["final"] != true).collect();
    let mut failures = Vec::new();
    failures.extend(check_stalls(dir, &periodic, backends, o, ok_before, cpu)?);
    // memory
    let rss = lines.iter().filter_map(|l| l["rss_kib"].as_u64()).max().unwrap_or(0);
    println!("soak: demo RSS peak {} MiB (bound {} MiB)", rss / 1024, o.max_rss_mib);
    if rss == 0 || rss / 1024 > o.max_rss_mib {
        failures.push(format!("RSS peak {} MiB, bound {} MiB", rss / 1024, o.max_rss_mib));
    }

    // accounting per exporter: produced = sent + dropped + failed + queued
    let e = &last["exporters"];
    let n = |x: &str, k: &str| e[x][k].as_u64().unwrap_or(0);
    for x in ["otel", "dbg", "loki"] {
        let (p, s, d, f, q) = (n(x, "produced"), n(x, "sent"), n(x, "dropped"), n(x, "failed"), n(x, "queued"));
        println!("soak: {x:<5} produced {p:>8}  sent {s:>8}  dropped {d:>7}  failed {f:>7}  queued {q}");
        if p == 0 {
            failures.push(format!("{x} produced nothing"));
        }
        if p != s + d + f + q {
            failures.push(format!("{x}: produced {p} != sent {s} + dropped {d} + failed {f} + queued {q}"));
        }
    }
    let prom = |k: &str| n("prom", k);
    println!(
        "soak: prom  {} pushes, {} push failures, {} scrapes, {} machines refused by the cardinality guard, {} updates of refused machines dropped",
        prom("pushes"),
        prom("push_failures"),
        prom("scrapes"),
        prom("refused_machines"),
        prom("dropped_updates")
    );
    if prom("push_failures") == 0 {
        failures.push("no Pushgateway push failed while it was down".into());
    }
    if o.machines >= 1000 && prom("refused_machines") == 0 {
        failures.push("the Prometheus cardinality guard refused no machine".into());
    }
    failures.extend(check_scraped_again(&periodic, backends, prom("scrapes")));

    // what the backends received, over all their runs, and that each run after a restart
    // received something
    let by = |name: &str| backends.iter().find(|(n, _)| *n == name).map(|(_, b)| &b.proc);
    let mut received = |name: &str, key: &str| -> Result<u64> {
        let Some(p) = by(name) else { return Ok(0) };
        let mut total = 0;
        for run in 1..=p.runs() {
            let v = last_json(&p.log_of(run))?;
            let got = v[key].as_u64().unwrap_or(0);
            if run > 1 && got == 0 {
                failures.push(format!("{name} received no {key} after its restart"));
            }
            total += got;
        }
        Ok(total)
    };
    let spans = received("otlp", "spans")?;
    let entries = received("loki", "entries")?;
    let mut txs = 0;
    let mut runs = Vec::new();
    for run in 1..=by("am-dbg").map_or(0, Proc::runs) {
        let file: PathBuf = dir.join("dbg").join(format!("dbg.{run}.jsonl"));
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let n = text.lines().filter(|l| l.starts_with(r#"{"Tx""#)).count() as u64;
        runs.push(n);
        txs += n;
    }
    if runs.get(1).is_none_or(|n| *n == 0) {
        failures.push("the restarted am-dbg recorder received no transition".into());
    }
    for (x, got, sent) in [
        ("otlp spans", spans, n("otel", "sent")),
        ("loki entries", entries, n("loki", "sent")),
        ("am-dbg transitions", txs, n("dbg", "sent")),
    ] {
        println!("soak: received {x}: {got} (exporter sent {sent})");
        if got < sent {
            failures.push(format!("{x}: received {got} < sent {sent}"));
        }
    }
    if failures.is_empty() {
        println!("soak: all checks passed");
        Ok(())
    } else {
        Err(format!("soak failed:\n  {}", failures.join("\n  ")).into())
    }
}
