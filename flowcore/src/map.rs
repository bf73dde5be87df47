//! Mapping: a task run once per item of a collection, each run a child task with its own state.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;

use crate::task::{Arg, Args, Handle, IntoArg, Source, read_value};

/// Marks a task argument as mapped: the task, added with [`Flow::map`](crate::Flow::map),
/// runs once per item, and each run gets one item as this argument. Made by [`each`].
#[derive(Clone, Debug)]
pub struct Each<S>(S);

/// Maps a task over `items`: a `Handle<Vec<T>>` (an upstream task's output, or another
/// mapped task's results) or a `Vec<T>` given up front, bound to an argument of type `T`.
/// Arguments not wrapped in `each` are passed whole to every child (Prefect's `unmapped`).
///
/// With several `each` arguments, children take items at the same position, as many as
/// the shortest collection has (zip).
///
/// # Examples
///
/// See [`Flow::map`](crate::Flow::map).
pub fn each<S>(items: S) -> Each<S> {
    Each(items)
}

/// Splits a collection into batches of `size` items (the last one may be shorter) and maps
/// a task over them, one child per batch, bound to an argument of type `Vec<T>`: Kestra's
/// `ForEachItem`. `items` is a `Handle<Vec<T>>` or a `Vec<T>` given up front.
///
/// Add the task with [`Flow::map`](crate::Flow::map); the batch task can be any task,
/// a subflow included. With it go the other `ForEachItem` choices:
/// [`TaskCall::max_concurrency`](crate::TaskCall::max_concurrency) bounds how many
/// batches run at once, and [`TaskCall::allow_failure`](crate::TaskCall::allow_failure)
/// keeps a failed batch from failing the flow (`transmitFailed: false`); a batch that
/// fails without it fails the flow like any child. Tasks that take the batch task's
/// handle wait for every batch; tasks that do not, run meanwhile (the run itself ends
/// once every batch has finished: no work outlives a run).
///
/// A batch size of 0 is a build error naming the task and the argument.
///
/// # Examples
///
/// ```
/// use flowcore::{Flow, batches, task};
///
/// #[task]
/// async fn rows() -> Vec<u32> {
///     (1..=10).collect()
/// }
///
/// #[task]
/// async fn load(batch: Vec<u32>) -> usize {
///     batch.len()
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut flow = Flow::new("for-each-item");
/// let rows = flow.add(rows());
/// let loaded = flow.map(load(batches(rows, 4)).max_concurrency(2));
/// let report = flow.run().await.unwrap();
/// assert_eq!(report.result(loaded), Some(&vec![4, 4, 2]));
/// # }
/// ```
pub fn batches<S>(items: S, size: usize) -> Batches<S> {
    Batches { items, size }
}

/// Marks a task argument as mapped over batches of items; made by [`batches`].
#[derive(Clone, Debug)]
pub struct Batches<S> {
    items: S,
    size: usize,
}

fn read_batch<T: Clone + 'static>(
    value: &(dyn Any + Send),
    index: usize,
    size: usize,
) -> Option<Vec<T>> {
    let all = value.downcast_ref::<Vec<T>>()?;
    let start = index.checked_mul(size)?;
    let end = start.saturating_add(size).min(all.len());
    all.get(start..end).map(<[T]>::to_vec)
}

impl<T: Clone + Send + Sync + 'static> IntoArg<Vec<T>> for Batches<Handle<Vec<T>>> {
    fn into_arg(self, args: &mut Args, name: &'static str) -> Arg<Vec<T>> {
        let index = args.record(name, self.items.id());
        let edge = args.edges.last_mut().expect("`record` adds an edge");
        edge.each = Some(item_count::<T>);
        edge.batch = self.size.min(u32::MAX as usize) as u32;
        args.each.get_or_insert(name);
        if self.size == 0 {
            args.bad_batch.get_or_insert(name);
        }
        Arg {
            source: Source::Batch {
                name,
                index,
                size: self.size.max(1),
                read: read_batch::<T>,
            },
        }
    }
}

impl<T: Clone + Send + Sync + 'static> IntoArg<Vec<T>> for Batches<Vec<T>> {
    fn into_arg(self, args: &mut Args, name: &'static str) -> Arg<Vec<T>> {
        if self.size == 0 {
            args.bad_batch.get_or_insert(name);
        }
        let chunks: Vec<Vec<T>> = self
            .items
            .chunks(self.size.max(1))
            .map(<[T]>::to_vec)
            .collect();
        Each(chunks).into_arg(args, name)
    }
}

/// The number of items an upstream output has, for an `each` argument.
pub(crate) type ItemCount = fn(&(dyn Any + Send)) -> Option<usize>;

fn item_count<T: 'static>(value: &(dyn Any + Send)) -> Option<usize> {
    value.downcast_ref::<Vec<T>>().map(Vec::len)
}

fn read_item<T: Clone + 'static>(value: &(dyn Any + Send), index: usize) -> Option<T> {
    value.downcast_ref::<Vec<T>>()?.get(index).cloned()
}

impl<T: Clone + Send + Sync + 'static> IntoArg<T> for Each<Handle<Vec<T>>> {
    fn into_arg(self, args: &mut Args, name: &'static str) -> Arg<T> {
        let index = args.record(name, self.0.id());
        let edge = args.edges.last_mut().expect("`record` adds an edge");
        edge.each = Some(item_count::<T>);
        args.each.get_or_insert(name);
        Arg {
            source: Source::Each {
                name,
                index,
                read: read_item::<T>,
                child: read_value::<T>,
            },
        }
    }
}

impl<T: Clone + Send + Sync + 'static> IntoArg<T> for Each<Vec<T>> {
    fn into_arg(self, args: &mut Args, name: &'static str) -> Arg<T> {
        args.each.get_or_insert(name);
        let len = self.0.len();
        args.each_len = Some(args.each_len.map_or(len, |shortest| shortest.min(len)));
        Arg {
            source: Source::Items {
                name,
                items: self.0,
            },
        }
    }
}

/// Where a mapped task's children are in a run: slots `first..first + len`, and how many
/// of them have not finished.
#[derive(Copy, Clone, Debug)]
pub(crate) struct MapInfo {
    pub(crate) first: u32,
    pub(crate) len: u32,
    pub(crate) pending: u32,
    /// Whether every child runs as far as its trigger goes: the task has the default
    /// trigger and skip propagation, no child reads a state of its own (no mapping over
    /// a mapped task), and the upstream states, the same for every child, let it run.
    pub(crate) children_run: bool,
}

impl MapInfo {
    pub(crate) fn slots(&self) -> std::ops::Range<usize> {
        self.first as usize..(self.first + self.len) as usize
    }
}

/// A child's name: its task's name and its item's index, `task[3]`.
#[derive(Copy, Clone, Debug)]
pub(crate) struct ChildName<'a> {
    pub(crate) task: &'a str,
    pub(crate) index: Option<u32>,
}

impl<'a> ChildName<'a> {
    /// The name as text: borrowed for a task, formatted for a child.
    pub(crate) fn to_cow(self) -> Cow<'a, str> {
        match self.index {
            None => Cow::Borrowed(self.task),
            Some(_) => Cow::Owned(self.to_string()),
        }
    }
}

impl fmt::Display for ChildName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(index) => write!(f, "{}[{index}]", self.task),
            None => f.write_str(self.task),
        }
    }
}
