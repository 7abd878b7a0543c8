//! The soak's stall criterion: did an outage stall the machines, or was the whole box just
//! slower? Each outage is compared with the all-up windows right beside it (not with the
//! start of the run: load on a shared machine drifts over a minute), and only a sustained
//! drop fails: [`STALL_SECS`] in a row under [`SLOW`] of the neighbours' rate that the load
//! generator's threads did not spend waiting for a CPU. A generator starved by a busier
//! machine waits longer than beside the outage; one blocked by an exporter inside a
//! mutation sleeps, and waits less.
//!
//! Rates come from the demo's cumulative transition count, not its per-second rate field:
//! on a loaded machine its one-second tick slips and then fires in a burst, so single
//! "seconds" read 0 or twice the rate while the count stays exact.

/// A stretch of the run between two of the demo's stats lines, at least [`MIN_SPAN_MS`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    /// Unix ms at its end.
    pub(crate) end: u64,
    pub(crate) ms: u64,
    pub(crate) transitions: u64,
    /// Milliseconds per second the load generator waited for a CPU (0 when unknown).
    pub(crate) generator_wait_ms: f64,
}

impl Span {
    fn start(&self) -> u64 {
        self.end - self.ms
    }

    pub(crate) fn rate(&self) -> f64 {
        self.transitions as f64 * 1000.0 / self.ms as f64
    }
}

/// A backend's outage, in unix ms.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outage {
    pub(crate) down: u64,
    pub(crate) up: u64,
}

/// Stats lines closer together than this (a slipped tick catching up) are merged.
pub(crate) const MIN_SPAN_MS: u64 = 900;
/// Below this share of the neighbours' rate a span is slow.
pub(crate) const SLOW: f64 = 0.5;
/// A slow span is the machine's doing when the generator waited for a CPU at least this
/// long per second (on a quiet machine it waits a few ms: it sleeps 1 ms between bursts;
/// with load 12 on 2 cores, over 1,000 ms summed over its threads, while keeping up)...
pub(crate) const STARVED_MS: f64 = 200.0;
/// ...and at least this share of what it waited beside the outage (a block sleeps: a
/// generator blocked for half a span waits about half as long).
pub(crate) const STARVED_SHARE: f64 = 0.75;
/// Seconds of slow, unexcused spans in a row that fail an outage.
pub(crate) const STALL_SECS: f64 = 2.0;

/// Spans from `(unix ms, cumulative transitions)` points in time order.
pub(crate) fn spans(points: &[(u64, u64)], generator_wait_ms: impl Fn(u64, u64) -> f64) -> Vec<Span> {
    let mut out = Vec::new();
    let Some(mut from) = points.first().copied() else { return out };
    for &(at, n) in &points[1..] {
        if at < from.0 + MIN_SPAN_MS {
            continue;
        }
        let wait = generator_wait_ms(from.0, at);
        out.push(Span { end: at, ms: at - from.0, transitions: n.saturating_sub(from.1), generator_wait_ms: wait });
        from = (at, n);
    }
    out
}

/// What one outage looked like next to its neighbours.
#[derive(Debug, PartialEq)]
pub(crate) struct Verdict {
    /// Transitions per second over the all-up windows before and after the outage.
    pub(crate) baseline: f64,
    /// Transitions per second inside the outage.
    pub(crate) rate: f64,
    /// Seconds of the outage covered by spans wholly inside it.
    pub(crate) secs: f64,
    /// Seconds of slow spans excused because the generator waited for a CPU.
    pub(crate) excused: f64,
    /// Longest run of slow, unexcused spans, in seconds.
    pub(crate) stall: f64,
}

impl Verdict {
    /// Why the outage fails the soak, if it does.
    pub(crate) fn failure(&self) -> Option<String> {
        if self.secs == 0.0 || self.baseline <= 0.0 {
            return Some(format!("no rate to judge ({:.1} s inside, {:.0}/s beside it)", self.secs, self.baseline));
        }
        (self.stall >= STALL_SECS).then(|| {
            format!(
                "the machines stalled for {:.1} s (under {:.0}% of the {:.0}/s beside the outage, the generator not waiting for a CPU)",
                self.stall,
                SLOW * 100.0,
                self.baseline
            )
        })
    }
}

/// Judges each outage (in time order, not overlapping) against the all-up spans between its
/// neighbours: after `start` (or the previous outage) and before `end` (or the next).
pub(crate) fn judge(spans: &[Span], outages: &[Outage], start: u64, end: u64) -> Vec<Verdict> {
    (0..outages.len())
        .map(|i| {
            let o = outages[i];
            let before = if i == 0 { start } else { outages[i - 1].up };
            let after = outages.get(i + 1).map_or(end, |n| n.down);
            let beside: Vec<Span> = within(spans, before, o.down).chain(within(spans, o.up, after)).collect();
            let during: Vec<Span> = within(spans, o.down, o.up).collect();
            verdict(&during, mean_rate(&beside), mean_generator_wait(&beside))
        })
        .collect()
}

/// One outage's spans against the rate and the generator's CPU wait beside it.
fn verdict(during: &[Span], baseline: f64, baseline_wait_ms: f64) -> Verdict {
    let secs = |ms: u64| ms as f64 / 1000.0;
    let mut v = Verdict {
        baseline,
        rate: mean_rate(during),
        secs: secs(during.iter().map(|s| s.ms).sum()),
        excused: 0.0,
        stall: 0.0,
    };
    let mut run = 0.0;
    for s in during {
        let slow = s.rate() < SLOW * baseline;
        let starved = s.generator_wait_ms >= STARVED_MS.max(STARVED_SHARE * baseline_wait_ms);
        if slow && starved {
            v.excused += secs(s.ms);
        }
        run = if slow && !starved { run + secs(s.ms) } else { 0.0 };
        v.stall = f64::max(v.stall, run);
    }
    v
}

/// Spans wholly inside `[from, to]`.
pub(crate) fn within(spans: &[Span], from: u64, to: u64) -> impl Iterator<Item = Span> + '_ {
    spans.iter().filter(move |s| s.start() >= from && s.end <= to).copied()
}

/// Transitions per second over `spans` together (0 for none).
pub(crate) fn mean_rate(spans: &[Span]) -> f64 {
    let ms: u64 = spans.iter().map(|s| s.ms).sum();
    let n: u64 = spans.iter().map(|s| s.transitions).sum();
    if ms == 0 { 0.0 } else { n as f64 * 1000.0 / ms as f64 }
}

/// Milliseconds per second the generator waited for a CPU over `spans` together.
pub(crate) fn mean_generator_wait(spans: &[Span]) -> f64 {
    let ms: u64 = spans.iter().map(|s| s.ms).sum();
    let waited: f64 = spans.iter().map(|s| s.generator_wait_ms * s.ms as f64).sum();
    if ms == 0 { 0.0 } else { waited / ms as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One-second spans from t = 0 with the given rates and generator waits (ms per s).
    fn run(rates: &[f64], wait_ms: &[f64]) -> Vec<Span> {
        let mut points = vec![(0, 0)];
        for (i, r) in rates.iter().enumerate() {
            points.push(((i as u64 + 1) * 1000, points[i].1 + *r as u64));
        }
        let wait = |from: u64, _| wait_ms.get(from as usize / 1000).copied().unwrap_or(0.0);
        spans(&points, wait)
    }

    /// Up 0–4 s, down 4–8 s, up 8–12 s.
    const OUTAGE: [Outage; 1] = [Outage { down: 4000, up: 8000 }];

    fn judged(rates: &[f64], wait_ms: &[f64]) -> Verdict {
        judge(&run(rates, wait_ms), &OUTAGE, 0, 12_000).remove(0)
    }

    #[test]
    fn a_sustained_stall_fails() {
        let v = judged(&[2000., 2000., 2000., 2000., 1900., 30., 25., 40., 2000., 2000., 2000., 2000.], &[]);
        assert_eq!((v.secs, v.stall), (4.0, 3.0), "{v:?}");
        assert!(v.failure().is_some(), "{v:?}");
    }

    #[test]
    fn a_stall_on_a_busy_machine_fails_when_the_generator_sleeps() {
        // the generator waits for a CPU beside the outage, much less while it stalls
        let wait = [1500., 1500., 1500., 1500., 300., 250., 300., 1500., 1500., 1500., 1500., 1500.];
        let v = judged(&[900., 900., 900., 900., 20., 10., 15., 900., 900., 900., 900., 900.], &wait);
        assert_eq!((v.excused, v.stall), (0.0, 3.0), "{v:?}");
        assert!(v.failure().is_some(), "{v:?}");
    }

    #[test]
    fn a_uniformly_slower_run_passes() {
        // the observed loaded run: every window slower, outages at about 75% of the all-up rate
        let v = judged(&[1500., 1450., 1400., 1350., 1100., 1050., 1000., 1100., 1300., 1400., 1350., 1450.], &[]);
        assert_eq!(v.stall, 0.0, "{v:?}");
        assert_eq!(v.failure(), None);
    }

    #[test]
    fn a_load_drift_is_judged_against_the_neighbours() {
        // the box got busier before the outage: it matches the windows beside it, not the start
        let rates = [2000., 2000., 700., 720., 700., 650., 640., 660., 700., 690., 650., 700.];
        let v = judged(&rates, &[]);
        assert!((700.0..=1100.0).contains(&v.baseline), "{v:?}");
        assert_eq!(v.failure(), None);
    }

    #[test]
    fn a_single_slow_second_passes() {
        let v = judged(&[2000., 2000., 2000., 2000., 2000., 2000., 300., 2000., 2000., 2000., 2000., 2000.], &[]);
        assert_eq!((v.stall, v.failure()), (1.0, None), "{v:?}");
    }

    #[test]
    fn slow_seconds_of_a_starved_generator_are_the_machines() {
        // a busier machine during the outage: the generator waits longer than beside it
        let wait = [300., 300., 300., 300., 300., 1700., 1800., 1750., 300., 300., 300., 300.];
        let rates = [1800., 1800., 1800., 1800., 1800., 700., 600., 800., 1800., 1800., 1800., 1800.];
        let v = judged(&rates, &wait);
        assert_eq!((v.excused, v.stall, v.failure()), (3.0, 0.0, None), "{v:?}");
        // the same seconds with the generator not waiting for a CPU are a stall
        assert!(judged(&rates, &[]).failure().is_some());
    }

    #[test]
    fn a_slipped_tick_is_merged_and_the_count_decides() {
        // stats lines at 1 s, then three at 4.0, 4.01, 4.02 s: one 3-s span, not two empty ones
        let points = [(0, 0), (1000, 1000), (4000, 4000), (4010, 4000), (4020, 4000), (5020, 5000)];
        let s = spans(&points, |_, _| 0.0);
        let shape: Vec<_> = s.iter().map(|s| (s.ms, s.rate())).collect();
        assert_eq!(shape, [(1000, 1000.0), (3000, 1000.0), (1020, 1000.0 * 1000.0 / 1020.0)]);
    }

    #[test]
    fn each_outage_has_its_own_neighbours() {
        // two outages at 1,000/s: the first beside 3,000/s (a stall), the second beside 1,000/s
        let mut rates = [1000.; 20];
        rates[..4].fill(3000.);
        rates[8..10].fill(3000.);
        let outages = [Outage { down: 4000, up: 8000 }, Outage { down: 12_000, up: 16_000 }];
        let v = judge(&run(&rates, &[]), &outages, 0, 20_000);
        assert!(v[0].failure().is_some(), "{v:?}");
        assert_eq!(v[1].failure(), None, "{v:?}");
    }

    #[test]
    fn an_outage_without_samples_fails() {
        let v = judge(&run(&[1000.; 12], &[]), &[Outage { down: 4000, up: 4500 }], 0, 12_000);
        assert!(v[0].failure().is_some(), "{v:?}");
    }
}
