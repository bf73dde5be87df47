//! What a run is given: input values, and overrides, mostly for tests: preset task states and
//! results, and stubbed task bodies.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use rustc_hash::FxHashMap;

use crate::cache::Cache;
use crate::context::{RunId, RunInfo};
use crate::error::{BoxError, BuildError};
use crate::flow::Flow;
use crate::inputs::{self, GivenInput};
use crate::report::RunReport;
use crate::state::{State, StateKind};
use crate::task::{AnyValue, Args, ErasedTask, Handle, TaskCall, TaskId};

/// What a run replaces: the tasks given a state up front, and the tasks whose body is stubbed.
#[derive(Default)]
pub(crate) struct Overrides {
    /// Finished states (with a result) that tasks take instead of running.
    pub(crate) states: FxHashMap<u32, (State, Option<AnyValue>)>,
    /// Bodies that replace the tasks' own.
    pub(crate) stubs: FxHashMap<u32, Arc<dyn ErasedTask>>,
}

/// A run of a flow with values for its inputs, run options (a time limit, a cancellation
/// token) and, for tests, some tasks given their outcome up front or their body replaced;
/// made by [`Flow::runner`]. The flow itself is not changed.
///
/// [`RunBuilder::input`] gives an input its value for this run (see [`Flow::input`]).
///
/// A task given a state keeps it and does not run (Prefect's `task_states`), once its
/// upstream tasks have finished; downstream tasks see it like any other state. A stubbed
/// task keeps its name, options and place in the flow, and runs the stub's body instead
/// of its own, with its usual trigger, retries and timeout.
///
/// # Examples
///
/// Testing a clean-up task against a failed upstream task:
///
/// ```
/// use flowcore::{Flow, State, StateKind, Stub, task};
///
/// #[task]
/// async fn create_cluster() -> String {
///     "spark-1".to_string()
/// }
///
/// #[task]
/// async fn run_job(cluster: String) -> u64 {
///     cluster.len() as u64
/// }
///
/// #[task(trigger = always_run)]
/// async fn tear_down(cluster: String) -> bool {
///     !cluster.is_empty()
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut flow = Flow::new("spark");
/// let cluster = flow.add(create_cluster());
/// let job = flow.add(run_job(cluster));
/// let down = flow.add(tear_down(cluster).after(job));
///
/// let report = flow
///     .runner()
///     .with_result(cluster, "test-cluster".to_string())
///     .with_stub(job, Stub::error("executor lost"))
///     .run()
///     .await
///     .unwrap();
/// assert_eq!(report.state(job).kind(), StateKind::Failed);
/// assert_eq!(report.result(down), Some(&true));
///
/// let report = flow.runner().with_state(job, State::failed("given")).run().await.unwrap();
/// assert_eq!(report.state(job).message(), "given");
/// # }
/// ```
#[must_use = "a runner does nothing until `run` is awaited"]
pub struct RunBuilder<'f> {
    flow: &'f Flow,
    overrides: Overrides,
    inputs: Vec<GivenInput>,
    errors: Vec<BuildError>,
    timeout: Option<Duration>,
    cancel: Option<CancellationToken>,
    cache: Option<Cache>,
}

impl std::fmt::Debug for RunBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunBuilder")
            .field("flow", &self.flow.name())
            .field(
                "inputs",
                &self
                    .inputs
                    .iter()
                    .map(|input| &input.name)
                    .collect::<Vec<_>>(),
            )
            .field("n_states", &self.overrides.states.len())
            .field("n_stubs", &self.overrides.stubs.len())
            .finish()
    }
}

impl<'f> RunBuilder<'f> {
    pub(crate) fn new(flow: &'f Flow) -> RunBuilder<'f> {
        RunBuilder {
            flow,
            overrides: Overrides::default(),
            inputs: Vec::new(),
            errors: Vec::new(),
            timeout: flow.data().timeout,
            cancel: None,
            cache: None,
        }
    }

    /// Limits this run's duration, instead of the flow's [`Flow::set_timeout`], with the
    /// same effect: unfinished tasks end `Cancelled`, the flow `TimedOut`, and `errors`
    /// and `finally` still run.
    pub fn timeout(mut self, timeout: Duration) -> RunBuilder<'f> {
        self.timeout = Some(timeout);
        self
    }

    /// Cancels the run when `token` is cancelled: running and waiting tasks (main and
    /// `errors`) are stopped and end `Cancelled`, the `finally` tasks run, and the flow
    /// ends `Cancelled`. Once the `finally` tasks have started, the token is not watched.
    /// A task whose body had ended when the runner noticed the cancellation keeps its
    /// outcome.
    ///
    /// Dropping the run's future instead stops everything at once, `finally` included.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use flowcore::{CancellationToken, Flow, StateKind, task};
    ///
    /// #[task]
    /// async fn wait_for_data() {
    ///     std::future::pending::<()>().await;
    /// }
    ///
    /// #[task]
    /// async fn release_lock() -> &'static str {
    ///     "released"
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut flow = Flow::new("cancellable");
    /// let wait = flow.add(wait_for_data());
    /// let release = flow.add_finally(release_lock());
    ///
    /// let token = CancellationToken::new();
    /// let canceller = token.clone();
    /// tokio::spawn(async move {
    ///     tokio::time::sleep(Duration::from_secs(5)).await;
    ///     canceller.cancel();
    /// });
    /// let report = flow.runner().cancel_on(token).run().await.unwrap();
    /// assert_eq!(report.state(wait).kind(), StateKind::Cancelled);
    /// assert_eq!(report.result(release), Some(&"released"));
    /// assert_eq!(report.flow_state().kind(), StateKind::Cancelled);
    /// # }
    /// ```
    pub fn cancel_on(mut self, token: CancellationToken) -> RunBuilder<'f> {
        self.cancel = Some(token);
        self
    }

    /// Makes the run's cached tasks (`#[task(cache_for = "..")]`) use `cache` instead of
    /// the process-wide [`Cache::global`]: a test with a cache of its own neither sees nor
    /// leaves entries of the other tests of its binary.
    ///
    /// # Examples
    ///
    /// See [`Cache`].
    pub fn cache(mut self, cache: &Cache) -> RunBuilder<'f> {
        self.cache = Some(cache.clone());
        self
    }

    /// The index of `task` in the flow; a task of another flow, or an input (whose value
    /// is given with [`RunBuilder::input`]), is recorded as an error.
    fn index(&mut self, task: TaskId) -> Option<u32> {
        let data = self.flow.data();
        if task.flow != data.id {
            self.errors.push(BuildError::ForeignTask {
                task: "a run override".to_string(),
                place: "its task".to_string(),
            });
            return None;
        }
        if let Some(input) = data.input_at(task.index) {
            self.errors.push(BuildError::Override {
                task: input.name.to_string(),
                problem: "it is a flow input, which takes no override; give its value with `RunBuilder::input`".to_string(),
            });
            return None;
        }
        Some(task.index)
    }

    /// Gives the input `name` this value for the run, instead of its default. Giving the
    /// same input twice keeps the last value.
    ///
    /// The value's type must be the input's exactly: an input declared as `u32` does not
    /// take the literal `5`, which is an `i32`; write `5_u32`.
    ///
    /// [`RunBuilder::run`] fails before any task runs when the flow has no input `name`
    /// ([`BuildError::UnknownInput`]), when the value's type is not the input's
    /// ([`BuildError::InputType`], naming both types), or when a validator rejects it
    /// ([`BuildError::InvalidInput`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{BuildError, Flow, task};
    ///
    /// #[task]
    /// async fn repeat(word: String, times: u32) -> String {
    ///     word.repeat(times as usize)
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("repeat");
    /// let word = flow.input::<String>("word");
    /// let times = flow.input_or("times", 2_u32);
    /// let repeated = flow.add(repeat(word, times));
    ///
    /// let report = flow.runner().input("word", "ab".to_string()).run().await.unwrap();
    /// assert_eq!(report.result(repeated).map(String::as_str), Some("abab"));
    ///
    /// let error = flow.runner().input("word", "ab").run().await.unwrap_err();
    /// assert!(matches!(error, BuildError::InputType { .. }));
    /// assert_eq!(
    ///     error.to_string(),
    ///     "input `word` expects a value of type `alloc::string::String`, and was given a `&str`"
    /// );
    /// # }
    /// ```
    pub fn input<T: Send + 'static>(mut self, name: impl Into<String>, value: T) -> RunBuilder<'f> {
        self.inputs.push(GivenInput {
            name: name.into(),
            value: Box::new(value),
            type_name: std::any::type_name::<T>(),
        });
        self
    }

    /// Gives an input its value, already boxed (for a subflow's inputs, read from its
    /// parent's values).
    pub(crate) fn given(mut self, input: GivenInput) -> RunBuilder<'f> {
        self.inputs.push(input);
        self
    }

    /// Gives `task` this finished state: it does not run, and its downstream tasks see the
    /// state. The task has no result, unless its output type is `()`.
    ///
    /// [`RunBuilder::run`] fails with [`BuildError::Override`] when the state is not
    /// finished (Pending, Running, Retrying, Paused, ...).
    pub fn with_state(mut self, task: impl Into<TaskId>, state: State) -> RunBuilder<'f> {
        if let Some(index) = self.index(task.into()) {
            let node = &self.flow.data().nodes[index as usize];
            if !state.is_finished() {
                self.errors.push(BuildError::Override {
                    task: node.name.to_string(),
                    problem: format!(
                        "a preset state must be finished, and {} is not",
                        state.kind()
                    ),
                });
                return self;
            }
            let value = node
                .task
                .unit_output()
                .filter(|_| matches!(state.kind(), StateKind::Success | StateKind::Cached));
            self.overrides.states.insert(index, (state, value));
        }
        self
    }

    /// Gives `task` a `Success` state with `value` as its result: it does not run, and its
    /// downstream tasks receive `value`.
    pub fn with_result<T: Send + 'static>(mut self, task: Handle<T>, value: T) -> RunBuilder<'f> {
        if let Some(index) = self.index(task.id()) {
            let state = State::success("Result given to the run.");
            self.overrides
                .states
                .insert(index, (state, Some(Box::new(value) as Box<dyn Any + Send>)));
        }
        self
    }

    /// Runs `stub` instead of the body of `task`, keeping the task's options.
    pub fn with_stub<T: Send + 'static>(
        mut self,
        task: Handle<T>,
        stub: Stub<T>,
    ) -> RunBuilder<'f> {
        if let Some(index) = self.index(task.id()) {
            self.overrides.stubs.insert(index, stub.task);
        }
        self
    }

    /// Runs the flow with the input values and overrides, like [`Flow::run`].
    ///
    /// # Errors
    ///
    /// Before any task runs: the flow's [`BuildError`], an override that cannot apply, or
    /// an input whose value is missing, unknown, of the wrong type or invalid.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    pub async fn run(self) -> Result<RunReport, BuildError> {
        let data = self.flow.data();
        let graph = data.graph()?;
        if let Some(error) = self.errors.into_iter().next() {
            return Err(error);
        }
        let inputs = inputs::resolve(data, self.inputs)?;
        let flow = self.flow.shared();
        let run = Arc::new(RunInfo {
            id: RunId::next(),
            flow: flow.clone(),
            cache: self.cache,
        });
        let mut report = RunReport::new(flow, graph, run, inputs);
        report.timeout = self.timeout;
        report.cancel = self.cancel;
        if !self.overrides.states.is_empty() || !self.overrides.stubs.is_empty() {
            report.overrides = Some(Box::new(self.overrides));
        }
        report.drive().await;
        Ok(report)
    }
}

/// A replacement body for a task, for [`RunBuilder::with_stub`]: a value, an error, a
/// signal, or a function.
///
/// # Examples
///
/// ```
/// use flowcore::{Signal, Stub};
///
/// let value: Stub<u32> = Stub::value(7);
/// let error: Stub<u32> = Stub::error("connection refused");
/// let skip: Stub<u32> = Stub::signal(Signal::skip("not today"));
/// let computed: Stub<u32> = Stub::from_fn(|| async { Ok(6 * 7) });
/// # let _ = (value, error, skip, computed);
/// ```
pub struct Stub<T> {
    task: Arc<dyn ErasedTask>,
    _output: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Stub<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stub").finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Stub<T> {
    /// A body that runs `body` on every attempt.
    pub fn from_fn<F, Fut>(body: F) -> Stub<T>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, BoxError>> + Send + 'static,
    {
        let call: TaskCall<T> = TaskCall::from_fn("stub", Args::new(), move |_values| {
            let fut = body();
            Ok(async move { fut.await.map(|value| Box::new(value) as AnyValue) })
        });
        Stub {
            task: call.task,
            _output: PhantomData,
        }
    }

    /// A body that ends with a copy of `value`.
    pub fn value(value: T) -> Stub<T>
    where
        T: Clone + Sync,
    {
        Stub::from_fn(move || std::future::ready(Ok(value.clone())))
    }

    /// A body that fails with `message`.
    pub fn error(message: impl Into<String>) -> Stub<T> {
        let message: String = message.into();
        Stub::from_fn(move || std::future::ready(Err(message.clone().into())))
    }

    /// A body that ends with a copy of `signal`'s kind, message and delay (not its value).
    pub fn signal(signal: crate::signal::Signal) -> Stub<T> {
        Stub::from_fn(move || {
            let mut copy = crate::signal::Signal::fail(signal.message().to_string());
            copy.kind = signal.kind();
            copy.delay = signal.delay();
            std::future::ready(Err(Box::new(copy) as BoxError))
        })
    }
}
