//! The workloads as dagrs graphs: a `DefaultNode` per task, an edge per dependency.
//!
//! A dagrs node reads one value from each of its in-channels (an mpsc channel per edge,
//! made by `Graph::add_edge`), sends its own value to each out-channel and returns it as
//! its output, which `Graph::get_results` reads back after the run.

use std::sync::Arc;
use std::time::Instant;

use dagrs::async_trait::async_trait;
use dagrs::{
    Action, CompletionStatus, Content, DefaultNode, EnvVar, Graph, InChannels, NodeTable,
    OutChannels, Output,
};

use super::Timings;
use crate::dag::{self, Dag};

/// Why dagrs does not run the mapped workload. Its graphs are static: nodes are added before
/// the run, none during it, so there is no way to make one node per item of a value that
/// only exists once the run has started. Giving it N nodes up front would measure a
/// fan-out (which the fanout workload already does) rather than mapping.
pub(crate) const NO_MAPPING: &str = "dagrs has no mapping";

/// The sum of the upstream values plus one, sent downstream and returned.
struct SumPlusOne;

#[async_trait]
impl Action for SumPlusOne {
    async fn run(
        &self,
        input: &mut InChannels,
        output: &mut OutChannels,
        _env: Arc<EnvVar>,
    ) -> Output {
        let received = input
            .map(|content| content.ok().and_then(Content::into_inner::<u64>))
            .await;
        let mut upstream = Vec::with_capacity(received.len());
        for value in received {
            match value {
                Some(value) => upstream.push(*value),
                None => return Output::execution_failed("an upstream value is missing"),
            }
        }
        let value = dag::sum_plus_one(upstream);
        for sent in output.broadcast(Content::new(value)).await {
            if let Err(error) = sent {
                return Output::error(error);
            }
        }
        Output::new(value)
    }
}

pub(super) async fn run(dag: &Dag) -> Result<Timings, String> {
    // Build: the nodes, the graph and its edges.
    let started = Instant::now();
    let mut table = NodeTable::new();
    let mut graph = Graph::new();
    let mut ids = Vec::with_capacity(dag.len());
    for task in 0..dag.len() {
        let node = DefaultNode::with_action(format!("t{task}"), SumPlusOne, &mut table);
        let id = graph
            .add_node(node)
            .map_err(|error| format!("dagrs: adding task {task}: {error}"))?;
        ids.push(id);
    }
    for task in 0..dag.len() {
        for &up in dag.upstream(task) {
            graph
                .add_edge(ids[up as usize], [ids[task]])
                .map_err(|error| format!("dagrs: adding edge {up} -> {task}: {error}"))?;
        }
    }
    graph.set_env(EnvVar::new(table));
    let build = started.elapsed();

    // Run: the graph's whole run, including its checks and partitioning.
    let started = Instant::now();
    let report = graph.async_start().await;
    let run = started.elapsed();

    let report = report.map_err(|error| format!("dagrs: the run failed: {error}"))?;
    if report.status != CompletionStatus::Succeeded || report.node_failed > 0 {
        return Err(format!(
            "dagrs: the run ended {:?} with {} failed nodes",
            report.status, report.node_failed
        ));
    }
    let results = graph.get_results::<u64>();
    let mut values = Vec::with_capacity(dag.terminal().len());
    for &task in dag.terminal() {
        match results.get(&ids[task as usize]) {
            Some(Some(value)) => values.push(**value),
            _ => return Err(format!("dagrs: task {task} has no result")),
        }
    }
    Ok(Timings {
        build,
        run,
        digest: dag::digest(values),
    })
}
