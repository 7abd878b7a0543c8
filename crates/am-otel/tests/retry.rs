//! Failed exports are retried ([`Retry`]): a collector that answers the first requests with a
//! transient error still gets every span, and none counts as failed. Over gRPC, errors the
//! OTLP spec calls permanent are not retried and `RetryInfo` sets the retry delay.
#![cfg(any(feature = "grpc", feature = "http"))]

use std::time::{Duration, Instant};

use am_otel::{OtlpPipeline, Protocol, Retry, SpanStats};
use am_testkit::otlp::{Failure, Receiver};
use opentelemetry::trace::{Span as _, Tracer as _};

const SPANS: u64 = 5;

/// Short delays keep the tests fast: 10 ms, 20 ms, 40 ms, … up to 40 ms, no jitter.
fn quick(max_retries: usize) -> Retry {
    Retry::new(max_retries, Duration::from_millis(10), Duration::from_millis(40)).with_jitter(Duration::ZERO)
}

fn pipeline(rx: &Receiver, protocol: Protocol, retry: Retry) -> OtlpPipeline {
    let endpoint = match protocol {
        Protocol::Grpc => rx.grpc_url(),
        _ => format!("http://{}", rx.addr),
    };
    OtlpPipeline::builder()
        .service("retry")
        .endpoint(endpoint)
        .protocol(protocol)
        .logs(false)
        .retry(retry)
        // nothing is exported before `force_flush`: all spans go out in one batch
        .batch_delay(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Ends `SPANS` spans and exports them in one batch (bounded by the SDK's 5 s flush
/// timeout); returns how long the export took and the counts.
fn export(p: &OtlpPipeline) -> (Duration, SpanStats) {
    let tracer = p.sdk_tracer();
    for i in 0..SPANS {
        tracer.start(format!("span-{i}")).end();
    }
    let t = Instant::now();
    p.force_flush();
    (t.elapsed(), p.span_stats())
}

#[cfg(feature = "grpc")]
#[test]
fn grpc_unavailable_is_retried() {
    let rx = Receiver::grpc();
    rx.fail_next(3, Failure::Unavailable);
    let p = pipeline(&rx, Protocol::Grpc, quick(3));
    let (_, s) = export(&p);
    assert_eq!((s.ended, s.exported, s.failed, s.dropped), (SPANS, SPANS, 0, 0), "{s:?}");
    assert_eq!(rx.requests(), 4, "3 answered UNAVAILABLE, the 4th accepted");
    let spans = rx.spans();
    assert_eq!(spans.len() as u64, SPANS);
    assert!(spans.iter().all(|s| s.service == "retry"));
    assert!(p.shutdown(Duration::from_secs(1)).complete());
}

#[cfg(feature = "http")]
#[test]
fn http_503_is_retried() {
    let rx = Receiver::http();
    rx.fail_next(3, Failure::Unavailable);
    let p = pipeline(&rx, Protocol::HttpProtobuf, quick(3));
    let (_, s) = export(&p);
    assert_eq!((s.ended, s.exported, s.failed, s.dropped), (SPANS, SPANS, 0, 0), "{s:?}");
    assert_eq!(rx.requests(), 4, "3 answered 503, the 4th accepted");
    assert_eq!(rx.spans().len() as u64, SPANS);
    assert!(p.shutdown(Duration::from_secs(1)).complete());
}

#[cfg(feature = "grpc")]
#[test]
fn logs_are_retried() {
    use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};

    let rx = Receiver::grpc();
    rx.fail_next(2, Failure::Unavailable);
    let p = OtlpPipeline::builder()
        .service("retry-logs")
        .endpoint(rx.grpc_url())
        .logs(true)
        .retry(quick(2))
        .build()
        .unwrap();
    let provider = p.logger_provider().expect("logs on");
    let logger = provider.logger("retry-test");
    let mut r = logger.create_log_record();
    r.set_body("after two failures".into());
    logger.emit(r);
    assert!(provider.force_flush().is_ok());
    assert_eq!(rx.requests(), 3, "2 answered UNAVAILABLE, the 3rd accepted");
    let logs = rx.logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].body, "after two failures");
    assert!(p.shutdown(Duration::from_secs(1)).complete());
}

#[cfg(feature = "grpc")]
#[test]
fn exhausted_retries_count_as_failed() {
    let rx = Receiver::grpc();
    rx.fail_next(100, Failure::Unavailable);
    let p = pipeline(&rx, Protocol::Grpc, quick(2));
    let (_, s) = export(&p);
    assert_eq!((s.exported, s.failed), (0, SPANS), "{s:?}");
    assert_eq!(rx.requests(), 3, "the first attempt and max_retries = 2 retries");
    p.shutdown(Duration::from_secs(1));
}

#[cfg(feature = "grpc")]
#[test]
fn no_retries() {
    let rx = Receiver::grpc();
    rx.fail_next(1, Failure::Unavailable);
    let p = pipeline(&rx, Protocol::Grpc, Retry::NONE);
    let (_, s) = export(&p);
    assert_eq!((s.exported, s.failed), (0, SPANS), "{s:?}");
    assert_eq!(rx.requests(), 1);
    p.shutdown(Duration::from_secs(1));
}

#[cfg(feature = "grpc")]
#[test]
fn grpc_permanent_errors_are_not_retried() {
    // INVALID_ARGUMENT, and RESOURCE_EXHAUSTED without RetryInfo (OTLP spec)
    for how in [Failure::Invalid, Failure::Throttled(None)] {
        let rx = Receiver::grpc();
        rx.fail_next(1, how);
        let p = pipeline(&rx, Protocol::Grpc, quick(3));
        let (_, s) = export(&p);
        assert_eq!((s.exported, s.failed), (0, SPANS), "{how:?}: {s:?}");
        assert_eq!(rx.requests(), 1, "{how:?}");
        p.shutdown(Duration::from_secs(1));
    }
}

#[cfg(feature = "grpc")]
#[test]
fn grpc_retry_info_sets_the_delay() {
    let rx = Receiver::grpc();
    rx.fail_next(1, Failure::Throttled(Some(1)));
    let p = pipeline(&rx, Protocol::Grpc, quick(3));
    let (took, s) = export(&p);
    assert_eq!((s.exported, s.failed), (SPANS, 0), "{s:?}");
    assert_eq!(rx.requests(), 2);
    // the collector's 1 s, not the 10 ms backoff
    assert!(took >= Duration::from_secs(1), "retried after {took:?}");
    p.shutdown(Duration::from_secs(1));
}

/// opentelemetry-otlp 0.32's HTTP clients turn every non-2xx answer into a transport error
/// (opentelemetry-http calls `error_for_status`), so over HTTP every failed request is
/// retried with the backoff: a 400 too, and a 429's `Retry-After` is not honoured. Fixed
/// upstream after 0.32 (open-telemetry/opentelemetry-rust#3627 and #3632); when this fails
/// after an upgrade, update the `Retry` docs and test the specified behaviour instead.
#[cfg(feature = "http")]
#[test]
fn http_status_is_not_classified_in_0_32() {
    let rx = Receiver::http();
    rx.fail_next(1, Failure::Invalid);
    rx.fail_next(1, Failure::Throttled(Some(1)));
    let p = pipeline(&rx, Protocol::HttpProtobuf, quick(3));
    let (took, s) = export(&p);
    assert_eq!((s.exported, s.failed), (SPANS, 0), "{s:?}");
    assert_eq!(rx.requests(), 3, "the 400 and the 429 were both retried");
    assert!(took < Duration::from_secs(1), "the backoff delays, not Retry-After: {took:?}");
    p.shutdown(Duration::from_secs(1));
}

/// `shutdown` does not wait for an export still retrying, and that export keeps running on
/// the export runtime (no panic of the SDK's batch thread on a stopped runtime) until its
/// retries are used up.
#[cfg(feature = "grpc")]
#[test]
fn shutdown_during_retries() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let batch_thread_panicked = Arc::new(AtomicBool::new(false));
    let flag = batch_thread_panicked.clone();
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name().is_some_and(|n| n.starts_with("OpenTelemetry.")) {
            flag.store(true, Ordering::SeqCst);
        }
        prev(info)
    }));

    let rx = Receiver::grpc();
    rx.fail_next(100, Failure::Unavailable);
    let p = OtlpPipeline::builder()
        .service("retry")
        .endpoint(rx.grpc_url())
        .logs(false)
        .retry(Retry::new(3, Duration::from_millis(100), Duration::from_millis(100)).with_jitter(Duration::ZERO))
        .batch_delay(Duration::from_millis(10))
        .build()
        .unwrap();
    p.sdk_tracer().start("retried").end();
    let t0 = Instant::now();
    while rx.requests() == 0 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(rx.requests(), 1, "the first attempt failed, the export waits to retry");
    let t = Instant::now();
    let d = p.shutdown(Duration::from_millis(50));
    assert!(!d.in_time && !d.complete(), "the export is still in flight: {d}");
    assert!(d.balanced() && d.pending + d.failed == 1, "{d}");
    assert!(t.elapsed() < Duration::from_millis(500), "shutdown waited {:?}", t.elapsed());
    while rx.requests() < 4 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(rx.requests(), 4, "the first attempt and 3 retries");
    // the batch thread gives up, exits and drops the runtime
    std::thread::sleep(Duration::from_millis(200));
    assert!(!batch_thread_panicked.load(Ordering::SeqCst));
}

#[test]
fn retry_values() {
    let d = Retry::default();
    assert_eq!(d, Retry::DEFAULT);
    assert_eq!(
        (d.max_retries(), d.initial_delay(), d.max_delay(), d.jitter()),
        (3, Duration::from_millis(100), Duration::from_millis(1600), Duration::from_millis(100))
    );
    assert_eq!(Retry::NONE.max_retries(), 0);
    // a max delay below the initial one is raised to it
    let r = Retry::new(2, Duration::from_millis(50), Duration::from_millis(10));
    assert_eq!(
        (r.initial_delay(), r.max_delay(), r.jitter()),
        (Duration::from_millis(50), Duration::from_millis(50), d.jitter())
    );
}
