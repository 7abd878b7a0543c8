//! The `am-dbg` help texts: the top level and one per command; the TUI's keys and legend
//! come from the key table ([`crate::keys`]).

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
    diagram    A machine's states and relations as a mermaid, d2 or svg diagram
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

/// `am-dbg tui --help`'s options; the keys and the legend follow, generated from the key
/// table ([`tui_help`]).
pub const TUI_USAGE: &str = "\
am-dbg tui: watch machines live, or a recording, in the terminal

USAGE:
    am-dbg [tui] [FILE] [--listen ADDR] [--record OUT] [--max-transitions N] [--max-mem MB]
                 [--dir DIR] [--view matrix] [--filter-* ...]

OPTIONS:
    FILE                     A recording to open (JSON lines, or a Go .gob.br export)
    -l, --listen ADDR        Listen for live clients, native and Go (raw, or WebSocket at
                             /dbg.ws) [default: 127.0.0.1:6831]
    -r, --record OUT         Also write what arrives to a recording (JSON lines)
    -m, --max-transitions N  Transitions kept per machine; older ones are dropped, and the
                             timeline says so [default: 100000]
    --max-mem MB             Memory kept for transitions over all machines; over it, the
                             oldest of the largest machines go (as the Go am-dbg's --max-mem)
    -d, --dir DIR            Where exports (s) are written [default: .]
    --view VIEW              Start with `tree-log` (the default) or `matrix`
    -h, --help               Print this help

FILTERS (the Go am-dbg's flags; each is also a key, see below):
    --filter-auto            Hide auto transitions
    --filter-auto-canceled   Hide canceled auto transitions
    --filter-canceled        Hide canceled transitions
    --filter-checks          Hide checks (can_add / can_remove)
    --filter-disconn         Hide disconnected machines
    --filter-empty           Hide transitions that changed no clock
    --filter-group           With a group selected (o), only transitions calling its states
                             [default: on; --filter-group=false turns it off]
    --filter-health          Hide Healthcheck / Heartbeat transitions
    --filter-log-level N     Log lines shown: up to level N, 0-5 [default: 5]
    --filter-queued          Hide every queued-mutation row (by default a mutation is one
                             row: its queued row goes once its transition arrives)

Point machines at it with AM_DBG_ADDR=1 (or 127.0.0.1:6831), Rust or Go alike.

";

/// `am-dbg tui --help`: the options, then every key and the legend, from the key table.
pub fn tui_help() -> String {
    format!("{TUI_USAGE}{}", crate::keys::help_text())
}

/// `am-dbg diagram --help`.
pub const DIAGRAM_HELP: &str = "\
am-dbg diagram: a machine's schema (states and relations) as a diagram, optionally with
the states active after one of its transitions

USAGE:
    am-dbg diagram FILE|ADDR --machine ID [--format mermaid|d2|svg] [--tx N] [--out FILE]

    FILE                 A recording (JSON lines or .gob.br)
    ADDR                 Or listen here (host:port) until the machine's schema arrives
                         (30 s at most) and draw it as it is then

OPTIONS:
    -M, --machine ID     The machine [default: the only one, if there is one]
    -f, --format FMT     mermaid (a flowchart, for GitHub and mermaid.live), d2 (for d2
                         and the Go am-dbg's diagrams), svg (drawn here) [default: mermaid]
    -t, --tx N           Mark the states active after transition N (1-based; `last` for
                         the last one) [default: none]
    -o, --out FILE       Write there instead of stdout
    -h, --help           Print this help

Relations: require --o, add -->, remove --x, after -.->; active states filled.
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
