//! The `am-dbg` command line: `tui` (the default), `record`, `replay`, `summary`, `export`, `import`. A small hand-written parser;
//! [`run`] is what the binary calls.

use std::path::PathBuf;

use am_core::exporter::StopSignals;
use am_dbg_proto::{DEFAULT_ADDR, Error, RecordOptions, Recorder, Summary, replay};

/// Top-level help.
pub const HELP: &str = "\
am-dbg: watch, record, replay and summarise asyncmachine debugger streams

USAGE:
    am-dbg [COMMAND] [OPTIONS]

COMMANDS:
    tui        Terminal UI: live machines (listens on 127.0.0.1:6831) or a recording;
               the default in a terminal
    record     Listen for debugger clients and write every message to a file
    replay     Send a recording to another debugger server
    summary    Print machines, transitions, activations, exceptions and drops of a recording
    export     Write a recording as a .gob.br file the Go am-dbg opens (--import-data)
    import     Write a Go am-dbg .gob.br export as a recording (JSON lines)
    help       Print this help, or a command's (`am-dbg help record`)

Each command takes --help.
";

/// `am-dbg record --help`.
pub const RECORD_HELP: &str = "\
am-dbg record: listen for debugger clients and write one JSON line per message

USAGE:
    am-dbg record --out FILE [--listen ADDR] [--max-messages N] [--quiet]

Native clients (am-dbg-proto) and Go clients (asyncmachine-go with AM_DBG_ADDR pointing
here; net/rpc with gob, raw or over WebSocket at /dbg.ws) are accepted on the same address
and recorded into one file. Transitions that arrive without a time (Go clients) get the time
they were received, as the Go am-dbg gives them.

OPTIONS:
    -o, --out FILE          Recording to write (created or truncated)
    -l, --listen ADDR       Address to listen on [default: 127.0.0.1:6831]
    -n, --max-messages N    Stop after N messages (default: run until Ctrl-C or SIGTERM)
    -q, --quiet             No live progress line on stderr
    -h, --help              Print this help

The progress line shows messages, messages/s, connected clients and messages the clients
reported dropped. Schemas are written before the transitions of their machine. What arrives
is in the file within a second; Ctrl-C or SIGTERM closes the connections, writes everything
received and prints a summary (a second signal exits at once).
";

/// `am-dbg replay --help`.
pub const REPLAY_HELP: &str = "\
am-dbg replay: send a recording to a debugger server, in order, without drops

USAGE:
    am-dbg replay FILE [--to ADDR]

OPTIONS:
    -t, --to ADDR    Debugger address [default: 127.0.0.1:6831]: host:port (am-dbg, or the
                     Go am-dbg, found out by the handshake), gob://host:port (the Go am-dbg),
                     ws://host:port/dbg.ws (the Go am-dbg's WebSocket port)
    -h, --help       Print this help
";

/// `am-dbg summary --help`.
pub const SUMMARY_HELP: &str = "\
am-dbg summary: machines, transitions, per-state activation counts, exceptions and
dropped counts of a recording

USAGE:
    am-dbg summary FILE

OPTIONS:
    -h, --help    Print this help
";

/// `am-dbg tui --help`.
pub const TUI_HELP: &str = "\
am-dbg tui: watch machines live, or a recording, in the terminal

USAGE:
    am-dbg [tui] [FILE] [--listen ADDR] [--record OUT] [--max-transitions N]

OPTIONS:
    FILE                     A recording to open (JSON lines, or a Go .gob.br export)
    -l, --listen ADDR        Listen for live clients, native and Go (raw, or WebSocket at
                             /dbg.ws) [default: 127.0.0.1:6831]
    -r, --record OUT         Also write what arrives to a recording (JSON lines)
    -m, --max-transitions N  Transitions kept per machine; older ones are dropped, and the
                             timeline says so [default: 100000]
    -h, --help               Print this help

Point machines at it with AM_DBG_ADDR=1 (or 127.0.0.1:6831), Rust or Go alike.

KEYS:
    Tab / Shift-Tab          move focus: machines, states, timeline
    Up Down (k j)            move in the focused pane; in the timeline this is time travel:
                             the states pane shows the clocks as of the selected transition
    PgUp PgDn                100 transitions back / forward
    Home End (g G)           first / last transition
    f                        follow new transitions (tail)
    e                        next transition that raised Exception
    n                        next transition that changed the highlighted state
    /                        search machines as you type (Enter or Esc ends)
    c a u z h                hide canceled, auto, queued, empty (no clock changed), health
    l                        log level shown in the detail: 5 → 1, then all again
    m                        mouse wheel scrolling on/off (off: select text, e.g. a trace ID)
    mouse wheel              move in the focused pane
    ?                        help
    q, Ctrl-C                quit (SIGTERM too); the terminal is restored
";

/// `am-dbg export --help`.
pub const EXPORT_HELP: &str = "\
am-dbg export: write a recording as a .gob.br file for the Go am-dbg (am-dbg --import-data)

USAGE:
    am-dbg export --gob-br FILE OUT.gob.br

OPTIONS:
    --gob-br    The output format (the only one): brotli-compressed gob, per machine its
                schema and transitions
    -h, --help  Print this help
";

/// `am-dbg import --help`.
pub const IMPORT_HELP: &str = "\
am-dbg import: write a Go am-dbg export (.gob.br) as a recording of JSON lines

USAGE:
    am-dbg import FILE.gob.br OUT

OPTIONS:
    -h, --help    Print this help

summary and replay also read .gob.br files directly.
";

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Print this text and exit successfully.
    Help(&'static str),
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
        "-h" | "--help" => Ok(Command::Help(HELP)),
        "help" => Ok(Command::Help(match rest.first().map(String::as_str) {
            Some("record") => RECORD_HELP,
            Some("replay") => REPLAY_HELP,
            Some("summary") => SUMMARY_HELP,
            Some("tui") => TUI_HELP,
            Some("export") => EXPORT_HELP,
            Some("import") => IMPORT_HELP,
            _ => HELP,
        })),
        "record" if wants_help => Ok(Command::Help(RECORD_HELP)),
        "replay" if wants_help => Ok(Command::Help(REPLAY_HELP)),
        "summary" if wants_help => Ok(Command::Help(SUMMARY_HELP)),
        "tui" if wants_help => Ok(Command::Help(TUI_HELP)),
        "tui" => parse_tui(rest),
        f if !f.starts_with('-') && std::path::Path::new(f).is_file() => {
            parse_tui(std::iter::once(cmd.clone()).chain(rest).collect())
        }
        "export" if wants_help => Ok(Command::Help(EXPORT_HELP)),
        "import" if wants_help => Ok(Command::Help(IMPORT_HELP)),
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
        max_transitions: crate::model::DEFAULT_MAX_TRANSITIONS,
    }
}

fn parse_tui(rest: Vec<String>) -> Result<Command, Error> {
    let mut o = tui_defaults();
    let mut it = rest.into_iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| usage(format!("{name} needs a value")));
        match a.as_str() {
            "-l" | "--listen" => o.listen = value("--listen")?,
            "-r" | "--record" => o.record = Some(PathBuf::from(value("--record")?)),
            "-m" | "--max-transitions" => {
                let v = value("--max-transitions")?;
                o.max_transitions = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| usage(format!("--max-transitions: not a positive number: {v}")))?;
            }
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
    if let Command::Help(text) = cmd {
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
        Command::Help(t) => out(t)?,
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
