//! Code-first workflows for async Rust: tasks, flows and a runner with exact state semantics.
//!
//! Annotate `async fn`s with [`#[task]`](task), wire them into a [`Flow`] by passing one
//! task's [`Handle`] to another, and run the flow on your tokio runtime. Every task ends
//! in a [`State`]; triggers, reference tasks and signals follow Prefect 1's engine.
//!
//! # Example
//!
//! The Spark cluster flow: the cluster is torn down whatever happens to the job, and the
//! job, as the reference task, decides the flow's final state.
//!
//! ```
//! use flowcore::{Flow, StateKind, task};
//!
//! #[task]
//! async fn create_cluster() -> String {
//!     "spark-1".to_string()
//! }
//!
//! #[task]
//! async fn run_spark_job(cluster: String) -> Result<u64, String> {
//!     Err(format!("job on {cluster} ran out of memory"))
//! }
//!
//! #[task(trigger = always_run)]
//! async fn tear_down_cluster(cluster: String) {
//!     let _ = cluster;
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut flow = Flow::new("spark");
//! let cluster = flow.add(create_cluster());
//! let submitted = flow.add(run_spark_job(cluster));
//! let torn_down = flow.add(tear_down_cluster(cluster).after(submitted));
//! flow.set_reference_tasks([submitted]);
//!
//! let report = flow.run().await.unwrap();
//! assert_eq!(report.state(submitted).kind(), StateKind::Failed);
//! assert_eq!(report.state(torn_down).kind(), StateKind::Success);
//! assert_eq!(report.flow_state().kind(), StateKind::Failed);
//! println!("{report}");
//! # }
//! ```
//!
//! # Concepts
//!
//! - **Task**: an `async fn` with [`#[task]`](task), or a hand-written [`Task`]. Calling
//!   it gives a [`TaskCall`]; [`Flow::add`] adds it and returns its [`Handle`].
//! - **Flow**: tasks and edges. Passing a handle as an argument is a data edge;
//!   [`TaskCall::after`] and [`Flow::add_edge`] add order-only edges.
//! - **State**: how a task run ends ([`StateKind`]): `Success`, `Failed`, `TriggerFailed`,
//!   `Skipped`, `TimedOut`, ... `Skipped` counts as a success.
//! - **Trigger**: whether a task runs, from its upstream states ([`Trigger`]); the default
//!   is `all_successful`.
//! - **Signal**: a body ends itself as SUCCESS, FAIL, RETRY, SKIP or PAUSE ([`Signal`]).
//! - **Retries**: a failed attempt is retried up to `max_retries` times, after a fixed
//!   delay or an exponential [`Backoff`] with a cap, spread by a deterministic [`Jitter`];
//!   [`TaskCall::retry_if`] chooses which errors are retried.
//! - **Reference tasks**: the tasks whose states decide the flow's state (default: the
//!   terminal tasks; see [`Flow::set_reference_tasks`]).
//! - **Blocks**: a flow runs its main tasks, then its `errors` tasks only if the main
//!   tasks failed ([`Flow::add_errors`], with [`Flow::failed_tasks`]), then its `finally`
//!   tasks whatever happened ([`Flow::add_finally`]), also after a time limit
//!   ([`Flow::set_timeout`]) or a cancellation ([`RunBuilder::cancel_on`]). Unfinished
//!   tasks of an interrupted run end `Cancelled`. The flow's state is the main tasks'
//!   outcome; a failed `errors` or `finally` task fails it too, and is added to the
//!   message rather than replacing it. [`TaskCall::allow_failure`] lets a task fail as a
//!   `Warning` that fails neither its downstream tasks nor the flow.
//! - **Mapping**: [`Flow::map`] runs a task once per item of a collection ([`each`]), or
//!   per batch of items ([`batches`], Kestra's `ForEachItem`), each run a child with its
//!   own state, retries and trigger; downstream tasks see every child and receive the
//!   results in item order ([`RunReport::children`] lists the children's states).
//! - **Limits**: a run's cap on concurrent attempts ([`Flow::set_max_concurrency`]), a
//!   mapped task's cap on its children ([`TaskCall::max_concurrency`]) and process-wide
//!   per-tag limits ([`TaskCall::tag`], [`set_tag_limit`]); a task waiting for a slot is
//!   `Queued`.
//! - **Hooks**: functions called on state changes of a task ([`TaskCall::on_state`],
//!   `on_failure`, `on_success`) or of a flow ([`Flow::on_state`]); they observe and
//!   cannot change a state.
//! - **Branching**: [`Flow::switch`] (with a default branch), [`Flow::if_else`],
//!   [`Flow::case`] and [`Flow::when`] add condition tasks that compare an upstream value
//!   and end `Success` or `Skipped`, and gate the tasks of each branch, so untaken
//!   branches and what depends on them are skipped; [`Flow::merge`] joins the branches,
//!   taking the value of the one that ran (Prefect 1's `switch`, `ifelse`, `case` and
//!   `merge`). A condition's skip is an ordinary skip: it counts as a success and beats
//!   a failure downstream (Prefect's declined PIN 15; see [`Flow::switch`]).
//! - **Caching**: opt-in with `#[task(cache_for = "10m")]`. The key hashes the task's
//!   identity (or its `cache_key`) and its arguments' values, which must implement `Hash`
//!   (checked at compile time). A later run in the same process with the same key reuses
//!   the result, and the task ends [`Cached`](StateKind::Cached) without running its body;
//!   [`TaskCall::cache_for`], [`TaskCall::refresh_cache`] and [`TaskCall::no_cache`]
//!   change this per call, and [`Cache`] is the store (one per process, or one per run
//!   with [`RunBuilder::cache`]).
//! - **Report**: [`RunReport`] holds every state and typed result, and continues a paused run.
//! - **Inputs and outputs**: typed inputs, required ([`Flow::input`]) or with a default
//!   ([`Flow::input_or`], [`Input`] with validators), are taken by tasks through their
//!   handle and given per run with [`RunBuilder::input`]; a missing, unknown, mistyped or
//!   invalid value stops the run before any task runs, naming the input. Named outputs
//!   ([`Flow::output`]) are read back typed with [`RunReport::output`].
//! - **Subflows**: a flow runs as a task of another ([`Subflow`]), its inputs bound to
//!   the parent's handles or to values and checked against the child's declarations
//!   when the parent is built, its outputs read back typed ([`Flow::subflow_output`]),
//!   its final state the task's. Each attempt is a new run of the child ([`SubflowRun`]).
//! - **Metadata and run context**: a flow has an id (its name), a namespace, a description
//!   and labels ([`Flow::set_namespace`], [`Flow::add_label`]); each run has a [`RunId`].
//!   A body reads them, with its own name, attempt and start time, from [`TaskContext`].
//!
//! # Testing flows
//!
//! A flow test is an ordinary `#[tokio::test]`; no server, database or harness.
//!
//! - Call a task's body directly with plain values: `add(2, 3).call().await` ([`TaskCall::call`]).
//! - Give tasks an outcome up front or replace their body for one run, without changing
//!   the flow: [`Flow::runner`] with [`RunBuilder::with_state`], [`RunBuilder::with_result`]
//!   and [`RunBuilder::with_stub`] ([`Stub`]).
//! - Assert concisely: [`RunReport::check`] (state, message, attempts, transitions, result,
//!   by handle or name) and [`RunReport::check_flow`]; failures say what the run did.
//!   [`RunReport`]'s `Display` is a stable table for snapshot tests (insta, expect-test).
//! - Resume a paused run with [`RunReport::approve`] and [`RunReport::resume`].
//! - Retries, timeouts and timed pauses wait on tokio's clock, so under paused time a
//!   ten-minute retry delay takes no wall-clock time: annotate the test with
//!   `#[tokio::test(start_paused = true)]` (tokio's `test-util` feature) and the runtime
//!   jumps to the next timer whenever every task is waiting.
//!
//! ```
//! use std::time::Duration;
//! use flowcore::{Flow, StateKind::*, Stub, task};
//!
//! #[task(max_retries = 3, retry_delay = "10m")]
//! async fn fetch(url: &'static str) -> Result<usize, std::io::Error> {
//!     Ok(url.len())
//! }
//!
//! #[tokio::test(start_paused = true)]
//! # async fn _unused() {}
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! # fetch_retries_until_the_server_answers().await;
//! # }
//! async fn fetch_retries_until_the_server_answers() {
//!     let mut flow = Flow::new("fetch");
//!     let fetched = flow.add(fetch("https://example.com"));
//!     let failures = std::sync::atomic::AtomicU32::new(0);
//!     let failures = std::sync::Arc::new(failures);
//!     let stub = Stub::from_fn(move || {
//!         let failed = failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
//!         async move { if failed < 2 { Err("503".into()) } else { Ok(42) } }
//!     });
//!     let started = tokio::time::Instant::now();
//!     let report = flow.runner().with_stub(fetched, stub).run().await.unwrap();
//!     report.check(fetched).is(Success).attempts(3).result(&42);
//!     // Two ten-minute delays, in no wall-clock time.
//!     assert_eq!(started.elapsed(), Duration::from_secs(20 * 60));
//! }
//! ```
//!
//! # Differences from Prefect 1
//!
//! - A task retries as soon as its delay elapses, not on a later pass over the flow.
//! - `RETRY` uses the `max_retries` budget instead of retrying without bound.
//! - A paused run returns with the flow `Paused` instead of prompting on stdin;
//!   [`RunReport::approve`] and [`RunReport::resume`] continue it.
//! - Values given as arguments are not upstream tasks, so triggers do not see them.
//! - An upstream task without a value (failed or skipped) cannot fill an argument of
//!   type `T`: the task fails with [`MissingInput`] unless the argument is an `Option<T>`.
//! - [`Threshold::Fraction`] `1.0` means all upstream tasks (Prefect reads `1.0` as one task).
//! - Timeouts accept any duration, not only whole seconds.
//! - A custom trigger that does not pass says `Trigger was "<name>" but it did not pass.`
//!   (Prefect says `Trigger failed`), and custom triggers cannot raise signals.
//! - The error message of a failed task is the error's own message followed by its
//!   sources (`outer: inner`), not Prefect's `Error during execution of task: <repr>`.
//! - [`Flow::merge`] takes the first branch with a value in the order the branches are
//!   given; Prefect ordered them by the names of its keys, so `task_10` came before
//!   `task_2`. A branch has no value when it was skipped, including by its own `SKIP`
//!   (Prefect passed the `SKIP` signal on as a value).
//! - [`Flow::if_else`] takes a typed `bool` and has no truthiness (Prefect's `as_bool`);
//!   a switch can have a default branch (Kestra's `defaults`; Prefect has none).
//! - A condition's message shows values with `Debug` (text without quotes), not Python's
//!   `str`. A branch's condition task is added before the branch's tasks (Prefect added
//!   it when the `case` block ended), so a branch that adds no task still has one.
//! - Caching: the run that computes a result ends `Success` and the runs that reuse it
//!   end `Cached` (Prefect shows `Cached` from the first run on). The trigger and skip
//!   propagation are decided before the cache is read, so a cached task whose upstream
//!   failed is `TriggerFailed` (Prefect reads the cache first). A hit goes through
//!   `Running`, since the lookup is part of the attempt. The cache is shared by the
//!   process's runs, not kept per flow runner, and it is keyed by the arguments' hashes
//!   rather than checked by a validator function; there are no file `target`s.

#![doc(test(attr(deny(warnings))))]

mod block;
mod branch;
mod cache;
mod check;
mod context;
mod error;
mod flow;
mod graph;
mod hooks;
mod inputs;
mod limits;
mod map;
mod overrides;
mod pipeline;
mod reference;
mod render;
mod report;
mod retry;
mod runner;
mod signal;
mod state;
mod subflow;
mod task;
mod trigger;

pub use crate::block::TaskFailure;
pub use crate::branch::Switch;
pub use crate::cache::Cache;
pub use crate::check::{TaskCheck, TaskRef, Untyped};
pub use crate::context::{RunId, TaskContext, pause};
pub use crate::error::{BoxError, BuildError, MissingInput, OutputError, ResumeError};
pub use crate::flow::Flow;
pub use crate::hooks::Transition;
pub use crate::inputs::Input;
pub use crate::limits::{remove_tag_limit, set_tag_limit};
pub use crate::map::{Batches, Each, batches, each};
pub use crate::overrides::{RunBuilder, Stub};
pub use crate::report::RunReport;
pub use crate::retry::{Backoff, Jitter};
pub use crate::signal::{Signal, SignalKind};
pub use crate::state::{State, StateKind};
pub use crate::subflow::{Subflow, SubflowError, SubflowInput, SubflowRun};
pub use crate::task::{Arg, Args, Handle, IntoArg, Task, TaskCall, TaskFuture, TaskId, Values};
pub use crate::trigger::{CustomTrigger, Threshold, Trigger, Verdict};
/// The token that cancels a run: see [`RunBuilder::cancel_on`].
pub use tokio_util::sync::CancellationToken;

#[cfg(feature = "macros")]
#[doc(inline)]
pub use flowcore_macros::task;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// Not public API: the items `#[task]`'s generated code uses. May change in any release.
#[doc(hidden)]
pub mod __private {
    pub use std::time::Duration;

    use crate::error::{BoxError, MissingInput};
    use crate::signal::Signal;
    use crate::task::{Args, TaskCall, Values};

    pub use crate::cache::{CacheHasher, CacheKeyPart, CacheValue};
    pub use crate::task::AnyValue;

    /// A task call whose attempts are started by `start`: it reads the inputs and
    /// returns the attempt's future.
    pub fn task_call<T, F, Fut>(name: &'static str, args: Args, start: F) -> TaskCall<T>
    where
        T: Send + 'static,
        F: Fn(&Values<'_>) -> Result<Fut, MissingInput> + Send + Sync + 'static,
        Fut: Future<Output = Result<AnyValue, BoxError>> + Send + 'static,
    {
        TaskCall::from_fn(name, args, start)
    }

    /// A body's return type that is a `Result`: its `Ok` type is the task's output.
    pub trait TaskResult {
        /// The task's output type.
        type Output: Send + 'static;
        /// The attempt's outcome.
        fn into_outcome(self) -> Result<AnyValue, BoxError>;
    }

    impl<T: Send + 'static, E: Into<BoxError> + 'static> TaskResult for Result<T, E> {
        type Output = T;
        fn into_outcome(self) -> Result<AnyValue, BoxError> {
            match self {
                Ok(value) => Ok(Box::new(value)),
                Err(error) => Err(crate::signal::into_box_error(error)),
            }
        }
    }

    /// The outcome of a body that returns a plain value.
    pub fn from_value<T: Send + 'static>(value: T) -> Result<AnyValue, BoxError> {
        Ok(Box::new(value))
    }

    /// The outcome of a body that returns a [`Signal`].
    pub fn from_signal(signal: Signal) -> Result<AnyValue, BoxError> {
        Err(Box::new(signal))
    }

    /// The call of a task with `cache_for`: `start` reads the inputs and, when given a
    /// hasher, hashes them into the cache key; `identity` names the task in the key.
    pub fn cached_task_call<T, F, Fut>(
        name: &'static str,
        identity: &'static str,
        expiry: Duration,
        args: Args,
        start: F,
    ) -> TaskCall<T>
    where
        T: CacheValue,
        F: Fn(&Values<'_>, Option<&mut CacheHasher>) -> Result<Fut, MissingInput>
            + Send
            + Sync
            + 'static,
        Fut: Future<Output = Result<AnyValue, BoxError>> + Send + 'static,
    {
        TaskCall::from_cached_fn(name, identity, expiry, args, start)
    }

    /// Asserts at compile time that a cached task's output can be kept in the cache.
    pub fn assert_cache_value<T: CacheValue>() {}

    /// Asserts at compile time that a task's output can be stored and sent between threads.
    pub fn assert_output<T: Send + 'static>() {}
}
