//! The soak's stall criterion: did an outage stall the machines, or was the whole box just
//! slower? Each outage is compared with the all-up windows right beside it (not with the
//! start of the run: load on a shared machine drifts over a minute), and only a sustained
//! drop fails: [`STALL_SECS`] in a row under [`SLOW`] of the neighbours' rate that the load
//! generator's threads did not spend waiting for a CPU. A generator starved by a busier
//! machine waits longer than beside the outage; one blocked by an exporter inside a
//! mutation sleeps, and waits less.
//!
//! Rates come from the demo's cumulative transition count, put on a grid of whole seconds
//! (linear between its stats lines), not from its per-second rate field: on a loaded machine
//! the demo's one-second tick slips by seconds and then fires in a burst, so single
//! "seconds" read 0 or twice the rate while the count stays exact. (Its tick runs apart from
//! the machines, so a stall of the machines does not slip it.)

/// One second of the run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Second {
    /// Unix ms at its end.
    pub(crate) end: u64,
    /// Transitions in it.
    pub(crate) rate: f64,
    /// Milliseconds the load generator waited for a CPU in it (0 when unknown).
    pub(crate) generator_wait_ms: f64,
}

/// Seconds from the first of the `transitions` points to the last. Both series are
/// `(unix ms, cumulative count)` in time order: transitions, and the nanoseconds the
/// generator waited for a CPU (empty when unknown). The wait is spread the same way: Linux
/// adds a thread's wait when it gets the CPU, and the sampler itself may not run for a while
/// on a busy machine.
pub(crate) fn seconds(transitions: &[(u64, u64)], generator_wait_ns: &[(u64, u64)]) -> Vec<Second> {
    let (Some(first), Some(last)) = (transitions.first(), transitions.last()) else { return Vec::new() };
    let delta = |points: &[(u64, u64)], t: u64| count_at(points, t + 1000) - count_at(points, t);
    (first.0..)
        .step_by(1000)
        .take_while(|t| t + 1000 <= last.0)
        .map(|t| Second {
            end: t + 1000,
            rate: delta(transitions, t),
            generator_wait_ms: delta(generator_wait_ns, t) / 1e6,
        })
        .collect()
}

/// The cumulative count at `t`, linear between the points around it.
fn count_at(points: &[(u64, u64)], t: u64) -> f64 {
    let after = points.partition_point(|p| p.0 <= t);
    match (after.checked_sub(1).map(|i| points[i]), points.get(after)) {
        (Some(a), Some(b)) => a.1 as f64 + b.1.saturating_sub(a.1) as f64 * (t - a.0) as f64 / (b.0 - a.0) as f64,
        (Some(a), None) => a.1 as f64,
        (None, Some(b)) => b.1 as f64,
        (None, None) => 0.0,
    }
}

/// A backend's outage, in unix ms.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outage {
    pub(crate) down: u64,
    pub(crate) up: u64,
}

/// Below this share of the neighbours' rate a second is slow.
pub(crate) const SLOW: f64 = 0.5;
/// A slow second is the machine's doing when the generator waited for a CPU at least this
/// long in it (measured on 2 cores, summed over its threads: 750–1,800 ms while keeping up,
/// as it wakes every millisecond and the soak's backends keep both cores busy, at any load;
/// about 2,000 when starved; none while blocked or stopped)...
pub(crate) const STARVED_MS: f64 = 200.0;
/// ...and at least this share of what it waited beside the outage (a block sleeps: a
/// generator blocked for half a second waits about half as long).
pub(crate) const STARVED_SHARE: f64 = 0.75;
/// Slow, unexcused seconds in a row that fail an outage.
pub(crate) const STALL_SECS: usize = 2;

/// What one outage looked like next to its neighbours.
#[derive(Debug, PartialEq)]
pub(crate) struct Verdict {
    /// Transitions per second over the all-up windows before and after the outage.
    pub(crate) baseline: f64,
    /// Transitions per second inside the outage.
    pub(crate) rate: f64,
    /// Whole seconds inside the outage.
    pub(crate) secs: usize,
    /// Slow seconds excused because the generator waited for a CPU.
    pub(crate) excused: usize,
    /// Longest run of slow, unexcused seconds.
    pub(crate) stall: usize,
}

impl Verdict {
    /// Why the outage fails the soak, if it does.
    pub(crate) fn failure(&self) -> Option<String> {
        if self.secs == 0 || self.baseline <= 0.0 {
            return Some(format!("no rate to judge ({} s inside, {:.0}/s beside it)", self.secs, self.baseline));
        }
        (self.stall >= STALL_SECS).then(|| {
            format!(
                "the machines stalled for {} s (under {:.0}% of the {:.0}/s beside the outage, the generator not waiting for a CPU)",
                self.stall,
                SLOW * 100.0,
                self.baseline
            )
        })
    }
}

/// Judges each outage (in time order, not overlapping) against the all-up seconds between its
/// neighbours: after `start` (or the previous outage) and before `end` (or the next).
pub(crate) fn judge(seconds: &[Second], outages: &[Outage], start: u64, end: u64) -> Vec<Verdict> {
    (0..outages.len())
        .map(|i| {
            let o = outages[i];
            let before = if i == 0 { start } else { outages[i - 1].up };
            let after = outages.get(i + 1).map_or(end, |n| n.down);
            let beside: Vec<Second> = within(seconds, before, o.down).chain(within(seconds, o.up, after)).collect();
            let during: Vec<Second> = within(seconds, o.down, o.up).collect();
            verdict(&during, mean_rate(&beside), mean_generator_wait(&beside))
        })
        .collect()
}

/// One outage's seconds against the rate and the generator's CPU wait beside it.
fn verdict(during: &[Second], baseline: f64, baseline_wait_ms: f64) -> Verdict {
    let mut v = Verdict { baseline, rate: mean_rate(during), secs: during.len(), excused: 0, stall: 0 };
    let mut run = 0;
    for s in during {
        let slow = s.rate < SLOW * baseline;
        let starved = s.generator_wait_ms >= STARVED_MS.max(STARVED_SHARE * baseline_wait_ms);
        v.excused += usize::from(slow && starved);
        run = if slow && !starved { run + 1 } else { 0 };
        v.stall = v.stall.max(run);
    }
    v
}

/// Seconds wholly inside `[from, to]`.
pub(crate) fn within(seconds: &[Second], from: u64, to: u64) -> impl Iterator<Item = Second> + '_ {
    seconds.iter().filter(move |s| s.end >= from + 1000 && s.end <= to).copied()
}

/// Transitions per second over `seconds` (0 for none).
pub(crate) fn mean_rate(seconds: &[Second]) -> f64 {
    mean(seconds.iter().map(|s| s.rate))
}

/// Milliseconds per second the generator waited for a CPU over `seconds`.
pub(crate) fn mean_generator_wait(seconds: &[Second]) -> f64 {
    mean(seconds.iter().map(|s| s.generator_wait_ms))
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (n, sum) = values.fold((0, 0.0), |(n, sum), v| (n + 1, sum + v));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds from t = 0 with the given rates and generator waits (ms per s), from stats
    /// lines once a second.
    fn run(rates: &[f64], wait_ms: &[f64]) -> Vec<Second> {
        let cumulative = |per_s: &[f64], scale: f64| {
            let mut points = vec![(0, 0)];
            for (i, v) in per_s.iter().enumerate() {
                points.push(((i as u64 + 1) * 1000, points[i].1 + (v * scale) as u64));
            }
            points
        };
        seconds(&cumulative(rates, 1.0), &cumulative(wait_ms, 1e6))
    }

    /// Up 0–4 s, down 4–8 s, up 8–12 s.
    const OUTAGE: [Outage; 1] = [Outage { down: 4000, up: 8000 }];

    fn judged(rates: &[f64], wait_ms: &[f64]) -> Verdict {
        judge(&run(rates, wait_ms), &OUTAGE, 0, 12_000).remove(0)
    }

    #[test]
    fn a_sustained_stall_fails() {
        let v = judged(&[2000., 2000., 2000., 2000., 1900., 30., 25., 40., 2000., 2000., 2000., 2000.], &[]);
        assert_eq!((v.secs, v.stall), (4, 3), "{v:?}");
        assert!(v.failure().is_some(), "{v:?}");
    }

    #[test]
    fn a_stall_on_a_busy_machine_fails_when_the_generator_sleeps() {
        // the generator waits for a CPU beside the outage, much less while it stalls
        let wait = [1500., 1500., 1500., 1500., 300., 250., 300., 1500., 1500., 1500., 1500., 1500.];
        let v = judged(&[900., 900., 900., 900., 20., 10., 15., 900., 900., 900., 900., 900.], &wait);
        assert_eq!((v.excused, v.stall), (0, 3), "{v:?}");
        assert!(v.failure().is_some(), "{v:?}");
    }

    #[test]
    fn a_uniformly_slower_run_passes() {
        // the observed loaded run: every window slower, outages at about 75% of the all-up rate
        let v = judged(&[1500., 1450., 1400., 1350., 1100., 1050., 1000., 1100., 1300., 1400., 1350., 1450.], &[]);
        assert_eq!(v.stall, 0, "{v:?}");
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
        assert_eq!((v.stall, v.failure()), (1, None), "{v:?}");
    }

    #[test]
    fn slow_seconds_of_a_starved_generator_are_the_machines() {
        // a busier machine during the outage: the generator waits longer than beside it
        let wait = [300., 300., 300., 300., 300., 1700., 1800., 1750., 300., 300., 300., 300.];
        let rates = [1800., 1800., 1800., 1800., 1800., 700., 600., 800., 1800., 1800., 1800., 1800.];
        let v = judged(&rates, &wait);
        assert_eq!((v.excused, v.stall, v.failure()), (3, 0, None), "{v:?}");
        // the same seconds with the generator not waiting for a CPU are a stall
        assert!(judged(&rates, &[]).failure().is_some());
    }

    #[test]
    fn a_slipped_tick_is_spread_over_the_seconds_it_covers() {
        // stats lines at 1 s, then at 4.0, 4.01 and 4.02 s (a tick that slipped, then a burst)
        let points = [(0, 0), (1000, 1000), (4000, 4000), (4010, 4000), (4020, 4000), (5020, 5000)];
        let rates: Vec<f64> = seconds(&points, &[]).iter().map(|s| s.rate).collect();
        assert_eq!(rates, [1000.0, 1000.0, 1000.0, 1000.0, 980.0]);
    }

    #[test]
    fn a_wait_seen_late_is_spread_over_the_gap() {
        // no wait samples between 1 s and 4 s, then 3 s of waiting at once
        let points = [(0, 0), (4000, 4000)];
        let wait_ns = [(0, 0), (1000, 100_000_000), (4000, 3_100_000_000)];
        let waits: Vec<f64> = seconds(&points, &wait_ns).iter().map(|s| s.generator_wait_ms.round()).collect();
        assert_eq!(waits, [100.0, 1000.0, 1000.0, 1000.0]);
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
