//! The `am-dbg` binary of this build, and starting it on a free port: the tests that run
//! `record`, `diagram` or the TUI against an address read it from the first line the binary
//! prints (`… listening on ADDR, …` or `… listening on ADDR (…)`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStderr, Command, Stdio};

/// The `am-dbg` binary of this build.
pub fn am_dbg() -> Command {
    Command::new(env!("CARGO_BIN_EXE_am-dbg"))
}

/// Starts `cmd` with its stderr piped: the child, the rest of its stderr, and the address
/// its first line says it listens on.
pub fn spawn_listening(cmd: &mut Command) -> (Child, BufReader<ChildStderr>, String) {
    let mut child = cmd.stderr(Stdio::piped()).spawn().expect("am-dbg starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("am-dbg's first line");
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split([',', ' ']).next())
        .map(str::trim)
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (child, stderr, addr)
}
