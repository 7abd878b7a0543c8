//! The TUI's cost, in one run: a frame drawn (ratatui `TestBackend`, 200×50) with 100,000
//! transitions in memory vs an empty model, time travel with a filter on, and how fast
//! messages are taken into the model (the live path's work per message).

use std::time::Instant;

use am_dbg::app::App;
use am_dbg::view::draw;
use am_dbg_proto::{DbgMsg, DbgMsgStruct, DbgMsgTx, StateDef};
use criterion::{Criterion, criterion_group};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn msgs(n: u64) -> Vec<DbgMsg> {
    let names: Vec<String> = (0..20).map(|i| format!("State{i}")).collect();
    let schema = DbgMsgStruct {
        id: "bench".into(),
        states: names.iter().map(|s| (s.clone(), StateDef::default())).collect(),
        states_index: names,
        ..Default::default()
    };
    let mut out = vec![DbgMsg::Schema(schema)];
    for i in 0..n {
        let mut clocks = vec![0u64; 20];
        clocks[(i % 20) as usize] = i + 1;
        out.push(DbgMsg::Tx(DbgMsgTx {
            machine_id: "bench".into(),
            id: format!("tx-{i}"),
            clocks,
            called_states_idxs: vec![(i % 20) as i64],
            accepted: i % 7 != 0,
            is_auto: i % 5 == 0,
            seq: i + 1,
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
    let empty = App::new(am_dbg::store::Store::new(100_000));
    let full = App::from_messages(msgs(100_000), 100_000);
    let mut g = c.benchmark_group("frame 200x50");
    let mut term = Terminal::new(TestBackend::new(200, 50)).unwrap();
    g.bench_function("empty model", |b| b.iter(|| term.draw(|f| draw(f, &empty)).map(|_| ())));
    g.bench_function("100k transitions", |b| b.iter(|| term.draw(|f| draw(f, &full)).map(|_| ())));
    g.finish();

    let e = frame_ns(&empty, 200);
    let f = frame_ns(&full, 200);
    let mut filtered = App::from_messages(msgs(100_000), 100_000);
    filtered.filters.canceled = true;
    filtered.filters.auto = true;
    filtered.filters_changed();
    filtered.step_tx(-50_000);
    let ff = frame_ns(&filtered, 200);
    let all = msgs(1_000_000);
    let start = Instant::now();
    let m = am_dbg::store::Store::from_messages(all, 100_000);
    let ingest = 1_000_000.0 / start.elapsed().as_secs_f64();
    println!("== am-dbg TUI: frame time (one run, 200x50 TestBackend) ==");
    println!("empty model:                         {:>8.0} µs/frame", e / 1000.0);
    println!(
        "100k transitions, following:         {:>8.0} µs/frame  ratio {:.2}x  (target <= 16 ms)",
        f / 1000.0,
        f / e
    );
    println!("100k, filters on, time travel:       {:>8.0} µs/frame  ratio {:.2}x", ff / 1000.0, ff / e);
    println!(
        "ingest into the model:               {:>8.0} msgs/s (1M transitions, retention 100k, kept {}, evicted {})",
        ingest,
        m.machines()[0].txs.len(),
        m.machines()[0].evicted
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
