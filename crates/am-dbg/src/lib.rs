//! `am-dbg` — the asyncmachine debugger tool, split from its protocol as `tokio-console` is
//! from `console-api`: [`am_dbg_proto`] has the message types, the client tracer and the
//! server; this crate has the `am-dbg` binary.
//!
//! - `am-dbg` (or `am-dbg tui`): a terminal UI listening on `127.0.0.1:6831` for live
//!   machines — native clients and Go ones (asyncmachine-go with `AM_DBG_ADDR`) — with a
//!   machines tree, states as of any transition (time travel), the timeline, each
//!   transition's steps, log and args, filters and search. `am-dbg tui FILE` opens a
//!   recording (JSON lines or a Go `.gob.br` export); `--record FILE` records while viewing.
//! - `record`, `replay`, `summary`, `export --gob-br`, `import`: see [`cli`].
//!
//! The pieces: [`model`] (what is shown, and every key as a method), [`ui`] (drawing with
//! ratatui), [`tui`] (the loop, keys, terminal restore).
//!
//! ```
//! use am_dbg::model::Model;
//! use am_dbg_proto::{DbgMsg, DbgMsgStruct, DbgMsgTx};
//! let schema = DbgMsgStruct { id: "m".into(), states_index: vec!["A".into()], ..Default::default() };
//! let tx = |n| DbgMsg::Tx(DbgMsgTx { machine_id: "m".into(), clocks: vec![n], accepted: true, ..Default::default() });
//! let mut model = Model::from_messages([DbgMsg::Schema(schema), tx(1), tx(2), tx(3)], 1000);
//! assert_eq!(model.clocks(), [3]); // following the tail
//! model.step(-2); // time travel
//! assert_eq!(model.clocks(), [1]);
//! ```

pub mod cli;
pub mod model;
pub mod tui;
pub mod ui;
