//! Test support shared by the workspace's tests and `cargo xtask soak`: loopback receivers
//! that decode what the exporters send with the backends' own formats ([`otlp`]: the
//! official OTLP protobufs over gRPC and HTTP; [`loki`]: Loki's push API, snappy protobuf and
//! JSON), free ports, [`TempDir`], [`tool`], the one way a test asks for an external
//! program, [`tls`]: a CA per run and a TLS-terminating proxy in front of any receiver,
//! [`go`]: the Go peer of the debugger interop tests, and [`alloc`]: the counting global
//! allocator of the allocation tests and benches.
//!
//! The `am-receiver` binary runs either receiver as a process of its own, counting what it
//! accepted, so a soak run can kill and restart it.
//!
//! Not published; exporters use it only as a dev-dependency, so they still depend on
//! `am-core` alone.

pub mod alloc;
pub mod go;
pub mod loki;
pub mod otlp;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;

/// A loopback address nothing listens on (bound, then released).
pub fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("no free loopback port: {e}"));
    l.local_addr().unwrap_or_else(|e| panic!("no local address: {e}"))
}

/// A fresh directory under the system's temporary directory, removed with everything in it
/// when dropped (tests and benches leave nothing behind in `/tmp`, run after run). Unique per
/// process and call.
///
/// ```
/// let d = am_testkit::TempDir::new("doc");
/// std::fs::write(d.join("a.txt"), "x").unwrap();
/// let p = d.path().to_path_buf();
/// drop(d);
/// assert!(!p.exists());
/// ```
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `am-<tag>-<pid>-<n>`; panics when it cannot.
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("am-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        TempDir(p)
    }
    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
    /// A path inside it.
    pub fn join(&self, name: impl AsRef<std::path::Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Finds an external program a test needs, on `PATH` (or as an absolute path). When it is
/// missing, a test never passes silently: with `CI` set this panics with how to install it;
/// elsewhere it prints that the calling test is skipped and returns `None`.
///
/// ```
/// if let Some(sh) = am_testkit::tool("sh", "apt-get install dash") {
///     assert!(sh.is_file());
/// }
/// ```
pub fn tool(name: &str, install: &str) -> Option<PathBuf> {
    let found = if name.contains('/') {
        Some(PathBuf::from(name)).filter(|p| p.is_file())
    } else {
        std::env::var_os("PATH").iter().flat_map(std::env::split_paths).map(|d| d.join(name)).find(|p| p.is_file())
    };
    if found.is_none() {
        let test = std::thread::current().name().unwrap_or("this test").to_string();
        assert!(
            std::env::var_os("CI").is_none(),
            "`{name}` is not installed, and CI must run {test}: install it with `{install}` \
             (`cargo xtask deps` does)"
        );
        eprintln!("SKIPPED {test}: `{name}` is not installed (`{install}`, or `cargo xtask deps`)");
    }
    found
}

/// Sets (`Some`) or removes (`None`) an environment variable, for tests of what the code
/// reads from the environment. Rust 2024 makes changing the environment `unsafe`: another
/// thread reading it at the same moment is undefined behaviour. Call it only from a test
/// binary that holds that one test, and before starting threads that read the variables (or
/// while none runs).
#[allow(unsafe_code)]
pub fn set_env(key: &str, value: Option<&str>) {
    // SAFETY: the caller's contract above: no other thread reads the environment meanwhile
    unsafe {
        match value {
            Some(v) => std::env::set_var(key, v),
            None => std::env::remove_var(key),
        }
    }
}

/// A plain HTTP/1.0 `GET` on `addr` (no client crate needed for a loopback check):
/// `(status, body)`.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// The fuzz budget of one [`fuzz`] target, in milliseconds, when `AM_FUZZ_MS` is unset: a
/// short run in every test run; CI's `fuzz` step sets a longer one.
pub const DEFAULT_FUZZ_MS: u64 = 300;

/// Stable-toolchain fuzzing: runs `prop` on random inputs (from [`arbtest`], which shrinks a
/// failing input and prints its seed) for `AM_FUZZ_MS` milliseconds (default
/// [`DEFAULT_FUZZ_MS`]), then prints `fuzz NAME: N runs in S s`. `prop` panics when the
/// property does not hold. Reproduce a failure with `ARBTEST_SEED`.
///
/// ```
/// am_testkit::fuzz("doc", |u| {
///     let s: &str = u.arbitrary()?;
///     assert_eq!(s.len(), s.as_bytes().len());
///     Ok(())
/// });
/// ```
pub fn fuzz(
    name: &str,
    mut prop: impl FnMut(&mut arbtest::arbitrary::Unstructured<'_>) -> arbtest::arbitrary::Result<()>,
) {
    let budget = std::env::var("AM_FUZZ_MS").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(DEFAULT_FUZZ_MS);
    let runs = std::cell::Cell::new(0u64);
    let start = std::time::Instant::now();
    arbtest::arbtest(|u| {
        runs.set(runs.get() + 1);
        prop(u)
    })
    .budget_ms(budget)
    .size_max(64 * 1024);
    println!("fuzz {name}: {} runs in {:.1} s", runs.get(), start.elapsed().as_secs_f64());
}

pub use arbtest::arbitrary;
