//! Stop signals for a long-running program that holds exporters (feature `exporter-runtime`).

#[cfg(unix)]
use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGINT (Ctrl-C) and SIGTERM (what systemd, Docker and Kubernetes send) as one stream:
/// both mean "shut down gracefully" — flush the exporters within a deadline, then exit.
///
/// The handlers are installed once, by [`new`](Self::new), so a second signal during the
/// shutdown is seen (a program usually exits at once then) instead of killing the process
/// half-way. Outside unix only Ctrl-C is seen.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use am_core::exporter::StopSignals;
/// let mut signals = StopSignals::new()?; // inside a tokio runtime
/// let name = signals.next().await;
/// eprintln!("{name}: flushing (again to exit at once)");
/// tokio::select! {
///     _ = async { /* guard.shutdown(deadline) … */ } => {}
///     _ = signals.next() => std::process::exit(1),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct StopSignals {
    #[cfg(unix)]
    kinds: [(Signal, &'static str); 2],
}

impl StopSignals {
    /// Installs the handlers; call it inside a tokio runtime (with its I/O driver on).
    pub fn new() -> std::io::Result<StopSignals> {
        #[cfg(unix)]
        return Ok(StopSignals {
            kinds: [(signal(SignalKind::interrupt())?, "Ctrl-C"), (signal(SignalKind::terminate())?, "SIGTERM")],
        });
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    /// Waits for the next stop signal; returns its name (`"Ctrl-C"` or `"SIGTERM"`).
    pub async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            let [(int, a), (term, b)] = &mut self.kinds;
            tokio::select! { _ = int.recv() => a, _ = term.recv() => b }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_signal_is_named_and_a_second_one_is_seen_too() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut s = StopSignals::new().unwrap();
            let pid = std::process::id().to_string();
            // the handler is installed: the signal is caught, not fatal
            let kill = |sig: &str| std::process::Command::new("kill").args(["-s", sig, &pid]).status().unwrap();
            assert!(kill("TERM").success());
            let got = tokio::time::timeout(std::time::Duration::from_secs(5), s.next()).await;
            assert_eq!(got.unwrap(), "SIGTERM");
            assert!(kill("INT").success());
            let got = tokio::time::timeout(std::time::Duration::from_secs(5), s.next()).await;
            assert_eq!(got.unwrap(), "Ctrl-C");
        });
    }
}
