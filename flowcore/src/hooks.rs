//! Hooks: functions called on state changes of a task or of a flow, to observe them.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crate::context::RunId;
use crate::state::State;

/// A state change, as a hook sees it: which run, which task (none for the flow's own
/// state), and the state entered.
#[derive(Debug)]
pub struct Transition<'a> {
    pub(crate) flow: &'a str,
    pub(crate) run_id: RunId,
    pub(crate) task: Option<&'a str>,
    pub(crate) map_index: Option<u32>,
    pub(crate) state: &'a State,
}

impl Transition<'_> {
    /// The flow's name.
    pub fn flow_name(&self) -> &str {
        self.flow
    }

    /// The run's id.
    pub fn run_id(&self) -> RunId {
        self.run_id
    }

    /// The task's name; `None` for a change of the flow's state.
    pub fn task(&self) -> Option<&str> {
        self.task
    }

    /// The item index, for a mapped task's child.
    pub fn map_index(&self) -> Option<u32> {
        self.map_index
    }

    /// The state entered, with its message and attempt count.
    pub fn state(&self) -> &State {
        self.state
    }
}

/// When a hook is called.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum When {
    /// On every state change.
    Always,
    /// When the task ends failed (after its last attempt), or the flow ends failed.
    Failure,
    /// When the task or the flow ends successful.
    Success,
}

type HookFn = dyn Fn(&Transition<'_>) + Send + Sync;

/// The hooks of a task or a flow.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    hooks: Vec<(When, Arc<HookFn>)>,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("len", &self.hooks.len())
            .finish()
    }
}

impl Hooks {
    pub(crate) fn push(
        &mut self,
        when: When,
        hook: impl Fn(&Transition<'_>) + Send + Sync + 'static,
    ) {
        self.hooks.push((when, Arc::new(hook)));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// Calls the hooks that want this change; `last` says whether the state is the
    /// task's (or flow's) final one. A hook that panics is logged and skipped.
    pub(crate) fn call(&self, transition: &Transition<'_>, last: bool) {
        let state = transition.state;
        for (when, hook) in &self.hooks {
            let wanted = match when {
                When::Always => true,
                When::Failure => last && state.is_failed(),
                When::Success => last && state.is_successful(),
            };
            if !wanted {
                continue;
            }
            if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| hook(transition))) {
                tracing::warn!(
                    task = transition.task.unwrap_or(""),
                    state = state.kind().as_str(),
                    panic = crate::task::panic_message(&*panic),
                    "a state hook panicked; the run goes on"
                );
            }
        }
    }
}
