//! Handler registration and the table the machine looks handlers up in.
//!
//! Handlers are closures registered per (state, kind) on a named [`Handlers`] set. This was
//! chosen over a trait with one method per Go handler name because the names depend on the
//! schema (`FooEnter`, `FooBar`, …): closures can be checked against the schema once, at
//! bind time, and stored in a table indexed by state, so a transition finds its handlers
//! without building or comparing strings.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::error::Error;
use crate::machine::Machine;
use crate::mutation::{Args, Mutation};
use crate::schema::{Schema, StateIdx};
use crate::transition::Transition;

/// A negotiation handler: returns `false` to cancel the transition.
pub type NegotiationFn = Arc<dyn Fn(&Event<'_>) -> bool + Send + Sync>;
/// A final handler: runs after the states changed; cannot cancel.
pub type FinalFn = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// What a handler gets: the handler name, the machine, and the transition.
#[derive(Debug)]
pub struct Event<'a> {
    pub(crate) handler: &'a str,
    pub(crate) binding: &'a str,
    pub(crate) tx: Transition<'a>,
}

impl<'a> Event<'a> {
    /// The Go-style handler name, e.g. `FooEnter`.
    pub fn handler(&self) -> &'a str {
        self.handler
    }
    /// The name of the handler set.
    pub fn binding(&self) -> &'a str {
        self.binding
    }
    /// The machine; mutations called on it from a handler are queued.
    pub fn machine(&self) -> &'a Machine {
        self.tx.machine
    }
    /// The transition being run.
    pub fn transition(&self) -> &Transition<'a> {
        &self.tx
    }
    /// The mutation.
    pub fn mutation(&self) -> &'a Mutation {
        self.tx.mutation()
    }
    /// The args.
    pub fn args(&self) -> Option<&'a Args> {
        self.tx.args()
    }
    /// True while this transition is still running and not canceled; keep a
    /// [`TxValidity`] to check it from work that outlives the handler.
    pub fn is_valid(&self) -> bool {
        self.validity().is_valid()
    }
    /// A handle that tells whether this transition is still running and not canceled.
    pub fn validity(&self) -> TxValidity {
        TxValidity { machine: self.tx.machine.clone(), seq: self.tx.seq() }
    }
}

/// The event's transition as the source of a mutation (`ev_*` calls).
impl From<&Event<'_>> for crate::mutation::Source {
    fn from(ev: &Event<'_>) -> Self {
        let tx = ev.transition();
        crate::mutation::Source {
            machine_id: tx.machine_id().to_string(),
            tx_id: tx.id().to_string(),
            machine_time: tx.machine_time_before(),
        }
    }
}

/// See [`Event::validity`].
#[derive(Clone, Debug)]
pub struct TxValidity {
    machine: Machine,
    seq: u64,
}

impl TxValidity {
    /// True while the transition runs and has not been canceled.
    pub fn is_valid(&self) -> bool {
        self.machine.running_tx_seq() == self.seq
    }
}

#[derive(Clone)]
pub(crate) enum HandlerFn {
    Negotiation(NegotiationFn),
    Final(FinalFn),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Enter(String),
    Exit(String),
    State(String),
    End(String),
    SelfH(String),
    Pair(String, String),
    AnyEnter,
    AnyState,
    Named(String),
}

/// A named set of handlers, bound with [`Machine::bind_handlers`].
///
/// ```
/// use am_core::{Handlers, Machine, Schema};
/// let m = Machine::new(Schema::builder().states(["Idle", "Working"]).build()?);
/// m.bind_handlers(
///     Handlers::new("worker")
///         .enter("Working", |e| e.machine().is(&["Idle"]).unwrap_or(false))
///         .state("Working", |_| println!("working")),
/// )?;
/// assert_eq!(m.add(&["Working"])?, am_core::MutResult::Canceled);
/// m.add(&["Idle"])?;
/// assert_eq!(m.add(&["Working"])?, am_core::MutResult::Executed);
/// # Ok::<(), am_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Handlers {
    name: String,
    entries: Vec<(Key, HandlerFn)>,
}

impl fmt::Debug for Handlers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handlers").field("name", &self.name).field("count", &self.entries.len()).finish()
    }
}

impl Handlers {
    /// An empty set; `name` appears in tracer `handler_start` calls.
    pub fn new(name: impl Into<String>) -> Self {
        Handlers { name: name.into(), entries: Vec::new() }
    }
    fn neg(mut self, k: Key, f: impl Fn(&Event<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.entries.push((k, HandlerFn::Negotiation(Arc::new(f))));
        self
    }
    fn fin(mut self, k: Key, f: impl Fn(&Event<'_>) + Send + Sync + 'static) -> Self {
        self.entries.push((k, HandlerFn::Final(Arc::new(f))));
        self
    }
    /// `FooEnter`: Foo is being activated; may cancel.
    pub fn enter(self, s: &str, f: impl Fn(&Event<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.neg(Key::Enter(s.into()), f)
    }
    /// `FooExit`: Foo is being deactivated; may cancel.
    pub fn exit(self, s: &str, f: impl Fn(&Event<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.neg(Key::Exit(s.into()), f)
    }
    /// `FooFoo`: Foo is in the target and was active (Add and Set); may cancel.
    pub fn self_handler(self, s: &str, f: impl Fn(&Event<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.neg(Key::SelfH(s.into()), f)
    }
    /// `FooBar`: Foo was active and Bar is in the target; may cancel.
    pub fn pair(self, from: &str, to: &str, f: impl Fn(&Event<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.neg(Key::Pair(from.into(), to.into()), f)
    }
    /// `AnyEnter`: once per transition, after the other negotiation handlers; may cancel.
    pub fn any_enter(self, f: impl Fn(&Event<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.neg(Key::AnyEnter, f)
    }
    /// `FooState`: Foo was activated.
    pub fn state(self, s: &str, f: impl Fn(&Event<'_>) + Send + Sync + 'static) -> Self {
        self.fin(Key::State(s.into()), f)
    }
    /// `FooEnd`: Foo was deactivated.
    pub fn end(self, s: &str, f: impl Fn(&Event<'_>) + Send + Sync + 'static) -> Self {
        self.fin(Key::End(s.into()), f)
    }
    /// `AnyState`: once per accepted transition, last.
    pub fn any_state(self, f: impl Fn(&Event<'_>) + Send + Sync + 'static) -> Self {
        self.fin(Key::AnyState, f)
    }
    /// A negotiation handler by its Go name (`FooEnter`, `FooExit`, `FooFoo`, `FooBar`,
    /// `AnyEnter`), resolved against the schema at bind time.
    pub fn negotiation(self, name: &str, f: impl Fn(&Event<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.neg(Key::Named(name.into()), f)
    }
    /// A final handler by its Go name (`FooState`, `FooEnd`, `AnyState`).
    pub fn final_handler(self, name: &str, f: impl Fn(&Event<'_>) + Send + Sync + 'static) -> Self {
        self.fin(Key::Named(name.into()), f)
    }
}

#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) binding: Arc<str>,
    pub(crate) name: Arc<str>,
    pub(crate) f: HandlerFn,
}

/// Handlers of all bound sets, indexed by state; built at bind time.
#[derive(Clone, Default)]
pub(crate) struct HandlerTable {
    pub(crate) bindings: Vec<Arc<str>>,
    pub(crate) enter: Vec<Vec<Entry>>,
    pub(crate) exit: Vec<Vec<Entry>>,
    pub(crate) state: Vec<Vec<Entry>>,
    pub(crate) end: Vec<Vec<Entry>>,
    pub(crate) self_h: Vec<Vec<Entry>>,
    /// Per from-state: (to, entry), sorted by the canonical position of `to`.
    pub(crate) pairs: Vec<Vec<(StateIdx, Entry)>>,
    pub(crate) any_enter: Vec<Entry>,
    pub(crate) any_state: Vec<Entry>,
    pub(crate) count: usize,
}

enum Resolved {
    Enter(StateIdx),
    Exit(StateIdx),
    State(StateIdx),
    End(StateIdx),
    SelfH(StateIdx),
    Pair(StateIdx, StateIdx),
    AnyEnter,
    AnyState,
}

fn parse_name(schema: &Schema, name: &str) -> Result<Resolved, Error> {
    match name {
        "AnyEnter" => return Ok(Resolved::AnyEnter),
        "AnyState" => return Ok(Resolved::AnyState),
        _ => {}
    }
    for (suffix, make) in [
        ("Enter", Resolved::Enter as fn(StateIdx) -> Resolved),
        ("Exit", Resolved::Exit),
        ("State", Resolved::State),
        ("End", Resolved::End),
    ] {
        if let Some(s) = name.strip_suffix(suffix).and_then(|s| schema.index(s).ok()) {
            return Ok(make(s));
        }
    }
    for (i, s) in schema.names().iter().enumerate() {
        if let Some(rest) = name.strip_prefix(s.as_str()) {
            if rest == s {
                return Ok(Resolved::SelfH(i));
            }
            if let Ok(j) = schema.index(rest) {
                return Ok(Resolved::Pair(i, j));
            }
        }
    }
    let states = schema.names();
    let some: Vec<&str> = states.iter().take(6).map(String::as_str).collect();
    let more = if states.len() > some.len() { ", …" } else { "" };
    Err(Error::InvalidHandler {
        name: name.to_string(),
        reason: format!(
            "a handler name is a state and `Enter`, `Exit`, `State` or `End` (e.g. `{0}Enter`), two states \
             (`{0}{0}`, `{0}{1}`), or `AnyEnter` / `AnyState`; states here: {2}{more}",
            some.first().copied().unwrap_or("Foo"),
            some.get(1).copied().unwrap_or("Bar"),
            some.join(", "),
        ),
    })
}

impl HandlerTable {
    pub(crate) fn grow(&mut self, n: usize) {
        for v in [&mut self.enter, &mut self.exit, &mut self.state, &mut self.end, &mut self.self_h] {
            v.resize(n, Vec::new());
        }
        self.pairs.resize(n, Vec::new());
    }

    /// Adds a set; fails without changing `self` if a name does not fit the schema.
    pub(crate) fn bind(&mut self, schema: &Schema, h: Handlers) -> Result<(), Error> {
        // a machine's table stays empty until its first set is bound
        self.grow(schema.len());
        let binding: Arc<str> = h.name.into();
        let mut resolved = Vec::with_capacity(h.entries.len());
        for (key, f) in h.entries {
            let idx = |s: &str| schema.index(s);
            let r = match key {
                Key::Enter(s) => Resolved::Enter(idx(&s)?),
                Key::Exit(s) => Resolved::Exit(idx(&s)?),
                Key::State(s) => Resolved::State(idx(&s)?),
                Key::End(s) => Resolved::End(idx(&s)?),
                Key::SelfH(s) => Resolved::SelfH(idx(&s)?),
                Key::Pair(a, b) => {
                    let (a, b) = (idx(&a)?, idx(&b)?);
                    if a == b { Resolved::SelfH(a) } else { Resolved::Pair(a, b) }
                }
                Key::AnyEnter => Resolved::AnyEnter,
                Key::AnyState => Resolved::AnyState,
                Key::Named(n) => {
                    let r = parse_name(schema, &n)?;
                    let is_final = matches!(r, Resolved::State(_) | Resolved::End(_) | Resolved::AnyState);
                    let wrong = match (&f, is_final) {
                        (HandlerFn::Negotiation(_), true) => Some(
                            "is a final handler (it runs after the states changed and cannot cancel): \
                             register it with `final_handler`, `state` or `end`",
                        ),
                        (HandlerFn::Final(_), false) => Some(
                            "is a negotiation handler (it may cancel, so it returns bool): register it with \
                             `negotiation`, `enter`, `exit`, `pair` or `any_enter`",
                        ),
                        _ => None,
                    };
                    if let Some(reason) = wrong {
                        return Err(Error::InvalidHandler { name: n, reason: reason.into() });
                    }
                    r
                }
            };
            resolved.push((r, f));
        }
        let n = |i: StateIdx| schema.name(i);
        let mut pair_names: HashMap<(StateIdx, StateIdx), Arc<str>> = HashMap::new();
        for (r, f) in resolved {
            let mk = |name: String| Entry { binding: binding.clone(), name: name.into(), f: f.clone() };
            match r {
                Resolved::Enter(s) => self.enter[s].push(mk(format!("{}Enter", n(s)))),
                Resolved::Exit(s) => self.exit[s].push(mk(format!("{}Exit", n(s)))),
                Resolved::State(s) => self.state[s].push(mk(format!("{}State", n(s)))),
                Resolved::End(s) => self.end[s].push(mk(format!("{}End", n(s)))),
                Resolved::SelfH(s) => self.self_h[s].push(mk(format!("{0}{0}", n(s)))),
                Resolved::Pair(a, b) => {
                    let name = pair_names.entry((a, b)).or_insert_with(|| format!("{}{}", n(a), n(b)).into()).clone();
                    self.pairs[a].push((b, Entry { binding: binding.clone(), name, f: f.clone() }));
                    let pos = &schema.canon_pos;
                    // stable: keeps binding order for the same pair
                    self.pairs[a].sort_by_key(|(to, _)| pos[*to]);
                }
                Resolved::AnyEnter => self.any_enter.push(mk("AnyEnter".into())),
                Resolved::AnyState => self.any_state.push(mk("AnyState".into())),
            }
            self.count += 1;
        }
        self.bindings.push(binding);
        Ok(())
    }
}
