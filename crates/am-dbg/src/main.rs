//! `am-dbg`: the asyncmachine debugger — a terminal UI for live and recorded machines, and
//! record / replay / summary / export / import. See `am-dbg --help`.

fn main() {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).init();
    std::process::exit(am_dbg::cli::run(std::env::args().skip(1).collect()));
}
