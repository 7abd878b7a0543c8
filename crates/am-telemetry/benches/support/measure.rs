//! What the bench reads besides wall time: the process's CPU clock (every thread, exited
//! ones included), its resident memory, the load of the machine, and medians.

/// CPU time of the whole process so far, in ns (`CLOCK_PROCESS_CPUTIME_ID`: every thread's
/// user and system time, the exited threads' included).
pub fn process_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec it is given, which lives on our stack
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU time of the calling thread so far, in ns (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: as in `process_cpu_ns`
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Waits until `due`: asleep while more than 200 µs are left (the CPU stays free for the
/// exporters' threads), then spinning. Returns the CPU time this thread spent waiting, which
/// a caller subtracts from the process CPU.
pub fn wait_until(due: std::time::Instant) -> u64 {
    let now = std::time::Instant::now();
    if now >= due {
        return 0;
    }
    let c0 = thread_cpu_ns();
    let left = due - now;
    if left > std::time::Duration::from_micros(200) {
        std::thread::sleep(left - std::time::Duration::from_micros(150));
    }
    while std::time::Instant::now() < due {
        std::hint::spin_loop();
    }
    thread_cpu_ns() - c0
}

/// CPU time so far of each live thread of the process, summed by thread name, in ns
/// (`/proc/self/task/*/schedstat`); threads that exited are not in it.
pub fn cpu_by_thread() -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return out };
    for t in dir.flatten() {
        let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default().trim().to_string();
        let ns = std::fs::read_to_string(t.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
            .unwrap_or(0);
        *out.entry(name).or_insert(0) += ns;
    }
    out
}

/// Per thread name, what `after` adds to `before`, per transition, largest first (above
/// 5 ns/tx).
pub fn thread_split(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
    tx: f64,
) -> String {
    let mut v: Vec<(String, f64)> = after
        .iter()
        .map(|(k, a)| (k.clone(), a.saturating_sub(before.get(k).copied().unwrap_or(0)) as f64 / tx))
        .filter(|(_, ns)| *ns >= 5.0)
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v.iter().map(|(k, ns)| format!("{k} {ns:.0}")).collect::<Vec<_>>().join(", ")
}

/// Resident memory of the process, in bytes (`/proc/self/statm`).
pub fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * 4096
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` has them.
pub fn load() -> String {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The median, the lowest and the highest value.
pub fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}
