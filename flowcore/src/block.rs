//! The blocks of a flow: its main tasks, then `errors` (only after a failure), then `finally`.

use std::fmt;

use crate::state::State;

/// Which block a task belongs to; blocks run in this order, each after the previous one
/// has finished.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Block {
    /// The flow's tasks: added with [`Flow::add`](crate::Flow::add).
    Main = 0,
    /// Run only when the main tasks ended with a failure.
    Errors = 1,
    /// Run after everything else, whatever happened.
    Finally = 2,
}

impl Block {
    /// The name users know the block by.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Block::Main => "tasks",
            Block::Errors => "errors",
            Block::Finally => "finally",
        }
    }

    pub(crate) fn next(self) -> Option<Block> {
        match self {
            Block::Main => Some(Block::Errors),
            Block::Errors => Some(Block::Finally),
            Block::Finally => None,
        }
    }
}

/// A main task that did not succeed, as `errors` and `finally` tasks see it through
/// [`Flow::failed_tasks`](crate::Flow::failed_tasks): its name and its final state
/// (`Failed`, `TriggerFailed`, `TimedOut`, or `Cancelled` when the run was interrupted).
///
/// # Examples
///
/// See [`Flow::add_errors`](crate::Flow::add_errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskFailure {
    pub(crate) task: String,
    pub(crate) state: State,
}

impl TaskFailure {
    /// The task's name.
    pub fn task(&self) -> &str {
        &self.task
    }

    /// The task's final state, with its message.
    pub fn state(&self) -> &State {
        &self.state
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.task, self.state)
    }
}
