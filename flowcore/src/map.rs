//! Mapping: a task run once per item of a collection, each run a child task with its own state.

use std::any::Any;
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

impl fmt::Display for ChildName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(index) => write!(f, "{}[{index}]", self.task),
            None => f.write_str(self.task),
        }
    }
}
