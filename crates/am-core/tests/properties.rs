//! Property tests over random schemas and mutation sequences.

use std::sync::{Arc, Mutex};

use am_core::{Machine, MutResult, MutationKind, Schema, State, Tracer, Transition};
use proptest::prelude::*;

const N: usize = 7;

#[derive(Clone, Debug)]
struct Rels {
    require: Vec<usize>,
    add: Vec<usize>,
    remove: Vec<usize>,
    after: Vec<usize>,
    auto: bool,
    multi: bool,
}

/// States 0..3 may add only states 4..N, which add nothing: no second-level Add relations,
/// so every Remove relation of an activated state is enforced (semantics page, *Resolving a transition*).
fn schema_strategy() -> impl Strategy<Value = Vec<Rels>> {
    let one = |i: usize| {
        (
            proptest::collection::vec(0..N, 0..2),
            proptest::collection::vec(4..N, 0..2),
            proptest::collection::vec(0..N, 0..2),
            proptest::collection::vec(0..i.max(1), 0..2),
            proptest::bool::weighted(0.2),
            proptest::bool::weighted(0.2),
        )
            .prop_map(move |(require, add, remove, after, auto, multi)| {
                // a state may require itself: it means nothing, as in Go (kept to show it)
                let add = if i < 4 { add } else { vec![] };
                let after = if i == 0 { vec![] } else { after };
                let remove: Vec<usize> =
                    remove.into_iter().filter(|r| *r != i && !add.contains(r) && !require.contains(r)).collect();
                Rels { require, add, remove, after, auto, multi }
            })
    };
    (0..N).map(one).collect::<Vec<_>>()
}

fn name(i: usize) -> String {
    format!("S{i}")
}

fn build(rels: &[Rels]) -> Schema {
    let mut b = Schema::builder();
    for (i, r) in rels.iter().enumerate() {
        let names = |v: &[usize]| v.iter().map(|&x| name(x)).collect::<Vec<_>>();
        let mut s =
            State::new().require(names(&r.require)).add(names(&r.add)).remove(names(&r.remove)).after(names(&r.after));
        s.auto = r.auto;
        s.multi = r.multi;
        b = b.state(name(i), s);
    }
    b.build().expect("generated schemas are valid")
}

fn ops_strategy() -> impl Strategy<Value = Vec<(u8, Vec<usize>)>> {
    proptest::collection::vec((0u8..3, proptest::collection::vec(0..N, 1..3)), 1..25)
}

/// Checks every accepted transition: ticks agree with the target, Require and Remove hold.
struct Invariants(Arc<Mutex<Vec<String>>>);

impl Tracer for Invariants {
    fn id(&self) -> &str {
        "invariants"
    }
    fn transition_end(&self, tx: &Transition<'_>) {
        if !tx.accepted() || tx.is_check() {
            return;
        }
        let s = tx.schema();
        let after = tx.time_after();
        let mut errs = self.0.lock().unwrap();
        for i in 0..s.len() {
            let active = after[i] % 2 == 1;
            if active != tx.target().contains(&i) {
                errs.push(format!("{}: tick {} but target {:?}", s.name(i), after[i], tx.target()));
            }
            if !active {
                continue;
            }
            for &r in s.requires(i) {
                if after[r].is_multiple_of(2) {
                    errs.push(format!("{} active without required {}", s.name(i), s.name(r)));
                }
            }
            // Remove relations hold for states that were called or already active. A state
            // implied by a kept state is re-added by `expand(kept)` (semantics page,
            // *Resolving a transition*, step 4) even when it was blocked, so its own removes
            // are not enforced: with A{add:[X]}, B{remove:[X]}, X{remove:[A]} and B active,
            // add(A) ends with A and X both active (as specified).
            let implied = !tx.called().contains(&i) && !tx.was_active(i);
            for &r in s.removes(i).iter().filter(|_| !implied) {
                if after[r] % 2 == 1 {
                    errs.push(format!("{} active with {} which it removes", s.name(i), s.name(r)));
                }
            }
        }
        // the target is the spec's (§4.1, and for auto transitions §5.5's second pass), by an
        // independent reference below; and nothing is entered only because a called state the
        // first pass rejected implied it
        let before = tx.states_before();
        let kind = tx.kind();
        let first = reference_target(s, kind, tx.called(), before);
        let want = if tx.is_auto() && tx.called().iter().any(|c| !first.contains(c)) {
            let survivors: Vec<usize> = tx.called().iter().copied().filter(|c| first.contains(c)).collect();
            reference_target(s, kind, &survivors, before)
        } else {
            first.clone()
        };
        let mut got = tx.target().to_vec();
        got.sort_unstable();
        let mut want_sorted = want.clone();
        want_sorted.sort_unstable();
        if got != want_sorted {
            errs.push(format!("target {got:?}, the spec gives {want_sorted:?} (first pass {first:?})"));
        }
        if tx.is_auto() {
            let rejected: Vec<usize> = tx.called().iter().copied().filter(|c| !first.contains(c)).collect();
            for &i in tx.enters().iter().filter(|i| !tx.called().contains(i)) {
                let by_rejected = rejected.iter().any(|&c| s.adds(c).contains(&i));
                let other = tx.target().iter().chain(before).any(|&k| s.adds(k).contains(&i));
                if by_rejected && !other {
                    errs.push(format!("auto: {} entered only because a rejected auto state implied it", s.name(i)));
                }
            }
        }
        for (b, a) in tx.time_before().iter().zip(after) {
            if a < b {
                errs.push("a tick decreased".into());
            }
        }
    }
}

/// The spec's §4.1 resolution, written from the spec independently of the crate's resolver:
/// the target of a mutation of `kind` calling `called` (caller order) with `active` (canonical
/// order) active before.
fn reference_target(s: &Schema, kind: MutationKind, called: &[usize], active: &[usize]) -> Vec<usize> {
    let dedup = |v: Vec<usize>| {
        let mut out: Vec<usize> = Vec::new();
        for x in v {
            if !out.contains(&x) {
                out.push(x);
            }
        }
        out
    };
    let expand = |list: &[usize]| -> Vec<usize> {
        let mut out = Vec::new();
        for &st in list {
            if active.contains(&st) && !s.is_multi(st) {
                continue;
            }
            for &a in s.adds(st) {
                if kind == MutationKind::Remove && called.contains(&a) {
                    continue;
                }
                out.push(a);
            }
        }
        out
    };
    let require_filter = |mut list: Vec<usize>| -> Vec<usize> {
        loop {
            let keep: Vec<usize> =
                list.iter().copied().filter(|&x| s.requires(x).iter().all(|r| list.contains(r))).collect();
            if keep.len() == list.len() {
                return keep;
            }
            list = keep;
        }
    };
    let s1: Vec<usize> = match kind {
        MutationKind::Add => dedup(called.iter().chain(active).copied().collect()),
        MutationKind::Remove => active.iter().copied().filter(|x| !called.contains(x)).collect(),
        MutationKind::Set => called.to_vec(),
    };
    let r1 = require_filter(dedup(s1.iter().copied().chain(expand(&s1)).collect()));
    let (mut blocked, mut kept): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    for &st in r1.iter().rev() {
        if r1.iter().any(|&b| s.removes(b).contains(&st) && !blocked.contains(&b)) {
            blocked.push(st);
        } else {
            kept.push(st);
        }
    }
    let removed: Vec<usize> = kept.iter().flat_map(|&k| s.removes(k).iter().copied()).collect();
    let grown = dedup(kept.iter().copied().chain(expand(&kept)).collect());
    require_filter(grown.into_iter().filter(|x| !removed.contains(x)).collect())
}

fn run(rels: &[Rels], ops: &[(u8, Vec<usize>)]) -> (Vec<u64>, Vec<MutResult>, Vec<String>) {
    let errs = Arc::new(Mutex::new(Vec::new()));
    let m = Machine::builder(build(rels)).tracer(Invariants(errs.clone())).build();
    let mut results = Vec::new();
    for (k, states) in ops {
        let names: Vec<String> = states.iter().map(|&i| name(i)).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let kind = [MutationKind::Add, MutationKind::Remove, MutationKind::Set][*k as usize];
        let r = match kind {
            MutationKind::Add => m.add(&refs),
            MutationKind::Remove => m.remove(&refs),
            MutationKind::Set => m.set(&refs),
        };
        results.push(r.expect("known states"));
    }
    let errs = errs.lock().unwrap().clone();
    (m.time(), results, errs)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256), ..ProptestConfig::default() })]

    #[test]
    fn relations_hold_after_every_accepted_transition(rels in schema_strategy(), ops in ops_strategy()) {
        let (_, _, errs) = run(&rels, &ops);
        prop_assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn same_sequence_same_clocks(rels in schema_strategy(), ops in ops_strategy()) {
        let a = run(&rels, &ops);
        let b = run(&rels, &ops);
        prop_assert_eq!(a.0, b.0);
        prop_assert_eq!(a.1, b.1);
    }

    #[test]
    fn executed_adds_leave_called_states_active(rels in schema_strategy(), ops in ops_strategy()) {
        // auto states may legitimately undo a result right after it (the auto transition)
        let rels: Vec<Rels> = rels.into_iter().map(|r| Rels { auto: false, ..r }).collect();
        let m = Machine::new(build(&rels));
        for (k, states) in &ops {
            let names: Vec<String> = states.iter().map(|&i| name(i)).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            match k {
                0 => if m.add(&refs).unwrap() == MutResult::Executed {
                    prop_assert!(m.is(&refs).unwrap());
                },
                1 => if m.remove(&refs).unwrap() == MutResult::Executed {
                    prop_assert!(m.not(&refs).unwrap());
                },
                _ => if m.set(&refs).unwrap() == MutResult::Executed {
                    prop_assert!(m.is(&refs).unwrap());
                },
            }
            let time = m.time();
            let active = m.active_states();
            for (i, t) in time.iter().enumerate() {
                prop_assert_eq!(t % 2 == 1, active.contains(&m.schema().name(i).to_string()));
            }
        }
    }
}

/// What a tracer sees of the clocks is the machine's: each transition starts from where the
/// machine is (the last one's `time_after`, or what an import wrote), the sums are the sums,
/// and `states_before` is the active set in canonical order (the runner keeps its copies by
/// patching what changed; a check on every transition that it never drifts).
struct Clocks {
    last: Mutex<Option<Vec<u64>>>,
    errs: Arc<Mutex<Vec<String>>>,
}

impl Tracer for Clocks {
    fn id(&self) -> &str {
        "clocks"
    }
    fn transition_end(&self, tx: &Transition<'_>) {
        let (before, after) = (tx.time_before(), tx.time_after());
        let mut errs = self.errs.lock().unwrap();
        let now = tx.machine().time();
        if after != now.as_slice() && !tx.is_check() {
            errs.push(format!("time_after {after:?}, machine {now:?}"));
        }
        if let Some(last) = self.last.lock().unwrap().replace(after.to_vec())
            && last != before
        {
            errs.push(format!("time_before {before:?}, last time_after {last:?}"));
        }
        if tx.machine_time_before() != before.iter().sum::<u64>()
            || tx.machine_time_after() != after.iter().sum::<u64>()
        {
            errs.push("a sum is off".into());
        }
        let s = tx.schema();
        let want: Vec<usize> = s.canonical().iter().copied().filter(|&i| before[i] % 2 == 1).collect();
        if tx.states_before() != want.as_slice() {
            errs.push(format!("states_before {:?}, want {want:?}", tx.states_before()));
        }
        if !tx.accepted() && before != after {
            errs.push("a canceled transition changed the clocks".into());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256), ..ProptestConfig::default() })]

    #[test]
    fn transitions_see_the_machines_clocks(rels in schema_strategy(), ops in ops_strategy(), import_at in 0usize..30) {
        let errs = Arc::new(Mutex::new(Vec::new()));
        let clocks = Arc::new(Clocks { last: Mutex::new(None), errs: errs.clone() });
        let m = Machine::builder(build(&rels)).id("p").tracer(clocks.clone()).build();
        let mut snap = None;
        for (n, (k, states)) in ops.iter().enumerate() {
            if n == import_at / 2 {
                snap = Some(m.export());
            }
            if n == import_at && let Some(s) = snap.take() {
                // clocks written by someone other than the runner: its copies are stale
                m.import(&s).unwrap();
                *clocks.last.lock().unwrap() = Some(m.time());
            }
            let names: Vec<String> = states.iter().map(|&i| name(i)).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let _ = match k {
                0 => m.add(&refs),
                1 => m.remove(&refs),
                _ => m.set(&refs),
            };
        }
        let errs = errs.lock().unwrap().clone();
        prop_assert!(errs.is_empty(), "{errs:?}");
    }
}
