//! The fixed scenario the receiver and golden tests drive: a parent machine `api` with a
//! submachine `worker`, through known transitions.
#![allow(dead_code)]

use am_core::{Handlers, LogLevel, Machine, MutationKind, Schema, State, err_msg};
use am_otel::OtelTracer;

pub fn run(tracer: &OtelTracer, logs: Option<&am_otel::OtelLogTracer>) -> Result<(), Box<dyn std::error::Error>> {
    let api_schema = Schema::builder()
        .state("Start", State::new())
        .state("Ready", State::new().require(["Start"]))
        .state("Job", State::new().multi())
        .state("Spawn", State::new())
        .state("Blocked", State::new())
        .build()?;
    let mut b =
        Machine::builder(api_schema).id("api").tags(["svc", "v1"]).log_level(LogLevel::Changes).tracer(tracer.clone());
    if let Some(l) = logs {
        b = b.tracer(l.clone());
    }
    let api = b.build();
    let worker =
        Machine::builder(Schema::builder().states(["Work", "Done"]).build()?).id("worker").parent(&api).build();
    let w = worker.clone();
    api.bind_handlers(
        Handlers::new("api-h")
            .enter("Ready", |_| true)
            .state("Ready", |e| e.machine().log("api is ready"))
            .enter("Blocked", |_| false)
            .state("Spawn", move |e| {
                let _ = w.ev_mutate(e, MutationKind::Add, &["Work"], None);
            }),
    )?;
    worker.bind_handlers(Handlers::new("worker-h").state("Work", |_| {}))?;

    api.add(&["Start"])?;
    api.add(&["Ready"])?;
    api.add(&["Job"])?;
    api.add(&["Job"])?;
    api.add(&["Spawn"])?;
    api.add(&["Blocked"])?;
    api.remove(&["Ready"])?;
    worker.add(&["Done"])?;
    api.add_err(err_msg("boom"))?;
    worker.dispose();
    api.dispose();
    Ok(())
}
