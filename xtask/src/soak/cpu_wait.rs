//! How long the demo's load generator waited for a CPU: the soak's evidence that a slow
//! second came from a busy machine, not from an exporter blocking the machines. A generator
//! thread blocked inside a mutation sleeps, and a starved one is runnable but waits: Linux
//! counts the second per thread (`/proc/<pid>/task/<tid>/schedstat`: ns on a CPU, ns
//! waiting for one). The generator threads are the ones no runtime named (they keep the
//! process's name), apart from the main thread. Where the files do not exist the waits are
//! 0, which excuses nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::Duration;

/// The generator threads' total wait at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Sample {
    /// Unix ms.
    pub(crate) at: u64,
    pub(crate) wait_ns: u64,
}

/// Samples a process until [`Sampler::finish`].
pub(crate) struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Sample>>,
}

/// Often enough that each one-second rate sample has counters near both of its ends.
const EVERY: Duration = Duration::from_millis(100);

impl Sampler {
    pub(crate) fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(Relaxed) {
                if let Some(wait_ns) = generator_wait(pid) {
                    samples.push(Sample { at: super::unix_ms(), wait_ns });
                }
                std::thread::sleep(EVERY);
            }
            samples
        });
        Self { stop, thread }
    }

    pub(crate) fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// Time the generator threads of `pid` waited for a CPU, in ns, summed.
fn generator_wait(pid: u32) -> Option<u64> {
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let mut sum = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let read = |file: &str| std::fs::read_to_string(task.path().join(file)).unwrap_or_default();
        if task.file_name().to_str() == Some(&pid.to_string()) || read("comm") != name {
            continue;
        }
        sum += read("schedstat").split_whitespace().nth(1).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    }
    Some(sum)
}

/// Milliseconds per second the generator waited for a CPU in `(from, to]` (unix ms), between
/// the samples nearest to both ends; 0 without samples there.
pub(crate) fn wait_ms_per_s(samples: &[Sample], from: u64, to: u64) -> f64 {
    let near = |t: u64| samples.iter().min_by_key(|s| s.at.abs_diff(t)).filter(|s| s.at.abs_diff(t) <= 500);
    let (Some(a), Some(b)) = (near(from), near(to)) else { return 0.0 };
    if b.at <= a.at {
        return 0.0;
    }
    // a thread that exits takes its counter along: never a negative span
    b.wait_ns.saturating_sub(a.wait_ns) as f64 / 1e6 / ((b.at - a.at) as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_come_from_the_samples_around_the_second() {
        let s = |at, wait_ms: u64| Sample { at, wait_ns: wait_ms * 1_000_000 };
        let samples = [s(1000, 0), s(1500, 100), s(2000, 600), s(3000, 600), s(3500, 700)];
        assert_eq!(wait_ms_per_s(&samples, 1000, 2000), 600.0);
        assert_eq!(wait_ms_per_s(&samples, 2000, 3000), 0.0);
        assert_eq!(wait_ms_per_s(&samples, 3000, 3500), 200.0, "per second");
        assert_eq!(wait_ms_per_s(&samples, 5000, 6000), 0.0, "no samples near");
    }

    #[test]
    fn a_running_process_is_sampled() {
        if !std::path::Path::new("/proc/self/schedstat").is_file() {
            return;
        }
        let sampler = Sampler::start(std::process::id());
        std::thread::sleep(Duration::from_millis(350));
        let samples = sampler.finish();
        assert!(samples.len() >= 2, "{samples:?}");
        assert!(samples.windows(2).all(|w| w[0].at <= w[1].at), "{samples:?}");
    }
}
