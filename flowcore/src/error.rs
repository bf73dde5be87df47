//! Error types: flow build errors, missing inputs and resume errors.

use std::fmt;

use crate::state::StateKind;

/// The error type task bodies return: any `std::error::Error + Send + Sync`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A flow that cannot run, found when it is validated (by [`Flow::run`](crate::Flow::run)
/// or [`Flow::validate`](crate::Flow::validate)).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// The dependencies form a cycle; the tasks are listed in cycle order.
    Cycle {
        /// The tasks on the cycle, each an upstream of the next and the last of the first.
        tasks: Vec<String>,
    },
    /// Two tasks were given the same name.
    DuplicateName {
        /// The name both tasks have.
        name: String,
    },
    /// A task refers to a task of another flow (through an argument, an order-only edge
    /// or the reference tasks).
    ForeignTask {
        /// The task (or `reference tasks`) that holds the reference.
        task: String,
        /// Where the reference is: `argument `x``, `upstream` or `reference task`.
        place: String,
    },
    /// A task was given an empty name.
    EmptyName,
    /// A run override cannot apply to its task (see [`Flow::runner`](crate::Flow::runner)).
    Override {
        /// The task.
        task: String,
        /// What is wrong.
        problem: String,
    },
    /// A task depends on a task of a block that runs after its own (a main task on an
    /// `errors` or `finally` task, or an `errors` task on a `finally` task).
    BlockOrder {
        /// The task that holds the edge.
        task: String,
        /// Its block: `tasks`, `errors` or `finally`.
        block: &'static str,
        /// The upstream task.
        upstream: String,
        /// The upstream task's block.
        upstream_block: &'static str,
    },
    /// A task is added with [`Flow::map`](crate::Flow::map) without an argument to map
    /// over, or with [`Flow::add`](crate::Flow::add) with one.
    Mapping {
        /// The task.
        task: String,
        /// What is wrong.
        problem: String,
    },
    /// A reference task is an `errors` or `finally` task; reference tasks are main tasks.
    ReferenceOutsideMain {
        /// The task.
        task: String,
        /// Its block.
        block: &'static str,
    },
    /// A task's retry policy cannot work: an exponential backoff whose factor is below 1.0
    /// or not finite, whose initial delay is zero or whose maximum is below the initial
    /// delay, or a proportional jitter outside 0.0 to 1.0 (see
    /// [`TaskCall::retry_backoff`](crate::TaskCall::retry_backoff) and
    /// [`TaskCall::retry_jitter`](crate::TaskCall::retry_jitter)).
    InvalidRetryPolicy {
        /// The task.
        task: String,
        /// What is wrong, naming the option.
        problem: String,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Cycle { tasks } => {
                write!(f, "the flow has a cycle: ")?;
                for task in tasks {
                    write!(f, "`{task}` -> ")?;
                }
                match tasks.first() {
                    Some(first) => write!(f, "`{first}`"),
                    None => Ok(()),
                }
            }
            BuildError::DuplicateName { name } => {
                write!(
                    f,
                    "two tasks are named `{name}`; task names must be unique in a flow"
                )
            }
            BuildError::ForeignTask { task, place } => write!(
                f,
                "task `{task}`: {place} refers to a task of another flow; handles can only be used in the flow that made them"
            ),
            BuildError::EmptyName => write!(f, "a task name must not be empty"),
            BuildError::Override { task, problem } => write!(f, "task `{task}`: {problem}"),
            BuildError::BlockOrder {
                task,
                block,
                upstream,
                upstream_block,
            } => write!(
                f,
                "task `{task}` (in `{block}`) depends on `{upstream}` (in `{upstream_block}`), which runs after it; blocks run in the order tasks, errors, finally, and a task can only depend on its own block or an earlier one"
            ),
            BuildError::Mapping { task, problem } => write!(f, "task `{task}`: {problem}"),
            BuildError::ReferenceOutsideMain { task, block } => write!(
                f,
                "task `{task}` is in `{block}` and cannot be a reference task; the flow's final state comes from its main tasks"
            ),
            BuildError::InvalidRetryPolicy { task, problem } => {
                write!(f, "task `{task}`: invalid retry policy: {problem}")
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// A task's argument reads an upstream task that produced no value.
///
/// This happens when the upstream task failed or was skipped and the task's trigger
/// (`all_finished`, `any_failed`, ...) or `skip_on_upstream_skip = false` let it run anyway.
/// Bind the handle to an `Option<T>` argument to receive `None` instead. The task ends
/// `Failed` with this message and is not retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingInput {
    pub(crate) task: String,
    pub(crate) argument: &'static str,
    /// The upstream task and its state; `None` in a direct call of the task's body.
    pub(crate) upstream: Option<(String, StateKind)>,
}

impl fmt::Display for MissingInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.upstream {
            Some((upstream, state)) => write!(
                f,
                "task `{}`: argument `{}` has no value because upstream task `{upstream}` is {state}; take it as an `Option` to run without it",
                self.task, self.argument
            ),
            None => write!(
                f,
                "task `{}`: argument `{}` is bound to another task's output, which a direct call does not have; pass a plain value",
                self.task, self.argument
            ),
        }
    }
}

impl std::error::Error for MissingInput {}

/// Why [`RunReport::approve`](crate::RunReport::approve) refused.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResumeError {
    /// No task has this name.
    UnknownTask {
        /// The name asked for.
        name: String,
    },
    /// The task is not paused.
    NotPaused {
        /// The task's name.
        name: String,
        /// The state it is in.
        state: StateKind,
    },
}

impl fmt::Display for ResumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumeError::UnknownTask { name } => write!(f, "no task is named `{name}`"),
            ResumeError::NotPaused { name, state } => {
                write!(
                    f,
                    "task `{name}` is {state}, not Paused; only a paused task can be approved"
                )
            }
        }
    }
}

impl std::error::Error for ResumeError {}
