//! Resolving the target set of a mutation from relations (semantics page, *Resolving a transition*).

use crate::bits::BitSet;
use crate::mutation::MutationKind;
use crate::schema::{Schema, StateIdx};
use crate::steps::{Relation, Step, StepKind};

/// Reusable buffers of the resolver; no allocation once warmed up.
#[derive(Debug, Default)]
pub(crate) struct Resolver {
    called: BitSet,
    list: Vec<StateIdx>,
    set: BitSet,
    blocked: BitSet,
    kept: Vec<StateIdx>,
    removed: BitSet,
    r1: BitSet,
    pub(crate) target: BitSet,
}

/// Inputs of one resolution.
pub(crate) struct Input<'a> {
    pub(crate) kind: MutationKind,
    pub(crate) called: &'a [StateIdx],
    pub(crate) auto: bool,
    /// Active states, canonical order.
    pub(crate) active_list: &'a [StateIdx],
    pub(crate) active: &'a BitSet,
}

impl Resolver {
    pub(crate) fn new(n: usize) -> Self {
        let b = || BitSet::with_len(n);
        Resolver {
            called: b(),
            set: b(),
            blocked: b(),
            removed: b(),
            r1: b(),
            target: b(),
            list: Vec::with_capacity(n),
            kept: Vec::with_capacity(n),
        }
    }

    pub(crate) fn grow(&mut self, n: usize) {
        for b in [&mut self.called, &mut self.set, &mut self.blocked, &mut self.removed, &mut self.r1, &mut self.target]
        {
            b.grow(n);
        }
    }

    /// Computes the target into `target_out` (canonical order) and returns acceptance.
    /// Rejected called states go to `rejected`.
    pub(crate) fn resolve(
        &mut self,
        s: &Schema,
        inp: &Input<'_>,
        target_out: &mut Vec<StateIdx>,
        rejected: &mut Vec<StateIdx>,
        mut steps: Option<&mut Vec<Step>>,
    ) -> bool {
        let Resolver { called, list, set, blocked, kept, removed, r1, target } = self;
        called.clear();
        set.clear();
        list.clear();
        for &c in inp.called {
            called.insert(c);
        }
        if steps.is_none()
            && let Some(accepted) = plain_target(s, inp, called, target, target_out)
        {
            rejected.clear();
            rejected.extend(inp.called.iter().copied().filter(|&c| !target.contains(c)));
            return accepted;
        }
        if let Some(st) = steps.as_deref_mut() {
            for &c in inp.called {
                st.push(Step::new(StepKind::Requested, None, Some(c)));
            }
            match inp.kind {
                MutationKind::Add | MutationKind::Set => {
                    for &c in inp.called.iter().filter(|&&c| !inp.active.contains(c)) {
                        st.push(Step::new(StepKind::Activate, None, Some(c)));
                    }
                    if inp.kind == MutationKind::Set {
                        for &a in inp.active_list.iter().filter(|&&a| !called.contains(a)) {
                            st.push(Step::new(StepKind::Deactivate, None, Some(a)));
                        }
                    }
                }
                MutationKind::Remove => {
                    for &c in inp.called {
                        st.push(Step::new(StepKind::Deactivate, None, Some(c)));
                    }
                }
            }
        }
        // S1
        let push = |list: &mut Vec<StateIdx>, set: &mut BitSet, x: StateIdx| {
            if set.insert(x) {
                list.push(x);
            }
        };
        match inp.kind {
            MutationKind::Add => {
                for &c in inp.called.iter().chain(inp.active_list) {
                    push(list, set, c);
                }
            }
            MutationKind::Remove => {
                for &a in inp.active_list.iter().filter(|&&a| !called.contains(a)) {
                    push(list, set, a);
                }
            }
            MutationKind::Set => {
                for &c in inp.called {
                    push(list, set, c);
                }
            }
        }
        // R1 = require_filter(dedup(S1 ++ expand(S1)))
        let n1 = list.len();
        expand(s, inp, called, list, set, n1, None, steps.as_deref_mut());
        require_filter(s, list, set, Some(called), steps.as_deref_mut());
        r1.copy_from(set);

        // blocking, from the end of R1
        blocked.clear();
        kept.clear();
        for &x in list.iter().rev() {
            let mut is_blocked = false;
            for &b in &s.removed_by[x] {
                if set.contains(b) && !blocked.contains(b) {
                    is_blocked = true;
                    if let Some(st) = steps.as_deref_mut() {
                        st.push(Step::rel(Relation::Remove, b, x));
                    }
                }
            }
            if is_blocked {
                blocked.insert(x);
                if let Some(st) = steps.as_deref_mut() {
                    let k = if inp.active.contains(x) { StepKind::Deactivate } else { StepKind::DeactivatePassive };
                    st.push(Step::new(k, None, Some(x)));
                }
            } else {
                kept.push(x);
            }
        }
        removed.clear();
        for &k in kept.iter() {
            for &r in &s.remove[k] {
                removed.insert(r);
            }
        }
        // target = require_filter((kept ∪ expand(kept)) minus removed)
        list.clear();
        set.clear();
        for &k in kept.iter().rev() {
            push(list, set, k);
        }
        let nk = list.len();
        expand(s, inp, called, list, set, nk, Some(r1), steps.as_deref_mut());
        list.retain(|&x| !removed.contains(x));
        set.clear();
        for &x in list.iter() {
            set.insert(x);
        }
        require_filter(s, list, set, Some(called), steps.as_deref_mut());

        target.copy_from(set);
        in_canonical_order(s, list, target_out);

        rejected.clear();
        rejected.extend(inp.called.iter().copied().filter(|&c| !set.contains(c)));
        let accepted = match inp.kind {
            MutationKind::Remove => true,
            _ if inp.auto => rejected.len() < inp.called.len(),
            _ => rejected.is_empty(),
        };
        if let Some(st) = steps {
            if inp.kind != MutationKind::Remove {
                for &r in rejected.iter() {
                    st.push(Step::new(StepKind::Cancel, None, Some(r)));
                }
            }
            for &later in target_out.iter() {
                for &earlier in &s.after[later] {
                    if set.contains(earlier) {
                        st.push(Step::rel(Relation::After, earlier, later));
                    }
                }
            }
        }
        accepted
    }
}

/// The fast path for mutations among states without Add, Require or Remove relations: when
/// every state of S1 (the start set, semantics page *Resolving a transition*, step 1) is such
/// a state, no relation pass changes anything and the target is S1 itself (written into
/// `target`); returns acceptance. `None` when some state of S1 has relations (the full passes
/// run).
fn plain_target(
    s: &Schema,
    inp: &Input<'_>,
    called: &BitSet,
    target: &mut BitSet,
    target_out: &mut Vec<StateIdx>,
) -> Option<bool> {
    let (a, c, p) = (inp.active.words(), called.words(), s.plain.words());
    let word = |ws: &[u64], i: usize| ws.get(i).copied().unwrap_or(0);
    for i in 0..a.len().max(c.len()) {
        let s1 = match inp.kind {
            MutationKind::Add => word(a, i) | word(c, i),
            MutationKind::Remove => word(a, i) & !word(c, i),
            MutationKind::Set => word(c, i),
        };
        if s1 & !word(p, i) != 0 {
            return None;
        }
    }
    target.clear();
    target_out.clear();
    for x in inp.called.iter().chain(inp.active_list) {
        let in_s1 = match inp.kind {
            MutationKind::Add => true,
            MutationKind::Remove => !called.contains(*x),
            MutationKind::Set => called.contains(*x),
        };
        if in_s1 && target.insert(*x) {
            target_out.push(*x);
        }
    }
    target_out.sort_unstable_by_key(|&x| s.canon_pos[x]);
    // every called state is in the target (Add, Set) or accepted anyway (Remove)
    Some(match inp.kind {
        MutationKind::Remove => true,
        _ if inp.auto => !inp.called.is_empty(),
        _ => true,
    })
}

/// `members` into `out`, canonical order: a sort of the members, not a pass over the
/// schema (a transition costs what it touches, not the schema's size).
fn in_canonical_order(s: &Schema, members: &[StateIdx], out: &mut Vec<StateIdx>) {
    out.clear();
    out.extend_from_slice(members);
    out.sort_unstable_by_key(|&x| s.canon_pos[x]);
}

/// Appends one level of Add relations of `list[..to]`; steps are recorded for edges that
/// introduce a state not in `known`.
#[allow(clippy::too_many_arguments)]
fn expand(
    s: &Schema,
    inp: &Input<'_>,
    called: &BitSet,
    list: &mut Vec<StateIdx>,
    set: &mut BitSet,
    to: usize,
    known: Option<&BitSet>,
    mut steps: Option<&mut Vec<Step>>,
) {
    for i in 0..to {
        let x = list[i];
        if inp.active.contains(x) && !s.multi.contains(x) {
            continue;
        }
        for &a in &s.add[x] {
            if inp.kind == MutationKind::Remove && called.contains(a) {
                continue;
            }
            if set.insert(a) {
                list.push(a);
                if let Some(st) = steps.as_deref_mut().filter(|_| !known.is_some_and(|k| k.contains(a))) {
                    st.push(Step::rel(Relation::Add, x, a));
                    st.push(Step::new(StepKind::Activate, None, Some(a)));
                }
            }
        }
    }
}

/// Drops states whose requirements are not all in the set, until nothing changes.
fn require_filter(
    s: &Schema,
    list: &mut Vec<StateIdx>,
    set: &mut BitSet,
    called: Option<&BitSet>,
    mut steps: Option<&mut Vec<Step>>,
) {
    loop {
        let mut changed = false;
        for &x in list.iter() {
            if !set.contains(x) {
                continue;
            }
            if s.require[x].iter().any(|&r| !set.contains(r)) {
                if let Some(st) = steps.as_deref_mut() {
                    for &r in s.require[x].iter().filter(|&&r| !set.contains(r)) {
                        st.push(Step::rel(Relation::Require, x, r));
                    }
                    st.push(Step::new(StepKind::DeactivatePassive, Some(x), None));
                    if called.is_some_and(|c| c.contains(x)) {
                        for &r in s.require[x].iter().filter(|&&r| !set.contains(r)) {
                            st.push(Step::new(StepKind::Cancel, None, Some(r)));
                        }
                    }
                }
                set.remove(x);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    list.retain(|&x| set.contains(x));
    // every requirement now met, once per pair (Go records them on every resolver pass; its
    // debugger draws relation lines from them)
    if let Some(st) = steps {
        for &x in list.iter() {
            for &r in &s.require[x] {
                let step = Step::rel(Relation::Require, x, r);
                if !st.contains(&step) {
                    st.push(step);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::State;

    /// The relation-free fast path gives what the full passes give (steps on forces them),
    /// over random schemas where about half the states are plain.
    #[test]
    fn plain_fast_path_agrees_with_full_passes() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut fast_taken = 0;
        for _ in 0..3000 {
            let n = 6;
            let mut b = Schema::builder();
            for i in 0..n {
                let mut st = State::new();
                if next(2) == 0 {
                    let r = next(n);
                    match next(3) {
                        0 if r != i => st = st.require([format!("S{r}")]),
                        1 if r != i => st = st.add([format!("S{r}")]),
                        2 if r != i => st = st.remove([format!("S{r}")]),
                        _ => {}
                    }
                }
                b = b.state(format!("S{i}"), st);
            }
            let Ok(s) = b.build() else { continue };
            let mut active = BitSet::with_len(s.len());
            for i in 0..s.len() {
                if next(3) == 0 {
                    active.insert(i);
                }
            }
            let active_list: Vec<StateIdx> = s.canonical().iter().copied().filter(|&i| active.contains(i)).collect();
            let called: Vec<StateIdx> = {
                let mut c = vec![next(s.len())];
                let d = next(s.len());
                if d != c[0] && next(2) == 0 {
                    c.push(d);
                }
                c
            };
            let kind = [MutationKind::Add, MutationKind::Remove, MutationKind::Set][next(3)];
            let inp = Input { kind, called: &called, auto: next(4) == 0, active_list: &active_list, active: &active };
            let mut r = Resolver::new(s.len());
            let (mut t1, mut rej1, mut t2, mut rej2) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut probe = BitSet::with_len(s.len());
            for &c in &called {
                probe.insert(c);
            }
            fast_taken +=
                usize::from(plain_target(&s, &inp, &probe, &mut BitSet::with_len(s.len()), &mut Vec::new()).is_some());
            let a1 = r.resolve(&s, &inp, &mut t1, &mut rej1, None);
            let a2 = r.resolve(&s, &inp, &mut t2, &mut rej2, Some(&mut Vec::new()));
            assert_eq!((a1, &t1, &rej1), (a2, &t2, &rej2), "{kind:?} {called:?} active {active_list:?} in {s:?}");
        }
        assert!(fast_taken > 300, "the fast path ran {fast_taken} times");
    }
}
