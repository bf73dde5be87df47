//! Subflows: a flow run as one task of another flow (Kestra's `Subflow` task, Prefect's
//! flow of flows).
//!
//! A subflow task is a hand-written [`Task`] whose body runs the child flow with a
//! [`RunBuilder`](crate::RunBuilder), so each attempt is a real run of the child: its own
//! run id, inputs, triggers, retries, `errors` and `finally` blocks and time limit. Its
//! value, a [`SubflowRun`], carries what the parent needs of the child's report: the run
//! id, the final state, every task's state and the outputs. Tasks that read one output
//! ([`Flow::subflow_output`]) turn it back into a typed handle.

use std::any::TypeId;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::context::{RunId, TaskContext};
use crate::error::{BoxError, BuildError, MissingInput, OutputError};
use crate::flow::Flow;
use crate::inputs::{GivenInput, OutputDecl};
use crate::map::{Each, each};
use crate::report::RunReport;
use crate::signal::Signal;
use crate::state::{State, StateKind};
use crate::task::{
    AnyValue, Arg, Args, Handle, IntoArg, Source, Task, TaskCall, TaskFuture, TaskId, Values,
};

/// A flow run as a task of another flow: its inputs bound from the parent's handles or
/// from values, its outputs read back as typed handles, and its final state the task's
/// state (Kestra's `Subflow` task, Prefect's flow of flows).
///
/// Build it with [`Subflow::new`] and the child's inputs ([`Subflow::input`] for a
/// handle of the parent or an [`each`] to map over, [`Subflow::input_value`] for a
/// value), then add [`Subflow::into_call`] to the parent with [`Flow::add`] (or
/// [`Flow::map`] when an input is mapped with `each`, one child run per item). The
/// handle's value is a [`SubflowRun`]; [`Flow::subflow_output`] adds a task whose value is
/// one of the child's outputs, typed.
///
/// The task is named after the child flow unless [`TaskCall::name`] names it, and takes
/// every [`TaskCall`] option: retries, timeout, trigger, `allow_failure`, `after`, ...
///
/// # What a run of the task does
///
/// - **Each attempt is a new run of the child**, with its own [`RunId`], as if it were
///   started with [`Flow::runner`]: inputs checked (validators included), triggers,
///   retries, mapped tasks, `errors` and `finally` tasks, time limit. A retry of the
///   subflow task (its `max_retries`) runs the whole child flow again; retries of the
///   child's own tasks happen inside each run.
/// - **The task waits for the child run** (Kestra's `wait: true`; an in-process subflow
///   always waits), then ends as the child did:
///   - `Success` or `Warning`: the task is `Success` with the [`SubflowRun`] as its value,
///     and its message is the child's state and message, such as
///     ``Subflow `etl`: Warning (All reference tasks succeeded. Failed, as allowed: `x`.)``.
///     A task cannot end `Warning` by itself, so a child's `Warning` shows in the message
///     and in [`SubflowRun::state`].
///   - `Failed`, `TimedOut` or `Cancelled`: the attempt fails (and is retried while
///     retries remain) with a [`SubflowError`] whose message names the child flow and
///     carries its message: ``subflow `etl` failed: Some reference tasks failed: `load`
///     (Failed).``. This is Kestra's `transmitFailed: true`, the default;
///     [`Subflow::transmit_failed`]`(false)` makes the task succeed anyway, with the failed
///     run as its value. [`TaskCall::allow_failure`] gives Kestra's `allowFailure`: the
///     task ends `Warning` and the parent goes on.
///   - `Paused` (a child task waits for approval): approval inside a subflow is not
///     supported, so the attempt fails with a message saying so and naming the paused
///     tasks. Timed pauses ([`Signal::with_delay`]) resume inside the child run and work.
/// - **A child run that cannot start** (an input value its validator rejects) fails the
///   attempt with a [`SubflowError`] whose source is the [`BuildError`].
/// - **Stopping the task stops the child at once.** When the parent run times out or is
///   cancelled, or the subflow task's own [`TaskCall::timeout`] elapses, the attempt is
///   dropped, and with it the child run: its running tasks are aborted and its `finally`
///   tasks do not run (Temporal's `TERMINATE` parent-close policy). To give the child a
///   time limit that still runs its `finally` tasks, use [`Subflow::timeout`].
/// - **Labels**: the child run has the child flow's labels, plus the parent's with
///   [`Subflow::inherit_labels`], plus those of [`Subflow::label`].
///
/// The subflow runs the child flow as it is when [`Subflow::new`] is called: changing the
/// child flow afterwards does not change the subflow (so a flow cannot contain itself).
///
/// # Build errors
///
/// Mistakes are [`BuildError::Subflow`] errors of the parent, reported by
/// [`Flow::validate`] and [`Flow::run`] and naming the subflow task: a child flow that
/// cannot run, an input the child does not declare, bound twice or bound to another
/// type than the child's, and a required input (one without a default) left unbound.
///
/// # Examples
///
/// ```
/// use flowcore::{Flow, StateKind, Subflow, task};
///
/// #[task]
/// async fn scale(n: u32, factor: u32) -> u32 {
///     n * factor
/// }
///
/// #[task]
/// async fn answer() -> u32 {
///     14
/// }
///
/// #[task]
/// async fn describe(total: u32) -> String {
///     format!("total {total}")
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // The child: two inputs, one output.
/// let mut child = Flow::new("scaler");
/// let n = child.input::<u32>("n");
/// let factor = child.input_or("factor", 2_u32);
/// let scaled = child.add(scale(n, factor));
/// child.output("total", scaled);
///
/// // The parent binds `n` to a handle of its own and `factor` to a value.
/// let mut parent = Flow::new("parent");
/// let answer = parent.add(answer());
/// let run = parent.add(Subflow::new(&child).input("n", answer).input_value("factor", 3_u32).into_call());
/// let total = parent.subflow_output::<u32>(run, "total");
/// let described = parent.add(describe(total));
///
/// let report = parent.run().await.unwrap();
/// assert_eq!(report.state(run).kind(), StateKind::Success);
/// assert_eq!(report.state(run).message(), "Subflow `scaler`: Success (All reference tasks succeeded.)");
/// assert_eq!(report.result(total), Some(&42));
/// assert_eq!(report.result(described).map(String::as_str), Some("total 42"));
///
/// // The child run, for inspection.
/// let child_run = report.result(run).unwrap();
/// assert_eq!(child_run.state().kind(), StateKind::Success);
/// assert_ne!(child_run.run_id(), report.run_id());
/// assert_eq!(child_run.output::<u32>("total"), Ok(Some(42)));
/// # }
/// ```
#[must_use = "a subflow does nothing until its call is added to a flow"]
pub struct Subflow {
    flow: Flow,
    args: Args,
    inputs: Vec<Binding>,
    options: RunOptions,
}

/// What a subflow task does with each child run, besides the inputs.
#[derive(Clone, Debug)]
struct RunOptions {
    timeout: Option<Duration>,
    transmit_failed: bool,
    inherit_labels: bool,
    labels: Vec<(String, String)>,
}

/// A child input bound by the subflow: its name, its type, and how to read its value.
struct Binding {
    name: &'static str,
    value_type: (TypeId, &'static str),
    read: Box<dyn ReadInput>,
}

/// Reads a bound input's value when an attempt starts, boxed for the child's run.
trait ReadInput: Send + Sync + 'static {
    fn read(&self, values: &Values<'_>) -> Result<AnyValue, MissingInput>;
}

impl<T: Clone + Send + Sync + 'static> ReadInput for Arg<T> {
    fn read(&self, values: &Values<'_>) -> Result<AnyValue, MissingInput> {
        values.get(self).map(|value| Box::new(value) as AnyValue)
    }
}

impl fmt::Debug for Subflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subflow")
            .field("flow", &self.flow.name())
            .field(
                "inputs",
                &self
                    .inputs
                    .iter()
                    .map(|input| input.name)
                    .collect::<Vec<_>>(),
            )
            .field("options", &self.options)
            .finish()
    }
}

mod sealed {
    pub trait Sealed {}
}

/// What [`Subflow::input`] binds a child input to: a parent's [`Handle<T>`], or a
/// collection to map over, [`each`] of a `Handle<Vec<T>>` or of a `Vec<T>` (the subflow
/// task is then added with [`Flow::map`], one child run per item). `T` must be the type
/// the child declares the input with.
///
/// Plain values are bound with [`Subflow::input_value`]. This trait is sealed.
pub trait SubflowInput: sealed::Sealed {
    /// The type of the input's value.
    type Value: Clone + Send + Sync + 'static;

    /// Records the binding in `args` under `name`.
    #[doc(hidden)]
    fn bind(self, args: &mut Args, name: &'static str) -> Arg<Self::Value>;
}

impl<T: Clone + Send + Sync + 'static> sealed::Sealed for Handle<T> {}

impl<T: Clone + Send + Sync + 'static> SubflowInput for Handle<T> {
    type Value = T;

    fn bind(self, args: &mut Args, name: &'static str) -> Arg<T> {
        IntoArg::<T>::into_arg(self, args, name)
    }
}

impl<T: Clone + Send + Sync + 'static> sealed::Sealed for Each<Handle<Vec<T>>> {}

impl<T: Clone + Send + Sync + 'static> SubflowInput for Each<Handle<Vec<T>>> {
    type Value = T;

    fn bind(self, args: &mut Args, name: &'static str) -> Arg<T> {
        IntoArg::<T>::into_arg(self, args, name)
    }
}

impl<T: Clone + Send + Sync + 'static> sealed::Sealed for Each<Vec<T>> {}

impl<T: Clone + Send + Sync + 'static> SubflowInput for Each<Vec<T>> {
    type Value = T;

    fn bind(self, args: &mut Args, name: &'static str) -> Arg<T> {
        IntoArg::<T>::into_arg(self, args, name)
    }
}

impl Subflow {
    /// A subflow task that runs `flow`, as it is now, with no inputs bound yet.
    ///
    /// # Examples
    ///
    /// See [`Subflow`].
    pub fn new(flow: &Flow) -> Subflow {
        Subflow {
            flow: flow.clone(),
            args: Args::new(),
            inputs: Vec::new(),
            options: RunOptions {
                timeout: None,
                transmit_failed: true,
                inherit_labels: false,
                labels: Vec::new(),
            },
        }
    }

    /// Binds the child's input `name` to a handle of the parent (a data edge: the
    /// subflow task waits for that task), or maps the subflow over a collection with
    /// [`each`] (add the call with [`Flow::map`]: one child run per item).
    ///
    /// The value's type must be the input's: a mismatch, or an input the child does not
    /// declare, is a [`BuildError::Subflow`] naming the task and the input. Like a task's
    /// argument names, `name` is a `&'static str`.
    ///
    /// # Examples
    ///
    /// Mapped over items: one child run per file.
    ///
    /// ```
    /// use flowcore::{Flow, StateKind, Subflow, each, task};
    ///
    /// #[task]
    /// async fn list_files() -> Vec<String> {
    ///     vec!["a.csv".to_string(), "bb.csv".to_string()]
    /// }
    ///
    /// #[task]
    /// async fn size(file: String) -> usize {
    ///     file.len()
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut child = Flow::new("measure");
    /// let file = child.input::<String>("file");
    /// let size = child.add(size(file));
    /// child.output("size", size);
    ///
    /// let mut parent = Flow::new("measure-all");
    /// let files = parent.add(list_files());
    /// let runs = parent.map(Subflow::new(&child).input("file", each(files)).into_call());
    /// let sizes = parent.subflow_outputs::<usize>(runs, "size");
    ///
    /// let report = parent.run().await.unwrap();
    /// assert_eq!(report.state(runs).kind(), StateKind::Mapped);
    /// assert_eq!(report.children(runs).len(), 2);
    /// assert_eq!(report.result(sizes), Some(&vec![5, 6]));
    /// # }
    /// ```
    pub fn input<S: SubflowInput>(mut self, name: &'static str, source: S) -> Subflow {
        let arg = source.bind(&mut self.args, name);
        self.bind(name, arg)
    }

    /// Gives the child's input `name` this value in every run.
    ///
    /// The value's type must be the input's exactly (an input declared as `u32` does not
    /// take the literal `3`, an `i32`: write `3_u32`); a mismatch is a
    /// [`BuildError::Subflow`] naming the task and the input.
    ///
    /// # Examples
    ///
    /// See [`Subflow`].
    pub fn input_value<T: Clone + Send + Sync + 'static>(
        self,
        name: &'static str,
        value: T,
    ) -> Subflow {
        self.bind(
            name,
            Arg {
                source: Source::Value(value),
            },
        )
    }

    fn bind<T: Clone + Send + Sync + 'static>(
        mut self,
        name: &'static str,
        arg: Arg<T>,
    ) -> Subflow {
        self.inputs.push(Binding {
            name,
            value_type: (TypeId::of::<T>(), std::any::type_name::<T>()),
            read: Box::new(arg),
        });
        self
    }

    /// Limits each child run's duration, like [`RunBuilder::timeout`](crate::RunBuilder::timeout):
    /// when the time is up, the child's unfinished tasks are cancelled, its `errors` and
    /// `finally` tasks run, and the child ends `TimedOut`, which fails the attempt.
    ///
    /// Unlike [`TaskCall::timeout`], which drops the attempt and the child run with it,
    /// this lets the child clean up. It replaces the child flow's own
    /// [`Flow::set_timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use flowcore::{Flow, StateKind, Subflow, task};
    ///
    /// #[task]
    /// async fn slow() {
    ///     tokio::time::sleep(Duration::from_secs(3600)).await;
    /// }
    ///
    /// #[task]
    /// async fn clean_up() -> &'static str {
    ///     "cleaned"
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut child = Flow::new("slow");
    /// child.add(slow());
    /// child.add_finally(clean_up());
    ///
    /// let mut parent = Flow::new("parent");
    /// let run = parent.add(Subflow::new(&child).timeout(Duration::from_secs(60)).into_call());
    /// let report = parent.run().await.unwrap();
    /// assert_eq!(report.state(run).kind(), StateKind::Failed);
    /// assert_eq!(
    ///     report.state(run).message(),
    ///     "subflow `slow` timed out: Flow run timed out after 60s; 1 unfinished task was cancelled."
    /// );
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Subflow {
        self.options.timeout = Some(timeout);
        self
    }

    /// Whether a child run that does not succeed fails the task (default true, Kestra's
    /// `transmitFailed`). With `false`, the task succeeds whatever the child's state, with
    /// the child run as its value, for downstream tasks to look at; outputs the failed run
    /// did not produce skip the tasks that read them ([`Flow::subflow_output`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, StateKind, Subflow, task};
    ///
    /// #[task]
    /// async fn load() -> Result<u32, String> {
    ///     Err("table is locked".to_string())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut child = Flow::new("load");
    /// child.add(load());
    ///
    /// let mut parent = Flow::new("parent");
    /// let run = parent.add(Subflow::new(&child).transmit_failed(false).into_call());
    /// let report = parent.run().await.unwrap();
    /// assert_eq!(report.state(run).kind(), StateKind::Success);
    /// let child_run = report.result(run).unwrap();
    /// assert_eq!(child_run.state().kind(), StateKind::Failed);
    /// assert_eq!(child_run.state_of("load").map(|state| state.message()), Some("table is locked"));
    /// # }
    /// ```
    pub fn transmit_failed(mut self, transmit: bool) -> Subflow {
        self.options.transmit_failed = transmit;
        self
    }

    /// Whether the child run also gets the parent flow's labels (default false, Kestra's
    /// `inheritLabels`). The child flow's own labels win over inherited ones with the same
    /// key; those of [`Subflow::label`] win over both.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, Subflow, TaskContext, task};
    ///
    /// #[task]
    /// async fn labels() -> Vec<String> {
    ///     let ctx = TaskContext::current().expect("inside a run");
    ///     ctx.labels().map(|(key, value)| format!("{key}={value}")).collect()
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut child = Flow::new("child");
    /// child.add_label("team", "child-team");
    /// let labels = child.add(labels());
    /// child.output("labels", labels);
    ///
    /// let mut parent = Flow::new("parent");
    /// parent.add_label("team", "parent-team");
    /// parent.add_label("env", "prod");
    /// let call = Subflow::new(&child).inherit_labels(true).label("run", "nightly");
    /// let run = parent.add(call.into_call());
    /// let labels = parent.subflow_output::<Vec<String>>(run, "labels");
    /// let report = parent.run().await.unwrap();
    /// assert_eq!(
    ///     report.result(labels).unwrap(),
    ///     &["team=child-team", "env=prod", "run=nightly"]
    /// );
    /// # }
    /// ```
    pub fn inherit_labels(mut self, inherit: bool) -> Subflow {
        self.options.inherit_labels = inherit;
        self
    }

    /// Gives the child run the label `key` with `value`, over the child flow's own label
    /// and an inherited one with that key.
    ///
    /// # Examples
    ///
    /// See [`Subflow::inherit_labels`].
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Subflow {
        let (key, value) = (key.into(), value.into());
        let labels = &mut self.options.labels;
        match labels.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => *old = value,
            None => labels.push((key, value)),
        }
        self
    }

    /// The task that runs the child flow, named after it, to add to the parent with
    /// [`Flow::add`] (or [`Flow::map`] when an input is mapped with [`each`]). Its
    /// options (retries, timeout, trigger, `allow_failure`, ...) are those of any
    /// [`TaskCall`].
    ///
    /// The inputs are checked against the child's declarations here; what is wrong is a
    /// [`BuildError::Subflow`] of the parent, reported by [`Flow::validate`] and
    /// [`Flow::run`].
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, Subflow, task};
    ///
    /// #[task]
    /// async fn square(n: u32) -> u32 {
    ///     n * n
    /// }
    ///
    /// let mut child = Flow::new("square");
    /// let n = child.input::<u32>("n");
    /// child.add(square(n));
    ///
    /// let mut parent = Flow::new("parent");
    /// parent.add(Subflow::new(&child).input_value("n", 3_u64).into_call().max_retries(2));
    /// assert_eq!(
    ///     parent.validate().unwrap_err().to_string(),
    ///     "task `square` (subflow `square`): input `n` is a `u32`, and is bound to a `u64`"
    /// );
    /// ```
    pub fn into_call(self) -> TaskCall<SubflowRun> {
        let problems = self.problems();
        let name = self.flow.name().to_string();
        let task = SubflowTask {
            flow: self.flow,
            inputs: self.inputs,
            options: Arc::new(self.options),
        };
        let mut call = TaskCall::new(name.clone(), self.args, task);
        call.subflow_problems = problems
            .into_iter()
            .map(|problem| (name.clone(), problem))
            .collect();
        call
    }

    /// What is wrong with the bindings, given the child flow's inputs.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(error) = self.flow.validate() {
            problems.push(format!("the flow cannot run: {error}"));
        }
        let data = self.flow.data();
        for (i, binding) in self.inputs.iter().enumerate() {
            let name = binding.name;
            if self.inputs[..i].iter().any(|earlier| earlier.name == name) {
                problems.push(format!("input `{name}` is bound twice"));
                continue;
            }
            let Some(input) = data.inputs.iter().find(|input| *input.name == *name) else {
                let mut problem = format!("no input is named `{name}`; ");
                push_names(
                    &mut problem,
                    "inputs",
                    data.inputs.iter().map(|input| &*input.name),
                );
                problems.push(problem);
                continue;
            };
            let (expected_id, expected) = input.value_type();
            if expected_id != binding.value_type.0 {
                problems.push(format!(
                    "input `{name}` is a `{expected}`, and is bound to a `{}`",
                    binding.value_type.1
                ));
            }
        }
        for input in &data.inputs {
            if input.is_required() && !self.inputs.iter().any(|b| *b.name == *input.name) {
                problems.push(format!(
                    "input `{}` (`{}`) is required and is not bound; bind it with `Subflow::input` or `Subflow::input_value`",
                    input.name,
                    input.value_type().1
                ));
            }
        }
        problems
    }
}

impl From<Subflow> for TaskCall<SubflowRun> {
    fn from(subflow: Subflow) -> TaskCall<SubflowRun> {
        subflow.into_call()
    }
}

/// Appends "the flow's <what> are `a`, `b`" or "the flow declares no <what>".
fn push_names<'a>(message: &mut String, what: &str, names: impl ExactSizeIterator<Item = &'a str>) {
    if names.len() == 0 {
        message.push_str("the flow declares no ");
        message.push_str(what);
        return;
    }
    message.push_str("the flow's ");
    message.push_str(what);
    message.push_str(" are ");
    for (i, name) in names.enumerate() {
        if i > 0 {
            message.push_str(", ");
        }
        message.push('`');
        message.push_str(name);
        message.push('`');
    }
}

/// The body of a subflow task: runs the child flow with the bound inputs.
pub(crate) struct SubflowTask {
    flow: Flow,
    inputs: Vec<Binding>,
    options: Arc<RunOptions>,
}

impl Task for SubflowTask {
    type Output = SubflowRun;

    fn run(&self, values: &Values<'_>) -> TaskFuture<SubflowRun> {
        let mut given = Vec::with_capacity(self.inputs.len());
        for binding in &self.inputs {
            match binding.read.read(values) {
                Ok(value) => given.push(GivenInput {
                    name: binding.name.to_string(),
                    value,
                    type_name: binding.value_type.1,
                }),
                Err(missing) => {
                    return Box::pin(std::future::ready(Err(Box::new(missing) as BoxError)));
                }
            }
        }
        Box::pin(run_child(self.flow.clone(), given, self.options.clone()))
    }
}

/// One run of the child flow, and the attempt's outcome from the child's final state.
async fn run_child(
    mut flow: Flow,
    given: Vec<GivenInput>,
    options: Arc<RunOptions>,
) -> Result<SubflowRun, BoxError> {
    let context = TaskContext::current();
    let in_run = context.is_some();
    if options.inherit_labels
        && let Some(ctx) = context
    {
        for (key, value) in ctx.labels() {
            if flow.label(key).is_none() {
                flow.add_label(key, value);
            }
        }
    }
    for (key, value) in &options.labels {
        flow.add_label(key.as_str(), value.as_str());
    }
    let mut runner = flow.runner();
    for input in given {
        runner = runner.given(input);
    }
    if let Some(timeout) = options.timeout {
        runner = runner.timeout(timeout);
    }
    let report = match runner.run().await {
        Ok(report) => report,
        Err(error) => {
            return Err(Box::new(SubflowError {
                flow: flow.name().to_string(),
                kind: ErrorKind::NotStarted(error),
            }));
        }
    };
    let run = SubflowRun::from_report(report);
    let state = run.state();
    let succeeded = matches!(state.kind(), StateKind::Success | StateKind::Warning);
    if succeeded || !options.transmit_failed {
        if !in_run {
            // A direct call (`TaskCall::call`) has no state for a message to go in.
            return Ok(run);
        }
        let message = format!(
            "Subflow `{}`: {} ({}){}",
            run.flow_name(),
            state.kind(),
            state.message(),
            if succeeded {
                ""
            } else {
                " (failure not transmitted)"
            }
        );
        return Err(Box::new(Signal::success(message).with_value(run)));
    }
    Err(Box::new(SubflowError {
        flow: run.flow_name().to_string(),
        kind: ErrorKind::Ended(run),
    }))
}

/// A run of a child flow, the value of a subflow task ([`Subflow`]): the child's run id,
/// final state, every task's state and the outputs.
///
/// Cloning it is cheap (it is shared), so downstream tasks can take it as an argument.
///
/// # Examples
///
/// ```
/// use flowcore::{Flow, StateKind, Subflow, task};
///
/// #[task]
/// async fn count() -> usize {
///     3
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut child = Flow::new("count");
/// let count = child.add(count());
/// child.output("count", count);
///
/// let mut parent = Flow::new("parent");
/// let run = parent.add(Subflow::new(&child).into_call());
/// let report = parent.run().await.unwrap();
///
/// let child_run = report.result(run).unwrap();
/// assert_eq!(child_run.flow_name(), "count");
/// assert_eq!(child_run.state().kind(), StateKind::Success);
/// assert_eq!(child_run.task_states().map(|(name, _)| name).collect::<Vec<_>>(), ["count"]);
/// assert_eq!(child_run.state_of("count").map(|state| state.kind()), Some(StateKind::Success));
/// assert_eq!(child_run.output_names().collect::<Vec<_>>(), ["count"]);
/// assert_eq!(child_run.output::<usize>("count"), Ok(Some(3)));
/// assert!(child_run.output::<u32>("count").is_err());
/// # }
/// ```
#[derive(Clone)]
pub struct SubflowRun(Arc<RunData>);

struct RunData {
    flow: String,
    run_id: RunId,
    state: State,
    /// Every slot's name and state: the child's tasks (inputs included) in the order they
    /// were added, then the children of its mapped tasks (`task[i]`).
    slots: Vec<(String, State)>,
    n_tasks: usize,
    outputs: Vec<OutputDecl>,
    /// The results of the outputs' tasks, moved out of the child's report. They are
    /// `Send` but need not be `Sync`, hence the lock; it is held only to clone one.
    values: Mutex<Vec<(u32, AnyValue)>>,
}

impl SubflowRun {
    fn from_report(mut report: RunReport) -> SubflowRun {
        let slots = (0..report.states.len() as u32)
            .map(|slot| {
                let name = report.name_of(slot).to_string();
                (name, report.states[slot as usize].clone())
            })
            .collect();
        let outputs = report.flow.outputs.clone();
        let mut values: Vec<(u32, AnyValue)> = Vec::new();
        for output in &outputs {
            if values.iter().any(|(task, _)| *task == output.task) {
                continue;
            }
            let value = report
                .results
                .get_mut(output.task as usize)
                .and_then(Option::take);
            if let Some(value) = value {
                values.push((output.task, value));
            }
        }
        SubflowRun(Arc::new(RunData {
            flow: report.flow.name.clone(),
            run_id: report.run_id(),
            state: report.flow_state().clone(),
            slots,
            n_tasks: report.flow.nodes.len(),
            outputs,
            values: Mutex::new(values),
        }))
    }

    /// The child flow's name.
    ///
    /// # Examples
    ///
    /// See [`SubflowRun`].
    pub fn flow_name(&self) -> &str {
        &self.0.flow
    }

    /// The child run's id, which its tasks read from
    /// [`TaskContext::run_id`](crate::TaskContext::run_id); each attempt of the subflow
    /// task is a new run with a new id.
    ///
    /// # Examples
    ///
    /// See [`Subflow`].
    pub fn run_id(&self) -> RunId {
        self.0.run_id
    }

    /// The child flow's final state, as [`RunReport::flow_state`] gives it.
    ///
    /// # Examples
    ///
    /// See [`SubflowRun`].
    pub fn state(&self) -> &State {
        &self.0.state
    }

    /// Every task's name and state in the child run, in the order the tasks were added
    /// (inputs included, as in [`RunReport::task_states`]); a mapped task's children
    /// are read with [`SubflowRun::state_of`].
    ///
    /// # Examples
    ///
    /// See [`SubflowRun`].
    pub fn task_states(&self) -> impl ExactSizeIterator<Item = (&str, &State)> + '_ {
        self.0.slots[..self.0.n_tasks]
            .iter()
            .map(|(name, state)| (name.as_str(), state))
    }

    /// The state of the child's task named `name` (`task[i]` for a mapped task's child),
    /// if there is one.
    ///
    /// # Examples
    ///
    /// See [`SubflowRun`].
    pub fn state_of(&self, name: &str) -> Option<&State> {
        self.0
            .slots
            .iter()
            .find(|(slot, _)| slot == name)
            .map(|(_, state)| state)
    }

    /// The names of the child flow's outputs, in the order they were declared.
    ///
    /// # Examples
    ///
    /// See [`SubflowRun`].
    pub fn output_names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.0.outputs.iter().map(|output| output.name.as_str())
    }

    /// A copy of the child's output `name` (see [`Flow::output`]), or `None` when its
    /// task produced no value (it failed or was skipped).
    ///
    /// # Errors
    ///
    /// [`OutputError::Unknown`] when the child flow declares no output `name`, and
    /// [`OutputError::WrongType`] when `T` is not the output's type.
    ///
    /// # Examples
    ///
    /// See [`SubflowRun`].
    pub fn output<T: Clone + 'static>(&self, name: &str) -> Result<Option<T>, OutputError> {
        let output = OutputDecl::find_typed::<T>(&self.0.outputs, name)?;
        // A panic in a `Clone` impl poisons the lock without breaking the values.
        let values = self.0.values.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(values
            .iter()
            .find(|(task, _)| *task == output.task)
            .and_then(|(_, value)| value.downcast_ref::<T>())
            .cloned())
    }

    /// Why output `name` has no value: its task's name and state.
    fn no_value(&self, name: &str) -> String {
        let task = OutputDecl::find(&self.0.outputs, name)
            .ok()
            .and_then(|output| self.0.slots.get(output.task as usize));
        match task {
            Some((task, state)) => format!(
                "Output `{name}` of subflow `{}` has no value: task `{task}` is {}.",
                self.0.flow,
                state.kind()
            ),
            None => format!("Output `{name}` of subflow `{}` has no value.", self.0.flow),
        }
    }
}

impl fmt::Debug for SubflowRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubflowRun")
            .field("flow", &self.0.flow)
            .field("run_id", &self.0.run_id)
            .field("state", &self.0.state)
            .field("outputs", &self.output_names().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Why a subflow task's attempt failed: the child run could not start, or it ended
/// `Failed`, `TimedOut`, `Cancelled` or `Paused` (see [`Subflow`]).
///
/// It is the attempt's error, so a [`TaskCall::retry_if`] predicate can look at it, for
/// example to retry only child runs that timed out.
///
/// # Examples
///
/// ```
/// use std::error::Error;
/// use flowcore::{Flow, StateKind, Subflow, SubflowError, task};
///
/// #[task]
/// async fn load() -> Result<u32, String> {
///     Err("table is locked".to_string())
/// }
///
/// fn timed_out(error: &(dyn Error + 'static)) -> bool {
///     error
///         .downcast_ref::<SubflowError>()
///         .and_then(SubflowError::run)
///         .is_some_and(|run| run.state().kind() == StateKind::TimedOut)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut child = Flow::new("load");
/// child.add(load());
///
/// let mut parent = Flow::new("parent");
/// let call = Subflow::new(&child).into_call().max_retries(3).retry_if(timed_out);
/// let run = parent.add(call);
/// let report = parent.run().await.unwrap();
/// // A failure that is not a timeout is not retried.
/// assert_eq!(report.state(run).run_count(), 1);
/// assert!(report.state(run).message().starts_with(
///     "subflow `load` failed: Some reference tasks failed: `load` (Failed)."
/// ));
/// # }
/// ```
#[derive(Debug)]
pub struct SubflowError {
    flow: String,
    kind: ErrorKind,
}

#[derive(Debug)]
enum ErrorKind {
    NotStarted(BuildError),
    Ended(SubflowRun),
}

impl SubflowError {
    /// The child flow's name.
    pub fn flow_name(&self) -> &str {
        &self.flow
    }

    /// The child run, when it started.
    pub fn run(&self) -> Option<&SubflowRun> {
        match &self.kind {
            ErrorKind::Ended(run) => Some(run),
            ErrorKind::NotStarted(_) => None,
        }
    }

    /// Why the child run could not start, when it could not.
    pub fn build_error(&self) -> Option<&BuildError> {
        match &self.kind {
            ErrorKind::NotStarted(error) => Some(error),
            ErrorKind::Ended(_) => None,
        }
    }
}

impl fmt::Display for SubflowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flow = &self.flow;
        let ErrorKind::Ended(run) = &self.kind else {
            return write!(f, "subflow `{flow}` could not start");
        };
        let (state, message) = (run.state().kind(), run.state().message());
        match state {
            StateKind::TimedOut => write!(f, "subflow `{flow}` timed out: {message}"),
            StateKind::Cancelled => write!(f, "subflow `{flow}` was cancelled: {message}"),
            StateKind::Paused => write!(
                f,
                "subflow `{flow}` paused: {message} Approval inside a subflow is not supported."
            ),
            _ => write!(f, "subflow `{flow}` failed: {message}"),
        }
    }
}

impl std::error::Error for SubflowError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::NotStarted(error) => Some(error),
            ErrorKind::Ended(_) => None,
        }
    }
}

/// The body of a task that reads one output of a subflow run.
struct OutputTask<T> {
    run: Arg<SubflowRun>,
    output: Arc<str>,
    _output: PhantomData<fn() -> T>,
}

impl<T: Clone + Send + Sync + 'static> OutputTask<T> {
    fn extract(&self, values: &Values<'_>) -> Result<T, BoxError> {
        let run = match values.get(&self.run) {
            Ok(run) => run,
            Err(MissingInput {
                upstream: Some((task, state)),
                ..
            }) => {
                let message = format!(
                    "Subflow task `{task}` is {state} and has no run to read output `{}` from.",
                    self.output
                );
                return Err(Box::new(Signal::skip(message)));
            }
            Err(missing) => return Err(Box::new(missing)),
        };
        match run.output::<T>(&self.output) {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(Box::new(Signal::skip(run.no_value(&self.output)))),
            Err(error) => Err(Box::new(error)),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Task for OutputTask<T> {
    type Output = T;

    fn run(&self, values: &Values<'_>) -> TaskFuture<T> {
        Box::pin(std::future::ready(self.extract(values)))
    }
}

impl Flow {
    /// Adds a task whose value is the output `output` of the subflow run `run` (see
    /// [`Subflow`]), typed, for downstream tasks: Kestra's subflow `outputs`. It is named
    /// `<subflow task>.<output>`, such as `etl.total`.
    ///
    /// It succeeds with a copy of the output. It is skipped (and, by skip propagation, so
    /// are its downstream tasks) when there is no value to read: the output's task in the
    /// child did not produce one, or the subflow task has no run (it failed, as allowed,
    /// with [`TaskCall::allow_failure`]). When the subflow task fails, this task's trigger
    /// fails, like any task's.
    ///
    /// An output the child flow does not declare, or declares with another type than `T`,
    /// is a [`BuildError::Subflow`] naming this task and the output.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{BuildError, Flow, Subflow, task};
    ///
    /// #[task]
    /// async fn total() -> u64 {
    ///     42
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut child = Flow::new("etl");
    /// let total = child.add(total());
    /// child.output("total", total);
    ///
    /// let mut parent = Flow::new("parent");
    /// let run = parent.add(Subflow::new(&child).into_call());
    /// let total = parent.subflow_output::<u64>(run, "total");
    /// let report = parent.run().await.unwrap();
    /// assert_eq!(report.result(total), Some(&42));
    /// report.check("etl.total").result_as(&42_u64);
    ///
    /// let mut wrong = parent.clone();
    /// wrong.subflow_output::<u32>(run, "total");
    /// assert_eq!(
    ///     wrong.validate().unwrap_err(),
    ///     BuildError::Subflow {
    ///         task: "etl.total-2".to_string(),
    ///         flow: "etl".to_string(),
    ///         problem: "output `total` is a `u64`, not a `u32`".to_string(),
    ///     }
    /// );
    /// # }
    /// ```
    pub fn subflow_output<T: Clone + Send + Sync + 'static>(
        &mut self,
        run: Handle<SubflowRun>,
        output: &str,
    ) -> Handle<T> {
        let mut args = Args::new();
        let arg = args.bind::<SubflowRun, _>("run", run);
        let call = self.output_call::<T>(run.id(), output, args, arg);
        self.add(call)
    }

    /// Adds a task mapped over the runs of a mapped subflow task (added with
    /// [`Flow::map`], see [`Subflow::input`]), whose children read the output `output` of
    /// each run, like [`Flow::subflow_output`]: its value is the outputs in item order,
    /// and child `i` is skipped when run `i` has no value for the output.
    ///
    /// # Examples
    ///
    /// See [`Subflow::input`].
    pub fn subflow_outputs<T: Clone + Send + Sync + 'static>(
        &mut self,
        runs: Handle<Vec<SubflowRun>>,
        output: &str,
    ) -> Handle<Vec<T>> {
        let mut args = Args::new();
        let arg = args.bind::<SubflowRun, _>("run", each(runs));
        let call = self.output_call::<T>(runs.id(), output, args, arg);
        self.map(call)
    }

    /// The call of a task reading `output` of the subflow task `run`, checked against the
    /// child flow's outputs when `run` is a subflow task of this flow.
    fn output_call<T: Clone + Send + Sync + 'static>(
        &self,
        run: TaskId,
        output: &str,
        args: Args,
        arg: Arg<SubflowRun>,
    ) -> TaskCall<T> {
        let data = self.data();
        // A handle of another flow is reported when the call is added.
        let node = data
            .nodes
            .get(run.index as usize)
            .filter(|_| run.flow == data.id);
        let name = match node {
            Some(node) => format!("{}.{output}", node.name),
            None => output.to_string(),
        };
        let task = OutputTask::<T> {
            run: arg,
            output: Arc::from(output),
            _output: PhantomData,
        };
        let mut call = TaskCall::new(name, args, task);
        let subflow = node.and_then(|node| node.task.as_any().downcast_ref::<SubflowTask>());
        if let Some(subflow) = subflow {
            let child = subflow.flow.data();
            let problem = match child.outputs.iter().find(|decl| decl.name == output) {
                None => {
                    let mut problem = format!("no output is named `{output}`; ");
                    push_names(
                        &mut problem,
                        "outputs",
                        child.outputs.iter().map(|decl| decl.name.as_str()),
                    );
                    Some(problem)
                }
                Some(decl) if decl.value_type.0 != TypeId::of::<T>() => Some(format!(
                    "output `{output}` is a `{}`, not a `{}`",
                    decl.value_type.1,
                    std::any::type_name::<T>()
                )),
                Some(_) => None,
            };
            if let Some(problem) = problem {
                call.subflow_problems.push((child.name.clone(), problem));
            }
        }
        call
    }
}
