//! [`bind_env`]: env-only activation (`AM_OTEL_TRACE`, `AM_SERVICE`), one pipeline per
//! process shared by every root machine bound this way (as Go's process-wide provider).

use std::sync::Mutex;
use std::time::Duration;

use am_core::Machine;

use crate::env;
use crate::error::Error;
use crate::logs::OtelLogTracer;
use crate::pipeline::OtlpPipeline;
use crate::tracer::OtelTracer;

/// How long the env pipeline may take to flush when its last root machine is disposed.
pub const ENV_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

struct EnvState {
    pipeline: OtlpPipeline,
    tracer: OtelTracer,
    logs: Option<OtelLogTracer>,
    #[cfg(feature = "metrics")]
    metrics: Option<crate::OtelMetricsTracer>,
    roots: usize,
}

static ENV: Mutex<Option<EnvState>> = Mutex::new(None);

fn env_lock() -> std::sync::MutexGuard<'static, Option<EnvState>> {
    ENV.lock().unwrap_or_else(|e| e.into_inner())
}

/// Binds the OTel tracer (and, with `AM_OTEL_LOG`, the log tracer; with `AM_OTEL_METRICS`
/// and feature `metrics`, the metrics tracer) to a root machine when
/// `AM_OTEL_TRACE` is on and a service name is set (`AM_SERVICE` / `OTEL_SERVICE_NAME`).
/// Submachines built later inherit it. Returns `Ok(None)` when off, under
/// `AM_TEST_RUNNER`, for submachines (they inherit), for `rpc-*` / `relay` machines
/// (unless `AM_RPC_DBG`), and without a service name (with a warning).
///
/// Every option comes from the env (`AM_OTEL_TRACE_*`, `OTEL_EXPORTER_OTLP_*`,
/// `OTEL_BSP_*`). The pipeline is created by the first call and shared; when the last root
/// machine bound here is disposed, the pipeline is flushed and shut down (within
/// [`ENV_SHUTDOWN_TIMEOUT`]), and a later call starts a new one.
///
/// ```
/// use am_core::{Machine, Schema};
/// let m = Machine::builder(Schema::builder().states(["A"]).build()?).build();
/// // AM_OTEL_TRACE is not set here
/// assert!(am_otel::bind_env(&m)?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn bind_env(m: &Machine) -> Result<Option<OtelTracer>, Error> {
    if am_core::env::is_on(am_core::env::AM_TEST_RUNNER) || !am_core::env::is_on(env::AM_OTEL_TRACE) {
        return Ok(None);
    }
    if m.parent_id().is_some() || am_core::env::is_rpc_machine(m.tags()) {
        return Ok(None);
    }
    if env::service_name().is_none() {
        tracing::warn!(target: "am_otel", "{} is set but AM_SERVICE / OTEL_SERVICE_NAME is not: not tracing", env::AM_OTEL_TRACE);
        return Ok(None);
    }
    let (tracer, logs) = {
        let mut g = env_lock();
        if g.is_none() {
            let pipeline = OtlpPipeline::builder().build()?;
            let mut b = OtelTracer::builder(pipeline.sdk_tracer());
            b.counter = Some(pipeline.span_counter());
            let tracer = b.build()?;
            let logs = pipeline.log_tracer();
            #[cfg(feature = "metrics")]
            let metrics = pipeline.metrics_tracer();
            *g = Some(EnvState {
                pipeline,
                tracer,
                logs,
                #[cfg(feature = "metrics")]
                metrics,
                roots: 0,
            });
        }
        let Some(st) = g.as_mut() else { return Ok(None) };
        st.roots += 1;
        #[cfg(feature = "metrics")]
        if let Some(mt) = &st.metrics {
            mt.bind(m);
        }
        (st.tracer.clone(), st.logs.clone())
    };
    tracer.bind(m);
    if let Some(l) = logs {
        l.bind(m);
    }
    m.on_dispose(|_| {
        let done = {
            let mut g = env_lock();
            match g.as_mut() {
                Some(st) if st.roots <= 1 => g.take(),
                Some(st) => {
                    st.roots -= 1;
                    None
                }
                None => None,
            }
        };
        if let Some(st) = done {
            st.tracer.shutdown(ENV_SHUTDOWN_TIMEOUT);
            st.pipeline.shutdown(ENV_SHUTDOWN_TIMEOUT);
        }
    });
    Ok(Some(tracer))
}

/// The env pipeline's span counts, while one is running.
pub fn env_span_stats() -> Option<crate::SpanStats> {
    env_lock().as_ref().map(|st| st.pipeline.span_stats())
}
