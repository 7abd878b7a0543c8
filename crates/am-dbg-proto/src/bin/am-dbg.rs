//! `am-dbg`: record, replay and summarise asyncmachine debugger streams. See `am-dbg --help`.

fn main() {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).init();
    std::process::exit(am_dbg_proto::cli::run(std::env::args().skip(1).collect()));
}
