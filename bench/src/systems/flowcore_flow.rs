//! The workloads as flowcore flows, through the public API only.

use std::time::Instant;

use flowcore::{BuildError, Flow, Handle, RunReport, StateKind, each, task};

use super::Timings;
use crate::dag::{self, Dag, Mapped};

/// A task without upstream tasks.
#[task]
async fn source() -> u64 {
    1
}

/// A task with one upstream task.
#[task]
async fn step(upstream: u64) -> u64 {
    dag::sum_plus_one([upstream])
}

/// A task with several upstream tasks: a fan-in of their handles.
#[task]
async fn sum_plus_one(upstream: Vec<u64>) -> u64 {
    dag::sum_plus_one(upstream)
}

/// The mapped workload's source: the items to map over.
#[task]
async fn items(n: usize) -> Vec<u64> {
    Mapped::source(n)
}

/// The mapped workload's mapped task: one child per item.
#[task]
async fn plus_one(item: u64) -> u64 {
    Mapped::child(item)
}

pub(super) async fn run(dag: &Dag) -> Result<Timings, String> {
    // Build: a flow, and every task added with its upstream handles.
    let started = Instant::now();
    let mut flow = Flow::new("bench");
    let mut handles: Vec<Handle<u64>> = Vec::with_capacity(dag.len());
    for task in 0..dag.len() {
        let handle = match dag.upstream(task) {
            [] => flow.add(source()),
            [up] => flow.add(step(handles[*up as usize])),
            ups => {
                let ups: Vec<Handle<u64>> = ups.iter().map(|&up| handles[up as usize]).collect();
                flow.add(sum_plus_one(ups))
            }
        };
        handles.push(handle);
    }
    let build = started.elapsed();

    // Run: only the flow's run.
    let started = Instant::now();
    let report = flow.run().await;
    let run = started.elapsed();

    let report = succeeded(report)?;
    let mut values = Vec::with_capacity(dag.terminal().len());
    for &task in dag.terminal() {
        match report.result(handles[task as usize]) {
            Some(&value) => values.push(value),
            None => {
                let state = report.state(handles[task as usize]);
                return Err(format!(
                    "flowcore: task {task} has no result ({:?}: {})",
                    state.kind(),
                    state.message()
                ));
            }
        }
    }
    drop(report);
    Ok(Timings {
        build,
        run,
        digest: dag::digest(values),
    })
}

/// The mapped workload: a source task, and a task mapped over its items with `Flow::map`.
pub(super) async fn run_mapped(mapped: &Mapped) -> Result<Timings, String> {
    // Build: a flow with the source and the mapped task (its children are made by the run).
    let started = Instant::now();
    let mut flow = Flow::new("bench");
    let source = flow.add(items(mapped.items()));
    let children = flow.map(plus_one(each(source)));
    let build = started.elapsed();

    // Run: only the flow's run, the mapping included.
    let started = Instant::now();
    let report = flow.run().await;
    let run = started.elapsed();

    let report = succeeded(report)?;
    let digest = match report.result(children) {
        Some(values) => mapped
            .digest(values)
            .map_err(|error| format!("flowcore: {error}"))?,
        None => {
            let state = report.state(children);
            return Err(format!(
                "flowcore: the mapped task has no result ({:?}: {})",
                state.kind(),
                state.message()
            ));
        }
    };
    drop(report);
    Ok(Timings { build, run, digest })
}

/// The report of a run that ended in success.
fn succeeded(report: Result<RunReport, BuildError>) -> Result<RunReport, String> {
    let report = report.map_err(|error| format!("flowcore: the flow cannot run: {error}"))?;
    let state = report.flow_state();
    if state.kind() != StateKind::Success {
        return Err(format!(
            "flowcore: the flow ended {:?}: {}",
            state.kind(),
            state.message()
        ));
    }
    Ok(report)
}
