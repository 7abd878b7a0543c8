//! `am-dbg diagram`: parsing its arguments, reading the machine's schema from a recording or
//! from live clients, and writing the picture ([`crate::diagram`] draws it).

use std::path::PathBuf;
use std::time::Duration;

use am_dbg_proto::{Error, Server};

use super::usage;
use crate::diagram::Format;
use crate::store::Store;

/// Which transition's active states to fill in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxSel {
    /// The machine's last.
    Last,
    /// Its n-th (1-based, counted from its first).
    Nth(u64),
}

/// `am-dbg diagram`'s options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiagramOptions {
    /// A recording, or an address to listen on.
    pub source: String,
    /// The machine; the only one when not given.
    pub machine: Option<String>,
    /// The output format.
    pub format: Format,
    /// Fill in the states active after this transition.
    pub tx: Option<TxSel>,
    /// Where to write; stdout when not given.
    pub out: Option<PathBuf>,
}

pub(super) fn parse(rest: Vec<String>) -> Result<DiagramOptions, Error> {
    let mut o = DiagramOptions { source: String::new(), machine: None, format: Format::Mermaid, tx: None, out: None };
    let mut it = rest.into_iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| usage(format!("{name} needs a value")));
        match a.as_str() {
            "-M" | "--machine" => o.machine = Some(value("--machine")?),
            "-f" | "--format" => {
                let v = value("--format")?;
                o.format = Format::parse(&v).ok_or_else(|| usage(format!("--format: mermaid, d2 or svg, not {v}")))?;
            }
            "-t" | "--tx" => {
                let v = value("--tx")?;
                o.tx = Some(match v.as_str() {
                    "last" => TxSel::Last,
                    n => TxSel::Nth(
                        n.parse()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| usage(format!("--tx: a number from 1, or last, not {n}")))?,
                    ),
                });
            }
            "-o" | "--out" => o.out = Some(PathBuf::from(value("--out")?)),
            s if !s.starts_with('-') && o.source.is_empty() => o.source = s.to_string(),
            other => return Err(usage(format!("diagram: unexpected argument {other:?}"))),
        }
    }
    if o.source.is_empty() {
        return Err(usage("diagram: expected FILE or ADDR (see am-dbg diagram --help)"));
    }
    Ok(o)
}

/// Listens until the machine's schema arrives (any, when none is named), then a moment more
/// for its transitions.
async fn listen(addr: &str, machine: Option<&str>) -> Result<Store, Error> {
    let (server, mut rx) = Server::bind_channel(addr, 100_000).await?;
    {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "am-dbg: listening on {} for {}",
            server.local_addr(),
            machine.unwrap_or("a machine")
        );
    }
    let mut store = Store::new(usize::MAX);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut settle = None;
    loop {
        let until = settle.unwrap_or(deadline).min(deadline);
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(ev)) => {
                store.event(ev);
                let found = match machine {
                    Some(id) => store.by_id(id).is_some(),
                    None => !store.machines().is_empty(),
                };
                if found && settle.is_none() {
                    settle = Some(tokio::time::Instant::now() + Duration::from_millis(500));
                }
            }
            _ => break,
        }
    }
    server.shutdown().await;
    Ok(store)
}

/// Runs `am-dbg diagram`.
pub(super) async fn run(o: DiagramOptions) -> Result<(), Error> {
    let path = std::path::Path::new(&o.source);
    let store = if path.is_file() {
        Store::from_messages(am_dbg_proto::read_recording(path)?, usize::MAX)
    } else {
        listen(&o.source, o.machine.as_deref()).await?
    };
    let m = match &o.machine {
        Some(id) => store.by_id(id).ok_or_else(|| usage(format!("diagram: no machine {id:?} in {}", o.source)))?,
        None => match store.machines() {
            [m] => m,
            [] => return Err(usage(format!("diagram: no machine in {}", o.source))),
            ms => {
                let ids: Vec<&str> = ms.iter().map(|m| m.id()).take(10).collect();
                return Err(usage(format!(
                    "diagram: {} machines; pick one with --machine ({}…)",
                    ms.len(),
                    ids.join(", ")
                )));
            }
        },
    };
    let active: Option<Vec<bool>> = match o.tx {
        None => None,
        Some(sel) => {
            let abs = match sel {
                TxSel::Last => m.total().checked_sub(1),
                TxSel::Nth(n) => Some(n - 1),
            };
            let t = abs
                .and_then(|a| m.tx(a))
                .ok_or_else(|| usage(format!("diagram: {} has no such transition", m.id())))?;
            Some(t.clocks.iter().map(|c| c % 2 == 1).collect())
        }
    };
    let text = crate::diagram::render(o.format, &m.schema, active.as_deref());
    match &o.out {
        Some(p) => {
            std::fs::write(p, text).map_err(|e| Error::Io { context: format!("write {}", p.display()), source: e })?
        }
        None => super::out(&text)?,
    }
    Ok(())
}
