//! The TUI's cost, in one run: a frame drawn (ratatui `TestBackend`, 200×50) with 100,000
//! transitions in memory vs an empty app — following, with the log pane and the matrix open,
//! time travel with filters on, stepping — the first frame after a filter change (the
//! timeline and log rebuilt), and how fast messages are taken into the store (the live
//! path's work per message, with one sync per batch as the loop does).

use std::time::Instant;

use am_dbg::action::Action;
use am_dbg::app::App;
use am_dbg::store::{FilterKind, Store};
use am_dbg::view::draw;
use am_dbg_proto::{DbgLogEntry, DbgMsg, DbgMsgStruct, DbgMsgTx, DbgStep, StateDef};
use criterion::{Criterion, criterion_group};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn msgs(n: u64) -> Vec<DbgMsg> {
    let names: Vec<String> = (0..20).map(|i| format!("State{i}")).collect();
    let schema = DbgMsgStruct {
        id: "bench".into(),
        states: names
            .iter()
            .map(|s| (s.clone(), StateDef { require: vec!["State0".into()], ..Default::default() }))
            .collect(),
        states_index: names,
        ..Default::default()
    };
    let mut out = vec![DbgMsg::Schema(schema)];
    for i in 0..n {
        let mut clocks = vec![0u64; 20];
        let s = (i % 20) as usize;
        clocks[s] = i + 1;
        let step = |t: u8, from: i64, to: i64| DbgStep {
            step_type: t,
            from_state_idx: from,
            to_state_idx: to,
            rel_type: 2,
            ..Default::default()
        };
        out.push(DbgMsg::Tx(DbgMsgTx {
            machine_id: "bench".into(),
            id: format!("tx-{i}"),
            clocks,
            called_states_idxs: vec![s as i64],
            accepted: i % 7 != 0,
            is_auto: i % 5 == 0,
            seq: i + 1,
            time: Some(1_000_000_000_000 + i * 5_000),
            steps: vec![step(32, -1, s as i64), step(1, s as i64, 0), step(4, -1, s as i64)],
            log_entries: vec![DbgLogEntry { level: 2, text: format!("[state] +State{s}") }],
            ..Default::default()
        }));
    }
    out
}

fn frame_ns(app: &App, rounds: u32) -> f64 {
    let mut t = Terminal::new(TestBackend::new(200, 50)).unwrap();
    let start = Instant::now();
    for _ in 0..rounds {
        t.draw(|f| draw(f, app)).unwrap();
    }
    start.elapsed().as_nanos() as f64 / f64::from(rounds)
}

fn bench(c: &mut Criterion) {
    let empty = App::new(Store::new(100_000));
    let full = App::from_messages(msgs(100_000), 100_000);
    let mut matrix = App::from_messages(msgs(100_000), 100_000);
    matrix.handle(Action::ToggleMatrix);
    let mut g = c.benchmark_group("frame 200x50");
    let mut term = Terminal::new(TestBackend::new(200, 50)).unwrap();
    g.bench_function("empty", |b| b.iter(|| term.draw(|f| draw(f, &empty)).map(|_| ())));
    g.bench_function("100k transitions, log pane", |b| b.iter(|| term.draw(|f| draw(f, &full)).map(|_| ())));
    g.bench_function("100k transitions, log pane and matrix", |b| {
        b.iter(|| term.draw(|f| draw(f, &matrix)).map(|_| ()))
    });
    g.finish();

    let e = frame_ns(&empty, 200);
    let f = frame_ns(&full, 200);
    let mx = frame_ns(&matrix, 200);
    let mut filtered = App::from_messages(msgs(100_000), 100_000);
    filtered.handle(Action::ToggleMatrix);
    filtered.handle(Action::Toggle(FilterKind::Canceled));
    filtered.handle(Action::Toggle(FilterKind::Auto));
    filtered.step_tx(-50_000);
    filtered.handle(Action::Step(1));
    filtered.handle(Action::Step(1));
    let ff = frame_ns(&filtered, 200);
    // a filter flipped: the timeline and the log are rebuilt once, then drawn
    let start = Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        filtered.handle(Action::Toggle(FilterKind::Health));
    }
    let rebuild = start.elapsed().as_nanos() as f64 / f64::from(rounds);

    let all = msgs(1_000_000);
    let start = Instant::now();
    let s = Store::from_messages(all.clone(), 100_000);
    let ingest = 1_000_000.0 / start.elapsed().as_secs_f64();
    // as the live loop does: batches into the store, one sync (timeline, log, rows, lints) each
    let mut app = App::new(Store::new(100_000));
    let start = Instant::now();
    for chunk in all.chunks(20_000) {
        for m in chunk {
            app.store.message(Some(1), m.clone());
        }
        app.sync();
    }
    let live = 1_000_000.0 / start.elapsed().as_secs_f64();
    println!("== am-dbg TUI: frame time (one run, 200x50 TestBackend) ==");
    println!("empty app:                                   {:>8.0} µs/frame", e / 1000.0);
    println!(
        "100k transitions, following, log pane:      {:>8.0} µs/frame  ratio {:.2}x  (target <= 16 ms)",
        f / 1000.0,
        f / e
    );
    println!("100k, log pane and matrix:                   {:>8.0} µs/frame  ratio {:.2}x", mx / 1000.0, mx / e);
    println!("100k, log + matrix, filters, time travel, step: {:>5.0} µs/frame  ratio {:.2}x", ff / 1000.0, ff / e);
    println!("a filter flipped (timeline + log rebuilt):   {:>8.0} µs", rebuild / 1000.0);
    println!(
        "ingest into the store:                       {:>8.0} msgs/s (1M transitions, retention 100k, kept {}, evicted {})",
        ingest,
        s.machines()[0].txs.len(),
        s.machines()[0].evicted
    );
    println!("ingest + one sync per 20k batch (the loop):  {:>8.0} msgs/s", live);
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
