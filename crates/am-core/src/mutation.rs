//! Mutations, their args and results.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::error::AnyError;
use crate::schema::StateIdx;

/// What a mutation does with its called states.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MutationKind {
    /// Activate the states, keep the rest.
    Add,
    /// Deactivate the states.
    Remove,
    /// Activate exactly these (plus what relations imply), deactivate all others.
    Set,
}

impl MutationKind {
    /// Lower-case name, as in Go's logs and span names: `add`, `remove`, `set`.
    pub fn as_str(self) -> &'static str {
        match self {
            MutationKind::Add => "add",
            MutationKind::Remove => "remove",
            MutationKind::Set => "set",
        }
    }
}

impl fmt::Display for MutationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a mutation call.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MutResult {
    /// Accepted, and the called states ended as requested.
    Executed,
    /// Canceled by relations, a handler, a panic, a timeout, a full queue or disposal.
    Canceled,
    /// Queued behind a running transition; runs at this queue tick
    /// (see [`Machine::when_queue`](crate::Machine::when_queue)).
    Queued(u64),
}

/// One mutation argument value. Values compare by value, except errors and opaque values,
/// which never compare equal.
#[derive(Clone)]
pub enum Arg {
    /// A string.
    Str(String),
    /// A signed integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A bool.
    Bool(bool),
    /// An error (as passed to `add_err`).
    Error(AnyError),
    /// Anything else; shown as `<opaque>`.
    Opaque(Arc<dyn Any + Send + Sync>),
}

impl PartialEq for Arg {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Arg::Str(a), Arg::Str(b)) => a == b,
            (Arg::Int(a), Arg::Int(b)) => a == b,
            (Arg::Float(a), Arg::Float(b)) => a == b,
            (Arg::Bool(a), Arg::Bool(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Str(s) => f.write_str(s),
            Arg::Int(i) => write!(f, "{i}"),
            Arg::Float(x) => write!(f, "{x}"),
            Arg::Bool(b) => write!(f, "{b}"),
            Arg::Error(e) => write!(f, "{e}"),
            Arg::Opaque(_) => f.write_str("<opaque>"),
        }
    }
}

impl fmt::Debug for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Str(s) => write!(f, "{s:?}"),
            other => write!(f, "{other}"),
        }
    }
}

macro_rules! arg_from {
    ($($t:ty => $v:ident $(as $c:ty)?),*) => {$(
        impl From<$t> for Arg {
            fn from(x: $t) -> Self { Arg::$v((x $(as $c)?).into()) }
        }
    )*};
}
arg_from!(&str => Str, String => Str, i64 => Int, i32 => Int as i64, u32 => Int as i64, f64 => Float, bool => Bool, AnyError => Error);

/// Mutation arguments: a string-keyed map passed to every handler of the transition and
/// shown to tracers. Keys iterate in sorted order.
///
/// ```
/// use am_core::{Arg, Args};
/// let a = Args::new().with("addr", "127.0.0.1").with("port", 8080);
/// assert_eq!(a.get("port"), Some(&Arg::Int(8080)));
/// assert_eq!(a.to_string(), "addr=127.0.0.1 port=8080");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Args(BTreeMap<String, Arg>);

impl Args {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a value (builder style).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Arg>) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }
    /// Inserts a value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Arg>) {
        self.0.insert(key.into(), value.into());
    }
    /// A value by key.
    pub fn get(&self, key: &str) -> Option<&Arg> {
        self.0.get(key)
    }
    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arg)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// True when every entry of `subset` is here with an equal value.
    pub fn contains_all(&self, subset: &Args) -> bool {
        subset.iter().all(|(k, v)| self.get(k) == Some(v))
    }
}

impl fmt::Display for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

/// Maps args to the short string pairs logs and exporters show. The default keeps the keys
/// `name, id, port, addr, err, path, url, uri` and truncates values to 20 characters.
pub type ArgsMapper = Arc<dyn Fn(&Args) -> Vec<(String, String)> + Send + Sync>;

/// The default [`ArgsMapper`] behaviour.
pub fn default_args_mapper(args: &Args) -> Vec<(String, String)> {
    const KEYS: [&str; 8] = ["name", "id", "port", "addr", "err", "path", "url", "uri"];
    args.iter()
        .filter(|(k, _)| KEYS.contains(k))
        .map(|(k, v)| (k.to_string(), v.to_string().chars().take(20).collect()))
        .collect()
}

/// The mutation that caused another one (for `ev_*` mutations issued from handlers).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Source {
    /// Machine that ran the causing transition.
    pub machine_id: String,
    /// ID of the causing transition.
    pub tx_id: String,
    /// Machine time before the causing transition.
    pub machine_time: u64,
}

/// Called state indexes, stored inline for up to four states (no allocation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Called {
    Inline(u8, [StateIdx; 4]),
    Heap(Vec<StateIdx>),
}

impl Called {
    pub(crate) fn as_slice(&self) -> &[StateIdx] {
        match self {
            Called::Inline(n, a) => &a[..*n as usize],
            Called::Heap(v) => v,
        }
    }

    pub(crate) fn from_slice(s: &[StateIdx]) -> Self {
        if s.len() <= 4 {
            let mut a = [0; 4];
            a[..s.len()].copy_from_slice(s);
            Called::Inline(s.len() as u8, a)
        } else {
            Called::Heap(s.to_vec())
        }
    }
}

/// A queued or running mutation, as tracers and handlers see it.
#[derive(Clone, Debug)]
pub struct Mutation {
    pub(crate) kind: MutationKind,
    pub(crate) called: Called,
    pub(crate) args: Option<Arc<Args>>,
    pub(crate) auto: bool,
    pub(crate) check: bool,
    pub(crate) source: Option<Arc<Source>>,
    pub(crate) queue_tick: u64,
    pub(crate) queue_token: u64,
    pub(crate) queue_len: usize,
    pub(crate) machine_queue_tick: u64,
    pub(crate) runs_now: bool,
}

impl Mutation {
    pub(crate) fn new(kind: MutationKind, called: &[StateIdx], args: Option<Arc<Args>>) -> Self {
        Self::with_called(kind, Called::from_slice(called), args)
    }
    pub(crate) fn with_called(kind: MutationKind, called: Called, args: Option<Arc<Args>>) -> Self {
        Mutation {
            kind,
            called,
            args,
            auto: false,
            check: false,
            source: None,
            queue_tick: 0,
            queue_token: 0,
            queue_len: 0,
            machine_queue_tick: 0,
            runs_now: false,
        }
    }
    /// Add, Remove or Set.
    pub fn kind(&self) -> MutationKind {
        self.kind
    }
    /// Called state indexes, de-duplicated, in call order.
    pub fn called(&self) -> &[StateIdx] {
        self.called.as_slice()
    }
    /// The args, if any were passed.
    pub fn args(&self) -> Option<&Args> {
        self.args.as_deref()
    }
    /// Queued by the machine for auto states.
    pub fn is_auto(&self) -> bool {
        self.auto
    }
    /// A dry run (`can_add` / `can_remove`).
    pub fn is_check(&self) -> bool {
        self.check
    }
    /// The causing mutation, for `ev_*` calls.
    pub fn source(&self) -> Option<&Source> {
        self.source.as_deref()
    }
    /// The queue tick this mutation runs at; 0 when prepended (auto, Exception, checks).
    pub fn queue_tick(&self) -> u64 {
        self.queue_tick
    }
    /// A machine-wide counter set only for prepended mutations; 0 otherwise.
    pub fn queue_token(&self) -> u64 {
        self.queue_token
    }
    /// Queue length right after this mutation was queued.
    pub fn queue_len(&self) -> usize {
        self.queue_len
    }
    /// The machine's queue tick when this mutation was queued.
    pub fn machine_queue_tick(&self) -> u64 {
        self.machine_queue_tick
    }
    /// Whether an idle machine took this mutation at once: in
    /// [`Tracer::mutation_queued`](crate::Tracer::mutation_queued) this means its
    /// transition runs next, on the calling thread, before any other mutation of the machine.
    pub fn runs_now(&self) -> bool {
        self.runs_now
    }
    pub(crate) fn same_as(&self, other: &Mutation) -> bool {
        self.kind == other.kind
            && !other.check
            && other.args.is_none()
            && self.called.as_slice().len() == other.called.as_slice().len()
            && self.called.as_slice().iter().all(|c| other.called.as_slice().contains(c))
    }
}
