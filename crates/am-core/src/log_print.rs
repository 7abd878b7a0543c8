//! [`LogPrinter`]: machine log entries printed to stdout and appended to a file per machine,
//! as Go's machines print theirs (`AM_LOG_PRINT`, `AM_LOG_FILE`).

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::env;
use crate::log::LogEntry;
use crate::machine::Machine;
use crate::tracer::{Interest, Tracer};
use crate::unpoison::Unpoison;

/// A tracer that prints each log entry of the machines it is bound to (and their
/// submachines) as one line, `[id] text`, to stdout and/or to `<dir>/<normalised ID>.log`.
/// It shows what the machine's log level lets through (`AM_LOG`). Write errors are
/// ignored: printing never disturbs a machine.
///
/// ```
/// use am_core::{LogLevel, LogPrinter, Machine, Schema};
/// let dir = std::env::temp_dir().join(format!("am-log-print-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let m = Machine::builder(Schema::builder().states(["A"]).build()?)
///     .id("Worker-1")
///     .log_level(LogLevel::Changes)
///     .tracer(LogPrinter::new().to_files(&dir))
///     .build();
/// m.add(&["A"])?;
/// let text = std::fs::read_to_string(dir.join("worker_1.log"))?;
/// assert!(text.contains("[Worke] [state] +A"), "{text}");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct LogPrinter {
    stdout: bool,
    dir: Option<PathBuf>,
    files: Mutex<HashMap<String, File>>,
}

impl LogPrinter {
    /// A printer that prints nothing until told where.
    pub fn new() -> Self {
        LogPrinter::default()
    }
    /// Also prints each entry to stdout.
    pub fn to_stdout(mut self) -> Self {
        self.stdout = true;
        self
    }
    /// Also appends each machine's entries to `<dir>/<normalised machine ID>.log`.
    pub fn to_files(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }
    /// The printer [`AM_LOG_PRINT`](env::AM_LOG_PRINT) (stdout) and
    /// [`AM_LOG_FILE`](env::AM_LOG_FILE) (files in the working directory) ask for; `None`
    /// when neither is on.
    pub fn from_env() -> Option<Self> {
        let (stdout, files) = (env::is_on(env::AM_LOG_PRINT), env::is_on(env::AM_LOG_FILE));
        let mut p = LogPrinter::new();
        if stdout {
            p = p.to_stdout();
        }
        if files {
            p = p.to_files(".");
        }
        (stdout || files).then_some(p)
    }
}

impl Tracer for LogPrinter {
    fn id(&self) -> &str {
        "am-log-print"
    }
    fn inheritable(&self) -> bool {
        true
    }
    fn interest(&self) -> Interest {
        Interest::LOG
    }
    fn log(&self, m: &Machine, _tx_id: Option<&str>, entry: &LogEntry) {
        if self.stdout {
            let _ = writeln!(std::io::stdout().lock(), "{}", entry.text);
        }
        if let Some(dir) = &self.dir {
            let mut files = self.files.lock().unpoison();
            let file = match files.get_mut(m.id()) {
                Some(f) => Some(f),
                None => {
                    let path = dir.join(format!("{}.log", env::normalize_id(m.id())));
                    match File::options().create(true).append(true).open(path) {
                        Ok(f) => Some(files.entry(m.id().to_string()).or_insert(f)),
                        Err(_) => None,
                    }
                }
            };
            if let Some(f) = file {
                let _ = writeln!(f, "{}", entry.text);
            }
        }
    }
    fn machine_dispose(&self, machine_id: &str) {
        self.files.lock().unpoison().remove(machine_id);
    }
}
