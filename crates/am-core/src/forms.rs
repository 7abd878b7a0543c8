//! The convenience forms of the machine's API that Go users look for: single-state
//! shorthands (`toggle1`, `when1`, …, Go `Toggle1`, `When1`), mutations recording their cause
//! (`ev_add`, …, Go `EvAdd`, `EvAddErrState`), and a panicking closure turned into an error
//! state (`panic_to_err`, Go `PanicToErr`). Each is a thin layer over the general call.

use crate::error::{AnyError, Error, err_msg};
use crate::machine::Machine;
use crate::mutation::{Args, MutResult, MutationKind, Source};
use crate::wait::Wait;

impl Machine {
    /// Single-state [`toggle`](Self::toggle). Go: `Toggle1`.
    pub fn toggle1(&self, state: &str) -> Result<MutResult, Error> {
        self.toggle(&[state])
    }
    /// Whether `state` is inactive. Go: `Not1`.
    pub fn not1(&self, state: &str) -> bool {
        !self.is1(state)
    }
    /// Whether any of these states is active. Go: `Any1`.
    ///
    /// ```
    /// let m = am_core::Machine::new(am_core::Schema::builder().states(["A", "B"]).build()?);
    /// m.add(&["B"])?;
    /// assert!(m.any1(&["A", "B"])?);
    /// assert!(!m.any1(&["A"])?);
    /// # Ok::<(), am_core::Error>(())
    /// ```
    pub fn any1(&self, states: &[&str]) -> Result<bool, Error> {
        Ok(self.switch(states)?.is_some())
    }
    /// Single-state [`can_add`](Self::can_add). Go: `CanAdd1`.
    pub fn can_add1(&self, state: &str) -> Result<MutResult, Error> {
        self.can_add(&[state])
    }
    /// Single-state [`can_remove`](Self::can_remove). Go: `CanRemove1`.
    pub fn can_remove1(&self, state: &str) -> Result<MutResult, Error> {
        self.can_remove(&[state])
    }
    /// Single-state [`when`](Self::when). Go: `When1`.
    pub fn when1(&self, state: &str) -> Result<Wait, Error> {
        self.when(&[state])
    }
    /// Single-state [`when_not`](Self::when_not). Go: `WhenNot1`.
    pub fn when_not1(&self, state: &str) -> Result<Wait, Error> {
        self.when_not(&[state])
    }
    /// Ready when `state`'s tick reaches `tick` (odd ticks are active). Go: `WhenTime1`.
    ///
    /// ```
    /// let m = am_core::Machine::new(am_core::Schema::builder().states(["A"]).build()?);
    /// let w = m.when_time1("A", 3)?; // the second activation
    /// m.add(&["A"])?;
    /// m.remove(&["A"])?;
    /// assert!(!w.is_ready());
    /// m.add(&["A"])?;
    /// assert!(w.is_ready());
    /// # Ok::<(), am_core::Error>(())
    /// ```
    pub fn when_time1(&self, state: &str, tick: u64) -> Result<Wait, Error> {
        self.when_time(&[state], &[tick])
    }

    /// [`add`](Self::add) caused by `source` — a handler's [`Event`](crate::Event), or a
    /// [`Source`] naming a transition of any machine — recorded as the mutation's source.
    /// Go: `EvAdd`.
    ///
    /// ```
    /// use am_core::{Handlers, Machine, Schema, Source};
    /// let m = Machine::new(Schema::builder().states(["A", "B"]).build()?);
    /// m.bind_handlers(Handlers::new("h").state("A", |e| drop(e.machine().ev_add(e, &["B"], None))))?;
    /// m.add(&["A"])?;
    /// assert!(m.is1("B"));
    /// // from outside a handler (Go: EvSource)
    /// let src = Source { machine_id: "other".into(), tx_id: "abc".into(), machine_time: 7 };
    /// m.ev_remove(src, &["B"], None)?;
    /// # Ok::<(), am_core::Error>(())
    /// ```
    pub fn ev_add(&self, source: impl Into<Source>, states: &[&str], args: Option<Args>) -> Result<MutResult, Error> {
        self.ev_mutate(source, MutationKind::Add, states, args)
    }
    /// [`remove`](Self::remove) caused by `source`. Go: `EvRemove`.
    pub fn ev_remove(
        &self,
        source: impl Into<Source>,
        states: &[&str],
        args: Option<Args>,
    ) -> Result<MutResult, Error> {
        self.ev_mutate(source, MutationKind::Remove, states, args)
    }
    /// [`set`](Self::set) caused by `source` (Go has no `EvSet`).
    pub fn ev_set(&self, source: impl Into<Source>, states: &[&str], args: Option<Args>) -> Result<MutResult, Error> {
        self.ev_mutate(source, MutationKind::Set, states, args)
    }
    /// [`toggle`](Self::toggle) caused by `source`. Go: `EvToggle`.
    pub fn ev_toggle(
        &self,
        source: impl Into<Source>,
        states: &[&str],
        args: Option<Args>,
    ) -> Result<MutResult, Error> {
        let kind = if self.is(states)? { MutationKind::Remove } else { MutationKind::Add };
        self.ev_mutate(source, kind, states, args)
    }
    /// Single-state [`ev_add`](Self::ev_add). Go: `EvAdd1`.
    pub fn ev_add1(&self, source: impl Into<Source>, state: &str, args: Option<Args>) -> Result<MutResult, Error> {
        self.ev_add(source, &[state], args)
    }
    /// Single-state [`ev_remove`](Self::ev_remove). Go: `EvRemove1`.
    pub fn ev_remove1(&self, source: impl Into<Source>, state: &str, args: Option<Args>) -> Result<MutResult, Error> {
        self.ev_remove(source, &[state], args)
    }
    /// Single-state [`ev_toggle`](Self::ev_toggle). Go: `EvToggle1`.
    ///
    /// ```
    /// use am_core::{Machine, Schema, Source};
    /// let m = Machine::new(Schema::builder().states(["A"]).build()?);
    /// let src = || Source { machine_id: "other".into(), tx_id: "abc".into(), machine_time: 7 };
    /// m.ev_toggle1(src(), "A", None)?;
    /// assert!(m.is1("A"));
    /// m.ev_toggle1(src(), "A", None)?;
    /// assert!(!m.is1("A"));
    /// # Ok::<(), am_core::Error>(())
    /// ```
    pub fn ev_toggle1(&self, source: impl Into<Source>, state: &str, args: Option<Args>) -> Result<MutResult, Error> {
        self.ev_toggle(source, &[state], args)
    }
    /// [`add_err`](Self::add_err) caused by `source`. Go: `EvAddErr`.
    pub fn ev_add_err(&self, source: impl Into<Source>, err: AnyError) -> Result<MutResult, Error> {
        self.err_state(crate::schema::EXCEPTION, err, None, Some(source.into()))
    }
    /// [`add_err_state`](Self::add_err_state) caused by `source`. Go: `EvAddErrState`.
    pub fn ev_add_err_state(
        &self,
        source: impl Into<Source>,
        state: &str,
        err: AnyError,
        args: Option<Args>,
    ) -> Result<MutResult, Error> {
        self.err_state(state, err, args, Some(source.into()))
    }

    /// Runs `f`; if it panics, the panic becomes an error in the machine
    /// ([`add_err`](Self::add_err), message = the panic's) and `None` is returned. For work
    /// on threads of your own; handlers' panics are already caught by the machine. With
    /// `panic_to_exception(false)` (or `AM_DEBUG`), or on a disposed machine, the panic goes
    /// on unwinding. Go: `defer m.PanicToErr(args)` (which loses non-error panic values).
    ///
    /// ```
    /// let m = am_core::Machine::new(am_core::Schema::builder().states(["A"]).build()?);
    /// assert_eq!(m.panic_to_err(|| 2 + 2), Some(4));
    /// assert_eq!(m.panic_to_err(|| -> u8 { panic!("disk full") }), None);
    /// assert!(m.is_err());
    /// assert_eq!(m.last_error().unwrap().to_string(), "panic: disk full");
    /// # Ok::<(), am_core::Error>(())
    /// ```
    pub fn panic_to_err<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        self.catch(crate::schema::EXCEPTION, f)
    }

    /// [`panic_to_err`](Self::panic_to_err) into an error state of your own, added with
    /// `Exception` ([`add_err_state`](Self::add_err_state)). Go: `PanicToErrState`.
    pub fn panic_to_err_state<R>(&self, state: &str, f: impl FnOnce() -> R) -> Option<R> {
        self.catch(state, f)
    }

    fn catch<R>(&self, state: &str, f: impl FnOnce() -> R) -> Option<R> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(r) => Some(r),
            Err(payload) if !self.panics_to_exception() || self.is_disposing() => std::panic::resume_unwind(payload),
            Err(payload) => {
                let err = err_msg(format!("panic: {}", crate::exec::panic_message(payload.as_ref())));
                if let Err(e) = self.add_err_state(state, err, None) {
                    // an unknown error state: the panic still reaches Exception
                    let text = format!("panic (and {e}): {}", crate::exec::panic_message(payload.as_ref()));
                    let _ = self.add_err(err_msg(text));
                }
                None
            }
        }
    }
}
