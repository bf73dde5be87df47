//! The task abstraction: the `Task` trait, typed handles, argument binding and `TaskCall` options.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::{CacheHasher, CacheMode, CacheOptions, CacheValue, CachedFnTask};
use crate::error::{BoxError, MissingInput};
use crate::flow::Node;
use crate::hooks::{Hooks, Transition, When};
use crate::limits::TaskLimits;
use crate::map::{ChildName, ItemCount, MapInfo};
use crate::pipeline;
use crate::retry::{Backoff, Jitter, RetryIf, RetryPolicy};
use crate::runner::Launch;
use crate::state::State;
use crate::trigger::{Trigger, Verdict};

/// The future of one attempt of a task's body.
pub type TaskFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send + 'static>>;

/// A task output, type-erased.
pub type AnyValue = Box<dyn Any + Send>;

/// A unit of work in a flow: what `#[task]` generates, and what a hand-written task implements.
///
/// [`Task::run`] starts one attempt: it reads its inputs from `values` (with the [`Arg`]s
/// bound when the task was added, see [`Args`]) and returns the future of the body. It
/// is called once per attempt, so a retried task runs again from fresh copies of its inputs.
/// An `Err` from the future fails the attempt; a [`Signal`](crate::Signal) error sets the
/// state it asks for.
///
/// # Examples
///
/// A task written by hand, without the macro:
///
/// ```
/// use flowcore::{Arg, Args, Flow, Task, TaskCall, TaskFuture, Values};
///
/// struct Double {
///     x: Arg<i64>,
/// }
///
/// impl Task for Double {
///     type Output = i64;
///
///     fn run(&self, values: &Values<'_>) -> TaskFuture<i64> {
///         let x = values.get(&self.x);
///         Box::pin(async move { Ok(x? * 2) })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut flow = Flow::new("by-hand");
/// let mut args = Args::new();
/// let x = args.bind("x", 21_i64);
/// let doubled = flow.add(TaskCall::new("double", args, Double { x }));
/// let report = flow.run().await.unwrap();
/// assert_eq!(report.result(doubled), Some(&42));
/// # }
/// ```
pub trait Task: Send + Sync + 'static {
    /// The value a successful run produces.
    type Output: Send + 'static;

    /// Starts one attempt of the body.
    fn run(&self, values: &Values<'_>) -> TaskFuture<Self::Output>;
}

/// Identifies a task within its flow. Every [`Handle`] converts into one.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TaskId {
    pub(crate) flow: u64,
    pub(crate) index: u32,
}

/// A typed reference to a task's output, returned by [`Flow::add`](crate::Flow::add).
///
/// Pass it as an argument to another task to record a data edge, or use it to read the
/// task's state and result from a [`RunReport`](crate::RunReport).
pub struct Handle<T> {
    id: TaskId,
    _output: PhantomData<fn() -> T>,
}

impl<T> Handle<T> {
    pub(crate) fn new(id: TaskId) -> Handle<T> {
        Handle {
            id,
            _output: PhantomData,
        }
    }

    /// The task's id.
    pub fn id(self) -> TaskId {
        self.id
    }
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Handle<T> {
        *self
    }
}

impl<T> Copy for Handle<T> {}

impl<T> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Handle").field(&self.id).finish()
    }
}

impl<T> From<Handle<T>> for TaskId {
    fn from(handle: Handle<T>) -> TaskId {
        handle.id
    }
}

impl<T> From<&Handle<T>> for TaskId {
    fn from(handle: &Handle<T>) -> TaskId {
        handle.id
    }
}

/// An input of a task: either a value given when the task was added, or an upstream task's output.
pub struct Arg<T> {
    pub(crate) source: Source<T>,
}

pub(crate) enum Source<T> {
    Value(T),
    /// A mapped argument over values given up front: child `i` gets item `i`.
    Items {
        name: &'static str,
        items: Vec<T>,
    },
    /// A mapped argument over an upstream task's `Vec<T>` (or a mapped task's children):
    /// child `i` gets item `i`.
    Each {
        name: &'static str,
        index: u32,
        read: fn(&(dyn Any + Send), usize) -> Option<T>,
        child: fn(Option<&(dyn Any + Send)>) -> Option<T>,
    },
    /// A mapped argument over batches of an upstream task's `Vec`: child `i` gets items
    /// `i * size..(i + 1) * size`.
    Batch {
        name: &'static str,
        index: u32,
        size: usize,
        read: fn(&(dyn Any + Send), usize, usize) -> Option<T>,
    },
    Upstream {
        name: &'static str,
        index: u32,
        read: fn(Option<&(dyn Any + Send)>) -> Option<T>,
    },
    Upstreams {
        name: &'static str,
        indices: Box<[u32]>,
        read: fn(&Values<'_>, &'static str, &[u32]) -> Result<T, MissingInput>,
    },
}

impl<T> fmt::Debug for Arg<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Value(_) => f.write_str("Arg::Value"),
            Source::Items { items, .. } => f
                .debug_struct("Arg::Items")
                .field("len", &items.len())
                .finish(),
            Source::Each { name, index, .. } => f
                .debug_struct("Arg::Each")
                .field("name", name)
                .field("index", index)
                .finish(),
            Source::Batch {
                name, index, size, ..
            } => f
                .debug_struct("Arg::Batch")
                .field("name", name)
                .field("index", index)
                .field("size", size)
                .finish(),
            Source::Upstream { name, index, .. } => f
                .debug_struct("Arg::Upstream")
                .field("name", name)
                .field("index", index)
                .finish(),
            Source::Upstreams { name, indices, .. } => f
                .debug_struct("Arg::Upstreams")
                .field("name", name)
                .field("indices", indices)
                .finish(),
        }
    }
}

/// A value or a handle that can be bound to a task argument of type `T`.
///
/// Implemented for `T` itself (a value given up front), for `Handle<T>` (the output of an
/// upstream task, which records a data edge), and for `Handle<T>` bound to an
/// `Option<T>` argument, which receives `None` when the upstream task produced no value
/// (it failed or was skipped and the trigger let this task run anyway). A
/// `Vec<Handle<T>>` fills a `Vec<T>` (or `Vec<Option<T>>`) argument with the outputs of
/// all those tasks, in order: a fan-in.
///
/// Bound values are cloned for every attempt, so argument types are `Clone`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be passed as a task argument of type `{T}`",
    label = "expected a `{T}` or a `Handle<{T}>`",
    note = "a task argument takes a value of its type (which must be `Clone + Send + Sync + 'static`), or the `Handle` of an upstream task whose output is that type"
)]
pub trait IntoArg<T> {
    /// Records the argument in `args` under `name`.
    fn into_arg(self, args: &mut Args, name: &'static str) -> Arg<T>;
}

impl<T: Clone + Send + Sync + 'static> IntoArg<T> for T {
    fn into_arg(self, _args: &mut Args, _name: &'static str) -> Arg<T> {
        Arg {
            source: Source::Value(self),
        }
    }
}

pub(crate) fn read_value<T: Clone + 'static>(value: Option<&(dyn Any + Send)>) -> Option<T> {
    value.and_then(|value| value.downcast_ref::<T>()).cloned()
}

fn read_optional<T: Clone + 'static>(value: Option<&(dyn Any + Send)>) -> Option<Option<T>> {
    Some(read_value(value))
}

/// An argument read from one upstream task, recording its edge.
fn upstream<T>(
    args: &mut Args,
    name: &'static str,
    upstream: TaskId,
    read: fn(Option<&(dyn Any + Send)>) -> Option<T>,
) -> Arg<T> {
    let index = args.record(name, upstream);
    Arg {
        source: Source::Upstream { name, index, read },
    }
}

/// An argument read from several upstream tasks, recording their edges.
fn upstreams<T>(
    args: &mut Args,
    name: &'static str,
    handles: impl Iterator<Item = TaskId>,
    read: fn(&Values<'_>, &'static str, &[u32]) -> Result<T, MissingInput>,
) -> Arg<T> {
    args.edges.reserve_exact(handles.size_hint().0);
    let indices = handles.map(|id| args.record(name, id)).collect();
    Arg {
        source: Source::Upstreams {
            name,
            indices,
            read,
        },
    }
}

impl<T: Clone + Send + Sync + 'static> IntoArg<T> for Handle<T> {
    fn into_arg(self, args: &mut Args, name: &'static str) -> Arg<T> {
        upstream(args, name, self.id, read_value::<T>)
    }
}

impl<T: Clone + Send + Sync + 'static> IntoArg<Option<T>> for Handle<T> {
    fn into_arg(self, args: &mut Args, name: &'static str) -> Arg<Option<T>> {
        upstream(args, name, self.id, read_optional::<T>)
    }
}

fn read_all<T: Clone + 'static>(
    values: &Values<'_>,
    name: &'static str,
    indices: &[u32],
) -> Result<Vec<T>, MissingInput> {
    indices
        .iter()
        .map(|&index| read_value(values.result(index)).ok_or_else(|| values.missing(name, index)))
        .collect()
}

fn read_all_optional<T: Clone + 'static>(
    values: &Values<'_>,
    _name: &'static str,
    indices: &[u32],
) -> Result<Vec<Option<T>>, MissingInput> {
    Ok(indices
        .iter()
        .map(|&index| read_value(values.result(index)))
        .collect())
}

/// A mapped task's results, one per child, `None` for a child without a value.
fn read_children<T: Clone + 'static>(
    values: &Values<'_>,
    name: &'static str,
    indices: &[u32],
) -> Result<Vec<Option<T>>, MissingInput> {
    let index = indices[0];
    if let Some(all) = values.result(index)
        && let Some(all) = all.downcast_ref::<Vec<T>>()
    {
        return Ok(all.iter().cloned().map(Some).collect());
    }
    match values.maps.and_then(|maps| maps.get(&index)) {
        Some(map) => Ok(map
            .slots()
            .map(|slot| read_value(values.results[slot].as_deref()))
            .collect()),
        None => Err(values.missing(name, index)),
    }
}

impl<T: Clone + Send + Sync + 'static> IntoArg<Vec<Option<T>>> for Handle<Vec<T>> {
    /// The results of a mapped task, with `None` for the children that have none (they
    /// failed or were skipped): a reduce that runs with a partial result.
    fn into_arg(self, args: &mut Args, name: &'static str) -> Arg<Vec<Option<T>>> {
        upstreams(args, name, std::iter::once(self.id), read_children::<T>)
    }
}

impl<T: Clone + Send + Sync + 'static> IntoArg<Vec<T>> for Vec<Handle<T>> {
    fn into_arg(self, args: &mut Args, name: &'static str) -> Arg<Vec<T>> {
        upstreams(
            args,
            name,
            self.iter().map(|handle| handle.id),
            read_all::<T>,
        )
    }
}

impl<T: Clone + Send + Sync + 'static> IntoArg<Vec<Option<T>>> for Vec<Handle<T>> {
    fn into_arg(self, args: &mut Args, name: &'static str) -> Arg<Vec<Option<T>>> {
        let ids = self.iter().map(|handle| handle.id);
        upstreams(args, name, ids, read_all_optional::<T>)
    }
}

/// A data edge: argument `name` reads the output of `upstream`.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Edge {
    pub(crate) name: &'static str,
    /// The upstream task's index in the flow of [`Args::flow`].
    pub(crate) upstream: u32,
    /// For a mapped argument (`each`): how many items the upstream output has.
    pub(crate) each: Option<ItemCount>,
    /// For a mapped argument over batches: the batch size; 0 for one item per child.
    pub(crate) batch: u32,
}

/// The arguments of a task being added: records the data edges of each bound handle.
///
/// # Examples
///
/// See [`Task`].
#[derive(Debug, Default)]
pub struct Args {
    pub(crate) edges: Vec<Edge>,
    /// The flow of the first bound handle.
    pub(crate) flow: Option<u64>,
    /// The first argument bound to a handle of another flow than the first one.
    pub(crate) mixed: Option<&'static str>,
    /// The first mapped argument (`each`), if any.
    pub(crate) each: Option<&'static str>,
    /// The length of the shortest collection given up front to a mapped argument.
    pub(crate) each_len: Option<usize>,
    /// The first argument mapped over batches of size 0.
    pub(crate) bad_batch: Option<&'static str>,
}

impl Args {
    /// No arguments yet.
    pub fn new() -> Args {
        Args::default()
    }

    /// Binds argument `name` to a value or to an upstream task's output.
    pub fn bind<T, A: IntoArg<T>>(&mut self, name: &'static str, arg: A) -> Arg<T> {
        arg.into_arg(self, name)
    }

    pub(crate) fn record(&mut self, name: &'static str, upstream: TaskId) -> u32 {
        if self.edges.capacity() == 0 {
            // Most tasks read one upstream task: a flow of a million tasks then holds a
            // million edges, not room for four million.
            self.edges.reserve_exact(1);
        }
        match self.flow {
            None => self.flow = Some(upstream.flow),
            Some(flow) if flow != upstream.flow && self.mixed.is_none() => self.mixed = Some(name),
            Some(_) => {}
        }
        self.edges.push(Edge {
            name,
            upstream: upstream.index,
            each: None,
            batch: 0,
        });
        upstream.index
    }
}

/// What a task reads its inputs from when an attempt starts.
pub struct Values<'a> {
    pub(crate) results: &'a [Option<AnyValue>],
    pub(crate) states: &'a [State],
    pub(crate) nodes: &'a [Node],
    pub(crate) task: u32,
    /// The item of a mapped task's child, [`NOT_MAPPED`] otherwise.
    pub(crate) map_index: u32,
    /// Where the children of the run's mapped tasks are.
    pub(crate) maps: Option<&'a rustc_hash::FxHashMap<u32, MapInfo>>,
    /// The task's name in a direct call ([`TaskCall::call`]), which has no flow.
    pub(crate) direct_call: &'a str,
}

/// [`Values::map_index`] of a task that is not a mapped task's child.
pub(crate) const NOT_MAPPED: u32 = u32::MAX;

impl fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Values").finish_non_exhaustive()
    }
}

impl Values<'_> {
    /// A copy of the argument's value.
    ///
    /// # Errors
    ///
    /// [`MissingInput`] when the argument reads an upstream task that produced no value
    /// (it failed or was skipped, and this task's trigger let it run anyway).
    /// Bind the handle to an `Option<T>` argument to receive `None` instead.
    pub fn get<T: Clone>(&self, arg: &Arg<T>) -> Result<T, MissingInput> {
        match &arg.source {
            Source::Value(value) => Ok(value.clone()),
            Source::Upstream { name, index, read } => {
                read(self.result(*index)).ok_or_else(|| self.missing(name, *index))
            }
            Source::Upstreams {
                name,
                indices,
                read,
            } => read(self, name, indices),
            Source::Items { name, items } => items
                .get(self.map_index as usize)
                .cloned()
                .ok_or_else(|| self.not_mapped(name)),
            Source::Each {
                name,
                index,
                read,
                child,
            } => self.item(name, *index, *read, *child),
            Source::Batch {
                name,
                index,
                size,
                read,
            } => {
                if self.map_index == NOT_MAPPED {
                    return Err(self.not_mapped(name));
                }
                self.result(*index)
                    .and_then(|all| read(all, self.map_index as usize, *size))
                    .ok_or_else(|| self.missing(name, *index))
            }
        }
    }

    /// Item `map_index` of a mapped argument: from the upstream's `Vec<T>`, or, when
    /// the upstream is a mapped task whose children did not all succeed, from its child.
    fn item<T: Clone>(
        &self,
        name: &'static str,
        upstream: u32,
        read: fn(&(dyn Any + Send), usize) -> Option<T>,
        read_child: fn(Option<&(dyn Any + Send)>) -> Option<T>,
    ) -> Result<T, MissingInput> {
        if self.map_index == NOT_MAPPED {
            return Err(self.not_mapped(name));
        }
        let index = self.map_index as usize;
        if let Some(all) = self.result(upstream) {
            return read(all, index).ok_or_else(|| self.missing(name, upstream));
        }
        let map = self.maps.and_then(|maps| maps.get(&upstream));
        let child = map.and_then(|map| self.results.get(map.first as usize + index)?.as_deref());
        match read_child(child) {
            Some(value) => Ok(value),
            None => {
                Err(self.missing_child(name, upstream, map.map(|map| map.first as usize + index)))
            }
        }
    }

    fn not_mapped(&self, argument: &'static str) -> MissingInput {
        MissingInput {
            task: self.task_name().to_string(),
            argument,
            upstream: None,
        }
    }

    fn task_name(&self) -> ChildName<'_> {
        match self.nodes.get(self.task as usize) {
            Some(node) => ChildName {
                task: &node.name,
                index: (self.map_index != NOT_MAPPED).then_some(self.map_index),
            },
            None => ChildName {
                task: self.direct_call,
                index: None,
            },
        }
    }

    /// The cache options of the task being started; `None` in a direct call.
    pub(crate) fn cache_options(&self) -> Option<CacheOptions> {
        self.nodes
            .get(self.task as usize)?
            .options
            .cache
            .as_deref()
            .copied()
    }

    fn result(&self, upstream: u32) -> Option<&(dyn Any + Send)> {
        self.results.get(upstream as usize)?.as_deref()
    }

    fn missing(&self, argument: &'static str, upstream: u32) -> MissingInput {
        let upstream = upstream as usize;
        let Some(node) = self.nodes.get(upstream) else {
            return MissingInput {
                task: self.direct_call.to_string(),
                argument,
                upstream: None,
            };
        };
        MissingInput {
            task: self.task_name().to_string(),
            argument,
            upstream: Some((node.name.to_string(), self.states[upstream].kind())),
        }
    }

    /// A missing item of a mapped upstream task, naming the child that has none.
    fn missing_child(
        &self,
        argument: &'static str,
        upstream: u32,
        slot: Option<usize>,
    ) -> MissingInput {
        let Some(slot) = slot else {
            return self.missing(argument, upstream);
        };
        let name = ChildName {
            task: &self.nodes[upstream as usize].name,
            index: Some(self.map_index),
        };
        MissingInput {
            task: self.task_name().to_string(),
            argument,
            upstream: Some((name.to_string(), self.states[slot].kind())),
        }
    }
}

/// Per-task options: retries, timeout, trigger, skip propagation and caching.
#[derive(Clone, Debug)]
pub(crate) struct TaskOptions {
    pub(crate) max_retries: u32,
    /// Backoff, jitter and predicate; `None` for the default (no delay, every error retried).
    pub(crate) retry: Option<Box<RetryPolicy>>,
    pub(crate) timeout: Option<Duration>,
    /// `None` for the default, [`Trigger::AllSuccessful`]: boxed, since a trigger is larger
    /// than the rest of the options and most tasks keep the default.
    trigger: Option<Box<Trigger>>,
    pub(crate) skip_on_upstream_skip: bool,
    pub(crate) allow_failure: bool,
    /// Concurrency limits; `None` for the default (none).
    pub(crate) limits: Option<Box<TaskLimits>>,
    /// State hooks; `None` for the default (none).
    pub(crate) hooks: Option<Box<Hooks>>,
    /// Set for a task declared with `cache_for`, or asked to cache at the call site.
    pub(crate) cache: Option<Box<CacheOptions>>,
}

impl Default for TaskOptions {
    fn default() -> TaskOptions {
        TaskOptions {
            max_retries: 0,
            retry: None,
            timeout: None,
            trigger: None,
            skip_on_upstream_skip: true,
            allow_failure: false,
            limits: None,
            hooks: None,
            cache: None,
        }
    }
}

impl TaskOptions {
    /// The trigger deciding whether the task runs.
    pub(crate) fn trigger(&self) -> &Trigger {
        static DEFAULT: Trigger = Trigger::AllSuccessful;
        self.trigger.as_deref().unwrap_or(&DEFAULT)
    }

    /// Whether the task keeps the default trigger, [`Trigger::AllSuccessful`].
    pub(crate) fn default_trigger(&self) -> bool {
        self.trigger.is_none()
    }

    /// Skip propagation and the trigger, on the states of the task's upstream tasks. The
    /// default options scan the states without collecting them.
    pub(crate) fn verdict<'a>(
        &self,
        upstream: impl Iterator<Item = &'a State>,
        resumed: bool,
    ) -> Verdict {
        if self.default_trigger() && self.skip_on_upstream_skip {
            pipeline::before_run_default(upstream)
        } else {
            let states: Vec<&State> = upstream.collect();
            pipeline::before_run(self.trigger(), self.skip_on_upstream_skip, &states, resumed)
        }
    }

    fn set_trigger(&mut self, trigger: Trigger) {
        self.trigger = match trigger {
            Trigger::AllSuccessful => None,
            trigger => Some(Box::new(trigger)),
        };
    }

    /// The delay before retry `retry` (1 for the first) of task `task` of flow `flow`.
    pub(crate) fn retry_delay(&self, flow: &str, task: &str, retry: u32) -> Duration {
        self.retry
            .as_deref()
            .map_or(Duration::ZERO, |policy| policy.delay(flow, task, retry))
    }

    fn retry_policy(&mut self) -> &mut RetryPolicy {
        self.retry.get_or_insert_with(Box::default)
    }
}

/// The object-safe form of a task that the flow stores.
pub(crate) trait ErasedTask: Send + Sync + 'static {
    /// Reads the inputs and hands the attempt's future to `launch`, which spawns it.
    fn start(&self, values: &Values<'_>, launch: Launch<'_>);
    /// The attempt's future, boxed, for a direct call outside a run.
    fn start_boxed(&self, values: &Values<'_>) -> TaskFuture<AnyValue>;
    fn output_type(&self) -> (TypeId, &'static str);
    fn unit_output(&self) -> Option<AnyValue>;
    /// A mapped task's result: its children's outputs moved into a `Vec` of the output
    /// type, when every child has one; `None` (and the children untouched) otherwise.
    fn collect(&self, children: &mut [Option<AnyValue>]) -> Option<AnyValue>;
    /// The task itself (a hand-written task's own type), to recognise a kind of task
    /// when the flow is built.
    fn as_any(&self) -> &dyn Any;
    /// Whether the task computes a cache key from its arguments (`#[task(cache_for = "..")]`).
    fn cacheable(&self) -> bool {
        false
    }
}

pub(crate) fn collect<T: Send + 'static>(children: &mut [Option<AnyValue>]) -> Option<AnyValue> {
    if !children
        .iter()
        .all(|child| child.as_ref().is_some_and(|value| value.is::<T>()))
    {
        return None;
    }
    let all: Vec<T> = children
        .iter_mut()
        .filter_map(|child| child.take()?.downcast::<T>().ok())
        .map(|value| *value)
        .collect();
    Some(Box::new(all))
}

struct Erased<T>(T);

pub(crate) fn unit_output<T: 'static>() -> Option<AnyValue> {
    let unit: AnyValue = Box::new(());
    (TypeId::of::<T>() == TypeId::of::<()>()).then_some(unit)
}

impl<T: Task> ErasedTask for Erased<T> {
    fn start(&self, values: &Values<'_>, launch: Launch<'_>) {
        let fut = self.0.run(values);
        launch.spawn(async move { fut.await.map(|value| Box::new(value) as AnyValue) });
    }

    fn start_boxed(&self, values: &Values<'_>) -> TaskFuture<AnyValue> {
        let fut = self.0.run(values);
        Box::pin(async move { fut.await.map(|value| Box::new(value) as AnyValue) })
    }

    fn output_type(&self) -> (TypeId, &'static str) {
        (
            TypeId::of::<T::Output>(),
            std::any::type_name::<T::Output>(),
        )
    }

    fn unit_output(&self) -> Option<AnyValue> {
        unit_output::<T::Output>()
    }

    fn collect(&self, children: &mut [Option<AnyValue>]) -> Option<AnyValue> {
        collect::<T::Output>(children)
    }

    fn as_any(&self) -> &dyn Any {
        &self.0
    }
}

/// A task as generated by `#[task]`: a closure that reads the inputs and returns the
/// attempt's future, with its output already boxed. The future's concrete type reaches
/// the spawn, so an attempt costs no extra allocation for it.
pub(crate) struct FnTask<T, F, Fut> {
    start: F,
    _output: PhantomData<fn() -> (T, Fut)>,
}

impl<T, F, Fut> ErasedTask for FnTask<T, F, Fut>
where
    T: Send + 'static,
    F: Fn(&Values<'_>) -> Result<Fut, MissingInput> + Send + Sync + 'static,
    Fut: Future<Output = Result<AnyValue, BoxError>> + Send + 'static,
{
    fn start(&self, values: &Values<'_>, launch: Launch<'_>) {
        match (self.start)(values) {
            Ok(fut) => launch.spawn(fut),
            Err(missing) => launch.spawn(std::future::ready(Err(Box::new(missing) as BoxError))),
        }
    }

    fn start_boxed(&self, values: &Values<'_>) -> TaskFuture<AnyValue> {
        match (self.start)(values) {
            Ok(fut) => Box::pin(fut),
            Err(missing) => Box::pin(std::future::ready(Err(Box::new(missing) as BoxError))),
        }
    }

    fn output_type(&self) -> (TypeId, &'static str) {
        (TypeId::of::<T>(), std::any::type_name::<T>())
    }

    fn unit_output(&self) -> Option<AnyValue> {
        unit_output::<T>()
    }

    fn collect(&self, children: &mut [Option<AnyValue>]) -> Option<AnyValue> {
        collect::<T>(children)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A task ready to be added to a flow, with its arguments bound and its options set.
///
/// `#[task]` functions return one; [`TaskCall::new`] makes one from a hand-written
/// [`Task`]. The option methods set per-call options that override the attribute's.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use flowcore::{Flow, Trigger, task};
///
/// #[task(max_retries = 1)]
/// async fn fetch(url: String) -> Result<String, std::io::Error> {
///     Ok(url)
/// }
///
/// let mut flow = Flow::new("options");
/// let page = flow.add(
///     fetch("https://example.com".to_string())
///         .name("fetch_home")
///         .max_retries(3)
///         .retry_delay(Duration::from_secs(2))
///         .timeout(Duration::from_secs(30))
///         .trigger(Trigger::AllSuccessful),
/// );
/// # let _ = page;
/// ```
#[must_use = "a task call does nothing until it is added to a flow with `Flow::add`"]
pub struct TaskCall<T> {
    pub(crate) name: Cow<'static, str>,
    pub(crate) explicit_name: bool,
    pub(crate) options: TaskOptions,
    pub(crate) edges: Vec<Edge>,
    pub(crate) args_flow: Option<u64>,
    pub(crate) mixed: Option<&'static str>,
    pub(crate) each: Option<&'static str>,
    pub(crate) each_len: Option<usize>,
    pub(crate) bad_batch: Option<&'static str>,
    pub(crate) after: Vec<TaskId>,
    pub(crate) task: Arc<dyn ErasedTask>,
    /// For a subflow task (or a task reading a subflow's output): the child flow's name
    /// and what is wrong with the call, reported by `Flow::add` naming the task.
    pub(crate) subflow_problems: Vec<(String, String)>,
    _output: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for TaskCall<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskCall")
            .field("name", &self.name)
            .field("options", &self.options)
            .field("edges", &self.edges)
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> TaskCall<T> {
    /// A call of a hand-written [`Task`] named `name`, with the arguments bound in `args`.
    pub fn new<K>(name: impl Into<Cow<'static, str>>, args: Args, task: K) -> TaskCall<T>
    where
        K: Task<Output = T>,
    {
        TaskCall::from_erased(name.into(), args, Arc::new(Erased(task)))
    }

    pub(crate) fn from_fn<F, Fut>(name: &'static str, args: Args, start: F) -> TaskCall<T>
    where
        F: Fn(&Values<'_>) -> Result<Fut, MissingInput> + Send + Sync + 'static,
        Fut: Future<Output = Result<AnyValue, BoxError>> + Send + 'static,
    {
        let task = FnTask {
            start,
            _output: PhantomData::<fn() -> (T, Fut)>,
        };
        TaskCall::from_erased(Cow::Borrowed(name), args, Arc::new(task))
    }

    /// A cached task's call: `start` also hashes the arguments when given a hasher.
    pub(crate) fn from_cached_fn<F, Fut>(
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
        let task = CachedFnTask::<T, F, Fut>::new(identity, start);
        let mut call = TaskCall::from_erased(Cow::Borrowed(name), args, Arc::new(task));
        call.options.cache = Some(Box::new(CacheOptions {
            expiry,
            mode: CacheMode::Use,
        }));
        call
    }

    fn from_erased(name: Cow<'static, str>, args: Args, task: Arc<dyn ErasedTask>) -> TaskCall<T> {
        TaskCall {
            name,
            explicit_name: false,
            options: TaskOptions::default(),
            edges: args.edges,
            args_flow: args.flow,
            mixed: args.mixed,
            each: args.each,
            each_len: args.each_len,
            bad_batch: args.bad_batch,
            after: Vec::new(),
            task,
            subflow_problems: Vec::new(),
            _output: PhantomData,
        }
    }
}

impl<T: 'static> TaskCall<T> {
    /// Runs the task's body once, directly, with the values bound to its arguments: plain
    /// async Rust, for unit tests of a body without a flow.
    ///
    /// Options (retries, timeout, trigger) do not apply, and
    /// [`TaskContext::current`](crate::TaskContext::current) is `None` inside the body.
    ///
    /// # Errors
    ///
    /// The body's error, boxed; a [`Signal`](crate::Signal) the body returned can be
    /// recovered with `downcast_ref`. [`MissingInput`] when an argument is bound to a
    /// handle, which only a flow run can fill.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Signal, task};
    ///
    /// #[task]
    /// async fn add(a: i64, b: i64) -> i64 {
    ///     a + b
    /// }
    ///
    /// #[task]
    /// async fn check(n: i64) -> Result<i64, Signal> {
    ///     if n < 0 { Err(Signal::skip("negative")) } else { Ok(n) }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert_eq!(add(2, 3).call().await.unwrap(), 5);
    /// let error = check(-1).call().await.unwrap_err();
    /// assert_eq!(error.downcast_ref::<Signal>().map(Signal::message), Some("negative"));
    /// # }
    /// ```
    pub async fn call(self) -> Result<T, BoxError> {
        let values = Values {
            results: &[],
            states: &[],
            nodes: &[],
            task: 0,
            map_index: NOT_MAPPED,
            maps: None,
            direct_call: &self.name,
        };
        let fut = self.task.start_boxed(&values);
        let value = fut.await?;
        match value.downcast::<T>() {
            Ok(value) => Ok(*value),
            Err(_) => Err(format!(
                "task `{}` produced a value that is not its output type `{}`",
                self.name,
                std::any::type_name::<T>()
            )
            .into()),
        }
    }
}

impl<T> TaskCall<T> {
    /// Names the task. Names must be unique within a flow; without one, the function's
    /// name is used, with `-2`, `-3`, ... appended when it is taken.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> TaskCall<T> {
        self.name = name.into();
        self.explicit_name = true;
        self
    }

    /// How many times a failed attempt is retried (default 0).
    pub fn max_retries(mut self, max_retries: u32) -> TaskCall<T> {
        self.options.max_retries = max_retries;
        self
    }

    /// How long to wait before each retry (default zero): the fixed form of
    /// [`TaskCall::retry_backoff`], the same as `retry_backoff(Backoff::Fixed(retry_delay))`.
    pub fn retry_delay(self, retry_delay: Duration) -> TaskCall<T> {
        self.retry_backoff(Backoff::Fixed(retry_delay))
    }

    /// How the delay before a retry grows from one retry to the next (default: no delay);
    /// replaces an earlier [`TaskCall::retry_delay`].
    ///
    /// An invalid backoff (see [`Backoff::Exponential`]) is reported by
    /// [`Flow::validate`](crate::Flow::validate) and [`Flow::run`](crate::Flow::run) as a
    /// [`BuildError::InvalidRetryPolicy`](crate::BuildError::InvalidRetryPolicy) naming the task.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use flowcore::{Backoff, Flow, task};
    ///
    /// #[task(max_retries = 5)]
    /// async fn fetch(url: &'static str) -> Result<usize, std::io::Error> {
    ///     Ok(url.len())
    /// }
    ///
    /// let mut flow = Flow::new("backoff");
    /// // 1s, 2s, 4s, 8s, then 10s.
    /// flow.add(fetch("https://example.com").retry_backoff(Backoff::exponential(
    ///     Duration::from_secs(1),
    ///     2.0,
    ///     Duration::from_secs(10),
    /// )));
    /// assert!(flow.validate().is_ok());
    /// ```
    pub fn retry_backoff(mut self, backoff: Backoff) -> TaskCall<T> {
        self.options.retry_policy().backoff = backoff;
        self
    }

    /// How each retry's delay is spread (default [`Jitter::None`]); deterministic, see [`Jitter`].
    pub fn retry_jitter(mut self, jitter: Jitter) -> TaskCall<T> {
        self.options.retry_policy().jitter = jitter;
        self
    }

    /// Retries only the errors for which `predicate` returns true (default: every error).
    ///
    /// A failed attempt whose error the predicate rejects ends the task `Failed` at once,
    /// with the error's message followed by `(not retried: ...)`; a panic in the predicate
    /// does the same. The predicate is asked only while retries remain.
    ///
    /// It sees the errors the body returns (with their [`source`](std::error::Error::source)
    /// chain, so it can look for a cause), and only those: signals are explicit requests
    /// and are not filtered (a `RETRY` is retried and a `FAIL` is retried like a failure,
    /// while retries remain), panics and timeouts have no error value and are retried, and
    /// a [`MissingInput`] is never retried.
    ///
    /// # Examples
    ///
    /// Retry timeouts only: a refused connection fails at once.
    ///
    /// ```
    /// use std::error::Error;
    /// use std::io;
    /// use flowcore::task;
    ///
    /// #[task(max_retries = 3, retry_delay = "1s")]
    /// async fn fetch(url: &'static str) -> Result<usize, io::Error> {
    ///     Ok(url.len())
    /// }
    ///
    /// fn timed_out(error: &(dyn Error + 'static)) -> bool {
    ///     error
    ///         .downcast_ref::<io::Error>()
    ///         .is_some_and(|error| error.kind() == io::ErrorKind::TimedOut)
    /// }
    ///
    /// let call = fetch("https://example.com").retry_if(timed_out);
    /// # let _ = call;
    /// ```
    pub fn retry_if(
        mut self,
        predicate: impl Fn(&(dyn std::error::Error + 'static)) -> bool + Send + Sync + 'static,
    ) -> TaskCall<T> {
        self.options.retry_policy().retry_if = Some(RetryIf(Arc::new(predicate)));
        self
    }

    /// The longest an attempt may run; a longer one ends `TimedOut` (retried like a failure).
    pub fn timeout(mut self, timeout: Duration) -> TaskCall<T> {
        self.options.timeout = Some(timeout);
        self
    }

    /// The trigger deciding whether the task runs (default [`Trigger::AllSuccessful`]).
    pub fn trigger(mut self, trigger: Trigger) -> TaskCall<T> {
        self.options.set_trigger(trigger);
        self
    }

    /// Whether a skipped upstream task skips this one before its trigger is asked (default true).
    pub fn skip_on_upstream_skip(mut self, skip: bool) -> TaskCall<T> {
        self.options.skip_on_upstream_skip = skip;
        self
    }

    /// Lets the task fail without failing the flow: a failed end (`Failed`, `TimedOut`,
    /// `TriggerFailed`) becomes [`Warning`](crate::StateKind::Warning), which downstream
    /// tasks and the flow's final state count as a success, and whose message says how
    /// the task failed (Kestra's `allowFailure`).
    ///
    /// The task has no result then, so a downstream task that reads it needs an
    /// `Option<T>` argument (or it fails with [`MissingInput`]). Retries happen first, as
    /// usual: only the last attempt's failure is allowed.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, StateKind, task};
    ///
    /// #[task]
    /// async fn refresh_cache() -> Result<(), String> {
    ///     Err("cache server unreachable".to_string())
    /// }
    ///
    /// #[task]
    /// async fn publish() -> &'static str {
    ///     "published"
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("allow-failure");
    /// let refresh = flow.add(refresh_cache().allow_failure());
    /// let publish = flow.add(publish().after(refresh));
    /// let report = flow.run().await.unwrap();
    /// assert_eq!(report.state(refresh).kind(), StateKind::Warning);
    /// assert_eq!(report.result(publish), Some(&"published"));
    /// assert_eq!(report.flow_state().kind(), StateKind::Warning);
    /// # }
    /// ```
    pub fn allow_failure(mut self) -> TaskCall<T> {
        self.options.allow_failure = true;
        self
    }

    /// Calls `hook` on every state change of the task (of each child, for a mapped task),
    /// in the order they happen, from the run's coordinator: keep it quick, and hand slow
    /// work (a notification over the network) to a spawned task or a channel.
    ///
    /// Hooks observe: they cannot change the state (Prefect 1's state handlers could);
    /// to act on a failure, use triggers, signals or the flow's `errors` tasks. A hook
    /// that panics is logged and the run goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use flowcore::{Flow, StateKind, task};
    ///
    /// #[task(max_retries = 1)]
    /// async fn flaky() -> Result<(), String> {
    ///     Err("timeout".to_string())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let failures = Arc::new(Mutex::new(Vec::new()));
    /// let (log, alerts) = (seen.clone(), failures.clone());
    /// let mut flow = Flow::new("hooks");
    /// flow.add(
    ///     flaky()
    ///         .on_state(move |change| log.lock().unwrap().push(change.state().kind()))
    ///         .on_failure(move |change| {
    ///             alerts.lock().unwrap().push(change.state().message().to_string())
    ///         }),
    /// );
    /// flow.run().await.unwrap();
    /// use StateKind::*;
    /// assert_eq!(*seen.lock().unwrap(), [Running, Failed, Retrying, Running, Failed]);
    /// // Only the task's final failure, not the attempt that was retried.
    /// assert_eq!(*failures.lock().unwrap(), ["timeout"]);
    /// # }
    /// ```
    pub fn on_state(self, hook: impl Fn(&Transition<'_>) + Send + Sync + 'static) -> TaskCall<T> {
        self.hook(When::Always, hook)
    }

    /// Calls `hook` when the task ends failed (`Failed`, `TriggerFailed` or `TimedOut`,
    /// after its last attempt); see [`TaskCall::on_state`].
    pub fn on_failure(self, hook: impl Fn(&Transition<'_>) + Send + Sync + 'static) -> TaskCall<T> {
        self.hook(When::Failure, hook)
    }

    /// Calls `hook` when the task ends successful (`Success`, `Skipped`, `Warning`,
    /// `Mapped`, ...); see [`TaskCall::on_state`].
    pub fn on_success(self, hook: impl Fn(&Transition<'_>) + Send + Sync + 'static) -> TaskCall<T> {
        self.hook(When::Success, hook)
    }

    fn hook(
        mut self,
        when: When,
        hook: impl Fn(&Transition<'_>) + Send + Sync + 'static,
    ) -> TaskCall<T> {
        self.options
            .hooks
            .get_or_insert_with(Box::default)
            .push(when, hook);
        self
    }

    /// Counts the task against the process-wide limit of `tag` (see
    /// [`set_tag_limit`](crate::set_tag_limit)): an attempt waits, `Queued`, until the
    /// tag has a free slot. A task can have several tags; it waits until it has a slot
    /// of each. A tag without a limit does not hold the task back.
    ///
    /// # Examples
    ///
    /// See [`set_tag_limit`](crate::set_tag_limit).
    pub fn tag(mut self, tag: impl Into<Arc<str>>) -> TaskCall<T> {
        let limits = self.options.limits.get_or_insert_with(Box::default);
        limits.tags.push(tag.into());
        self
    }

    /// For a mapped task ([`Flow::map`](crate::Flow::map)): at most `limit` of its
    /// children run at once; the others wait `Queued` (the bound on how many batches
    /// run at once of Kestra's `ForEachItem`). A limit of 0 counts as 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, each, task};
    ///
    /// #[task]
    /// async fn upload(part: u32) -> u32 {
    ///     part
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("uploads");
    /// let parts = flow.map(upload(each((0..100).collect::<Vec<u32>>())).max_concurrency(4));
    /// let report = flow.run().await.unwrap();
    /// assert_eq!(report.result(parts).map(Vec::len), Some(100));
    /// # }
    /// ```
    pub fn max_concurrency(mut self, limit: usize) -> TaskCall<T> {
        let limits = self.options.limits.get_or_insert_with(Box::default);
        limits.max_concurrency = Some(limit.max(1));
        self
    }

    /// How long this call's results stay in the cache, instead of the attribute's
    /// `cache_for`; a zero duration caches nothing, like [`TaskCall::no_cache`]. After
    /// `no_cache` it turns caching back on.
    ///
    /// Only a task declared with `#[task(cache_for = "..")]` can be cached, since only its
    /// arguments are known to be hashable: on another task, [`Flow::add`](crate::Flow::add)
    /// records a [`BuildError::NotCacheable`](crate::BuildError::NotCacheable).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use flowcore::{Cache, Flow, StateKind, task};
    ///
    /// #[task(cache_for = "10m")]
    /// async fn rates(currency: &'static str) -> f64 {
    ///     if currency == "EUR" { 1.0 } else { 1.1 }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut flow = Flow::new("rates");
    /// let usd = flow.add(rates("USD").cache_for(Duration::from_secs(60)));
    /// let cache = Cache::new();
    /// flow.runner().cache(&cache).run().await.unwrap();
    ///
    /// tokio::time::advance(Duration::from_secs(61)).await;
    /// let report = flow.runner().cache(&cache).run().await.unwrap();
    /// // The entry expired after a minute, so the body ran again.
    /// assert_eq!(report.state(usd).kind(), StateKind::Success);
    /// # }
    /// ```
    pub fn cache_for(mut self, expiry: Duration) -> TaskCall<T> {
        let cache = self.options.cache.get_or_insert(Box::new(CacheOptions {
            expiry,
            mode: CacheMode::Use,
        }));
        cache.expiry = expiry;
        if cache.mode == CacheMode::Off {
            cache.mode = CacheMode::Use;
        }
        self
    }

    /// Runs the body without looking in the cache, and stores its result like any
    /// success of a cached task: the entry is refreshed, and later runs reuse the new
    /// result. Only for a task declared with `#[task(cache_for = "..")]`, like
    /// [`TaskCall::cache_for`].
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Cache, Flow, StateKind, task};
    ///
    /// #[task(cache_for = "1h")]
    /// async fn prices(day: u32) -> Vec<u32> {
    ///     vec![day, day + 1]
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = Cache::new();
    /// let mut flow = Flow::new("prices");
    /// let cached = flow.add(prices(7));
    /// flow.runner().cache(&cache).run().await.unwrap();
    ///
    /// let mut refresh = Flow::new("refresh-prices");
    /// let refreshed = refresh.add(prices(7).refresh_cache());
    /// let report = refresh.runner().cache(&cache).run().await.unwrap();
    /// // The body ran although the entry was valid, and replaced it.
    /// assert_eq!(report.state(refreshed).kind(), StateKind::Success);
    ///
    /// let report = flow.runner().cache(&cache).run().await.unwrap();
    /// assert_eq!(report.state(cached).kind(), StateKind::Cached);
    /// # }
    /// ```
    pub fn refresh_cache(mut self) -> TaskCall<T> {
        let cache = self.options.cache.get_or_insert(Box::new(CacheOptions {
            expiry: Duration::ZERO,
            mode: CacheMode::Refresh,
        }));
        cache.mode = CacheMode::Refresh;
        self
    }

    /// Neither looks in the cache nor stores this call's result: the body runs on every
    /// attempt, as if the task had no `cache_for`. Does nothing to a task that is not cached.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, StateKind, task};
    ///
    /// #[task(cache_for = "1h")]
    /// async fn prices(day: u32) -> Vec<u32> {
    ///     vec![day, day + 1]
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("fresh-prices");
    /// let fresh = flow.add(prices(8).no_cache());
    /// for _ in 0..2 {
    ///     let report = flow.run().await.unwrap();
    ///     assert_eq!(report.state(fresh).kind(), StateKind::Success);
    /// }
    /// # }
    /// ```
    pub fn no_cache(mut self) -> TaskCall<T> {
        if let Some(cache) = &mut self.options.cache {
            cache.mode = CacheMode::Off;
        }
        self
    }

    /// Runs this task only after `upstream` finished, without passing data (an order-only edge).
    ///
    /// Order-only edges feed the trigger and skip propagation like data edges do.
    pub fn after(mut self, upstream: impl Into<TaskId>) -> TaskCall<T> {
        self.after.push(upstream.into());
        self
    }
}

impl fmt::Debug for dyn ErasedTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("output", &self.output_type().1)
            .finish()
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        (*message).to_string()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}
