//! The terminal UI's loop: take what arrived (live clients, native or Go, through
//! [`Server`]) into the [`Model`], optionally record it, draw at most every 50 ms, and turn
//! keys into model calls. The terminal is restored on `q`, Ctrl-C, SIGTERM and panics.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use am_dbg_proto::{DbgMsg, Error, RecordingWriter, Server, ServerEvent};
use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent,
    MouseEventKind,
};
use ratatui::crossterm::execute;

use crate::model::Model;
use crate::ui::{self, Focus, View};

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
}

/// Messages taken into the model per frame at most, so a flood never starves drawing and
/// keys (the rest waits in the channel, whose bound slows the clients, which drop and count).
const MAX_PER_FRAME: usize = 500_000;

/// A key's effect on the loop.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyOutcome {
    /// Keep going.
    Continue,
    /// Quit.
    Quit,
}

/// Applies one key to the model and view (separate from the terminal, for tests).
pub fn key(model: &mut Model, view: &mut View, k: KeyEvent) -> KeyOutcome {
    if k.kind == KeyEventKind::Release {
        return KeyOutcome::Continue;
    }
    if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
        return KeyOutcome::Quit;
    }
    if view.help {
        view.help = false;
        return KeyOutcome::Continue;
    }
    if view.searching {
        match k.code {
            KeyCode::Enter | KeyCode::Esc => view.searching = false,
            KeyCode::Backspace => {
                model.search.pop();
            }
            KeyCode::Char(c) => model.search.push(c),
            _ => {}
        }
        // keep a visible machine selected
        if let Some(&(i, _)) = model.tree().first()
            && !model.tree().iter().any(|&(j, _)| model.selected().map(|m| m.id()) == Some(model.machines()[j].id()))
        {
            let id = model.machines()[i].id().to_string();
            model.select_id(&id);
        }
        return KeyOutcome::Continue;
    }
    view.notice.clear();
    let f = &mut model.filters;
    match k.code {
        KeyCode::Char('q') => return KeyOutcome::Quit,
        KeyCode::Char('?') => view.help = true,
        KeyCode::Char('/') => {
            view.searching = true;
            view.focus = Focus::Machines;
        }
        KeyCode::Tab => {
            view.focus = match view.focus {
                Focus::Machines => Focus::States,
                Focus::States => Focus::Timeline,
                Focus::Timeline => Focus::Machines,
            }
        }
        KeyCode::BackTab => {
            view.focus = match view.focus {
                Focus::Machines => Focus::Timeline,
                Focus::States => Focus::Machines,
                Focus::Timeline => Focus::States,
            }
        }
        KeyCode::Char('c') => f.canceled = !f.canceled,
        KeyCode::Char('a') => f.auto = !f.auto,
        KeyCode::Char('u') => f.queued = !f.queued,
        KeyCode::Char('z') => f.empty = !f.empty,
        KeyCode::Char('h') => f.health = !f.health,
        KeyCode::Char('f') => model.follow(),
        KeyCode::Char('l') => model.cycle_log_level(),
        KeyCode::Char('m') => view.mouse = !view.mouse,
        KeyCode::Char('e') if !model.next_error() => view.notice = "no later Exception".into(),
        KeyCode::Char('n') if !model.next_of_state() => view.notice = "no later change of that state".into(),
        KeyCode::PageUp => model.step(-100),
        KeyCode::PageDown => model.step(100),
        KeyCode::Home | KeyCode::Char('g') => model.first(),
        KeyCode::End | KeyCode::Char('G') => model.last(),
        KeyCode::Up | KeyCode::Char('k') => match view.focus {
            Focus::Machines => model.select_machine(-1),
            Focus::States => model.move_state(-1),
            Focus::Timeline => model.step(-1),
        },
        KeyCode::Down | KeyCode::Char('j') => match view.focus {
            Focus::Machines => model.select_machine(1),
            Focus::States => model.move_state(1),
            Focus::Timeline => model.step(1),
        },
        _ => {}
    }
    KeyOutcome::Continue
}

/// Applies a mouse event: the wheel moves in the focused pane (the timeline: time travel).
pub fn mouse(model: &mut Model, view: &View, m: MouseEvent) {
    let delta = match m.kind {
        MouseEventKind::ScrollUp => -1,
        MouseEventKind::ScrollDown => 1,
        _ => return,
    };
    match view.focus {
        Focus::Machines => model.select_machine(delta),
        Focus::States => model.move_state(delta),
        Focus::Timeline => model.step(delta),
    }
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
        .map_err(|e| Error::Io { context: "start a runtime".into(), source: e })?;
    let mut model = Model::new(opts.max_transitions);
    let mut view = View::default();
    let mut live = None;
    match &opts.file {
        Some(path) => {
            model = Model::from_messages(am_dbg_proto::read_recording(path)?, opts.max_transitions);
            view.source = path.display().to_string();
        }
        None => {
            let (server, rx) = rt.block_on(Server::bind_channel(&opts.listen, 100_000))?;
            view.source = format!("listening on {}", server.local_addr());
            live = Some((server, rx));
        }
    }
    let mut record = match &opts.record {
        Some(p) => Some(RecordingWriter::new(
            std::fs::File::create(p)
                .map_err(|e| Error::Io { context: format!("create {}", p.display()), source: e })?,
        )),
        None => None,
    };
    if let Some(p) = &opts.record {
        view.source.push_str(&format!(", recording to {}", p.display()));
    }
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
    let mut terminal = ratatui::try_init().map_err(|e| Error::Io { context: "open the terminal".into(), source: e })?;
    view.mouse = true;
    let mut mouse_on = false;
    let result = (|| -> Result<(), Error> {
        let io = |e| Error::Io { context: "draw".into(), source: e };
        let (mut frames, mut second) = (0u32, Instant::now());
        loop {
            if let Some((_, rx)) = &mut live {
                for _ in 0..MAX_PER_FRAME {
                    let Ok(ev) = rx.try_recv() else { break };
                    if let (Some(w), ServerEvent::Message { msg, .. }) = (&mut record, &ev) {
                        w.write(msg)?;
                    }
                    model.event(ev);
                }
            }
            if let Some(w) = &mut record {
                w.flush_if_due()?;
            }
            if model.selected().is_none()
                && let Some(id) = model.machines().first().map(|m| m.id().to_string())
            {
                model.select_id(&id);
            }
            if view.mouse != mouse_on {
                mouse_on = view.mouse;
                if mouse_on {
                    execute!(std::io::stdout(), EnableMouseCapture).map_err(io)?;
                } else {
                    execute!(std::io::stdout(), DisableMouseCapture).map_err(io)?;
                }
            }
            terminal.draw(|f| ui::draw(f, &model, &view)).map_err(io)?;
            frames += 1;
            if second.elapsed() >= Duration::from_secs(1) {
                view.fps = frames;
                (frames, second) = (0, Instant::now());
            }
            if stop.load(Relaxed) {
                return Ok(());
            }
            if event::poll(Duration::from_millis(50)).map_err(io)? {
                match event::read().map_err(io)? {
                    Event::Key(k) if key(&mut model, &mut view, k) == KeyOutcome::Quit => return Ok(()),
                    Event::Mouse(m) => mouse(&mut model, &view, m),
                    _ => {}
                }
            }
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

/// Messages of a model, for tests and benches that build one from a recording.
pub fn ingest(model: &mut Model, msgs: impl IntoIterator<Item = DbgMsg>) {
    model.ingest(msgs);
}
