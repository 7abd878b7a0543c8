//! What the user (or the player's timer) asks for, between keys and state: keys map to an
//! [`Action`] through the one key table ([`crate::keys`]), and [`App::handle`] is the only
//! place that changes state. Tests drive the app with actions, without key events.
//!
//! [`App::handle`]: crate::app::App::handle

use crate::store::FilterKind;

/// One request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Leave (the terminal is restored).
    Quit,
    /// Open or close the help.
    Help,
    /// Focus the next pane.
    FocusNext,
    /// Focus the previous pane.
    FocusPrev,
    /// Move in the focused pane: rows in lists, transitions in the timeline (time travel),
    /// lines in the log.
    Move(i32),
    /// Move a page (the timeline: 100 transitions).
    Page(i32),
    /// The first row of the focused pane (the timeline: the first transition).
    Home,
    /// The last row (the timeline: the last transition, still time-travelling).
    End,
    /// The previous / next transition, whatever is focused.
    Tx(i32),
    /// Step through the selected transition: the states as of each step.
    Step(i32),
    /// Follow new transitions (tail).
    Follow,
    /// The next (`true`) or previous transition that raised `Exception`.
    Error(bool),
    /// The next (`true`) or previous transition that changed the highlighted state.
    Change(bool),
    /// Flip a filter.
    Toggle(FilterKind),
    /// Show queued rows beside the transitions that ran them (two rows per mutation).
    BothRows,
    /// Cycle the log level shown.
    LogLevel,
    /// Select the next schema group (then none).
    Group,
    /// Search the focused list as you type (machines, or the log).
    Search,
    /// Show or hide the log pane.
    ToggleLog,
    /// The matrix in place of the timeline, or back.
    ToggleMatrix,
    /// Show or hide the warnings pane.
    ToggleWarnings,
    /// Show or hide the selected machine's histograms.
    ToggleStats,
    /// Open the export menu.
    Export,
    /// Play / pause: a recording at its recorded pace; live, hold the view while messages
    /// keep arriving.
    Play,
    /// Play faster (`1`) or slower (`-1`).
    Speed(i32),
    /// Sort the machines by the next column.
    Sort,
    /// Reverse the machines' sort.
    InvertSort,
    /// Forget the selected machine (disconnected ones; twice for a connected one).
    Remove,
    /// Jump to what the focused row points at (a warning's machine, a log line's
    /// transition).
    Enter,
    /// Leave step-through, close an overlay.
    Escape,
    /// Mouse wheel scrolling on / off.
    Mouse,
}
