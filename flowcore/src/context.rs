//! The run context a task body can read: the flow and run it belongs to, its name, attempt
//! number, start time and whether it was resumed.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::task::futures::TaskLocalFuture;
use tokio::time::Instant;

use crate::cache::Cache;
use crate::flow::FlowData;
use crate::runner::AttemptsShared;
use crate::signal::Signal;

static NEXT_RUN_ID: AtomicU64 = AtomicU64::new(1);

/// Identifies a flow run: unique among the runs started in this process, and increasing in
/// the order the runs started. A resumed run keeps its id.
///
/// It is a number, shown as one by `Display`; [`RunId::get`] gives it as a `u64`.
///
/// # Examples
///
/// ```
/// use flowcore::{Flow, task};
///
/// #[task]
/// async fn noop() {}
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut flow = Flow::new("ids");
/// flow.add(noop());
/// let first = flow.run().await.unwrap().run_id();
/// let second = flow.run().await.unwrap().run_id();
/// assert!(first < second);
/// assert_eq!(second.to_string(), second.get().to_string());
/// # }
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(u64);

impl RunId {
    pub(crate) fn next() -> RunId {
        RunId(NEXT_RUN_ID.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    ///
    /// # Examples
    ///
    /// See [`RunId`].
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What every attempt of a run shares: the run's id and the flow's metadata. Made once
/// per run, so that an attempt's context costs one `Arc` clone rather than string copies.
pub(crate) struct RunInfo {
    pub(crate) id: RunId,
    pub(crate) flow: Arc<FlowData>,
    /// The cache the run's cached tasks use, when it is not the process-wide one.
    pub(crate) cache: Option<Cache>,
}

impl fmt::Debug for RunInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunInfo")
            .field("id", &self.id)
            .field("flow", &self.flow.name)
            .field("namespace", &self.flow.namespace)
            .finish_non_exhaustive()
    }
}

tokio::task_local! {
    static CONTEXT: TaskContext;
}

/// What a running task knows about its own run: the flow (name, namespace, labels), the
/// run's id, the task's name, and the attempt (number, start time, whether it was resumed).
///
/// # Examples
///
/// ```
/// use flowcore::{Flow, TaskContext, task};
///
/// #[task(max_retries = 2)]
/// async fn flaky() -> Result<u32, String> {
///     let attempt = TaskContext::current().map_or(0, |ctx| ctx.attempt());
///     if attempt < 3 { Err(format!("attempt {attempt} failed")) } else { Ok(attempt) }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut flow = Flow::new("context");
/// let flaky = flow.add(flaky());
/// let report = flow.run().await.unwrap();
/// assert_eq!(report.result(flaky), Some(&3));
/// # }
/// ```
///
/// The flow and the run:
///
/// ```
/// use flowcore::{Flow, TaskContext, task};
///
/// #[task]
/// async fn whoami() -> String {
///     let ctx = TaskContext::current().expect("inside a run");
///     format!(
///         "{}/{} run {} task {} attempt {} env={}",
///         ctx.namespace().unwrap_or("-"),
///         ctx.flow_name(),
///         ctx.run_id(),
///         ctx.task_name(),
///         ctx.attempt(),
///         ctx.label("env").unwrap_or("-"),
///     )
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut flow = Flow::new("context");
/// flow.set_namespace("company.team");
/// flow.add_label("env", "dev");
/// let whoami = flow.add(whoami());
/// let report = flow.run().await.unwrap();
/// let expected = format!("company.team/context run {} task whoami attempt 1 env=dev", report.run_id());
/// assert_eq!(report.result(whoami), Some(&expected));
/// # }
/// ```
#[derive(Clone)]
pub struct TaskContext {
    /// The task's index in its flow: its name is read from the flow, so that starting an
    /// attempt does not touch the name.
    pub(crate) task: u32,
    pub(crate) attempt: u32,
    pub(crate) resumed: bool,
    pub(crate) map_index: Option<u32>,
    pub(crate) started_at: Instant,
    /// The run, and where the attempt reports how it ended: one `Arc` for both.
    pub(crate) shared: Arc<AttemptsShared>,
}

impl fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskContext")
            .field("task_name", &self.task_name())
            .field("attempt", &self.attempt)
            .field("resumed", &self.resumed)
            .field("map_index", &self.map_index)
            .field("started_at", &self.started_at)
            .field("run", &*self.shared.run)
            .finish()
    }
}

impl TaskContext {
    /// The context of the task whose body is running, or `None` outside a task run
    /// (for example when a test calls the body directly).
    pub fn current() -> Option<TaskContext> {
        CONTEXT.try_with(TaskContext::clone).ok()
    }

    /// The task's name in its flow.
    pub fn task_name(&self) -> &str {
        &self.shared.run.flow.nodes[self.task as usize].name
    }

    /// The attempt running now: 1 for the first, 2 for the first retry, ...
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether this attempt runs because the task was approved, or its timed pause
    /// elapsed, after it paused.
    pub fn is_resumed(&self) -> bool {
        self.resumed
    }

    /// When this attempt started, on tokio's clock (so under paused time in tests it is
    /// the paused clock's time). For a retry or a timed pause it is the time the attempt
    /// was scheduled to start, after its delay.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use flowcore::{Flow, TaskContext, task};
    ///
    /// #[task(max_retries = 1, retry_delay = "1m")]
    /// async fn flaky() -> Result<Duration, String> {
    ///     let ctx = TaskContext::current().expect("inside a run");
    ///     if ctx.attempt() == 1 {
    ///         return Err("first attempt fails".to_string());
    ///     }
    ///     Ok(ctx.started_at().elapsed())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut flow = Flow::new("started");
    /// let flaky = flow.add(flaky());
    /// let start = tokio::time::Instant::now();
    /// let report = flow.run().await.unwrap();
    /// // The retry started one minute (of paused time) after the run.
    /// assert_eq!(start.elapsed(), Duration::from_secs(60));
    /// assert_eq!(report.result(flaky), Some(&Duration::ZERO));
    /// # }
    /// ```
    pub fn started_at(&self) -> Instant {
        self.started_at
    }

    /// The name (id) of the flow being run.
    ///
    /// # Examples
    ///
    /// See [`TaskContext`]'s second example.
    pub fn flow_name(&self) -> &str {
        &self.shared.run.flow.name
    }

    /// The flow's namespace, if it was given one with
    /// [`Flow::set_namespace`](crate::Flow::set_namespace).
    ///
    /// # Examples
    ///
    /// See [`TaskContext`]'s second example.
    pub fn namespace(&self) -> Option<&str> {
        self.shared.run.flow.namespace.as_deref()
    }

    /// The run's id, the same as [`RunReport::run_id`](crate::RunReport::run_id).
    ///
    /// # Examples
    ///
    /// See [`TaskContext`]'s second example.
    pub fn run_id(&self) -> RunId {
        self.shared.run.id
    }

    /// The flow's labels, in the order their keys were first added (see
    /// [`Flow::add_label`](crate::Flow::add_label)).
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, TaskContext, task};
    ///
    /// #[task]
    /// async fn tags() -> Vec<String> {
    ///     let ctx = TaskContext::current().expect("inside a run");
    ///     ctx.labels().map(|(key, value)| format!("{key}={value}")).collect()
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("labelled");
    /// flow.add_label("team", "data");
    /// flow.add_label("env", "prod");
    /// let tags = flow.add(tags());
    /// let report = flow.run().await.unwrap();
    /// assert_eq!(report.result(tags), Some(&vec!["team=data".to_string(), "env=prod".to_string()]));
    /// # }
    /// ```
    pub fn labels(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.shared
            .run
            .flow
            .labels
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// The value of the flow's label `key`, if it has one.
    ///
    /// # Examples
    ///
    /// See [`TaskContext`]'s second example.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.shared.run.flow.label(key)
    }

    /// The index of the item this run works on, when the task is mapped
    /// ([`Flow::map`](crate::Flow::map)); `None` otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, TaskContext, each, task};
    ///
    /// #[task]
    /// async fn index(_item: char) -> Option<u32> {
    ///     TaskContext::current().and_then(|ctx| ctx.map_index())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("mapped");
    /// let index = flow.map(index(each(vec!['a', 'b'])));
    /// let report = flow.run().await.unwrap();
    /// assert_eq!(report.result(index), Some(&vec![Some(0), Some(1)]));
    /// # }
    /// ```
    pub fn map_index(&self) -> Option<u32> {
        self.map_index
    }

    /// Runs `fut` with this context as the current one; the context can be taken back
    /// from the returned future once it is done.
    pub(crate) fn scope<F: Future>(self, fut: F) -> TaskLocalFuture<TaskContext, F> {
        CONTEXT.scope(self, fut)
    }
}

/// Calls `f` with the run of the attempt in progress, or returns `None` outside a run.
pub(crate) fn with_run<R>(f: impl FnOnce(&RunInfo) -> R) -> Option<R> {
    CONTEXT.try_with(|ctx| f(&ctx.shared.run)).ok()
}

/// Pauses the running task until it is approved, unless this attempt is the approved one.
///
/// Use it with `?` in a task body that returns `Result<_, Signal>` (or any error type a
/// [`Signal`] converts into): the first attempt ends `Paused`; after
/// [`RunReport::approve`](crate::RunReport::approve) and
/// [`RunReport::resume`](crate::RunReport::resume) the body runs again and goes past it.
///
/// # Errors
///
/// A `PAUSE` [`Signal`] when the attempt was not resumed.
///
/// # Examples
///
/// ```
/// use flowcore::{Flow, Signal, StateKind, pause, task};
///
/// #[task]
/// async fn deploy() -> Result<&'static str, Signal> {
///     pause("deploying needs approval")?;
///     Ok("deployed")
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut flow = Flow::new("deploy");
/// let deploy = flow.add(deploy());
/// let mut report = flow.run().await.unwrap();
/// assert_eq!(report.flow_state().kind(), StateKind::Paused);
/// report.approve("deploy").unwrap();
/// report.resume().await;
/// assert_eq!(report.result(deploy), Some(&"deployed"));
/// # }
/// ```
pub fn pause(message: &'static str) -> Result<(), Signal> {
    match TaskContext::current() {
        Some(ctx) if ctx.resumed => Ok(()),
        _ => Err(Signal::pause(message)),
    }
}
