//! The one error type of `am-core`.

use std::fmt;
use std::sync::Arc;

/// Errors returned by `am-core`: schema mistakes at construction, unknown state names at
/// the API boundary, and misuse of waits, schema changes and imports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A state name is empty.
    EmptyStateName,
    /// A state name is declared twice.
    DuplicateState(String),
    /// A state uses a reserved name (`Any`).
    ReservedName(String),
    /// A relation or group names a state that is not in the schema.
    UnknownRelationTarget {
        /// The state (or group) declaring the relation.
        state: String,
        /// The relation (`require`, `add`, `remove`, `after`, `group`).
        relation: &'static str,
        /// The unknown name.
        target: String,
    },
    /// A state lists itself in a relation.
    SelfRelation {
        /// The state.
        state: String,
        /// The relation.
        relation: &'static str,
    },
    /// A state lists the same state in two relations that contradict each other.
    ConflictingRelations {
        /// The state declaring both relations.
        state: String,
        /// The state named in both.
        target: String,
        /// The two relations, e.g. `("add", "remove")`.
        relations: (&'static str, &'static str),
    },
    /// `after` relations form a cycle; the states on it are listed.
    AfterCycle(Vec<String>),
    /// A mutation, query or wait names a state the machine does not have.
    UnknownState(String),
    /// A handler name that names no handler of this schema, or a handler registered as the
    /// wrong kind (a negotiation closure under a final name, or the reverse).
    InvalidHandler {
        /// The name given.
        name: String,
        /// What is wrong, and what a valid name looks like.
        reason: String,
    },
    /// `set_schema` was given a schema that drops or reorders existing states.
    SchemaShrink(String),
    /// The operation cannot run while a transition is in progress.
    Busy,
    /// The machine was disposed.
    Disposed,
    /// A wait was given arguments it cannot work with (e.g. lengths that differ).
    InvalidWait(String),
    /// `import` data does not match this machine.
    ImportMismatch(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::EmptyStateName => write!(f, "a state name is empty"),
            Error::DuplicateState(s) => write!(f, "state `{s}` is declared twice"),
            Error::ReservedName(s) => write!(f, "`{s}` is a reserved name and cannot be a state"),
            Error::UnknownRelationTarget { state, relation, target } => {
                write!(f, "`{state}` has {relation} relation to unknown state `{target}`")
            }
            Error::SelfRelation { state, relation } => {
                write!(f, "state `{state}` lists itself in `{relation}`")
            }
            Error::ConflictingRelations { state, target, relations } => {
                write!(f, "state `{state}` lists `{target}` in both `{}` and `{}`", relations.0, relations.1)
            }
            Error::AfterCycle(states) => {
                write!(f, "`after` relations form a cycle: {}", states.join(" -> "))
            }
            Error::UnknownState(s) => write!(f, "unknown state `{s}`"),
            Error::InvalidHandler { name, reason } => write!(f, "handler `{name}`: {reason}"),
            Error::SchemaShrink(why) => write!(f, "a schema can only grow: {why}"),
            Error::Busy => write!(f, "not possible while a transition is running"),
            Error::Disposed => write!(f, "the machine is disposed"),
            Error::InvalidWait(why) => write!(f, "invalid wait: {why}"),
            Error::ImportMismatch(why) => write!(f, "import does not match the machine: {why}"),
        }
    }
}

impl std::error::Error for Error {}

/// The error type handlers and users hand to `add_err`, and `last_error()` returns.
pub type AnyError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a handler failed: it panicked, or it returned after the machine's handler timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandlerErrorKind {
    /// The handler panicked.
    Panic,
    /// The handler returned later than the machine's handler timeout.
    Timeout,
}

/// A handler failure, recorded as the machine's last error and passed to `Exception`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerError {
    /// Panic or timeout.
    pub kind: HandlerErrorKind,
    /// The Go-style handler name, e.g. `FooEnter`.
    pub handler: String,
    /// The panic message, or the elapsed time for a timeout.
    pub message: String,
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            HandlerErrorKind::Panic => write!(f, "handler {} panicked: {}", self.handler, self.message),
            HandlerErrorKind::Timeout => {
                write!(f, "handler timeout: {} ran for {}", self.handler, self.message)
            }
        }
    }
}

impl std::error::Error for HandlerError {}

/// An error made from a message, for `add_err` callers without an error type of their own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageError(pub String);

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MessageError {}

/// Builds an [`AnyError`] from a message.
pub fn err_msg(msg: impl Into<String>) -> AnyError {
    Arc::new(MessageError(msg.into()))
}

/// Shows an error with its whole chain of causes on one line, `outer: inner: root` — what a
/// program prints for a user. Each error's own message appears once: errors here (and in the
/// exporters) leave their cause out of their own message and return it as `source()`.
///
/// ```
/// use am_core::ErrorChain;
/// let io = std::io::Error::new(std::io::ErrorKind::AddrInUse, "address in use");
/// #[derive(Debug)]
/// struct Listen(std::io::Error);
/// impl std::fmt::Display for Listen {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("cannot listen on 127.0.0.1:9464")
///     }
/// }
/// impl std::error::Error for Listen {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
///         Some(&self.0)
///     }
/// }
/// let e = Listen(io);
/// assert_eq!(ErrorChain(&e).to_string(), "cannot listen on 127.0.0.1:9464: address in use");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}
