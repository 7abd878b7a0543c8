//! A real Go `am-dbg` export (`../shared/fixtures/go/am-dbg-sim.gob.br` from the project
//! root, read in place: it is not part of the repository) written by an older Go version
//! reads as Go's debugger reads it: called states from the deprecated `CalledStates` names,
//! relation kinds from the deprecated `Step.Data`. So the timeline names what each
//! transition called, the health filter hides health-only transitions, and relation steps say
//! which relation they followed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use am_dbg::app::App;
use am_dbg::store::Filters;
use am_dbg::view::draw;
use am_dbg_proto::{DbgMsg, Summary, read_recording};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn fixture() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/go/am-dbg-sim.gob.br");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("SKIPPED: {} is not there (the shared fixtures live beside the project)", p.display());
        None
    }
}

#[test]
fn an_old_go_recording_reads_as_go_reads_it() {
    let Some(path) = fixture() else { return };
    let msgs = read_recording(&path).unwrap();
    let model = App::from_messages(msgs.clone(), 1_000_000);
    assert_eq!(model.store.machines().len(), 107);
    let txs: usize = model.store.machines().iter().map(|m| m.txs.len()).sum();
    assert_eq!(txs, 7_605);

    // every transition names its called states (all 7,605 carry only the deprecated names)
    for m in model.store.machines() {
        for t in &m.txs {
            let called: Vec<&str> = m.called(t).collect();
            assert!(!called.is_empty() && !called.contains(&"?"), "{} {}: {called:?}", m.id(), t.id);
        }
    }

    // relation steps say which relation (old Go kept it in Step.Data, RelType 0 = "after")
    let mut relations: BTreeMap<u8, usize> = BTreeMap::new();
    for t in msgs.iter().filter_map(|m| if let DbgMsg::Tx(t) = m { Some(t) } else { None }) {
        for s in t.steps.iter().filter(|s| s.step_type & 1 != 0) {
            *relations.entry(s.rel_type).or_default() += 1;
        }
    }
    for (kind, name) in [(1, "add"), (2, "require"), (3, "remove")] {
        assert!(relations.get(&kind).is_some_and(|n| *n > 0), "no {name} relation steps: {relations:?}");
    }

    // the health filter hides `sim`'s 48 health-only transitions
    let mut model = model;
    assert!(model.select_id("sim"));
    assert_eq!(model.timeline().rows().len(), 219);
    model.filters = Filters { health: true, ..Filters::default() };
    model.filters_changed();
    assert_eq!(model.timeline().rows().len(), 219 - 48);

    // what the timeline and the detail show
    let mut term = Terminal::new(TestBackend::new(160, 40)).unwrap();
    model.filters = Filters::default();
    model.filters_changed();
    model.last();
    term.draw(|f| draw(f, &model)).unwrap();
    let screen: String = term.backend().buffer().content().iter().map(|c| c.symbol()).collect();
    let sim = model.store.by_id("sim").unwrap();
    let last = sim.txs.back().unwrap();
    let called = sim.called(last).collect::<Vec<_>>().join(" ");
    assert!(screen.contains(&format!("[{called}]")), "the detail names the called states {called:?}:\n{screen}");

    assert!(
        Summary::from_messages(&msgs).to_string().starts_with("machines: 107, transitions: 7605,"),
        "{}",
        Summary::from_messages(&msgs)
    );
}
