//! Error types: flow build and run-start errors, missing arguments, output lookups and resume errors.

use std::fmt;

use crate::state::StateKind;

/// The error type task bodies return: any `std::error::Error + Send + Sync`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A flow that cannot run, or a run that cannot start, found before any task runs.
///
/// [`Flow::validate`](crate::Flow::validate) reports the flow's own mistakes (names,
/// edges, outputs); [`Flow::run`](crate::Flow::run) and
/// [`RunBuilder::run`](crate::RunBuilder::run) also report what is wrong with the run:
/// an override that cannot apply, or an input value that is missing, unknown, of the
/// wrong type or rejected by its validator.
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
    /// A task, input or output was given an empty name.
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
    /// A task that was not declared with `#[task(cache_for = "..")]` was asked to cache
    /// its results, with [`TaskCall::cache_for`](crate::TaskCall::cache_for) or
    /// [`TaskCall::refresh_cache`](crate::TaskCall::refresh_cache): only a declared task
    /// computes a cache key from its arguments.
    NotCacheable {
        /// The task.
        task: String,
    },
    /// An input was declared with the name of another input or of a task (or a task was
    /// named like an input); inputs and tasks share one namespace.
    DuplicateInput {
        /// The name.
        name: String,
    },
    /// [`Flow::add_edge`](crate::Flow::add_edge) made an input the downstream end of an
    /// edge; an input has its value before the run starts, so it cannot wait for a task.
    EdgeIntoInput {
        /// The input.
        input: String,
        /// The task it was to wait for.
        upstream: String,
    },
    /// Two outputs were declared with the same name.
    DuplicateOutput {
        /// The name.
        name: String,
    },
    /// An output was declared with the handle of a task of another flow.
    ForeignOutput {
        /// The output's name.
        name: String,
    },
    /// A required input (one without a default) was not given to the run.
    InputRequired {
        /// The input's name.
        name: String,
        /// The input's type, as [`std::any::type_name`] spells it.
        expected: &'static str,
    },
    /// The run was given a value for an input the flow does not declare.
    UnknownInput {
        /// The name given.
        name: String,
        /// The inputs the flow declares, in the order they were declared.
        inputs: Vec<String>,
    },
    /// The run was given a value of another type than the input's.
    InputType {
        /// The input's name.
        name: String,
        /// The input's type, as [`std::any::type_name`] spells it.
        expected: &'static str,
        /// The type of the value given.
        given: &'static str,
    },
    /// An input's validator rejected its value (given or default).
    InvalidInput {
        /// The input's name.
        name: String,
        /// The validator's message.
        message: String,
    },
    /// A subflow task does not fit its child flow: the child flow cannot run, an input
    /// that is unknown, bound twice, of another type than the child's or required and not
    /// bound, or an output that the child flow does not declare or declares with another
    /// type (see [`Subflow`](crate::Subflow) and
    /// [`Flow::subflow_output`](crate::Flow::subflow_output)).
    Subflow {
        /// The subflow task, or the task that reads the subflow's output.
        task: String,
        /// The child flow's name.
        flow: String,
        /// What is wrong, naming the input or output.
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
            BuildError::EmptyName => write!(f, "a task, input or output name must not be empty"),
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
            BuildError::NotCacheable { task } => write!(
                f,
                "task `{task}` cannot be cached: only a task declared with `#[task(cache_for = \"..\")]` computes a cache key from its arguments, so `cache_for` and `refresh_cache` need that attribute"
            ),
            BuildError::DuplicateInput { name } => write!(
                f,
                "input `{name}`: another input or task has this name; inputs and tasks share one namespace and names must be unique in a flow"
            ),
            BuildError::EdgeIntoInput { input, upstream } => write!(
                f,
                "input `{input}` cannot run after task `{upstream}`: an input has its value before the run starts"
            ),
            BuildError::DuplicateOutput { name } => write!(
                f,
                "two outputs are named `{name}`; output names must be unique in a flow"
            ),
            BuildError::ForeignOutput { name } => write!(
                f,
                "output `{name}` is declared with a task of another flow; handles can only be used in the flow that made them"
            ),
            BuildError::InputRequired { name, expected } => write!(
                f,
                "input `{name}` (`{expected}`) is required and was not given; pass it with `flow.runner().input(\"{name}\", value)` or declare a default"
            ),
            BuildError::UnknownInput { name, inputs } => {
                write!(f, "the flow has no input named `{name}`; ")?;
                if inputs.is_empty() {
                    return write!(f, "it declares no inputs");
                }
                write!(f, "its inputs are ")?;
                for (i, input) in inputs.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}`{input}`")?;
                }
                Ok(())
            }
            BuildError::InputType {
                name,
                expected,
                given,
            } => write!(
                f,
                "input `{name}` expects a value of type `{expected}`, and was given a `{given}`"
            ),
            BuildError::InvalidInput { name, message } => {
                write!(f, "input `{name}` is invalid: {message}")
            }
            BuildError::Subflow {
                task,
                flow,
                problem,
            } => write!(f, "task `{task}` (subflow `{flow}`): {problem}"),
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

/// Why [`RunReport::output`](crate::RunReport::output) could not look an output up.
///
/// An output whose task produced no value (it failed or was skipped) is not an error:
/// `output` returns `Ok(None)`.
///
/// # Examples
///
/// ```
/// use flowcore::{Flow, OutputError, task};
///
/// #[task]
/// async fn answer() -> u32 {
///     42
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut flow = Flow::new("outputs");
/// let answer = flow.add(answer());
/// flow.output("answer", answer);
/// let report = flow.run().await.unwrap();
/// assert_eq!(
///     report.output::<u32>("anwser"),
///     Err(OutputError::Unknown { name: "anwser".to_string(), outputs: vec!["answer".to_string()] })
/// );
/// assert_eq!(
///     report.output::<u64>("answer").unwrap_err().to_string(),
///     "output `answer` is a `u32`, not a `u64`"
/// );
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputError {
    /// The flow declares no output with this name.
    Unknown {
        /// The name asked for.
        name: String,
        /// The outputs the flow declares, in the order they were declared.
        outputs: Vec<String>,
    },
    /// The output is of another type than the one asked for.
    WrongType {
        /// The output's name.
        name: String,
        /// The output's type, as [`std::any::type_name`] spells it.
        declared: &'static str,
        /// The type asked for.
        requested: &'static str,
    },
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::Unknown { name, outputs } => {
                write!(f, "the flow has no output named `{name}`; ")?;
                if outputs.is_empty() {
                    return write!(f, "it declares no outputs");
                }
                write!(f, "its outputs are ")?;
                for (i, output) in outputs.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}`{output}`")?;
                }
                Ok(())
            }
            OutputError::WrongType {
                name,
                declared,
                requested,
            } => write!(f, "output `{name}` is a `{declared}`, not a `{requested}`"),
        }
    }
}

impl std::error::Error for OutputError {}
