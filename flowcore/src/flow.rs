//! The `Flow` builder: adds tasks, records their edges and metadata, and validates the graph
//! before a run.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustc_hash::FxHashMap;

use crate::block::{Block, TaskFailure};
use crate::cache::CacheMode;
use crate::error::{BuildError, MissingInput};
use crate::graph::Graph;
use crate::hooks::{Hooks, Transition, When};
use crate::inputs::{InputDecl, OutputDecl};
use crate::overrides::RunBuilder;
use crate::report::RunReport;
use crate::retry::RetryPolicy;
use crate::task::{Args, Edge, ErasedTask, Handle, TaskCall, TaskId, TaskOptions};

static NEXT_FLOW_ID: AtomicU64 = AtomicU64::new(1);

/// One task of a flow.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) name: Arc<str>,
    pub(crate) options: TaskOptions,
    pub(crate) task: Arc<dyn ErasedTask>,
    pub(crate) edges: Vec<Edge>,
    pub(crate) after: Vec<u32>,
    pub(crate) block: Block,
    /// Added with `map`: runs once per item.
    pub(crate) mapped: bool,
    /// The length of the shortest collection given up front to a mapped argument,
    /// [`NO_ITEMS`] when there is none.
    pub(crate) items: u32,
}

/// [`Node::items`] of a task without a collection given up front.
pub(crate) const NO_ITEMS: u32 = u32::MAX;

#[derive(Clone)]
pub(crate) struct FlowData {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) nodes: Vec<Node>,
    /// Names given explicitly, inputs' names, and the first task of each automatic name.
    pub(crate) names: FxHashMap<Arc<str>, u32>,
    /// The tasks named automatically `name-N`, by `name`: kept apart so that a flow of a
    /// million tasks of one function does not hash a million names.
    suffixed: FxHashMap<Cow<'static, str>, Suffixed>,
    /// Where automatic names are written before they are looked up.
    scratch: String,
    pub(crate) errors: Vec<BuildError>,
    /// The flow's inputs, in the order they were declared; each is a node of its own.
    pub(crate) inputs: Vec<InputDecl>,
    /// The flow's outputs, in the order they were declared.
    pub(crate) outputs: Vec<OutputDecl>,
    pub(crate) namespace: Option<String>,
    pub(crate) description: Option<String>,
    /// Key/value pairs, keys unique, in the order the keys were first added.
    pub(crate) labels: Vec<(String, String)>,
    reference: Option<Vec<u32>>,
    /// The task whose value is the list of failed main tasks, once asked for.
    pub(crate) failures: Option<u32>,
    /// How long a run may take before its unfinished tasks are cancelled.
    pub(crate) timeout: Option<Duration>,
    /// How many attempts of a run may execute at once.
    pub(crate) max_concurrency: Option<usize>,
    /// The flow's own state hooks.
    pub(crate) hooks: Hooks,
    /// Whether some task has state hooks.
    pub(crate) task_hooks: bool,
    /// Set when an edge points from a later task to an earlier one, so a cycle is possible.
    may_have_cycle: bool,
    graph: OnceLock<Result<Arc<Graph>, BuildError>>,
}

impl FlowData {
    pub(crate) fn graph(&self) -> Result<Arc<Graph>, BuildError> {
        self.graph
            .get_or_init(|| {
                if let Some(error) = self.errors.first() {
                    return Err(error.clone());
                }
                Graph::build(&self.nodes, self.reference.as_deref(), self.may_have_cycle)
                    .map(Arc::new)
            })
            .clone()
    }

    pub(crate) fn index_of(&self, name: &str) -> Option<u32> {
        self.names
            .get(name)
            .copied()
            .or_else(|| self.index_of_suffixed(name))
    }

    /// The task named automatically `name` (`base-N`), if there is one.
    fn index_of_suffixed(&self, name: &str) -> Option<u32> {
        let (base, suffix) = name.rsplit_once('-')?;
        if suffix.starts_with('0') {
            return None;
        }
        let suffix: u32 = suffix.parse().ok()?;
        let tasks = &self.suffixed.get(base)?.tasks;
        let at = tasks.binary_search_by_key(&suffix, |&(n, _)| n).ok()?;
        Some(tasks[at].1)
    }

    /// The input declared at node `task`, if that node is an input.
    pub(crate) fn input_at(&self, task: u32) -> Option<&InputDecl> {
        self.inputs.iter().find(|input| input.task == task)
    }

    pub(crate) fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value.as_str())
    }
}

/// A workflow: tasks and the edges between them, ready to run any number of times.
///
/// Add tasks with [`Flow::add`]; passing the returned [`Handle`] as another task's
/// argument records a data edge. Mistakes (a duplicate name, a handle from another flow,
/// an invalid retry policy, a cycle made with [`Flow::add_edge`]) are reported by
/// [`Flow::validate`] and [`Flow::run`], naming the tasks involved.
///
/// A flow can also declare typed inputs, given a value for each run ([`Flow::input`],
/// [`Flow::input_or`], [`Flow::add_input`], [`RunBuilder::input`]), named outputs read
/// back from the report ([`Flow::output`], [`RunReport::output`]), and metadata: a
/// namespace, a description and labels ([`Flow::set_namespace`],
/// [`Flow::set_description`], [`Flow::add_label`]).
///
/// # Examples
///
/// ```
/// use flowcore::{Flow, StateKind, task};
///
/// #[task]
/// async fn numbers() -> Vec<i64> {
///     vec![1, 2, 3]
/// }
///
/// #[task]
/// async fn total(numbers: Vec<i64>) -> i64 {
///     numbers.iter().sum()
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut flow = Flow::new("sum");
/// let numbers = flow.add(numbers());
/// let total = flow.add(total(numbers));
/// let report = flow.run().await.unwrap();
/// assert_eq!(report.flow_state().kind(), StateKind::Success);
/// assert_eq!(report.result(total), Some(&6));
/// # }
/// ```
#[derive(Clone)]
pub struct Flow {
    data: Arc<FlowData>,
}

impl fmt::Debug for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flow")
            .field("name", &self.data.name)
            .field("namespace", &self.data.namespace)
            .field("n_tasks", &self.data.nodes.len())
            .field("n_inputs", &self.data.inputs.len())
            .finish_non_exhaustive()
    }
}

impl Flow {
    /// An empty flow named `name`.
    pub fn new(name: impl Into<String>) -> Flow {
        Flow {
            data: Arc::new(FlowData {
                id: NEXT_FLOW_ID.fetch_add(1, Ordering::Relaxed),
                name: name.into(),
                nodes: Vec::new(),
                names: FxHashMap::default(),
                suffixed: FxHashMap::default(),
                scratch: String::new(),
                errors: Vec::new(),
                inputs: Vec::new(),
                outputs: Vec::new(),
                namespace: None,
                description: None,
                labels: Vec::new(),
                reference: None,
                failures: None,
                timeout: None,
                max_concurrency: None,
                hooks: Hooks::default(),
                task_hooks: false,
                may_have_cycle: false,
                graph: OnceLock::new(),
            }),
        }
    }

    /// The flow's name.
    pub fn name(&self) -> &str {
        &self.data.name
    }

    /// The flow's id: its name, given to [`Flow::new`]. With the namespace it identifies
    /// the flow, like a Kestra flow's `namespace` and `id`.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::Flow;
    ///
    /// let flow = Flow::new("nightly-etl");
    /// assert_eq!(flow.id(), "nightly-etl");
    /// assert_eq!(flow.id(), flow.name());
    /// ```
    pub fn id(&self) -> &str {
        &self.data.name
    }

    /// Sets the flow's namespace, a dotted path such as `company.team` that groups flows.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::Flow;
    ///
    /// let mut flow = Flow::new("etl");
    /// assert_eq!(flow.namespace(), None);
    /// flow.set_namespace("company.data");
    /// assert_eq!(flow.namespace(), Some("company.data"));
    /// ```
    pub fn set_namespace(&mut self, namespace: impl Into<String>) {
        self.meta_mut().namespace = Some(namespace.into());
    }

    /// The flow's namespace, if it was given one.
    ///
    /// # Examples
    ///
    /// See [`Flow::set_namespace`].
    pub fn namespace(&self) -> Option<&str> {
        self.data.namespace.as_deref()
    }

    /// Sets the flow's description, free text for people reading about the flow.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::Flow;
    ///
    /// let mut flow = Flow::new("etl");
    /// flow.set_description("Loads yesterday's orders into the warehouse.");
    /// assert_eq!(flow.description(), Some("Loads yesterday's orders into the warehouse."));
    /// ```
    pub fn set_description(&mut self, description: impl Into<String>) {
        self.meta_mut().description = Some(description.into());
    }

    /// The flow's description, if it was given one.
    ///
    /// # Examples
    ///
    /// See [`Flow::set_description`].
    pub fn description(&self) -> Option<&str> {
        self.data.description.as_deref()
    }

    /// Adds the label `key` with `value`, or changes its value when the flow has it
    /// already. A running task reads the labels from its
    /// [`TaskContext`](crate::TaskContext).
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::Flow;
    ///
    /// let mut flow = Flow::new("etl");
    /// flow.add_label("team", "data");
    /// flow.add_label("env", "dev");
    /// flow.add_label("env", "prod");
    /// assert_eq!(flow.label("env"), Some("prod"));
    /// assert_eq!(flow.label("owner"), None);
    /// assert_eq!(flow.labels().collect::<Vec<_>>(), [("team", "data"), ("env", "prod")]);
    /// ```
    pub fn add_label(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        let labels = &mut self.meta_mut().labels;
        match labels.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => *old = value,
            None => labels.push((key, value)),
        }
    }

    /// The flow's labels, in the order their keys were first added.
    ///
    /// # Examples
    ///
    /// See [`Flow::add_label`].
    pub fn labels(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.data
            .labels
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// The value of the label `key`, if the flow has it.
    ///
    /// # Examples
    ///
    /// See [`Flow::add_label`].
    pub fn label(&self, key: &str) -> Option<&str> {
        self.data.label(key)
    }

    /// How many tasks the flow has (inputs included: each is a node of the flow).
    pub fn len(&self) -> usize {
        self.data.nodes.len()
    }

    /// Whether the flow has no tasks (and no inputs).
    pub fn is_empty(&self) -> bool {
        self.data.nodes.is_empty()
    }

    /// The flow's data, to change the graph: a cached graph is dropped.
    pub(crate) fn data_mut(&mut self) -> &mut FlowData {
        let data = Arc::make_mut(&mut self.data);
        data.graph = OnceLock::new();
        data
    }

    /// The flow's data, to change metadata only: a cached graph is kept.
    fn meta_mut(&mut self) -> &mut FlowData {
        Arc::make_mut(&mut self.data)
    }

    /// Adds a task and returns the handle to its output.
    ///
    /// The task's data edges are the handles bound to its arguments; its order-only edges
    /// come from [`TaskCall::after`] and [`Flow::add_edge`].
    pub fn add<T>(&mut self, call: TaskCall<T>) -> Handle<T> {
        self.add_to(Block::Main, call)
    }

    /// Adds a task that runs once per item: its arguments wrapped in [`each`](crate::each)
    /// are mapped, each run (a child) getting one item, and its other arguments are passed
    /// whole to every child. The handle's value is the children's outputs in item order.
    ///
    /// Each child has its own state, attempts, trigger and retries, and knows its item's
    /// index ([`TaskContext::map_index`](crate::TaskContext::map_index)); reports name it
    /// `task[i]`. Following Prefect 1:
    ///
    /// - The task maps once its upstream tasks have finished. A skipped upstream task
    ///   skips it (unless `skip_on_upstream_skip` is off); an upstream task it maps over
    ///   that has no value (it failed) fails it with `No upstream states can be mapped
    ///   over.` (its trigger is not asked); otherwise it ends
    ///   [`Mapped`](crate::StateKind::Mapped) once its children have finished, whatever
    ///   their states.
    /// - With several mapped arguments, the children are as many as the shortest
    ///   collection; an empty collection gives no children, and the value is an empty `Vec`.
    /// - A child's trigger sees, for a mapped argument over another mapped task, that
    ///   task's child at the same index, and for the other upstream tasks their states.
    /// - Downstream tasks that are not mapped see every child's state (their trigger,
    ///   skip propagation) and receive the `Vec` of results when every child has one;
    ///   take the handle as a `Vec<Option<T>>` argument to receive partial results.
    ///   The flow's final state judges a mapped reference task by its children.
    /// - Mapping over a mapped task pairs child `i` with child `i`; it starts when the
    ///   upstream mapped task has finished all its children.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, StateKind, each, task};
    ///
    /// #[task]
    /// async fn list_files() -> Vec<String> {
    ///     vec!["a.csv".to_string(), "bb.csv".to_string(), "ccc.csv".to_string()]
    /// }
    ///
    /// #[task]
    /// async fn size(file: String, block: u64) -> u64 {
    ///     file.len() as u64 * block
    /// }
    ///
    /// #[task]
    /// async fn total(sizes: Vec<u64>) -> u64 {
    ///     sizes.iter().sum()
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("sizes");
    /// let files = flow.add(list_files());
    /// let sizes = flow.map(size(each(files), 10));
    /// let total = flow.add(total(sizes));
    /// let report = flow.run().await.unwrap();
    /// assert_eq!(report.state(sizes).kind(), StateKind::Mapped);
    /// assert_eq!(report.result(sizes), Some(&vec![50, 60, 70]));
    /// assert_eq!(report.children(sizes).len(), 3);
    /// assert_eq!(report.result(total), Some(&180));
    /// # }
    /// ```
    pub fn map<T>(&mut self, call: TaskCall<T>) -> Handle<Vec<T>> {
        let handle = self.add_node(Block::Main, call, true);
        Handle::new(handle.id())
    }

    /// Adds a task to the flow's `errors` block: tasks that run only when the main tasks
    /// ended with a failure, after all of them finished (Kestra's `errors`).
    ///
    /// The main tasks' outcome is the flow's final-state rule applied to them: some
    /// reference task failed (or the run timed out). When they did not fail, `errors`
    /// tasks end `Skipped` without running. An `errors` task can read main tasks'
    /// outputs (take them as `Option<T>`: the task that failed has none) and
    /// [`Flow::failed_tasks`] to learn which tasks failed and why. The flow stays
    /// `Failed` whatever the `errors` tasks do; their own failures are added to the
    /// flow's message.
    ///
    /// Within the block, tasks depend on each other as usual, with their own triggers.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, StateKind, TaskFailure, task};
    ///
    /// #[task]
    /// async fn load() -> Result<u32, String> {
    ///     Err("table is locked".to_string())
    /// }
    ///
    /// #[task]
    /// async fn alert(failures: Vec<TaskFailure>) -> String {
    ///     failures.iter().map(|failure| failure.to_string()).collect()
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("nightly");
    /// flow.add(load());
    /// let failures = flow.failed_tasks();
    /// let alert = flow.add_errors(alert(failures));
    /// let report = flow.run().await.unwrap();
    /// assert_eq!(report.flow_state().kind(), StateKind::Failed);
    /// assert_eq!(report.result(alert).unwrap(), "`load`: Failed: table is locked");
    /// # }
    /// ```
    pub fn add_errors<T>(&mut self, call: TaskCall<T>) -> Handle<T> {
        self.add_to(Block::Errors, call)
    }

    /// Adds a task to the flow's `finally` block: tasks that run after the main tasks and
    /// the `errors` tasks have finished, whatever happened, also when the run timed out
    /// or was cancelled (Kestra's `finally`). The flow is still running while they run.
    ///
    /// A `finally` task's failure is visible in the report and fails the flow, but never
    /// hides the main outcome: a flow whose main tasks failed keeps their message, and
    /// the `finally` failure is added to it.
    ///
    /// A `finally` task keeps its own trigger on its own upstream tasks: a clean-up task
    /// that takes a resource from a main task runs when that task succeeded (use
    /// `trigger = all_finished` and an `Option` argument to run in every case).
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, StateKind, task};
    ///
    /// #[task]
    /// async fn start_container() -> String {
    ///     "redis-1".to_string()
    /// }
    ///
    /// #[task]
    /// async fn use_container(id: String) -> Result<(), String> {
    ///     Err(format!("{id}: connection reset"))
    /// }
    ///
    /// #[task]
    /// async fn stop_container(id: String) -> String {
    ///     format!("stopped {id}")
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("redis");
    /// let id = flow.add(start_container());
    /// flow.add(use_container(id));
    /// let stop = flow.add_finally(stop_container(id));
    /// let report = flow.run().await.unwrap();
    /// assert_eq!(report.result(stop).unwrap(), "stopped redis-1");
    /// assert_eq!(report.flow_state().kind(), StateKind::Failed);
    /// # }
    /// ```
    pub fn add_finally<T>(&mut self, call: TaskCall<T>) -> Handle<T> {
        self.add_to(Block::Finally, call)
    }

    /// The main tasks that did not succeed, for `errors` and `finally` tasks: pass the
    /// handle as an argument of type `Vec<TaskFailure>`. Its value is known once the main
    /// tasks have finished: the failed ones in the order they were added, with their
    /// states (and, after a timeout or cancellation, the cancelled ones). It is empty
    /// when every main task succeeded.
    ///
    /// The flow shows it as a task named `failed_tasks`; calling this again returns the
    /// same handle.
    ///
    /// # Examples
    ///
    /// See [`Flow::add_errors`].
    pub fn failed_tasks(&mut self) -> Handle<Vec<TaskFailure>> {
        if let Some(index) = self.data.failures {
            return Handle::new(TaskId {
                flow: self.data.id,
                index,
            });
        }
        let call: TaskCall<Vec<TaskFailure>> =
            TaskCall::from_fn("failed_tasks", Args::new(), |_values| {
                // The runner gives this task its value; it never runs a body.
                Err::<std::future::Ready<_>, _>(MissingInput {
                    task: "failed_tasks".to_string(),
                    argument: "failed_tasks",
                    upstream: None,
                })
            });
        let handle = self.add_to(Block::Errors, call);
        self.data_mut().failures = Some(handle.id().index);
        handle
    }

    /// Limits how long a run may take. When the time is up, the main tasks (or the
    /// `errors` tasks, if they are running) that have not finished are stopped and end
    /// `Cancelled`, the flow ends `TimedOut`, the `errors` tasks run (a timeout is a
    /// failure) and then the `finally` tasks, which the limit does not cover (give them
    /// their own [`TaskCall::timeout`]). A task whose body had ended when the runner
    /// noticed the time was up keeps its outcome.
    ///
    /// The time counts from the start of the run; while the run is paused for approval
    /// nothing runs, and the limit applies again when it is resumed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use flowcore::{Flow, StateKind, task};
    ///
    /// #[task]
    /// async fn slow() {
    ///     tokio::time::sleep(Duration::from_secs(3600)).await;
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut flow = Flow::new("bounded");
    /// let slow = flow.add(slow());
    /// flow.set_timeout(Duration::from_secs(60));
    /// let report = flow.run().await.unwrap();
    /// assert_eq!(report.state(slow).kind(), StateKind::Cancelled);
    /// assert_eq!(report.flow_state().kind(), StateKind::TimedOut);
    /// # }
    /// ```
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.data_mut().timeout = Some(timeout);
    }

    /// Limits how many task attempts (a mapped task's children included) of a run execute
    /// at once; the others wait `Queued` and start, in the order they became ready (tasks
    /// that became ready together, in the order they were added), as slots free up. A
    /// limit of 0 counts as 1. Waiting for a slot does not count against
    /// a task's [`TaskCall::timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, StateKind, task};
    ///
    /// #[task]
    /// async fn fetch(page: u32) -> u32 {
    ///     page
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("polite-crawler");
    /// for page in 0..10 {
    ///     flow.add(fetch(page));
    /// }
    /// flow.set_max_concurrency(2);
    /// let report = flow.run().await.unwrap();
    /// assert_eq!(report.flow_state().kind(), StateKind::Success);
    /// # }
    /// ```
    pub fn set_max_concurrency(&mut self, limit: usize) {
        self.data_mut().max_concurrency = Some(limit.max(1));
    }

    /// Calls `hook` on every change of the flow's own state in a run: `Running` when it
    /// starts (or resumes), then its final state (or `Paused`). See
    /// [`TaskCall::on_state`] for what hooks can do.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use flowcore::{Flow, StateKind, task};
    ///
    /// #[task]
    /// async fn work() {}
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let mut flow = Flow::new("observed");
    /// flow.add(work());
    /// flow.on_state(move |change| {
    ///     assert!(change.task().is_none());
    ///     log.lock().unwrap().push(change.state().kind());
    /// });
    /// flow.run().await.unwrap();
    /// assert_eq!(*seen.lock().unwrap(), [StateKind::Running, StateKind::Success]);
    /// # }
    /// ```
    pub fn on_state(&mut self, hook: impl Fn(&Transition<'_>) + Send + Sync + 'static) {
        self.data_mut().hooks.push(When::Always, hook);
    }

    /// Calls `hook` when a run of the flow ends failed (`Failed` or `TimedOut`); see
    /// [`Flow::on_state`].
    pub fn on_failure(&mut self, hook: impl Fn(&Transition<'_>) + Send + Sync + 'static) {
        self.data_mut().hooks.push(When::Failure, hook);
    }

    /// Calls `hook` when a run of the flow ends successful (`Success` or `Warning`); see
    /// [`Flow::on_state`].
    pub fn on_success(&mut self, hook: impl Fn(&Transition<'_>) + Send + Sync + 'static) {
        self.data_mut().hooks.push(When::Success, hook);
    }

    pub(crate) fn add_to<T>(&mut self, block: Block, call: TaskCall<T>) -> Handle<T> {
        self.add_node(block, call, false)
    }

    fn add_node<T>(&mut self, block: Block, call: TaskCall<T>, mapped: bool) -> Handle<T> {
        let data = self.data_mut();
        let index = data.nodes.len() as u32;
        let id = TaskId {
            flow: data.id,
            index,
        };
        let name = data.unique_name(call.name, call.explicit_name);
        let foreign = match (call.args_flow, call.mixed) {
            (Some(flow), _) if flow != data.id => call.edges.first().map(|edge| edge.name),
            (_, mixed) => mixed,
        };
        if let Some(argument) = foreign {
            data.errors.push(BuildError::ForeignTask {
                task: name.to_string(),
                place: format!("argument `{argument}`"),
            });
        }
        match (mapped, call.each) {
            (true, None) => data.errors.push(BuildError::Mapping {
                task: name.to_string(),
                problem: "added with `Flow::map`, but no argument is mapped; wrap the collection to map over in `each(...)`".to_string(),
            }),
            (false, Some(argument)) => data.errors.push(BuildError::Mapping {
                task: name.to_string(),
                problem: format!("argument `{argument}` is mapped with `each(...)`; add the task with `Flow::map`"),
            }),
            _ => {}
        }
        if let Some(argument) = call.bad_batch {
            data.errors.push(BuildError::Mapping {
                task: name.to_string(),
                problem: format!("argument `{argument}`: a batch size must be at least 1"),
            });
        }
        for (flow, problem) in call.subflow_problems {
            data.errors.push(BuildError::Subflow {
                task: name.to_string(),
                flow,
                problem,
            });
        }
        let items = call
            .each_len
            .map_or(NO_ITEMS, |len| len.min(NO_ITEMS as usize - 1) as u32);
        if let Some(problem) = call.options.retry.as_deref().and_then(RetryPolicy::problem) {
            data.errors.push(BuildError::InvalidRetryPolicy {
                task: name.to_string(),
                problem,
            });
        }
        data.task_hooks |= call.options.hooks.is_some();
        let asks_cache = call
            .options
            .cache
            .as_ref()
            .is_some_and(|cache| cache.mode != CacheMode::Off);
        if asks_cache && !call.task.cacheable() {
            data.errors.push(BuildError::NotCacheable {
                task: name.to_string(),
            });
        }
        let mut after = Vec::with_capacity(call.after.len());
        for upstream in call.after {
            if upstream.flow == data.id {
                after.push(upstream.index);
            } else {
                data.errors.push(BuildError::ForeignTask {
                    task: name.to_string(),
                    place: "an upstream (order-only) edge".to_string(),
                });
            }
        }
        data.nodes.push(Node {
            name,
            options: call.options,
            task: call.task,
            edges: if foreign.is_some() {
                Vec::new()
            } else {
                call.edges
            },
            after,
            block,
            mapped,
            items,
        });
        Handle::new(id)
    }

    /// Makes `downstream` run after `upstream` finished, without passing data.
    ///
    /// Unlike [`TaskCall::after`], this can add an edge between tasks already in the flow,
    /// in either order, so it can make a cycle; [`Flow::validate`] reports it. An input
    /// has its value before the run starts, so it cannot be the downstream end
    /// ([`BuildError::EdgeIntoInput`]).
    pub fn add_edge(&mut self, upstream: impl Into<TaskId>, downstream: impl Into<TaskId>) {
        let (upstream, downstream) = (upstream.into(), downstream.into());
        let data = self.data_mut();
        if upstream.flow != data.id || downstream.flow != data.id {
            let task = if downstream.flow == data.id {
                data.nodes[downstream.index as usize].name.to_string()
            } else if upstream.flow == data.id {
                data.nodes[upstream.index as usize].name.to_string()
            } else {
                "?".to_string()
            };
            data.errors.push(BuildError::ForeignTask {
                task,
                place: "an edge added with `add_edge`".to_string(),
            });
            return;
        }
        if let Some(input) = data.input_at(downstream.index) {
            let error = BuildError::EdgeIntoInput {
                input: input.name.to_string(),
                upstream: data.nodes[upstream.index as usize].name.to_string(),
            };
            data.errors.push(error);
            return;
        }
        if upstream.index >= downstream.index {
            data.may_have_cycle = true;
        }
        data.nodes[downstream.index as usize]
            .after
            .push(upstream.index);
    }

    /// Sets the reference tasks: the tasks whose states decide the flow's final state.
    ///
    /// By default they are the terminal tasks (those without downstream tasks). An empty
    /// list restores the default.
    pub fn set_reference_tasks<I>(&mut self, tasks: I)
    where
        I: IntoIterator,
        I::Item: Into<TaskId>,
    {
        let data = self.data_mut();
        let mut reference = Vec::new();
        for task in tasks {
            let task = task.into();
            if task.flow == data.id {
                reference.push(task.index);
            } else {
                data.errors.push(BuildError::ForeignTask {
                    task: "reference tasks".to_string(),
                    place: "a reference task".to_string(),
                });
            }
        }
        reference.sort_unstable();
        reference.dedup();
        data.reference = (!reference.is_empty()).then_some(reference);
    }

    /// The names of the reference tasks, in the order the tasks were added.
    ///
    /// # Errors
    ///
    /// The flow's [`BuildError`], if it has one.
    pub fn reference_tasks(&self) -> Result<Vec<&str>, BuildError> {
        let graph = self.data.graph()?;
        Ok(graph
            .reference
            .iter()
            .map(|&task| &*self.data.nodes[task as usize].name)
            .collect())
    }

    /// Checks the flow: unique names (of tasks, inputs and outputs), no handles from other
    /// flows, no edges into inputs, valid retry policies, blocks in order, mapped tasks
    /// added with `map`, no cycles. The values of inputs are checked when a run starts,
    /// since each run has its own.
    ///
    /// # Errors
    ///
    /// The first problem found, naming the tasks involved.
    pub fn validate(&self) -> Result<(), BuildError> {
        self.data.graph().map(drop)
    }

    /// Runs the flow on the caller's tokio runtime until every task has finished, or until
    /// the tasks left can only wait for approval (the flow is then `Paused`).
    ///
    /// Inputs take their defaults; [`Flow::runner`] with [`RunBuilder::input`] gives them
    /// values. Task failures are states in the report, not errors.
    ///
    /// Tasks run concurrently where the graph allows, as tokio tasks; a body that ends at
    /// once (or up to its first `.await` that waits) is run by the run's own tokio task
    /// as it starts it, which saves a spawn. A body should therefore await rather than
    /// block its thread, as in any tokio task (use `tokio::task::spawn_blocking` for
    /// blocking work): on a multi-thread runtime a long body is noticed and later bodies
    /// go to the other workers, but a body that blocks until another task of the same run
    /// does something can wait forever, since that task may not have been started.
    ///
    /// # Errors
    ///
    /// The flow's [`BuildError`], or a required input without a value
    /// ([`BuildError::InputRequired`]) or a default its validator rejects, before any
    /// task runs.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future aborts the tasks that are running; no report is produced.
    pub async fn run(&self) -> Result<RunReport, BuildError> {
        self.runner().run().await
    }

    /// A run with input values, or with some tasks given their outcome or a stub body (for
    /// tests); see [`RunBuilder`].
    pub fn runner(&self) -> RunBuilder<'_> {
        RunBuilder::new(self)
    }

    pub(crate) fn shared(&self) -> Arc<FlowData> {
        self.data.clone()
    }

    pub(crate) fn data(&self) -> &FlowData {
        &self.data
    }
}

impl FlowData {
    fn unique_name(&mut self, name: Cow<'static, str>, explicit: bool) -> Arc<str> {
        let index = self.nodes.len() as u32;
        if name.is_empty() {
            self.errors.push(BuildError::EmptyName);
        }
        if !explicit && let Some(suffixed) = self.suffixed.get_mut(&*name) {
            // A name given automatically again: the next suffix, with one lookup.
            return suffixed.next(&name, index, &self.names, &mut self.scratch);
        }
        if explicit || self.index_of(&name).is_none() {
            let name: Arc<str> = Arc::from(&*name);
            let taken = match self.names.entry(name.clone()) {
                Entry::Occupied(taken) => Some(*taken.get()),
                Entry::Vacant(slot) => {
                    slot.insert(index);
                    None
                }
            };
            if let Some(taken) = taken.or_else(|| self.index_of_suffixed(&name)) {
                let error = if self.inputs.iter().any(|input| input.task == taken) {
                    BuildError::DuplicateInput {
                        name: name.to_string(),
                    }
                } else {
                    BuildError::DuplicateName {
                        name: name.to_string(),
                    }
                };
                self.errors.push(error);
            }
            return name;
        }
        let suffixed = self.suffixed.entry(name.clone()).or_default();
        suffixed.next(&name, index, &self.names, &mut self.scratch)
    }
}

/// The tasks named automatically after one name: `name-2`, `name-3`, ...
#[derive(Clone, Debug)]
struct Suffixed {
    /// The last suffix given.
    last: u32,
    /// Each task's suffix and index, by suffix.
    tasks: Vec<(u32, u32)>,
}

impl Suffixed {
    /// The name of task `index`, the next one named automatically after `base`: `base-N`
    /// with the next suffix not in `names`. `scratch` is where candidates are written.
    fn next(
        &mut self,
        base: &str,
        index: u32,
        names: &FxHashMap<Arc<str>, u32>,
        scratch: &mut String,
    ) -> Arc<str> {
        // Names are built by hand, in a buffer kept from one task to the next, since this
        // runs once per task.
        loop {
            self.last += 1;
            scratch.clear();
            scratch.push_str(base);
            scratch.push('-');
            push_decimal(scratch, self.last);
            // Automatic names of this base only grow, so only a name given explicitly
            // (or an input's, or another base's first task) can be in the way.
            if !names.contains_key(scratch.as_str()) {
                self.tasks.push((self.last, index));
                return Arc::from(scratch.as_str());
            }
        }
    }
}

impl Default for Suffixed {
    fn default() -> Suffixed {
        Suffixed {
            last: 1,
            tasks: Vec::new(),
        }
    }
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &digit in &digits[start..] {
        out.push(char::from(digit));
    }
}
