//! [`bind_env`]: env-only activation (`AM_OTEL_TRACE`), one pipeline per process shared by
//! every root machine bound this way (as Go's process-wide provider), held in shares.

use am_core::exporter::Unpoison;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use am_core::{Binding, Delivery, ExporterGuard, Machine, Skip};

use crate::env;
use crate::error::Error;
use crate::logs::OtelLogTracer;
use crate::pipeline::OtlpPipeline;
use crate::tracer::OtelTracer;

/// How long the env pipeline may take to flush when its last share is released by a root
/// machine's disposal or a dropped [`OtelGuard`].
pub const ENV_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

struct EnvState {
    pipeline: OtlpPipeline,
    tracer: OtelTracer,
    logs: Option<OtelLogTracer>,
    #[cfg(feature = "metrics")]
    metrics: Option<crate::OtelMetricsTracer>,
    /// Root machines bound and not yet released.
    shares: usize,
}

static ENV: Mutex<Option<EnvState>> = Mutex::new(None);

fn env_lock() -> std::sync::MutexGuard<'static, Option<EnvState>> {
    ENV.lock().unpoison()
}

/// Binds the env pipeline's tracer (and, with `AM_OTEL_LOG`, the log tracer; with
/// `AM_OTEL_METRICS` and feature `metrics`, the metrics tracer) to a root machine when
/// `AM_OTEL_TRACE` is on. The service is [`am_core::env::service`]. Skipped (and why) by the
/// shared [`env_gate`](am_core::env_gate): submachines (built later, they inherit),
/// `rpc-*`/`relay` machines unless `AM_RPC_DBG`, `AM_TEST_RUNNER`. An unusable value of any
/// `AM_OTEL_*` or `OTEL_*` variable is an error naming it ([`env::check`]).
///
/// Every option comes from the env (`AM_OTEL_TRACE_*`, `OTEL_EXPORTER_OTLP_*`,
/// `OTEL_BSP_*`). The pipeline is created by the first call and shared; each bound root holds
/// one share, released when the returned [`OtelGuard`] is shut down or dropped, or when the
/// machine is disposed, whichever comes first. Releasing ends that machine's spans (and its
/// submachines') and exports them; the last share flushes and shuts the pipeline down, and a
/// later call starts a new one.
///
/// ```
/// use am_core::{Machine, Schema};
/// let m = Machine::builder(Schema::builder().states(["A"]).build()?).build();
/// // AM_OTEL_TRACE is not set here
/// assert!(!am_otel::bind_env(&m)?.is_bound());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn bind_env(m: &Machine) -> Result<Binding<OtelGuard>, Error> {
    if let Err(skip) = am_core::env_gate(m) {
        return Ok(Binding::Skipped(skip));
    }
    env::check()?;
    if !am_core::env::is_on(env::AM_OTEL_TRACE) {
        return Ok(Binding::Skipped(Skip::Off { vars: &[env::AM_OTEL_TRACE] }));
    }
    let (tracer, logs, counter) = {
        let mut g = env_lock();
        if g.is_none() {
            let pipeline = OtlpPipeline::builder().build()?;
            let mut b = OtelTracer::builder(pipeline.sdk_tracer());
            b.counter = Some(pipeline.span_counter());
            b.direct = pipeline.direct();
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
                shares: 0,
            });
        }
        let Some(st) = g.as_mut() else { return Err(Error::Exporter("the env pipeline vanished".into())) };
        st.shares += 1;
        #[cfg(feature = "metrics")]
        if let Some(mt) = &st.metrics {
            mt.bind(m);
        }
        (st.tracer.clone(), st.logs.clone(), st.pipeline.span_counter())
    };
    tracer.bind(m);
    if let Some(l) = logs {
        l.bind(m);
    }
    let share = Arc::new(Share {
        machine: m.id().to_string(),
        tracer: tracer.clone(),
        counter,
        released: AtomicBool::new(false),
    });
    let on_dispose = share.clone();
    m.on_dispose(move |_| {
        on_dispose.release(ENV_SHUTDOWN_TIMEOUT);
    });
    // a typo in a state list shows now, not as spans that never come
    let notes = [env::AM_OTEL_TRACE_ALLOW_STATES, env::AM_OTEL_TRACE_SKIP_STATES]
        .into_iter()
        .filter_map(|v| am_core::env::unknown_states_note(v, m))
        .collect();
    Ok(Binding::Bound { guard: OtelGuard { share }, notes })
}

/// The env pipeline's tracer provider, while one is running: for the app's own spans on the
/// same pipeline (e.g. `tracing_opentelemetry::layer().with_tracer(provider.tracer("app"))`),
/// so request spans and machine spans share one exporter, one batch and one trace.
pub fn env_tracer_provider() -> Option<opentelemetry_sdk::trace::SdkTracerProvider> {
    env_lock().as_ref().map(|st| st.pipeline.tracer_provider().clone())
}

/// The env pipeline's span counts, while one is running.
pub fn env_span_stats() -> Option<crate::SpanStats> {
    env_lock().as_ref().map(|st| st.pipeline.span_stats())
}

/// One root machine's share of the env pipeline, from [`bind_env`]. Shutting it down (or
/// dropping it) ends the machine's spans and exports them; the last share also shuts the
/// pipeline down. Keep it as long as the machine should be traced.
#[must_use = "dropping the guard stops tracing the machine at once"]
#[derive(Debug)]
pub struct OtelGuard {
    share: Arc<Share>,
}

impl OtelGuard {
    /// The tracer (shared by every machine bound from the env).
    pub fn tracer(&self) -> &OtelTracer {
        &self.share.tracer
    }
}

#[derive(Debug)]
struct Share {
    machine: String,
    tracer: OtelTracer,
    /// The pipeline's counts, still there after the pipeline shut down (a share released by
    /// the root machine's disposal reports them when its guard is shut down later).
    counter: crate::SpanCounter,
    released: AtomicBool,
}

impl Share {
    /// Releases the share once: the last one shuts the pipeline down, the others end this
    /// machine's spans and export what is queued. Reports the pipeline's spans.
    fn release(&self, timeout: Duration) -> Delivery {
        if self.released.swap(true, SeqCst) {
            return self.counter.stats().delivery(true);
        }
        let last = {
            let mut g = env_lock();
            match g.as_mut() {
                Some(st) if st.shares <= 1 => g.take(),
                Some(st) => {
                    st.shares -= 1;
                    None
                }
                None => None,
            }
        };
        match last {
            Some(st) => {
                let ended = st.tracer.shutdown(timeout);
                let mut d = st.pipeline.shutdown(timeout);
                d.in_time &= ended;
                d
            }
            None => {
                self.tracer.release_machine(&self.machine);
                flush_env(timeout)
            }
        }
    }
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        self.share.release(ENV_SHUTDOWN_TIMEOUT);
    }
}

/// Exports what the env pipeline holds, waiting at most `timeout` (the SDK's own flush has
/// its own, longer bound; past `timeout` it finishes in the background), and reports the
/// pipeline's spans.
fn flush_env(timeout: Duration) -> Delivery {
    let Some((flush, counter)) = env_lock().as_ref().map(|st| (st.pipeline.flusher(), st.pipeline.span_counter()))
    else {
        return Delivery::new("spans");
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new().name("am-otel-flush".into()).spawn(move || {
        let _ = tx.send(flush());
    });
    // false: spans still wait after the SDK's flush, or `timeout` passed first
    let in_time = spawned.is_ok() && rx.recv_timeout(timeout).unwrap_or(false);
    counter.stats().delivery(in_time)
}

impl ExporterGuard for OtelGuard {
    fn flush(&self, timeout: Duration) -> Delivery {
        flush_env(timeout)
    }
    fn destination(&self) -> String {
        env_lock().as_ref().map(|st| st.pipeline.destination().to_string()).unwrap_or_default()
    }
    fn shutdown(self: Box<Self>, timeout: Duration) -> Delivery {
        self.share.release(timeout)
    }
}
