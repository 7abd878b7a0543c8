//! Stop signals: SIGINT (Ctrl-C) and SIGTERM (systemd, Docker, Kubernetes) both start a
//! graceful shutdown. The handlers are installed once, at start, so a second signal during
//! the shutdown is seen (and exits at once) rather than killing the process half-way.

#[cfg(unix)]
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The process's stop signals.
pub struct Signals {
    #[cfg(unix)]
    kinds: [(Signal, &'static str); 2],
}

impl Signals {
    /// Installs the handlers.
    pub fn new() -> std::io::Result<Signals> {
        #[cfg(unix)]
        return Ok(Signals {
            kinds: [(signal(SignalKind::interrupt())?, "Ctrl-C"), (signal(SignalKind::terminate())?, "SIGTERM")],
        });
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for the next stop signal; returns its name.
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
