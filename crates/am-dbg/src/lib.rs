//! `am-dbg` — the asyncmachine debugger tool, split from its protocol as `tokio-console` is
//! from `console-api`: [`am_dbg_proto`] has the message types, the client tracer and the
//! server; this crate has the `am-dbg` binary.
//!
//! - `am-dbg` (or `am-dbg tui`): a terminal UI listening on `127.0.0.1:6831` for live
//!   machines — native clients and Go ones (asyncmachine-go with `AM_DBG_ADDR`) — with a
//!   machines tree, states as of any transition (time travel), the timeline, each
//!   transition's steps, log and args, filters and search. `am-dbg tui FILE` opens a
//!   recording (JSON lines or a Go `.gob.br` export); `--record FILE` records while viewing.
//! - `record`, `replay`, `summary`, `export --gob-br`, `import`, `diagram`: see [`cli`].
//!
//! The pieces, in the order data flows: [`store`] (machines and transitions, derived flags
//! and indexes; no terminal), [`action`] and [`keys`] (what a key asks for, from one table),
//! [`app`] (the store plus navigation and pane state; [`App::handle`](app::App::handle) is the
//! only mutator), [`view`] (drawing, a pure function of `&App`), [`tui`] (terminal and loop).
//!
//! ```
//! use am_dbg::action::Action;
//! use am_dbg::app::App;
//! use am_dbg_proto::{DbgMsg, DbgMsgStruct, DbgMsgTx};
//! let schema = DbgMsgStruct { id: "m".into(), states_index: vec!["A".into()], ..Default::default() };
//! let tx = |n| DbgMsg::Tx(DbgMsgTx { machine_id: "m".into(), clocks: vec![n], accepted: true, ..Default::default() });
//! let mut app = App::from_messages([DbgMsg::Schema(schema), tx(1), tx(2), tx(3)], 1000);
//! assert_eq!(app.clocks(), [3]); // following the tail
//! app.handle(Action::Tx(-2)); // time travel
//! assert_eq!(app.clocks(), [1]);
//! ```

#![warn(missing_docs)]

pub mod action;
pub mod app;
pub mod cli;
pub mod diagram;
pub mod export;
#[cfg(test)]
mod fixtures;
pub mod keys;
pub mod player;
pub mod store;
pub mod tui;
pub mod view;
