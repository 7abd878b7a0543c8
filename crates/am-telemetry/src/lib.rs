//! `am-telemetry`: every `am` exporter behind a cargo feature, and [`bind_env`], which
//! binds each compiled-in exporter that its `AM_*` variable switches on.
//!
//! Pick exporters in one of two ways:
//!
//! ```toml
//! # only the crates you need
//! [dependencies]
//! am-core = "0.1"
//! am-dbg-proto = "0.1"
//!
//! # or the umbrella, with features
//! [dependencies]
//! am-telemetry = { version = "0.1", features = ["dbg"] }   # or "full"
//! ```
//!
//! ```
//! use am_telemetry::am_core::{Machine, Schema};
//!
//! let m = Machine::new(Schema::builder().states(["A"]).build()?);
//! let telemetry = am_telemetry::bind_env(&m)?; // reads AM_DBG_ADDR, AM_PROM_*, …
//! for name in telemetry.bound() {
//!     println!("exporter bound: {name}");
//! }
//! for var in telemetry.ignored() {
//!     eprintln!("warning: {var}");
//! }
//! m.add(&["A"])?;
//! drop(telemetry); // flushes and shuts the exporters down
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod bind;

pub use am_core;
#[cfg(feature = "dbg")]
pub use am_dbg_proto as dbg;
#[cfg(feature = "grafana")]
pub use am_grafana_gen as grafana;
#[cfg(feature = "loki")]
pub use am_loki as loki;
#[cfg(feature = "otel")]
pub use am_otel as otel;
#[cfg(feature = "prom")]
pub use am_prom as prom;
pub use bind::{Error, IgnoredVar, Telemetry, bind_env};
