//! Transition steps: the relation decisions and handler calls of one transition.

use crate::schema::StateIdx;

/// What a step records. The numbers are the Go wire values (the debugger protocol needs them).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[repr(u8)]
pub enum StepKind {
    /// A relation was followed.
    Relation = 1,
    /// A handler ran.
    Handler = 2,
    /// A state is activated (Go: "set").
    Activate = 4,
    /// A state is deactivated (Go: "remove").
    Deactivate = 8,
    /// An inactive state stays out.
    DeactivatePassive = 16,
    /// A state was called (Go: "called").
    Requested = 32,
    /// The transition is canceled because of this state.
    Cancel = 64,
}

/// A relation kind, with Go wire values.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[repr(u8)]
pub enum Relation {
    /// `after`
    After = 0,
    /// `add`
    Add = 1,
    /// `require`
    Require = 2,
    /// `remove`
    Remove = 3,
}

/// One step of a transition.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Step {
    /// The kind.
    pub kind: StepKind,
    /// Source state, if any.
    pub from: Option<StateIdx>,
    /// Target state, if any.
    pub to: Option<StateIdx>,
    /// For relation steps.
    pub relation: Option<Relation>,
    /// Handler steps: a final handler (`State`, `End`).
    pub is_final: bool,
    /// Handler steps: an enter-side handler (`Enter`, `State`).
    pub is_enter: bool,
    /// Handler steps: a self handler (`FooFoo`).
    pub is_self: bool,
}

impl Step {
    pub(crate) fn new(kind: StepKind, from: Option<StateIdx>, to: Option<StateIdx>) -> Self {
        Step { kind, from, to, relation: None, is_final: false, is_enter: false, is_self: false }
    }
    pub(crate) fn rel(relation: Relation, from: StateIdx, to: StateIdx) -> Self {
        Step { relation: Some(relation), ..Step::new(StepKind::Relation, Some(from), Some(to)) }
    }
}
