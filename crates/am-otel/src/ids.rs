//! Span IDs chosen on the machine's thread and honoured by the span thread.
//!
//! A transition's span is built on the tracer's span thread, after the transition ended, but
//! its ID must be known while the transition runs: it goes into the machine's trace context,
//! which log records and the mutations started from handlers carry. The hook draws the ID
//! ([`SpanIds`]); the span thread asks for it when it builds the span ([`AmIdGenerator`]).

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

thread_local! {
    static PRESET: Cell<Option<SpanId>> = const { Cell::new(None) };
}

/// The SDK's random IDs, except that the span the tracer's span thread is building gets
/// the ID its transition was given on the machine's thread.
///
/// [`OtlpPipeline`](crate::OtlpPipeline) installs it. Install it yourself when you build
/// the provider by hand and bind an [`OtelTracer`](crate::OtelTracer) over it with
/// transitions on, otherwise log records and linked mutations carry span IDs that no
/// exported span has (the tracer warns once):
///
/// ```
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// let provider = SdkTracerProvider::builder().with_id_generator(am_otel::AmIdGenerator::default()).build();
/// # drop(provider);
/// ```
#[derive(Clone, Debug, Default)]
pub struct AmIdGenerator(RandomIdGenerator);

impl IdGenerator for AmIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        self.0.new_trace_id()
    }
    fn new_span_id(&self) -> SpanId {
        PRESET.with(Cell::take).unwrap_or_else(|| self.0.new_span_id())
    }
}

/// Runs `f` (which builds one span) with `id` as the span ID the generator hands out.
pub(crate) fn with_preset<T>(id: SpanId, f: impl FnOnce() -> T) -> T {
    PRESET.with(|p| p.set(Some(id)));
    let out = f();
    // a provider that is shut down (or ignores the generator) does not take it
    PRESET.with(|p| p.set(None));
    out
}

/// Per-machine span IDs: splitmix64 over a random seed, so IDs are unique within a machine
/// (a bijection of the counter) and look random across machines; never zero.
#[derive(Debug)]
pub(crate) struct SpanIds(u64);

impl SpanIds {
    pub(crate) fn new() -> Self {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x6d61_6368);
        SpanIds(h.finish())
    }

    pub(crate) fn next(&mut self) -> SpanId {
        loop {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            if z != 0 {
                return SpanId::from_bytes(z.to_be_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_nonzero() {
        let mut ids = SpanIds::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = ids.next();
            assert_ne!(id, SpanId::INVALID);
            assert!(seen.insert(id));
        }
        let mut other = SpanIds::new();
        assert_ne!(ids.next(), other.next(), "machines draw from different seeds");
    }

    #[test]
    fn preset_is_taken_once() {
        let g = AmIdGenerator::default();
        let id = SpanId::from(7u64);
        let got = with_preset(id, || g.new_span_id());
        assert_eq!(got, id);
        assert_ne!(g.new_span_id(), id, "later spans get random IDs");
        // an unused preset does not leak into the next span
        with_preset(id, || ());
        assert_ne!(g.new_span_id(), id);
    }
}
