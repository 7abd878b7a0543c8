//! Stack traces of queued mutations: off by default, on with `AM_DBG_TRACE` or the builder,
//! off again with `AM_DBG_NO_TRACE` (as in Go); a trace starts at the code that queued the
//! mutation. One test: it changes the process environment.

use std::time::Duration;

use am_core::{Machine, Schema};
use am_dbg_proto::{AM_DBG_NO_TRACE, AM_DBG_TRACE, DbgMsg, DbgTracer, Server, ServerEvent};

/// The only test in this binary changes the environment (see `am_testkit::set_env`).
fn set(k: &str, v: Option<&str>) {
    am_testkit::set_env(k, v);
}

#[inline(never)]
fn queue_from_here(m: &Machine) {
    m.add(&["A"]).unwrap();
}

#[test]
fn stack_traces_by_builder_and_environment() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (server, mut rx) = rt.block_on(Server::bind_channel("127.0.0.1:0", 10_000)).unwrap();
    let addr = server.local_addr().to_string();
    // the stack trace of the queued message of one `add`, for a tracer built now
    let mut trace = |configure: &dyn Fn(am_dbg_proto::DbgTracerBuilder) -> am_dbg_proto::DbgTracerBuilder| {
        let t = configure(DbgTracer::builder().addr(addr.clone()).runtime(rt.handle().clone())).build().unwrap();
        let m = Machine::builder(Schema::builder().states(["A"]).build().unwrap()).tracer(t.clone()).build();
        queue_from_here(&m);
        assert!(t.flush(Duration::from_secs(10)).complete());
        let mut stack = None;
        while let Ok(ev) = rx.try_recv() {
            if let ServerEvent::Message { msg: DbgMsg::Tx(tx), .. } = ev
                && tx.is_queued
            {
                stack = Some(tx.stack_trace);
            }
        }
        stack.expect("the queued message")
    };
    set(AM_DBG_TRACE, None);
    set(AM_DBG_NO_TRACE, None);
    assert_eq!(trace(&|b| b), "", "off by default");
    let on = trace(&|b| b.stack_traces(true));
    let first = on.lines().next().unwrap_or_default();
    assert!(first.contains("queue_from_here"), "starts at the caller, not in the machine: {on}");
    assert!(!on.contains("am_core::") && !on.contains("am_dbg_proto::"), "{on}");

    set(AM_DBG_TRACE, Some("1"));
    assert!(trace(&|b| b).contains("queue_from_here"), "AM_DBG_TRACE turns them on");
    assert_eq!(trace(&|b| b.stack_traces(false)), "", "the builder wins");
    set(AM_DBG_NO_TRACE, Some("1"));
    assert_eq!(trace(&|b| b), "", "AM_DBG_NO_TRACE turns them off, as in Go");
    assert!(trace(&|b| b.stack_traces(true)).contains("queue_from_here"), "the builder wins");
    set(AM_DBG_TRACE, None);
    set(AM_DBG_NO_TRACE, None);
}
