//! The hand-written tokio baseline: one spawned task per node, oneshot channels as edges;
//! for the mapped workload, one spawned task per item, spawned once the items are known.

use std::time::Instant;

use tokio::sync::oneshot;

use super::Timings;
use crate::dag::{self, Dag, Mapped};

/// One node: a receiver per upstream edge, a sender per downstream edge.
struct Node {
    inputs: Vec<oneshot::Receiver<u64>>,
    outputs: Vec<oneshot::Sender<u64>>,
}

/// A node's task: waits for every upstream value, then sends its own to each downstream node.
async fn node(node: Node) -> Result<u64, oneshot::error::RecvError> {
    let mut value = 1u64;
    for input in node.inputs {
        value = value.wrapping_add(input.await?);
    }
    for output in node.outputs {
        // A receiver is only gone if its node failed, which the run reports anyway.
        let _ = output.send(value);
    }
    Ok(value)
}

pub(super) async fn run(dag: &Dag) -> Result<Timings, String> {
    // Build: the channels and each node's future.
    let started = Instant::now();
    let mut nodes: Vec<Node> = (0..dag.len())
        .map(|task| Node {
            inputs: Vec::with_capacity(dag.upstream(task).len()),
            outputs: Vec::new(),
        })
        .collect();
    for task in 0..dag.len() {
        for &up in dag.upstream(task) {
            let (sender, receiver) = oneshot::channel();
            nodes[up as usize].outputs.push(sender);
            nodes[task].inputs.push(receiver);
        }
    }
    let futures: Vec<_> = nodes.into_iter().map(node).collect();
    let build = started.elapsed();

    // Run: spawn every node, then await every node.
    let started = Instant::now();
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut terminal = dag.terminal().iter().copied().peekable();
    let mut values = Vec::with_capacity(dag.terminal().len());
    let mut failure = None;
    for (task, handle) in handles.into_iter().enumerate() {
        match handle.await {
            Ok(Ok(value)) => {
                if terminal.peek() == Some(&(task as u32)) {
                    terminal.next();
                    values.push(value);
                }
            }
            Ok(Err(error)) => {
                failure.get_or_insert_with(|| format!("tokio: task {task} lost an input: {error}"));
            }
            Err(error) => {
                failure
                    .get_or_insert_with(|| format!("tokio: task {task} did not finish: {error}"));
            }
        }
    }
    let run = started.elapsed();

    match failure {
        Some(failure) => Err(failure),
        None => Ok(Timings {
            build,
            run,
            digest: dag::digest(values),
        }),
    }
}

/// The mapped workload as flowcore runs it, written by hand: the source is a spawned task;
/// once its items are known, one task per item is spawned with its item, and their values
/// are awaited in item order into a `Vec`, the mapped task's value.
pub(super) async fn run_mapped(mapped: &Mapped) -> Result<Timings, String> {
    // Build: the source's future; like flowcore's children, the item tasks are made by the
    // run, since their number is the length of the source's value.
    let started = Instant::now();
    let n = mapped.items();
    let source = async move { Mapped::source(n) };
    let build = started.elapsed();

    // Run: the source, then one task per item, then every item task in item order.
    let started = Instant::now();
    let items = tokio::spawn(source)
        .await
        .map_err(|error| format!("tokio: the source did not finish: {error}"))?;
    let handles: Vec<_> = items
        .iter()
        .map(|&item| tokio::spawn(async move { Mapped::child(item) }))
        .collect();
    let mut values = Vec::with_capacity(handles.len());
    let mut failure = None;
    for (index, handle) in handles.into_iter().enumerate() {
        match handle.await {
            Ok(value) => values.push(value),
            Err(error) => {
                failure.get_or_insert_with(|| {
                    format!("tokio: the task of item {index} did not finish: {error}")
                });
            }
        }
    }
    let run = started.elapsed();
    drop(items);

    if let Some(failure) = failure {
        return Err(failure);
    }
    let digest = mapped
        .digest(&values)
        .map_err(|error| format!("tokio: {error}"))?;
    Ok(Timings { build, run, digest })
}
