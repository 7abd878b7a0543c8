//! State definitions, schema validation, and the canonical state order.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use crate::bits::BitSet;
use crate::error::Error;

/// Index of a state in its schema (declaration order, `Exception` last unless declared).
pub type StateIdx = usize;

/// The reserved error state every machine has.
pub const EXCEPTION: &str = "Exception";
/// Health state: an Add calling only it is a health transition (no auto states).
pub const HEALTHCHECK: &str = "Healthcheck";
/// Health state, like [`HEALTHCHECK`].
pub const HEARTBEAT: &str = "Heartbeat";
/// Added after `import` when the schema has it.
pub const MACHINE_RESTORED: &str = "MachineRestored";
/// Prefix of the global handlers `AnyEnter` / `AnyState`; not a valid state name.
pub const ANY: &str = "Any";

/// One state's definition: its relations and flags.
///
/// ```
/// use am_core::State;
/// let s = State::new().require(["Connected"]).remove(["Idle"]).auto();
/// assert!(s.is_auto());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct State {
    /// Only active while all these are active.
    pub require: Vec<String>,
    /// Activating this state also activates these.
    pub add: Vec<String>,
    /// While this state is active or being activated, these are blocked.
    pub remove: Vec<String>,
    /// Activation and handlers of this state are ordered after these.
    pub after: Vec<String>,
    /// The machine tries to activate it on its own after state changes.
    pub auto: bool,
    /// Adding it while active re-activates it.
    pub multi: bool,
    /// Free-form labels.
    pub tags: Vec<String>,
}

fn strings<I, S>(items: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    items.into_iter().map(Into::into).collect()
}

impl State {
    /// A state with no relations.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets `require`.
    pub fn require<I: IntoIterator<Item = S>, S: Into<String>>(mut self, s: I) -> Self {
        self.require = strings(s);
        self
    }
    /// Sets `add`.
    #[allow(clippy::should_implement_trait)]
    pub fn add<I: IntoIterator<Item = S>, S: Into<String>>(mut self, s: I) -> Self {
        self.add = strings(s);
        self
    }
    /// Sets `remove`.
    pub fn remove<I: IntoIterator<Item = S>, S: Into<String>>(mut self, s: I) -> Self {
        self.remove = strings(s);
        self
    }
    /// Sets `after`.
    pub fn after<I: IntoIterator<Item = S>, S: Into<String>>(mut self, s: I) -> Self {
        self.after = strings(s);
        self
    }
    /// Marks the state auto.
    pub fn auto(mut self) -> Self {
        self.auto = true;
        self
    }
    /// Marks the state multi.
    pub fn multi(mut self) -> Self {
        self.multi = true;
        self
    }
    /// Sets the tags.
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, s: I) -> Self {
        self.tags = strings(s);
        self
    }
    /// Whether the state is auto.
    pub fn is_auto(&self) -> bool {
        self.auto
    }
    /// Number of non-empty relation lists, and their total length.
    pub fn relation_counts(&self) -> (usize, usize) {
        let lists = [&self.require, &self.add, &self.remove, &self.after];
        (lists.iter().filter(|l| !l.is_empty()).count(), lists.iter().map(|l| l.len()).sum())
    }
}

/// Builds a [`Schema`]; see [`Schema::builder`].
#[derive(Clone, Debug, Default)]
pub struct SchemaBuilder {
    states: Vec<(String, State)>,
    groups: Vec<(String, Vec<String>)>,
}

impl SchemaBuilder {
    /// Declares a state (declaration order is the schema index order).
    pub fn state(mut self, name: impl Into<String>, def: State) -> Self {
        self.states.push((name.into(), def));
        self
    }
    /// Declares plain states without relations.
    pub fn states<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        for n in names {
            self.states.push((n.into(), State::new()));
        }
        self
    }
    /// Declares a named, ordered group of states (informational).
    pub fn group<I: IntoIterator<Item = S>, S: Into<String>>(mut self, name: impl Into<String>, states: I) -> Self {
        self.groups.push((name.into(), strings(states)));
        self
    }
    /// Validates and builds the schema.
    pub fn build(self) -> Result<Schema, Error> {
        Schema::new(self.states, self.groups)
    }
}

/// A validated, ordered set of states with resolved relations. Cheap to clone: clones share
/// one copy, so machines built from one schema keep one schema between them.
///
/// ```
/// use am_core::{Schema, State};
/// let schema = Schema::builder()
///     .state("A", State::new().require(["B", "C"]))
///     .state("B", State::new().require(["D"]))
///     .states(["C", "D"])
///     .build()?;
/// assert_eq!(schema.names(), ["A", "B", "C", "D", "Exception"]);
/// let canonical: Vec<_> = schema.canonical().iter().map(|&i| schema.name(i)).collect();
/// assert_eq!(canonical, ["D", "B", "C", "A", "Exception"]);
/// assert!(Schema::builder().state("A", State::new().add(["X"])).build().is_err());
/// # Ok::<(), am_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Schema(Arc<data::SchemaData>);

/// A schema's contents, shared by its clones (cloning a schema for each machine built from
/// it costs a reference count, not a copy). Public in a private module: reachable only
/// through [`Schema`]'s `Deref`, which exposes no field outside the crate.
mod data {
    use super::*;

    #[derive(Debug)]
    pub struct SchemaData {
        pub(crate) names: Vec<String>,
        pub(crate) defs: Vec<State>,
        pub(crate) index: HashMap<String, StateIdx, NameHash>,
        pub(crate) require: Vec<Vec<StateIdx>>,
        pub(crate) add: Vec<Vec<StateIdx>>,
        pub(crate) remove: Vec<Vec<StateIdx>>,
        pub(crate) after: Vec<Vec<StateIdx>>,
        pub(crate) removed_by: Vec<Vec<StateIdx>>,
        pub(crate) auto: BitSet,
        pub(crate) multi: BitSet,
        pub(crate) auto_list: Vec<StateIdx>,
        /// States without Add, Require or Remove relations: a mutation touching only these
        /// resolves without the relation passes (`Resolver::resolve`).
        pub(crate) plain: BitSet,
        pub(crate) canonical: Vec<StateIdx>,
        pub(crate) canon_pos: Vec<usize>,
        pub(crate) exception: StateIdx,
        pub(crate) health: [Option<StateIdx>; 2],
        pub(crate) restored: Option<StateIdx>,
        pub(crate) groups: Vec<(String, Vec<StateIdx>)>,
    }
}

impl std::ops::Deref for Schema {
    type Target = data::SchemaData;
    fn deref(&self) -> &data::SchemaData {
        &self.0
    }
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names && self.defs == other.defs && self.groups == other.groups
    }
}

impl Schema {
    /// Starts a schema.
    pub fn builder() -> SchemaBuilder {
        SchemaBuilder::default()
    }

    fn new(mut states: Vec<(String, State)>, groups: Vec<(String, Vec<String>)>) -> Result<Self, Error> {
        let mut index = HashMap::with_capacity_and_hasher(states.len() + 1, NameHash);
        for (i, (name, _)) in states.iter().enumerate() {
            if name.is_empty() {
                return Err(Error::EmptyStateName);
            }
            if name == ANY {
                return Err(Error::ReservedName(name.clone()));
            }
            if index.insert(name.clone(), i).is_some() {
                return Err(Error::DuplicateState(name.clone()));
            }
        }
        match index.get(EXCEPTION) {
            Some(&i) => states[i].1.multi = true,
            None => {
                index.insert(EXCEPTION.to_string(), states.len());
                states.push((EXCEPTION.to_string(), State::new().multi()));
            }
        }
        let n = states.len();
        let resolve = |state: &str, relation: &'static str, list: &[String]| -> Result<Vec<StateIdx>, Error> {
            let mut out: Vec<StateIdx> = Vec::with_capacity(list.len());
            for t in list {
                let i = *index.get(t).ok_or_else(|| Error::UnknownRelationTarget {
                    state: state.to_string(),
                    relation,
                    target: t.clone(),
                })?;
                // a self add or self require means nothing (Go treats both as no-ops)
                if t == state && relation != "add" && relation != "require" {
                    return Err(Error::SelfRelation { state: state.to_string(), relation });
                }
                if t != state && !out.contains(&i) {
                    out.push(i);
                }
            }
            Ok(out)
        };
        let (mut require, mut add, mut remove, mut after) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for (name, def) in &states {
            let (rq, ad, rm) = (
                resolve(name, "require", &def.require)?,
                resolve(name, "add", &def.add)?,
                resolve(name, "remove", &def.remove)?,
            );
            for (other, rel) in [(&ad, "add"), (&rq, "require")] {
                if let Some(&x) = rm.iter().find(|x| other.contains(x)) {
                    return Err(Error::ConflictingRelations {
                        state: name.clone(),
                        target: states[x].0.clone(),
                        relations: (rel, "remove"),
                    });
                }
            }
            require.push(rq);
            add.push(ad);
            remove.push(rm);
            after.push(resolve(name, "after", &def.after)?);
        }
        let mut removed_by = vec![Vec::new(); n];
        for (s, list) in remove.iter().enumerate() {
            for &x in list {
                removed_by[x].push(s);
            }
        }
        let (mut auto, mut multi) = (BitSet::with_len(n), BitSet::with_len(n));
        let mut auto_list = Vec::new();
        for (i, (_, def)) in states.iter().enumerate() {
            if def.auto {
                auto.insert(i);
                auto_list.push(i);
            }
            if def.multi {
                multi.insert(i);
            }
        }
        let canonical = canonical_order(&require, &after)
            .map_err(|cycle| Error::AfterCycle(cycle.into_iter().map(|i| states[i].0.clone()).collect()))?;
        let mut canon_pos = vec![0; n];
        for (pos, &s) in canonical.iter().enumerate() {
            canon_pos[s] = pos;
        }
        let mut group_idx = Vec::with_capacity(groups.len());
        for (g, members) in groups {
            let mut idx = Vec::with_capacity(members.len());
            for m in &members {
                idx.push(*index.get(m).ok_or_else(|| Error::UnknownRelationTarget {
                    state: g.clone(),
                    relation: "group",
                    target: m.clone(),
                })?);
            }
            group_idx.push((g, idx));
        }
        let find = |s: &str| index.get(s).copied();
        let health = [find(HEALTHCHECK), find(HEARTBEAT)];
        let restored = find(MACHINE_RESTORED);
        let exception = index[EXCEPTION];
        let mut plain = BitSet::with_len(states.len());
        for i in 0..states.len() {
            if add[i].is_empty() && require[i].is_empty() && remove[i].is_empty() {
                plain.insert(i);
            }
        }
        let (names, defs) = states.into_iter().unzip();
        Ok(Schema(Arc::new(data::SchemaData {
            names,
            defs,
            index,
            require,
            add,
            remove,
            after,
            removed_by,
            auto,
            multi,
            auto_list,
            plain,
            canonical,
            canon_pos,
            exception,
            health,
            restored,
            groups: group_idx,
        })))
    }

    /// State names in schema index order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
    /// Number of states (including `Exception`).
    pub fn len(&self) -> usize {
        self.names.len()
    }
    /// Always false: every schema has `Exception`.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    /// The name of state `i`. Panics if `i` is out of range, like slice indexing.
    pub fn name(&self, i: StateIdx) -> &str {
        &self.names[i]
    }
    /// The index of a state name.
    pub fn index(&self, name: &str) -> Result<StateIdx, Error> {
        // a few names compare faster than they hash
        let found = if self.names.len() <= 8 {
            self.names.iter().position(|n| n.len() == name.len() && n == name)
        } else {
            self.index.get(name).copied()
        };
        found.ok_or_else(|| Error::UnknownState(name.to_string()))
    }
    /// The definition of state `i` as declared (names, not indexes).
    pub fn state(&self, i: StateIdx) -> &State {
        &self.defs[i]
    }
    /// Index of `Exception`.
    pub fn exception(&self) -> StateIdx {
        self.exception
    }
    /// The canonical order used for every state list the machine produces.
    pub fn canonical(&self) -> &[StateIdx] {
        &self.canonical
    }
    /// Named groups with their state indexes.
    pub fn groups(&self) -> &[(String, Vec<StateIdx>)] {
        &self.groups
    }
    /// Whether state `i` is Multi.
    pub fn is_multi(&self, i: StateIdx) -> bool {
        self.multi.contains(i)
    }
    /// Whether state `i` is Auto.
    pub fn is_auto(&self, i: StateIdx) -> bool {
        self.auto.contains(i)
    }
    /// Resolved `require` of state `i`.
    pub fn requires(&self, i: StateIdx) -> &[StateIdx] {
        &self.require[i]
    }
    /// Resolved `add` of state `i`.
    pub fn adds(&self, i: StateIdx) -> &[StateIdx] {
        &self.add[i]
    }
    /// Resolved `remove` of state `i`.
    pub fn removes(&self, i: StateIdx) -> &[StateIdx] {
        &self.remove[i]
    }
    /// Resolved `after` of state `i`.
    pub fn afters(&self, i: StateIdx) -> &[StateIdx] {
        &self.after[i]
    }
    /// Non-empty relation lists and their total length, summed over all states.
    pub fn relation_counts(&self) -> (usize, usize) {
        self.defs.iter().map(State::relation_counts).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }
    /// Resolves names to indexes, de-duplicated keeping first occurrences.
    pub fn indexes<S: AsRef<str>>(&self, names: &[S]) -> Result<Vec<StateIdx>, Error> {
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            let i = self.index(n.as_ref())?;
            if !out.contains(&i) {
                out.push(i);
            }
        }
        Ok(out)
    }
    /// Whether `new` extends this schema: the same states at the same indexes, plus more.
    pub(crate) fn check_growth(&self, new: &Schema) -> Result<(), Error> {
        if new.len() <= self.len() {
            return Err(Error::SchemaShrink(format!("{} states, had {}", new.len(), self.len())));
        }
        match self.names.iter().zip(&new.names).position(|(a, b)| a != b) {
            Some(i) => {
                Err(Error::SchemaShrink(format!("state {i} changed from `{}` to `{}`", self.names[i], new.names[i])))
            }
            None => Ok(()),
        }
    }
}

/// Depth-first post-order over Require, then a stable topological sort by After.
/// Returns the states of an After cycle on failure.
fn canonical_order(require: &[Vec<StateIdx>], after: &[Vec<StateIdx>]) -> Result<Vec<StateIdx>, Vec<StateIdx>> {
    let n = require.len();
    let mut seen = vec![false; n];
    let mut l0 = Vec::with_capacity(n);
    for s in 0..n {
        visit(s, require, &mut seen, &mut l0);
    }
    let mut taken = vec![false; n];
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let next = l0.iter().copied().find(|&s| !taken[s] && after[s].iter().all(|&a| taken[a]));
        match next {
            Some(s) => {
                taken[s] = true;
                out.push(s);
            }
            None => return Err(l0.into_iter().filter(|&s| !taken[s]).collect()),
        }
    }
    Ok(out)
}

fn visit(s: StateIdx, require: &[Vec<StateIdx>], seen: &mut [bool], out: &mut Vec<StateIdx>) {
    if seen[s] {
        return;
    }
    seen[s] = true;
    for &r in &require[s] {
        visit(r, require, seen, out);
    }
    out.push(s);
}

/// The hasher of the name index: every mutation looks its state names up, and SipHash's
/// fixed cost was a tenth of a transition. Keys are the schema's own names (chosen by its
/// author, not by a peer), so flooding resistance buys nothing here; a lookup of an unknown
/// name costs one probe like any other.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NameHash;

impl BuildHasher for NameHash {
    type Hasher = NameHasher;
    fn build_hasher(&self) -> NameHasher {
        NameHasher(0)
    }
}

/// Multiply-rotate over 8-byte words (the FxHash scheme).
pub(crate) struct NameHasher(u64);

impl NameHasher {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    #[inline]
    fn mix(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(Self::K);
    }
}

impl Hasher for NameHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.mix(u64::from(b));
    }
    #[inline]
    fn finish(&self) -> u64 {
        // the product's well-mixed high bits to where the table takes its bucket index
        self.0.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(b: SchemaBuilder) -> Vec<String> {
        let s = b.build().unwrap();
        s.canonical().iter().map(|&i| s.name(i).to_string()).collect()
    }

    #[test]
    fn canonical_examples() {
        let b = Schema::builder()
            .state("A", State::new().after(["B"]))
            .state("B", State::new())
            .state("C", State::new().after(["D"]))
            .state("D", State::new());
        assert_eq!(canon(b), ["B", "A", "D", "C", "Exception"]);
    }

    #[test]
    fn validation_errors() {
        let e = |b: SchemaBuilder| b.build().unwrap_err();
        assert_eq!(e(Schema::builder().states([""])), Error::EmptyStateName);
        assert_eq!(e(Schema::builder().states(["A", "A"])), Error::DuplicateState("A".into()));
        assert_eq!(e(Schema::builder().states(["Any"])), Error::ReservedName("Any".into()));
        assert!(matches!(e(Schema::builder().state("A", State::new().remove(["A"]))), Error::SelfRelation { .. }));
        assert!(matches!(e(Schema::builder().state("A", State::new().after(["A"]))), Error::SelfRelation { .. }));
        assert!(matches!(
            e(Schema::builder().state("A", State::new().add(["B"]).remove(["B"])).states(["B"])),
            Error::ConflictingRelations { .. }
        ));
        assert!(matches!(
            e(Schema::builder().state("A", State::new().require(["B"]).remove(["B"])).states(["B"])),
            Error::ConflictingRelations { .. }
        ));
        assert!(matches!(
            e(Schema::builder().state("A", State::new().after(["B"])).state("B", State::new().after(["A"]))),
            Error::AfterCycle(_)
        ));
        assert!(matches!(e(Schema::builder().group("g", ["X"])), Error::UnknownRelationTarget { .. }));
        // a self add or require is harmless (Go ignores both, so schemas ported from Go
        // build); require cycles are valid
        let s = Schema::builder().state("A", State::new().require(["A"])).build().unwrap();
        assert!(s.require[0].is_empty(), "a no-op");
        Schema::builder()
            .state("A", State::new().add(["A"]).require(["A", "B"]))
            .state("B", State::new().require(["A"]))
            .build()
            .unwrap();
    }

    #[test]
    fn exception_declared_is_forced_multi() {
        let s = Schema::builder().state("Exception", State::new()).states(["A"]).build().unwrap();
        assert_eq!(s.exception(), 0);
        assert!(s.is_multi(0));
        assert_eq!(s.len(), 2);
    }
}
