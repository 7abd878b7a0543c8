//! The terminal and the loop, nothing else: keys first (they never wait behind a flood),
//! then what arrived from live clients (native or Go, through [`Server`]) taken into the
//! store in bounded batches and optionally recorded, the player's tick, and a draw when
//! something changed (at most ~30 a second; keys draw at once). The terminal is restored on
//! `q`, Ctrl-C, SIGTERM and panics.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use am_dbg_proto::{Error, RecordingWriter, Server, ServerEvent};
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event};
use ratatui::crossterm::execute;

use crate::app::{App, Flow};
use crate::store::{Filters, Store};

/// What the TUI shows and where from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TuiOptions {
    /// A recording to open; `None` listens for live clients.
    pub file: Option<PathBuf>,
    /// Where to listen (live).
    pub listen: String,
    /// Also write what arrives to this recording (live).
    pub record: Option<PathBuf>,
    /// Transitions kept per machine.
    pub max_transitions: usize,
    /// Memory kept over all machines, MB (the oldest entries of the largest machines go).
    pub max_mem_mb: Option<u64>,
    /// Filters on at the start (`--filter-*`).
    pub filters: Filters,
    /// Where exports go (`--dir`).
    pub dir: PathBuf,
    /// Start with the matrix in place of the timeline (`--view matrix`).
    pub matrix: bool,
}

/// Messages taken into the store per loop at most, so a flood never starves drawing and
/// keys (the rest waits in the channel, whose bound slows the clients, which drop and count).
const MAX_PER_FRAME: usize = 500_000;
/// The shortest time between two draws caused by arriving data.
const MIN_FRAME: Duration = Duration::from_millis(33);

fn io(context: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io { context: context.into(), source: e }
}

/// The app for these options, before any terminal: the recording read, filters and limits set.
pub fn app_for(opts: &TuiOptions) -> Result<App, Error> {
    let mut store = Store::new(opts.max_transitions);
    store.max_bytes = opts.max_mem_mb.map(|mb| (mb as usize).saturating_mul(1 << 20));
    if let Some(path) = &opts.file {
        for m in am_dbg_proto::read_recording(path)? {
            store.message(None, m);
        }
    }
    let mut app = App::new(store);
    app.filters = opts.filters;
    app.panes.matrix = opts.matrix;
    app.export_dir = opts.dir.clone();
    app.status.live = opts.file.is_none();
    app.filters_changed();
    Ok(app)
}

/// Runs the TUI until the user quits.
pub fn run(opts: TuiOptions) -> Result<(), Error> {
    if !std::io::stdout().is_terminal() {
        return Err(Error::Usage("the terminal UI needs a terminal (stdout is not one)".into()));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(io("start a runtime"))?;
    let mut app = app_for(&opts)?;
    let mut live = None;
    match &opts.file {
        Some(path) => app.status.source = path.display().to_string(),
        None => {
            let (server, rx) = rt.block_on(Server::bind_channel(&opts.listen, 100_000))?;
            app.status.source = format!("listening on {}", server.local_addr());
            live = Some((server, rx));
        }
    }
    let mut record = match &opts.record {
        Some(p) => {
            app.status.source.push_str(&format!(", recording to {}", p.display()));
            Some(RecordingWriter::new(std::fs::File::create(p).map_err(io(&format!("create {}", p.display())))?))
        }
        None => None,
    };
    // SIGTERM and SIGINT (outside raw mode) quit cleanly, like `q`
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        rt.spawn(async move {
            if let Ok(mut signals) = am_core::exporter::StopSignals::new() {
                signals.next().await;
                stop.store(true, Relaxed);
            }
        });
    }
    // ratatui's panic hook restores the terminal, then calls this one: mouse reporting off too
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
        previous(info);
    }));
    let mut terminal = ratatui::try_init().map_err(io("open the terminal"))?;
    app.status.mouse = true;
    let mut mouse_on = false;
    let result = (|| -> Result<(), Error> {
        let (mut frames, mut second) = (0u32, Instant::now());
        let mut last_draw: Option<Instant> = None;
        let mut dirty = true;
        loop {
            let mut urgent = false;
            let timeout = if app.player.playing { Duration::from_millis(10) } else { Duration::from_millis(50) };
            if event::poll(timeout).map_err(io("read input"))? {
                // every event already waiting, then one draw
                loop {
                    match event::read().map_err(io("read input"))? {
                        Event::Key(k) if app.key(k) == Flow::Quit => return Ok(()),
                        Event::Mouse(m) => app.mouse(m),
                        _ => {}
                    }
                    if !event::poll(Duration::ZERO).map_err(io("read input"))? {
                        break;
                    }
                }
                (urgent, dirty) = (true, true);
            }
            if let Some((_, rx)) = &mut live {
                let mut n = 0;
                while n < MAX_PER_FRAME {
                    let Ok(ev) = rx.try_recv() else { break };
                    if let (Some(w), ServerEvent::Message { msg, .. }) = (&mut record, &ev) {
                        w.write(msg)?;
                    }
                    app.store.event(ev);
                    n += 1;
                }
                dirty |= n > 0;
                app.now_ns = SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|d| d.as_nanos() as u64);
            }
            if let Some(w) = &mut record {
                w.flush_if_due()?;
            }
            dirty |= app.tick(Instant::now());
            if second.elapsed() >= Duration::from_secs(1) {
                app.status.fps = frames;
                (frames, second, dirty) = (0, Instant::now(), true);
            }
            if stop.load(Relaxed) {
                return Ok(());
            }
            let due = urgent || last_draw.is_none_or(|t| t.elapsed() >= MIN_FRAME);
            if !(dirty && due) {
                continue;
            }
            if app.status.mouse != mouse_on {
                mouse_on = app.status.mouse;
                if mouse_on {
                    execute!(std::io::stdout(), EnableMouseCapture).map_err(io("draw"))?;
                } else {
                    execute!(std::io::stdout(), DisableMouseCapture).map_err(io("draw"))?;
                }
            }
            app.sync();
            let size = terminal.size().map_err(io("draw"))?;
            app.size = (size.width, size.height);
            terminal.draw(|f| crate::view::draw(f, &app)).map_err(io("draw"))?;
            (frames, last_draw, dirty) = (frames + 1, Some(Instant::now()), false);
        }
    })();
    let _ = execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    if let Some(w) = record {
        w.finish()?;
    }
    if let Some((server, _)) = live {
        rt.block_on(server.shutdown());
    }
    result
}
