//! [`Runner`]: what the thread running a machine's queue owns — the buffers one transition
//! works in, and what it keeps of the machine between binds (dispatch, handlers, schema).
//! Parked in the machine's state between runs and taken by whoever runs next, under the
//! `st` lock that hands it over.
//!
//! Clocks follow what changes: the runner's copies of the machine's clocks (`before`,
//! `after`) and active list are patched at the indexes the last transition touched, unless
//! something else wrote the clocks meanwhile (`State::epoch`: a schema change, an import).
//! A transition whose effects nobody can look at before it ends (no handlers, tracers,
//! waiters or auto states) leaves its clocks unpublished and the next lock the runner takes
//! (the pop of the next mutation, or the release) writes them: one lock per transition
//! fewer.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Relaxed};

use crate::bits::BitSet;
use crate::handlers::HandlerTable;
use crate::machine::{Machine, State};
use crate::mutation::{Mutation, MutationKind};
use crate::relations::Resolver;
use crate::schema::{Schema, StateIdx};
use crate::transition::TxData;
use crate::wait::WaitShared;

/// What the runner keeps of the machine, re-read when the machine's bind version moves.
pub(crate) struct Cache {
    pub(crate) handlers: Option<Arc<HandlerTable>>,
    /// The schema in force (a schema change bumps the bind version).
    pub(crate) schema: Arc<Schema>,
    version: u64,
}

/// The runner's buffers and cache; see the module docs.
pub(crate) struct Runner {
    /// The transition being run (its dispatch is the runner's cached one).
    pub(crate) tx: TxData,
    pub(crate) cache: Cache,
    pub(crate) bufs: Buffers,
    pub(crate) panic: Option<Box<dyn Any + Send>>,
    /// The last transition's clocks are not in the machine's state yet.
    pub(super) unpublished: bool,
    /// The machine's `epoch` the clock copies follow.
    synced: u64,
}

/// What resolution and negotiation work in, besides the transition's own data.
pub(crate) struct Buffers {
    pub(super) resolver: Resolver,
    /// The machine's active states as the transition started.
    pub(super) active: BitSet,
    pub(super) rejected: Vec<StateIdx>,
    /// The list of the last `CancelReason::Relations`, reused by the next one.
    pub(super) spare: Vec<StateIdx>,
    pub(super) dropped: Vec<StateIdx>,
}

/// Waits a publish completed and `[ctx:match]` lines it owes, to finish once the `st` lock
/// is dropped ([`Machine::after_publish`]); nothing allocated while there is nothing.
#[derive(Default)]
pub(crate) struct Published(Option<Box<Owed>>);

#[derive(Default)]
pub(crate) struct Owed {
    pub(crate) done: Vec<Arc<WaitShared>>,
    pub(crate) matched: Vec<(&'static str, String)>,
    pub(crate) cancel: Vec<crate::wait::CancelToken>,
    pub(crate) cancelled: Vec<StateIdx>,
}

impl Published {
    pub(crate) fn owed(&mut self) -> &mut Owed {
        self.0.get_or_insert_default()
    }
}

impl Runner {
    pub(crate) fn new(schema: Arc<Schema>) -> Self {
        let n = schema.len();
        Runner {
            tx: TxData::new(Mutation::new(MutationKind::Add, &[], None)),
            cache: Cache { handlers: None, schema, version: u64::MAX },
            bufs: Buffers {
                resolver: Resolver::new(n),
                active: BitSet::with_len(n),
                rejected: Vec::new(),
                spare: Vec::new(),
                dropped: Vec::new(),
            },
            panic: None,
            unpublished: false,
            synced: u64::MAX,
        }
    }

    pub(crate) fn grow(&mut self, n: usize) {
        self.bufs.resolver.grow(n);
        self.bufs.active.grow(n);
    }

    /// Takes what the next transition starts from — clocks, active states, its number and
    /// the log lines since the last one — under the `st` lock that the caller already holds
    /// to hand this runner the transition (no second lock per transition).
    pub(crate) fn begin(&mut self, st: &mut State) {
        debug_assert!(!self.unpublished, "publish before the next transition begins");
        let tx = &mut self.tx;
        let full = self.synced != st.epoch;
        tx.sync_clocks(&st.time, full);
        self.synced = st.epoch;
        self.bufs.active.copy_from(&st.active);
        tx.states_before.clone_from(&st.active_list);
        st.tx_seq += 1;
        tx.seq = st.tx_seq;
        tx.queue_tick = st.queue_tick;
        // lines logged after the previous transition's last handler belong to this one's
        // pre-log
        st.settle_tx_log();
        tx.pre_log.clear();
        std::mem::swap(&mut tx.pre_log, &mut st.pre_log);
    }

    /// Writes the last transition's clocks into the machine's state, under the `st` lock
    /// the caller holds (the pop of the next mutation, or the release), when it left them
    /// unpublished; checks the waits that came meanwhile and takes the state contexts of
    /// changed states to cancel. Waits and contexts are finished by the caller after the lock.
    pub(crate) fn publish(&mut self, m: &Machine, st: &mut State, out: &mut Published) {
        if !std::mem::take(&mut self.unpublished) {
            return;
        }
        let (tx, s) = (&self.tx, &*self.cache.schema);
        for &i in tx.exits.iter().chain(&tx.enters) {
            st.time[i] = tx.after[i];
            let on = tx.after[i] % 2 == 1;
            if st.active.contains(i) != on {
                st.set_active(s, i, on);
            }
            if let Some(t) = st.ctxs[i].take() {
                let o = out.owed();
                o.cancel.push(t);
                o.cancelled.push(i);
            }
        }
        if !st.waiters.is_empty() {
            // added while the clocks were not written yet
            m.eval_locked(st, tx, Some(s), out);
        }
    }
}

impl Machine {
    /// Re-reads the bound tracers and handlers when they changed since the last look.
    pub(crate) fn refresh_cache(&self, r: &mut Runner) {
        let v = self.0.bind_version.load(Acquire);
        if v != r.cache.version {
            r.tx.dispatch = self.dispatch();
            r.cache.handlers = self.0.has_handlers.load(Relaxed).then(|| self.handler_table());
            r.cache.schema = self.schema();
            r.cache.version = v;
        }
    }

    /// Finishes what a publish owes once the `st` lock is dropped: completes its waits,
    /// cancels the contexts of changed states and logs their matches.
    #[inline]
    pub(crate) fn after_publish(&self, p: Published) {
        if let Some(o) = p.0 {
            self.finish_publish(*o);
        }
    }

    #[cold]
    fn finish_publish(&self, p: Owed) {
        for t in p.cancel {
            t.cancel();
        }
        if !p.cancelled.is_empty() && self.log_level() >= crate::log::LogLevel::Ops && crate::env::log_state_ctx() {
            let s = self.schema();
            for i in p.cancelled {
                self.log_plain(crate::log::LogLevel::Ops, || format!("[ctx:match] {}", s.name(i)));
            }
        }
        for (kind, what) in p.matched {
            self.log_plain(crate::log::LogLevel::Ops, || format!("[{kind}:match] {what}").trim_end().to_string());
        }
        for d in p.done {
            d.complete(Ok(()));
        }
    }
}
