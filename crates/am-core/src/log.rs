//! Log levels and entries.

use std::fmt;

/// How much the machine logs. A message is recorded when its level ≤ the machine's level.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[repr(u8)]
pub enum LogLevel {
    /// Nothing is recorded.
    #[default]
    Nothing = 0,
    /// Messages the user logs through the machine.
    External = 1,
    /// Plus state changes and errors.
    Changes = 2,
    /// Plus mutations, queueing, cancellations, handler calls, auto states.
    Ops = 3,
    /// Plus why: relation decisions, auto mutation starts, timeouts.
    Decisions = 4,
    /// Plus every handler name tried.
    Everything = 5,
}

impl LogLevel {
    /// From a number; values above 5 are `Everything`.
    pub fn from_u8(n: u8) -> Self {
        match n {
            0 => LogLevel::Nothing,
            1 => LogLevel::External,
            2 => LogLevel::Changes,
            3 => LogLevel::Ops,
            4 => LogLevel::Decisions,
            _ => LogLevel::Everything,
        }
    }
    /// Lower-case name: `nothing`, `external`, `changes`, `ops`, `decisions`, `everything`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Nothing => "nothing",
            LogLevel::External => "external",
            LogLevel::Changes => "changes",
            LogLevel::Ops => "ops",
            LogLevel::Decisions => "decisions",
            LogLevel::Everything => "everything",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl LogEntry {
    /// The text without the leading `[id] ` prefix the machine adds.
    ///
    /// ```
    /// let e = am_core::LogEntry { level: am_core::LogLevel::Changes, text: "[work] [state] +A".into() };
    /// assert_eq!(e.message(), "[state] +A");
    /// ```
    pub fn message(&self) -> &str {
        match self.text.strip_prefix('[').and_then(|t| t.split_once("] ")) {
            Some((_, rest)) => rest,
            None => &self.text,
        }
    }
}

/// One recorded log line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LogEntry {
    /// The level it was recorded at.
    pub level: LogLevel,
    /// The text, with the `[id] ` prefix.
    pub text: String,
}
