//! Questions about states and their relations: does the machine have a state
//! ([`Machine::has_state`], Go `Has1`), where is it ([`Machine::state_index`], Go `Index1`),
//! which relations does it declare or share with another ([`Schema::relations_of`],
//! [`Schema::relations_between`], Go's resolver `RelationsOf` / `RelationsBetween`), and the
//! human-readable dump of states with ticks and relations ([`Machine::inspect`], Go
//! `Inspect`).

use std::fmt::Write;

use crate::error::Error;
use crate::machine::Machine;
use crate::schema::{Schema, StateIdx};
use crate::steps::Relation;

/// The relation kinds in the order they are reported: add, require, remove, after.
const ORDER: [Relation; 4] = [Relation::Add, Relation::Require, Relation::Remove, Relation::After];

/// The relations between two states, both ways ([`Schema::relations_between`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelationsBetween {
    /// Relations the first state declares towards the second.
    pub forward: Vec<Relation>,
    /// Relations the second state declares towards the first.
    pub backward: Vec<Relation>,
}

impl Schema {
    fn targets(&self, i: StateIdx, r: Relation) -> &[StateIdx] {
        match r {
            Relation::Add => self.adds(i),
            Relation::Require => self.requires(i),
            Relation::Remove => self.removes(i),
            Relation::After => self.afters(i),
        }
    }

    /// The relation kinds `state` declares (non-empty ones), in the order add, require,
    /// remove, after. Go: `Resolver().RelationsOf`.
    ///
    /// ```
    /// use am_core::{Relation, Schema, State};
    /// let s = Schema::builder().state("A", State::new().add(["B"]).after(["B"])).states(["B"]).build()?;
    /// assert_eq!(s.relations_of("A")?, [Relation::Add, Relation::After]);
    /// assert!(s.relations_of("B")?.is_empty());
    /// # Ok::<(), am_core::Error>(())
    /// ```
    pub fn relations_of(&self, state: &str) -> Result<Vec<Relation>, Error> {
        let i = self.index(state)?;
        Ok(ORDER.into_iter().filter(|r| !self.targets(i, *r).is_empty()).collect())
    }

    /// Which relations connect `a` and `b`, both ways: those `a` declares towards `b`
    /// (`forward`) and those `b` declares towards `a` (`backward`), each in the order add,
    /// require, remove, after. Go: `Resolver().RelationsBetween` (forward only).
    ///
    /// ```
    /// use am_core::{Relation, Schema, State};
    /// let s = Schema::builder()
    ///     .state("A", State::new().add(["B"]).after(["B"]))
    ///     .state("B", State::new().remove(["A"]))
    ///     .build()?;
    /// let r = s.relations_between("A", "B")?;
    /// assert_eq!(r.forward, [Relation::Add, Relation::After]);
    /// assert_eq!(r.backward, [Relation::Remove]);
    /// # Ok::<(), am_core::Error>(())
    /// ```
    pub fn relations_between(&self, a: &str, b: &str) -> Result<RelationsBetween, Error> {
        let (i, j) = (self.index(a)?, self.index(b)?);
        let from = |x: StateIdx, y: StateIdx| ORDER.into_iter().filter(|r| self.targets(x, *r).contains(&y)).collect();
        Ok(RelationsBetween { forward: from(i, j), backward: from(j, i) })
    }

    /// The states that declare a relation towards `state`, with the relation, in schema order
    /// (one entry per relation kind). Go: `Resolver().InboundRelationsOf` (names only, in map
    /// order).
    ///
    /// ```
    /// use am_core::{Relation, Schema, State};
    /// let s = Schema::builder().state("A", State::new().require(["C"])).state("B", State::new().remove(["C"])).states(["C"]).build()?;
    /// assert_eq!(s.inbound_relations_of("C")?, [("A", Relation::Require), ("B", Relation::Remove)]);
    /// # Ok::<(), am_core::Error>(())
    /// ```
    pub fn inbound_relations_of(&self, state: &str) -> Result<Vec<(&str, Relation)>, Error> {
        let to = self.index(state)?;
        let mut out = Vec::new();
        for from in (0..self.len()).filter(|&f| f != to) {
            for r in ORDER.into_iter().filter(|r| self.targets(from, *r).contains(&to)) {
                out.push((self.name(from), r));
            }
        }
        Ok(out)
    }
}

impl Machine {
    /// Whether the machine has a state named `state` — feature detection. Go: `Has1`.
    pub fn has_state(&self, state: &str) -> bool {
        self.schema().index(state).is_ok()
    }

    /// Whether the machine has every state named (`true` for none). Go: `Has`.
    ///
    /// ```
    /// let m = am_core::Machine::new(am_core::Schema::builder().states(["Start", "Ready"]).build()?);
    /// assert!(m.has_states(&["Start", "Ready"]) && !m.has_states(&["Start", "Disposing"]));
    /// assert!(m.has_state("Exception"));
    /// assert_eq!(m.state_index("Ready"), Some(1));
    /// assert_eq!(m.state_index("Nope"), None);
    /// # Ok::<(), am_core::Error>(())
    /// ```
    pub fn has_states(&self, states: &[&str]) -> bool {
        let schema = self.schema();
        states.iter().all(|s| schema.index(s).is_ok())
    }

    /// The index of `state` in the schema (its place in [`time`](Self::time)), or `None`.
    /// Go: `Index1` (which answers -1).
    pub fn state_index(&self, state: &str) -> Option<StateIdx> {
        self.schema().index(state).ok()
    }

    /// A human-readable dump of `states` (all, in schema order, when empty): each state with
    /// `1`/`0` for active, its tick, its Auto and Multi flags and its relations, in Go's
    /// `Inspect` layout:
    ///
    /// ```text
    /// 1 A
    ///     |Tick     1
    ///     |Auto     true
    ///     |Require  C
    /// ```
    ///
    /// On a disposed machine the dump is empty. Go: `Inspect`.
    ///
    /// ```
    /// use am_core::{Machine, Schema, State};
    /// let m = Machine::new(Schema::builder().state("A", State::new().auto().require(["B"])).states(["B"]).build()?);
    /// m.add(&["B"])?; // A activates itself
    /// assert_eq!(m.inspect(&["A", "B"])?, "1 A\n    |Tick     1\n    |Auto     true\n    |Require  B\n1 B\n    |Tick     1\n");
    /// # Ok::<(), am_core::Error>(())
    /// ```
    pub fn inspect(&self, states: &[&str]) -> Result<String, Error> {
        let schema = self.schema();
        let idx: Vec<StateIdx> =
            if states.is_empty() { (0..schema.len()).collect() } else { schema.indexes(states)? };
        if self.is_disposing() {
            return Ok(String::new());
        }
        let time = self.time();
        let names = |v: &[StateIdx]| v.iter().map(|&i| schema.name(i)).collect::<Vec<_>>().join(" ");
        let mut out = String::new();
        for i in idx {
            let _ = writeln!(out, "{} {}", time[i] % 2, schema.name(i));
            let _ = writeln!(out, "    |Tick     {}", time[i]);
            if schema.is_auto(i) {
                out.push_str("    |Auto     true\n");
            }
            if schema.is_multi(i) {
                out.push_str("    |Multi    true\n");
            }
            for (label, r) in [
                ("Add", Relation::Add),
                ("Require", Relation::Require),
                ("Remove", Relation::Remove),
                ("After", Relation::After),
            ] {
                let t = schema.targets(i, r);
                if !t.is_empty() {
                    let _ = writeln!(out, "    |{label:<9}{}", names(t));
                }
            }
        }
        Ok(out)
    }
}
