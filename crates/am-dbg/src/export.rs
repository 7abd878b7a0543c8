//! Export from the UI (`s`): the selected machine or all of them, as a `.gob.br` file the Go
//! am-dbg opens or as a recording of JSON lines, and the current screen as text. Writing
//! goes through am-dbg-proto's writers, as `am-dbg export` does; files land in `--dir`
//! (default: the working directory) under a name with the machine and the time.

use std::path::{Path, PathBuf};

use am_dbg_proto::{DbgMsg, Error};

use crate::app::App;
use crate::store::Store;

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// The selected machine as `.gob.br`.
    MachineGob,
    /// Every machine as `.gob.br`.
    AllGob,
    /// The selected machine as JSON lines.
    MachineJsonl,
    /// Every machine as JSON lines.
    AllJsonl,
    /// The screen as text.
    Screen,
}

impl ExportKind {
    /// The menu's entries, in order (keys 1–5).
    pub const ALL: [ExportKind; 5] = [
        ExportKind::MachineGob,
        ExportKind::AllGob,
        ExportKind::MachineJsonl,
        ExportKind::AllJsonl,
        ExportKind::Screen,
    ];

    /// The menu line.
    pub fn label(self) -> &'static str {
        match self {
            ExportKind::MachineGob => "this machine, .gob.br (Go am-dbg --import-data)",
            ExportKind::AllGob => "all machines, .gob.br",
            ExportKind::MachineJsonl => "this machine, JSON lines (am-dbg tui FILE)",
            ExportKind::AllJsonl => "all machines, JSON lines",
            ExportKind::Screen => "the screen, as text",
        }
    }
}

/// A machine's messages (its schema, then its kept entries), or every machine's.
pub fn messages(store: &Store, only: Option<&str>) -> Vec<DbgMsg> {
    let mut out = Vec::new();
    for m in store.machines().iter().filter(|m| only.is_none_or(|id| m.id() == id)) {
        out.push(DbgMsg::Schema(m.schema.clone()));
        out.extend(m.txs.iter().cloned().map(DbgMsg::Tx));
    }
    out
}

/// A file name without path separators or shell-unfriendly characters.
fn file_part(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// `YYYYMMDD-HHMMSS` UTC of a Unix time in seconds.
pub fn stamp(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil(days as i64);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, (rem / 60) % 60, rem % 60)
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn path_for(dir: &Path, what: &str, ext: &str) -> PathBuf {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let base = format!("am-dbg-{}-{}", file_part(what), stamp(now));
    let mut p = dir.join(format!("{base}.{ext}"));
    for n in 2.. {
        if !p.exists() {
            break;
        }
        p = dir.join(format!("{base}-{n}.{ext}"));
    }
    p
}

fn create(p: &Path) -> Result<std::fs::File, Error> {
    std::fs::File::create(p).map_err(|e| Error::Io { context: format!("create {}", p.display()), source: e })
}

/// Writes one export; returns the file written and what it holds.
pub fn write(app: &App, kind: ExportKind) -> Result<(PathBuf, String), Error> {
    let dir = &app.export_dir;
    let id = app.selected().map(|m| m.id().to_string());
    let (only, name) = match kind {
        ExportKind::MachineGob | ExportKind::MachineJsonl => {
            let id = id.clone().ok_or_else(|| Error::Usage("no machine selected".into()))?;
            (Some(id.clone()), id)
        }
        _ => (None, "all".to_string()),
    };
    match kind {
        ExportKind::Screen => {
            let p = path_for(dir, &format!("screen-{}", id.as_deref().unwrap_or("none")), "txt");
            std::fs::write(&p, crate::view::screen_text(app, app.size.0, app.size.1))
                .map_err(|e| Error::Io { context: format!("write {}", p.display()), source: e })?;
            Ok((p, format!("{}×{} screen", app.size.0, app.size.1)))
        }
        ExportKind::MachineGob | ExportKind::AllGob => {
            let msgs = messages(&app.store, only.as_deref());
            let p = path_for(dir, &name, "gob.br");
            let stats = am_dbg_proto::write_gob_br(&msgs, create(&p)?)?;
            Ok((p, format!("{} machines, {} transitions", stats.machines, stats.txs)))
        }
        ExportKind::MachineJsonl | ExportKind::AllJsonl => {
            let msgs = messages(&app.store, only.as_deref());
            let p = path_for(dir, &name, "jsonl");
            am_dbg_proto::write_recording(&msgs, create(&p)?)?;
            Ok((p, format!("{} messages", msgs.len())))
        }
    }
}

impl App {
    /// Writes an export and says where in the status bar.
    pub fn export(&mut self, kind: ExportKind) {
        self.status.notice = match write(self, kind) {
            Ok((p, what)) => format!("exported {what} to {}", p.display()),
            Err(e) => format!("export failed: {e}"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_dates() {
        assert_eq!(stamp(0), "19700101-000000");
        assert_eq!(stamp(1_796_270_707), "20261203-040507");
        assert_eq!(file_part("a/b:c"), "a_b_c");
    }
}
