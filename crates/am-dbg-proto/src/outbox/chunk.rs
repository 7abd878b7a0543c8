//! Chunks: a run of records with the arena their numbers live in, handed to the sender whole
//! ([`Taken`]) and converted into wire messages off the machine's thread.

use std::sync::Arc;

use crate::clock::Anchor;
use crate::messages::{DbgMsg, DbgMsgDropped};

use super::machines::MachineMeta;
use super::record::*;
#[allow(clippy::large_enum_variant)] // transitions are the common case
#[derive(Debug, Clone, Copy)]
pub(super) enum Record {
    Tx(TxRecord),
    /// A machine's schema, by slot.
    Schema(u32),
    /// Dropped or superseded in place.
    Gone,
}

/// A run of records and the arena their clocks and called states live in. No record before
/// `scan` is a transition (where the next overflow drop looks); `live` counts the records
/// not gone. A chunk with nothing live leaves the queue at once. `tally` counts the live
/// records per machine, so taking a chunk costs one step per machine under the lock, not
/// one per record.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub(super) recs: Vec<Record>,
    pub(super) arena: Vec<u64>,
    /// The texts of the records' log lines ([`LogWord`]).
    pub(super) text: String,
    /// The rare fields of the records that have them (taken when converted or dropped).
    pub(super) extras: Vec<Option<Box<Extra>>>,
    pub(super) scan: usize,
    pub(super) live: usize,
    pub(super) tally: Vec<Tally>,
    /// Tells this chunk from the ones before it (see `MachineEntry::clocks_in`).
    pub(super) generation: u64,
}

/// A machine's live records in a chunk.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tally {
    pub(super) slot: u32,
    pub(super) txs: u32,
    pub(super) schemas: u32,
}

impl Chunk {
    pub(super) fn tally(&mut self, slot: u32) -> &mut Tally {
        let i = match self.tally.iter().rposition(|t| t.slot == slot) {
            Some(i) => i,
            None => {
                self.tally.push(Tally { slot, txs: 0, schemas: 0 });
                self.tally.len() - 1
            }
        };
        &mut self.tally[i]
    }

    pub(super) fn clear(&mut self) {
        self.recs.clear();
        self.arena.clear();
        self.text.clear();
        self.extras.clear();
        self.tally.clear();
        self.scan = 0;
        self.live = 0;
    }
}

/// One chunk popped for a batch, with what converting it needs.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub(crate) notices: Vec<DbgMsgDropped>,
    pub(super) chunk: Chunk,
    pub(super) metas: Vec<(u32, Arc<MachineMeta>)>,
}

impl Taken {
    /// Drops the records and machine references (call it outside the outbox lock, before
    /// [`Outbox::done`], so the lock is not held while they are freed).
    pub(crate) fn clear(&mut self) {
        self.chunk.clear();
        self.metas.clear();
        self.notices.clear();
    }

    /// Nothing to send.
    pub(crate) fn is_empty(&self) -> bool {
        self.notices.is_empty() && self.chunk.live == 0
    }

    pub(super) fn meta<'a>(
        metas: &'a [(u32, Arc<MachineMeta>)],
        slot: u32,
        hint: &mut usize,
    ) -> Option<&'a Arc<MachineMeta>> {
        if let Some((s, m)) = metas.get(*hint)
            && *s == slot
        {
            return Some(m);
        }
        let i = metas.iter().position(|(s, _)| *s == slot)?;
        *hint = i;
        Some(&metas[i].1)
    }

    /// Appends the wire messages (drop notices first); returns how many are transition
    /// messages. Rare fields are moved out of the chunk.
    pub(crate) fn write_messages(&mut self, out: &mut Vec<DbgMsg>, anchor: &Anchor<'_>) -> u64 {
        out.extend(self.notices.iter().cloned().map(DbgMsg::Dropped));
        let Chunk { recs, arena, extras, text, .. } = &mut self.chunk;
        let (arena, text) = (&*arena, text.as_str());
        let mut n = 0;
        walk(recs, arena, &self.metas, |item| match item {
            Walked::Schema(meta) => out.push(DbgMsg::Schema(meta.schema_msg.clone())),
            Walked::Tx { meta, rec, clocks } => {
                let x = match rec.extra {
                    0 => None,
                    i => extras.get_mut(i as usize - 1).and_then(Option::take),
                };
                out.push(DbgMsg::Tx(meta.convert(rec, x, arena, text, clocks, anchor)));
                n += 1;
            }
        });
        n
    }
}

/// What [`walk`] meets in a chunk, in order.
pub(super) enum Walked<'a> {
    /// A machine's schema message goes here.
    Schema(&'a MachineMeta),
    /// A transition or queued mutation to send, with its clocks (its own or shared).
    Tx { meta: &'a MachineMeta, rec: &'a TxRecord, clocks: &'a [u64] },
}

/// Goes through a chunk's records as the wire has them: schemas, and the records not
/// dropped, each with its clocks — stored in its arena span, or shared with the last ones
/// its machine stored in this chunk (kept track of across dropped records too).
pub(super) fn walk<'a>(
    recs: &'a [Record],
    arena: &'a [u64],
    metas: &'a [(u32, Arc<MachineMeta>)],
    mut f: impl FnMut(Walked<'a>),
) {
    let mut last: Vec<(u32, &[u64])> = Vec::new();
    let mut hint = 0;
    for r in recs {
        let rec = match r {
            Record::Tx(rec) => rec,
            Record::Schema(slot) => {
                if let Some(meta) = Taken::meta(metas, *slot, &mut hint) {
                    f(Walked::Schema(meta));
                }
                continue;
            }
            Record::Gone => continue,
        };
        let clocks = if rec.at.shared_clocks {
            last.iter().find(|(s, _)| *s == rec.slot).map_or(&[][..], |(_, c)| *c)
        } else {
            let c = rec.at.clocks(arena);
            match last.iter_mut().find(|(s, _)| *s == rec.slot) {
                Some(l) => l.1 = c,
                None => last.push((rec.slot, c)),
            }
            c
        };
        if rec.dropped {
            continue;
        }
        if let Some(meta) = Taken::meta(metas, rec.slot, &mut hint) {
            f(Walked::Tx { meta, rec, clocks });
        }
    }
}
