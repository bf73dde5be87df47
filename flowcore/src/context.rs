//! The run context a task body can read: its name, attempt number and whether it was resumed.

use std::sync::Arc;

use crate::signal::Signal;

tokio::task_local! {
    static CONTEXT: TaskContext;
}

/// What a running task knows about its own run.
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
#[derive(Clone, Debug)]
pub struct TaskContext {
    pub(crate) task_name: Arc<str>,
    pub(crate) attempt: u32,
    pub(crate) resumed: bool,
    pub(crate) map_index: Option<u32>,
}

impl TaskContext {
    /// The context of the task whose body is running, or `None` outside a task run
    /// (for example when a test calls the body directly).
    pub fn current() -> Option<TaskContext> {
        CONTEXT.try_with(TaskContext::clone).ok()
    }

    /// The task's name in its flow.
    pub fn task_name(&self) -> &str {
        &self.task_name
    }

    /// The index of the item this run works on, when the task is mapped
    /// ([`Flow::map`](crate::Flow::map)); `None` otherwise.
    pub fn map_index(&self) -> Option<u32> {
        self.map_index
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

    pub(crate) async fn scope<F: Future>(self, fut: F) -> F::Output {
        CONTEXT.scope(self, fut).await
    }
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
