//! Integration tests of flowcore through its public API: one binary, a module per feature.

mod blocks;
mod branching;
mod build_errors;
mod caching;
mod concurrency;
mod hooks;
mod inputs;
mod limits;
mod mapping;
mod pause;
mod reference_tasks;
mod report;
mod retries;
mod signals;
mod spark;
mod subflows;
mod task_macro;
mod testing;
mod tracing_events;
mod triggers;

use flowcore::{Flow, RunReport};

/// Runs `flow` on the test's runtime; a build error fails the test with its message.
pub(crate) async fn run(flow: &Flow) -> RunReport {
    match flow.run().await {
        Ok(report) => report,
        Err(error) => panic!("flow `{}` does not build: {error}", flow.name()),
    }
}
