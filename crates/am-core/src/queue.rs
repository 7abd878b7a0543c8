//! Looking into the queue: what is waiting ([`Machine::queue`]), whether a mutation of some
//! states is queued ([`Machine::is_queued`], Go's `IsQueued`), and what the states will be
//! once it has run, as far as the queue tells ([`Machine::will_be`], Go's `WillBe`).

use crate::error::Error;
use crate::machine::Machine;
use crate::mutation::{Mutation, MutationKind};
use crate::schema::StateIdx;
use crate::wait::lock;

/// Where in the queue [`Machine::is_queued`] looks.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Position {
    /// Anywhere (Go `PositionAny`).
    #[default]
    Any,
    /// Only the mutation that runs next (Go `PositionFirst`).
    First,
    /// Only the mutation queued last (Go `PositionLast`).
    Last,
}

/// What [`Machine::is_queued`] looks for: mutations of one kind calling the given states.
/// By default a match calls *at least* those states (more is fine), with or without args,
/// is no dry run, and may sit anywhere in the queue.
///
/// ```
/// use am_core::{MutationKind, QueueQuery};
/// let q = QueueQuery::new(MutationKind::Add, &["Fetch"]).strict().without_args();
/// # let _ = q;
/// ```
#[derive(Clone, Debug)]
pub struct QueueQuery<'a> {
    kind: MutationKind,
    states: &'a [&'a str],
    strict: bool,
    without_args: bool,
    min_tick: u64,
    check: bool,
    position: Position,
}

impl<'a> QueueQuery<'a> {
    /// Mutations of `kind` calling `states` (and maybe more).
    pub fn new(kind: MutationKind, states: &'a [&'a str]) -> Self {
        QueueQuery {
            kind,
            states,
            strict: false,
            without_args: false,
            min_tick: 0,
            check: false,
            position: Position::Any,
        }
    }
    /// Only mutations calling exactly these states (Go `statesStrictEqual`).
    pub fn strict(mut self) -> Self {
        self.strict = true;
        self
    }
    /// Only mutations without args (Go `withoutArgsOnly`).
    pub fn without_args(mut self) -> Self {
        self.without_args = true;
        self
    }
    /// Only appended mutations at or after queue tick `t` (Go `minQueueTick`); prepended
    /// ones (auto, Exception, checks) have none and never match.
    pub fn min_tick(mut self, t: u64) -> Self {
        self.min_tick = t;
        self
    }
    /// Dry runs (`can_add` / `can_remove`) instead of mutations (Go `isCheck`).
    pub fn checks(mut self) -> Self {
        self.check = true;
        self
    }
    /// Where to look (Go `position`).
    pub fn position(mut self, p: Position) -> Self {
        self.position = p;
        self
    }

    fn matches(&self, called: &[StateIdx], m: &Mutation) -> bool {
        m.kind == self.kind
            && m.check == self.check
            && (self.min_tick == 0 || m.queue_tick >= self.min_tick)
            && (!self.without_args || m.args.as_ref().is_none_or(|a| a.is_empty()))
            && if self.strict {
                m.called().len() == called.len() && called.iter().all(|c| m.called().contains(c))
            } else {
                called.iter().all(|c| m.called().contains(c))
            }
    }
}

/// A mutation [`Machine::is_queued`] found.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    /// Its place in the queue: 0 runs next.
    pub index: usize,
    /// Its queue tick; 0 for a prepended mutation (see [`Machine::when_queue`]).
    pub tick: u64,
}

impl Machine {
    /// The mutations waiting to run, in the order they will run (prepended ones — auto,
    /// Exception, dry runs — first); not the one running now. A copy: the queue goes on.
    /// Empty on a disposed machine. Go: `Queue()`.
    ///
    /// ```
    /// use am_core::{Handlers, Machine, Schema};
    /// let m = Machine::new(Schema::builder().states(["A", "B", "C"]).build()?);
    /// let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// m.bind_handlers(Handlers::new("h").state("A", move |e| {
    ///     let m = e.machine();
    ///     m.add(&["B"]).unwrap();
    ///     m.remove(&["C"]).unwrap();
    ///     *s.lock().unwrap() = m.queue().iter().map(|q| q.kind().as_str()).collect::<Vec<_>>();
    /// }))?;
    /// m.add(&["A"])?;
    /// assert_eq!(*seen.lock().unwrap(), ["add", "remove"]);
    /// # Ok::<(), am_core::Error>(())
    /// ```
    pub fn queue(&self) -> Vec<Mutation> {
        if self.is_disposing() {
            return Vec::new();
        }
        lock(&self.0.st).queue.iter().cloned().collect()
    }

    /// The first queued mutation matching `query`, if any. Go: `IsQueued` (its options as
    /// [`QueueQuery`] methods; the index is the place in the whole queue, and an empty queue
    /// is simply no match). Unknown state names are an error.
    ///
    /// ```
    /// use am_core::{Handlers, Machine, MutationKind::Add, Position, QueueQuery, Schema};
    /// let m = Machine::new(Schema::builder().states(["Start", "Fetch", "Parse"]).build()?);
    /// let found = std::sync::Arc::new(std::sync::Mutex::new(None));
    /// let f = found.clone();
    /// m.bind_handlers(Handlers::new("h").state("Start", move |e| {
    ///     let m = e.machine();
    ///     m.add(&["Fetch", "Parse"]).unwrap();
    ///     // only queue it once
    ///     if m.is_queued(&QueueQuery::new(Add, &["Fetch"])).unwrap().is_none() {
    ///         m.add(&["Fetch"]).unwrap();
    ///     }
    ///     *f.lock().unwrap() = m.is_queued(&QueueQuery::new(Add, &["Fetch"]).strict()).unwrap();
    /// }))?;
    /// m.add(&["Start"])?;
    /// assert_eq!(*found.lock().unwrap(), None, "no Add of exactly [Fetch] was queued");
    /// # Ok::<(), am_core::Error>(())
    /// ```
    pub fn is_queued(&self, query: &QueueQuery<'_>) -> Result<Option<Queued>, Error> {
        let called = self.schema().indexes(query.states)?;
        if self.is_disposing() {
            return Ok(None);
        }
        let st = lock(&self.0.st);
        let q = &st.queue;
        let range = match query.position {
            Position::Any => 0..q.len(),
            Position::First => 0..q.len().min(1),
            Position::Last => q.len().saturating_sub(1)..q.len(),
        };
        Ok(range
            .filter(|&i| query.matches(&called, &q[i]))
            .map(|index| Queued { index, tick: q[index].queue_tick })
            .next())
    }

    /// How many queued mutations match `query` (its position is ignored) — for rate limits.
    /// Go: `IsQueuedAbove(threshold, …)` is `count_queued(…) >= threshold`.
    pub fn count_queued(&self, query: &QueueQuery<'_>) -> Result<usize, Error> {
        let called = self.schema().indexes(query.states)?;
        if self.is_disposing() {
            return Ok(0);
        }
        Ok(lock(&self.0.st).queue.iter().filter(|m| query.matches(&called, m)).count())
    }

    /// Whether the queue holds a mutation that activates all these states: an `add` or
    /// `set` calling them (dry runs aside). A prediction from the queue alone — relations or
    /// handlers may still cancel it, and states implied by relations or auto states do not
    /// count. Go: `WillBe` (which counts `add` only).
    pub fn will_be(&self, states: &[&str]) -> Result<bool, Error> {
        let called = self.schema().indexes(states)?;
        Ok(self.queued_any(|m| {
            matches!(m.kind, MutationKind::Add | MutationKind::Set) && called.iter().all(|c| m.called().contains(c))
        }))
    }

    /// [`will_be`](Self::will_be) for one state. Go: `WillBe1`.
    pub fn will_be1(&self, state: &str) -> Result<bool, Error> {
        self.will_be(&[state])
    }

    /// Whether any of these states will be activated by a queued mutation (see
    /// [`will_be`](Self::will_be)). Go: `WillBeAny`.
    pub fn will_be_any(&self, states: &[&str]) -> Result<bool, Error> {
        let called = self.schema().indexes(states)?;
        Ok(self.queued_any(|m| {
            matches!(m.kind, MutationKind::Add | MutationKind::Set) && called.iter().any(|c| m.called().contains(c))
        }))
    }

    /// Whether the queue holds a mutation that deactivates all these states: a `remove`
    /// calling them, or a `set` calling none of them. A prediction, as
    /// [`will_be`](Self::will_be). Go: `WillBeRemoved` (which counts `remove` only).
    pub fn will_be_removed(&self, states: &[&str]) -> Result<bool, Error> {
        let called = self.schema().indexes(states)?;
        Ok(self.queued_any(|m| match m.kind {
            MutationKind::Remove => called.iter().all(|c| m.called().contains(c)),
            MutationKind::Set => called.iter().all(|c| !m.called().contains(c)),
            MutationKind::Add => false,
        }))
    }

    /// [`will_be_removed`](Self::will_be_removed) for one state. Go: `WillBeRemoved1`.
    pub fn will_be_removed1(&self, state: &str) -> Result<bool, Error> {
        self.will_be_removed(&[state])
    }

    fn queued_any(&self, f: impl Fn(&Mutation) -> bool) -> bool {
        !self.is_disposing() && lock(&self.0.st).queue.iter().any(|m| !m.check && f(m))
    }
}
