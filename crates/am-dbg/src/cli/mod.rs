//! The `am-dbg` command line: `tui` (the default), `record`, `replay`, `summary`, `export`,
//! `import`. A small hand-written parser; [`run`] is what the binary calls.

mod diagram;
mod help;

use std::path::PathBuf;

pub use diagram::{DiagramOptions, TxSel};
pub use help::*;

use am_core::exporter::StopSignals;
use am_dbg_proto::{DEFAULT_ADDR, Error, RecordOptions, Recorder, Summary, replay};

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Print this text and exit successfully.
    Help(String),
    /// `record`.
    Record {
        /// `--listen`.
        listen: String,
        /// `--out`.
        out: PathBuf,
        /// `--max-messages`.
        max_messages: Option<u64>,
        /// Not `--quiet`.
        progress: bool,
    },
    /// `replay`.
    Replay {
        /// The recording.
        file: PathBuf,
        /// `--to`.
        to: String,
    },
    /// `summary`.
    Summary {
        /// The recording.
        file: PathBuf,
    },
    /// `tui` (also no command, in a terminal).
    Tui(crate::tui::TuiOptions),
    /// `export --gob-br`.
    Export {
        /// The recording.
        file: PathBuf,
        /// The `.gob.br` to write.
        out: PathBuf,
    },
    /// `diagram`.
    Diagram(DiagramOptions),
    /// `import`.
    Import {
        /// The `.gob.br` export.
        file: PathBuf,
        /// The recording to write.
        out: PathBuf,
    },
}

/// An error with its sources, each once.
fn am_core_chain(e: &Error) -> String {
    let mut out = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

/// Parses arguments (without the program name).
///
/// ```
/// use am_dbg::cli::{Command, parse};
/// let c = parse(["summary", "rec.jsonl"].map(String::from).to_vec()).unwrap();
/// assert_eq!(c, Command::Summary { file: "rec.jsonl".into() });
/// assert!(parse(vec!["record".into()]).is_err()); // --out is required
/// ```
pub fn parse(args: Vec<String>) -> Result<Command, Error> {
    let mut it = args.into_iter();
    let Some(cmd) = it.next() else { return Ok(Command::Tui(tui_defaults())) };
    let rest: Vec<String> = it.collect();
    let wants_help = rest.iter().any(|a| a == "-h" || a == "--help");
    match cmd.as_str() {
        "-h" | "--help" => Ok(Command::Help(HELP.into())),
        "help" => Ok(Command::Help(match rest.first().map(String::as_str) {
            Some("record") => RECORD_HELP.into(),
            Some("replay") => REPLAY_HELP.into(),
            Some("summary") => SUMMARY_HELP.into(),
            Some("tui") => tui_help(),
            Some("export") => EXPORT_HELP.into(),
            Some("import") => IMPORT_HELP.into(),
            Some("diagram") => DIAGRAM_HELP.into(),
            _ => HELP.into(),
        })),
        "record" if wants_help => Ok(Command::Help(RECORD_HELP.into())),
        "replay" if wants_help => Ok(Command::Help(REPLAY_HELP.into())),
        "summary" if wants_help => Ok(Command::Help(SUMMARY_HELP.into())),
        "tui" if wants_help => Ok(Command::Help(tui_help())),
        "tui" => parse_tui(rest),
        f if !f.starts_with('-') && std::path::Path::new(f).is_file() => {
            parse_tui(std::iter::once(cmd.clone()).chain(rest).collect())
        }
        "export" if wants_help => Ok(Command::Help(EXPORT_HELP.into())),
        "import" if wants_help => Ok(Command::Help(IMPORT_HELP.into())),
        "diagram" if wants_help => Ok(Command::Help(DIAGRAM_HELP.into())),
        "diagram" => Ok(Command::Diagram(diagram::parse(rest)?)),
        "export" => {
            let files: Vec<&String> = rest.iter().filter(|a| *a != "--gob-br").collect();
            if !rest.iter().any(|a| a == "--gob-br") {
                return Err(usage("export: give the format, --gob-br (the only one)"));
            }
            match files.as_slice() {
                [f, o] if !f.starts_with('-') && !o.starts_with('-') => {
                    Ok(Command::Export { file: PathBuf::from(f), out: PathBuf::from(o) })
                }
                _ => Err(usage("export: expected --gob-br FILE OUT.gob.br")),
            }
        }
        "import" => match rest.as_slice() {
            [f, o] if !f.starts_with('-') && !o.starts_with('-') => {
                Ok(Command::Import { file: PathBuf::from(f), out: PathBuf::from(o) })
            }
            _ => Err(usage("import: expected FILE.gob.br OUT")),
        },
        "record" => {
            let (mut listen, mut out, mut max, mut progress) = (DEFAULT_ADDR.to_string(), None, None, true);
            let mut it = rest.into_iter();
            while let Some(a) = it.next() {
                let mut value = |name: &str| it.next().ok_or_else(|| usage(format!("{name} needs a value")));
                match a.as_str() {
                    "-l" | "--listen" => listen = value("--listen")?,
                    "-o" | "--out" => out = Some(PathBuf::from(value("--out")?)),
                    "-n" | "--max-messages" => {
                        let v = value("--max-messages")?;
                        max = Some(v.parse().map_err(|_| usage(format!("--max-messages: not a number: {v}")))?);
                    }
                    "-q" | "--quiet" => progress = false,
                    other => return Err(usage(format!("record: unexpected argument {other:?}"))),
                }
            }
            let out = out.ok_or_else(|| usage("record: --out FILE is required"))?;
            Ok(Command::Record { listen, out, max_messages: max, progress })
        }
        "replay" => {
            let (mut file, mut to) = (None, DEFAULT_ADDR.to_string());
            let mut it = rest.into_iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "-t" | "--to" => to = it.next().ok_or_else(|| usage("--to needs a value"))?,
                    f if !f.starts_with('-') && file.is_none() => file = Some(PathBuf::from(f)),
                    other => return Err(usage(format!("replay: unexpected argument {other:?}"))),
                }
            }
            Ok(Command::Replay { file: file.ok_or_else(|| usage("replay: FILE is required"))?, to })
        }
        "summary" => match rest.as_slice() {
            [f] if !f.starts_with('-') => Ok(Command::Summary { file: PathBuf::from(f) }),
            _ => Err(usage("summary: expected exactly one FILE")),
        },
        other => Err(usage(format!("unknown command {other:?}; see am-dbg --help"))),
    }
}

fn tui_defaults() -> crate::tui::TuiOptions {
    crate::tui::TuiOptions {
        file: None,
        listen: DEFAULT_ADDR.to_string(),
        record: None,
        max_transitions: crate::store::DEFAULT_MAX_TRANSITIONS,
        max_mem_mb: None,
        filters: crate::store::Filters::default(),
        dir: PathBuf::from("."),
        matrix: false,
    }
}

/// A positive number.
fn number(name: &str, v: &str) -> Result<u64, Error> {
    v.parse().ok().filter(|n| *n > 0).ok_or_else(|| usage(format!("{name}: not a positive number: {v}")))
}

/// A `--filter-*` flag (Go's names), with an optional `=true` / `=false`.
fn filter_flag(f: &mut crate::store::Filters, name: &str, value: Option<&str>) -> Result<(), Error> {
    use crate::store::FilterKind as K;
    let on = match value {
        None | Some("true" | "1") => true,
        Some("false" | "0") => false,
        Some(v) => return Err(usage(format!("--filter-{name}: expected true or false, got {v}"))),
    };
    let kind = K::ALL.into_iter().find(|k| k.name() == name);
    match kind {
        Some(k) => f.set(k, on),
        None => return Err(usage(format!("tui: unknown filter --filter-{name}; see am-dbg tui --help"))),
    }
    Ok(())
}

fn parse_tui(rest: Vec<String>) -> Result<Command, Error> {
    let mut o = tui_defaults();
    let mut it = rest.into_iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = |name: &str| match &inline {
            Some(v) => Ok(v.clone()),
            None => it.next().ok_or_else(|| usage(format!("{name} needs a value"))),
        };
        match flag.as_str() {
            "-l" | "--listen" => o.listen = value("--listen")?,
            "-r" | "--record" => o.record = Some(PathBuf::from(value("--record")?)),
            "-m" | "--max-transitions" => {
                o.max_transitions = number("--max-transitions", &value("--max-transitions")?)? as usize;
            }
            "--max-mem" => o.max_mem_mb = Some(number("--max-mem", &value("--max-mem")?)?),
            "-d" | "--dir" => o.dir = PathBuf::from(value("--dir")?),
            "--view" => {
                o.matrix = match value("--view")?.as_str() {
                    "matrix" | "tree-matrix" => true,
                    "tree-log" => false,
                    v => return Err(usage(format!("--view: tree-log or matrix, not {v}"))),
                }
            }
            "--filter-log-level" => {
                let v = value("--filter-log-level")?;
                let n: u8 = v
                    .parse()
                    .ok()
                    .filter(|n| *n <= 5)
                    .ok_or_else(|| usage(format!("--filter-log-level: 0-5, not {v}")))?;
                o.filters.log_level = am_core::LogLevel::from_u8(n);
            }
            f if f.starts_with("--filter-") => filter_flag(&mut o.filters, &f[9..], inline.as_deref())?,
            f if !f.starts_with('-') && o.file.is_none() => o.file = Some(PathBuf::from(f)),
            other => return Err(usage(format!("tui: unexpected argument {other:?}"))),
        }
    }
    if o.file.is_some() && o.record.is_some() {
        return Err(usage("tui: --record goes with live clients, not with a FILE"));
    }
    Ok(Command::Tui(o))
}

/// `eprintln!` that does not panic when stderr is gone (a closed pipe): the note is lost,
/// the command goes on.
macro_rules! note {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// Writes to stdout; a reader that went away (`am-dbg summary FILE | head`) ends the output
/// quietly rather than as an error.
fn out(text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    match o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Io { context: "write to stdout".into(), source: e })
        }
        _ => Ok(()),
    }
}

/// Runs a command; returns the process exit code (0 ok, 1 failure, 2 usage).
pub fn run(args: Vec<String>) -> i32 {
    let args_were_empty = args.is_empty();
    let cmd = match parse(args) {
        Ok(c) => c,
        Err(e) => {
            note!("am-dbg: {}", am_core_chain(&e));
            return 2;
        }
    };
    if let Command::Help(text) = &cmd {
        return i32::from(out(text).is_err());
    }
    if let Command::Tui(opts) = cmd {
        use std::io::IsTerminal;
        // bare `am-dbg` outside a terminal (a pipe, a script): the help, as before
        if args_were_empty && !std::io::stdout().is_terminal() {
            return i32::from(out(HELP).is_err());
        }
        return match crate::tui::run(opts) {
            Ok(()) => 0,
            Err(e) => {
                note!("am-dbg: {}", am_core_chain(&e));
                1
            }
        };
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            note!("am-dbg: cannot start a runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(execute(cmd)) {
        Ok(()) => 0,
        Err(e) => {
            note!("am-dbg: {}", am_core_chain(&e));
            1
        }
    }
}

async fn execute(cmd: Command) -> Result<(), Error> {
    match cmd {
        Command::Help(t) => out(&t)?,
        Command::Tui(_) => {}
        Command::Record { listen, out, max_messages, progress } => {
            let mut signals =
                StopSignals::new().map_err(|e| Error::Io { context: "install signal handlers".into(), source: e })?;
            let rec = Recorder::start(&listen, &out, RecordOptions { progress, max_messages }).await?;
            note!("am-dbg: listening on {}, recording to {}", rec.local_addr(), out.display());
            let limit = max_messages.unwrap_or(u64::MAX);
            tokio::select! {
                name = signals.next() => note!("\nam-dbg: {name}: writing what was received (again to exit at once)"),
                _ = async {
                    while rec.messages() < limit {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                } => {}
            }
            let stats = tokio::select! {
                stats = rec.stop() => stats?,
                name = signals.next() => {
                    note!("am-dbg: {name} again: exiting without finishing the recording");
                    std::process::exit(1);
                }
            };
            note!(
                "am-dbg: wrote {} messages from {} clients ({} reported dropped)",
                stats.messages,
                stats.clients,
                stats.dropped_reported
            );
        }
        Command::Replay { file, to } => {
            let n = replay(&file, &to).await?;
            note!("am-dbg: replayed {n} messages to {to}");
        }
        Command::Summary { file } => out(&Summary::from_file(&file)?.to_string())?,
        Command::Export { file, out } => export(&file, &out)?,
        Command::Import { file, out } => import(&file, &out)?,
        Command::Diagram(o) => diagram::run(o).await?,
    }
    Ok(())
}

fn create(path: &std::path::Path) -> Result<std::fs::File, Error> {
    std::fs::File::create(path).map_err(|e| Error::Io { context: format!("create {}", path.display()), source: e })
}

fn export(file: &std::path::Path, out: &std::path::Path) -> Result<(), Error> {
    let msgs = am_dbg_proto::read_recording(file)?;
    let stats = am_dbg_proto::write_gob_br(&msgs, create(out)?)?;
    note!("am-dbg: wrote {} machines, {} transitions to {}", stats.machines, stats.txs, out.display());
    if stats.without_schema > 0 {
        note!("am-dbg: left out {} transitions whose machine had no schema before them", stats.without_schema);
    }
    Ok(())
}

fn import(file: &std::path::Path, out: &std::path::Path) -> Result<(), Error> {
    let f =
        std::fs::File::open(file).map_err(|e| Error::Io { context: format!("open {}", file.display()), source: e })?;
    let msgs = am_dbg_proto::read_gob_br(std::io::BufReader::new(f))
        .map_err(|e| Error::Decode(format!("{}: {e}", file.display())))?;
    am_dbg_proto::write_recording(&msgs, create(out)?)?;
    note!("am-dbg: wrote {} messages to {}", msgs.len(), out.display());
    Ok(())
}
