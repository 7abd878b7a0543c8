//! Scrape and push setups for `am-prom`.
//!
//! ```sh
//! # scrape: serves http://127.0.0.1:9464/metrics for 60 s while a worker machine runs
//! cargo run -p am-prom --example prom_metrics -- --seconds 60
//! # push: also pushes every 2 s to a Pushgateway (prometheus-pushgateway on :9091)
//! cargo run -p am-prom --example prom_metrics -- --push http://127.0.0.1:9091 --seconds 10
//! # env only: AM_SERVICE=shop AM_PROM_ADDR=1 AM_PROM_PUSH_URL=localhost:9091 (bind_env)
//! AM_SERVICE=shop AM_PROM_ADDR=:9465 cargo run -p am-prom --example prom_metrics -- --env
//! ```
//!
//! Without arguments it runs a few hundred transitions, prints part of its own `/metrics`
//! and exits.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use am_core::{Handlers, Machine, Schema, State};
use am_prom::{PromGuard, PromTracer};

fn worker(id: &str, parent: Option<&Machine>) -> Machine {
    let schema = Schema::builder()
        .state("Idle", State::new().remove(["Busy"]))
        .state("Busy", State::new().remove(["Idle"]))
        .state("Failed", State::new())
        .build()
        .expect("schema");
    let mut b = Machine::builder(schema).id(id);
    if let Some(p) = parent {
        b = b.parent(p);
    }
    let m = b.build();
    m.bind_handlers(Handlers::new("work").enter("Busy", |_| true).state("Busy", |_| {})).expect("handlers");
    m
}

fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let seconds: u64 = arg("--seconds").map_or(Ok(0), |s| s.parse())?;

    let root = worker("shop-api", None);
    // The guard shuts the tracer down (with a final push) when dropped.
    let guard: PromGuard = if args.iter().any(|a| a == "--env") {
        // everything from AM_SERVICE / AM_PROM_ADDR / AM_PROM_PUSH_URL / AM_PROM_PUSH_INTERVAL
        match am_prom::bind_env(&root)? {
            am_core::Binding::Bound { guard, notes } => {
                notes.iter().for_each(|n| eprintln!("note: {n}"));
                guard
            }
            am_core::Binding::Skipped(why) => return Err(format!("not bound: {why}").into()),
        }
    } else {
        let addr = if seconds > 0 { "127.0.0.1:9464" } else { "127.0.0.1:0" };
        let mut b = PromTracer::builder().listen(addr).service("shop-api").state_allow_list(["Idle", "Busy"]);
        if let Some(url) = arg("--push") {
            b = b.push(url, Duration::from_secs(2));
        }
        let prom = b.build()?;
        prom.bind(&root)?;
        prom.guard()
    };
    let prom = guard.tracer().clone();
    if let Some(a) = prom.local_addr() {
        println!("scrape endpoint: http://{a}/metrics");
    }
    if let Some(u) = prom.push_url() {
        println!("pushing to: {u}");
    }

    // a submachine inherits the tracer and gets its own mach_id
    let child = worker("shop-api-cart", Some(&root));
    let until = Instant::now() + Duration::from_secs(seconds);
    loop {
        for m in [&root, &child] {
            m.add(&["Busy"])?;
            m.add(&["Idle"])?;
        }
        if Instant::now() >= until {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    if let Some(addr) = prom.local_addr() {
        let page = get(addr, "/metrics")?;
        println!("--- part of GET /metrics ---");
        for line in page.lines().filter(|l| l.starts_with("am_transitions_total") || l.starts_with("am_machine_info")) {
            println!("{line}");
        }
    }
    let delivery = guard.shutdown();
    println!("stats: {:?}\nshutdown: {delivery}", prom.stats());
    Ok(())
}
