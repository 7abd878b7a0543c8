//! Streams a machine and a submachine to an `am-dbg` server.
//!
//! ```text
//! cargo run -p am-dbg -- record --out /tmp/rec.jsonl                     # terminal 1
//! AM_DBG_ADDR=1 cargo run -p am-dbg-proto --example dbg_client           # terminal 2
//! cargo run -p am-dbg -- summary /tmp/rec.jsonl
//! ```
//!
//! Without `AM_DBG_ADDR` the example starts its own in-process server and prints what it
//! received, so it also runs on its own.

use std::time::Duration;

use am_core::{Machine, Schema, State};
use am_dbg_proto::{DbgMsg, DbgTracer, Server, ServerEvent, bind_env};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let schema = Schema::builder()
        .state("Start", State::new())
        .state("Connecting", State::new().require(["Start"]).remove(["Connected"]))
        .state("Connected", State::new().require(["Start"]).remove(["Connecting"]))
        .state("Ready", State::new().auto().require(["Connected"]))
        .build()?;
    let worker_schema = Schema::builder().state("Job", State::new().multi()).build()?;

    let rt = tokio::runtime::Runtime::new()?;
    let root = Machine::builder(schema).id("conn").build();
    let (tracer, local) = match bind_env(&root)?.guard() {
        Some(g) => (g.tracer().clone(), None),
        None => {
            // no AM_DBG_ADDR: a local server that prints what it gets
            let server = rt.block_on(Server::bind("127.0.0.1:0", |ev| match ev {
                ServerEvent::Message { msg: DbgMsg::Schema(s), .. } => {
                    println!("schema  {} {:?}", s.id, s.states_index)
                }
                ServerEvent::Message { msg: DbgMsg::Tx(t), .. } => println!(
                    "tx      {} #{} {:?} {:?} accepted={} queued={}",
                    t.machine_id, t.seq, t.mutation_type, t.called_states_idxs, t.accepted, t.is_queued
                ),
                other => println!("event   {other:?}"),
            }))?;
            let t = DbgTracer::builder().addr(server.local_addr().to_string()).runtime(rt.handle().clone()).build()?;
            t.bind(&root);
            (t, Some(server))
        }
    };
    // inherits the tracer
    let worker = Machine::builder(worker_schema).id("conn-worker").parent(&root).build();

    root.add(&["Start", "Connecting"])?;
    root.add(&["Connected"])?; // Ready follows (auto)
    for _ in 0..3 {
        worker.add(&["Job"])?;
    }
    root.remove(&["Start"])?;

    tracer.flush(Duration::from_secs(5));
    println!("{:?}", tracer.stats());
    drop(local);
    Ok(())
}
