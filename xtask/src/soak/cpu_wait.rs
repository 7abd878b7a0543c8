//! How long the demo's load generator waited for a CPU: the soak's evidence that a slow
//! second came from a busy machine, not from an exporter blocking the machines. A generator
//! thread blocked inside a mutation sleeps, and a starved one is runnable but waits: Linux
//! counts the second per thread (`/proc/<pid>/task/<tid>/schedstat`: ns on a CPU, ns
//! waiting for one). The generator threads are the ones no runtime named (they keep the
//! process's name), apart from the main thread. Where the files do not exist there are no
//! samples, and no wait excuses a slow second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::Duration;

/// Samples a process until [`Sampler::finish`].
pub(crate) struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(u64, u64)>>,
}

/// Often enough for one-second resolution when the sampler gets a CPU.
const EVERY: Duration = Duration::from_millis(100);

impl Sampler {
    pub(crate) fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(Relaxed) {
                if let Some(wait_ns) = generator_wait(pid) {
                    samples.push((super::unix_ms(), wait_ns));
                }
                std::thread::sleep(EVERY);
            }
            samples
        });
        Self { stop, thread }
    }

    /// `(unix ms, ns the generator threads waited for a CPU so far)`, in time order.
    pub(crate) fn finish(self) -> Vec<(u64, u64)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_process_is_sampled() {
        if !std::path::Path::new("/proc/self/schedstat").is_file() {
            return;
        }
        let sampler = Sampler::start(std::process::id());
        std::thread::sleep(Duration::from_millis(350));
        let samples = sampler.finish();
        assert!(samples.len() >= 2, "{samples:?}");
        assert!(samples.windows(2).all(|w| w[0].0 <= w[1].0), "{samples:?}");
    }
}
