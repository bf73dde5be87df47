//! The systems under test: flowcore, a hand-written tokio baseline and dagrs.

use std::fmt;
use std::time::Duration;

use crate::dag::Dag;

mod baseline;
mod dagrs_graph;
mod flowcore_flow;

/// A system that runs the workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum System {
    /// flowcore through its public API.
    Flowcore,
    /// One spawned tokio task per node, awaiting oneshot receivers of its upstream tasks.
    Tokio,
    /// The dagrs crate's `Graph`.
    Dagrs,
    /// flowcore with a tracing subscriber installed whose level filter is off: what tracing
    /// costs a user whose subscriber wants none of flowcore's events. Not in the default set.
    FlowcoreTracingOff,
}

impl System {
    pub(crate) const ALL: [System; 3] = [System::Flowcore, System::Tokio, System::Dagrs];

    pub(crate) fn name(self) -> &'static str {
        match self {
            System::Flowcore => "flowcore",
            System::Tokio => "tokio",
            System::Dagrs => "dagrs",
            System::FlowcoreTracingOff => "flowcore-tracing-off",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<System> {
        System::ALL
            .into_iter()
            .chain([System::FlowcoreTracingOff])
            .find(|s| s.name() == name)
    }

    /// Builds `dag` in this system and runs it on the current tokio runtime.
    pub(crate) async fn run(self, dag: &Dag) -> Result<Timings, String> {
        match self {
            System::Flowcore => flowcore_flow::run(dag).await,
            System::Tokio => baseline::run(dag).await,
            System::Dagrs => dagrs_graph::run(dag).await,
            System::FlowcoreTracingOff => {
                // Each measurement is a process of its own, so a global subscriber is fine,
                // and unlike a scoped one it reaches the runtime's worker threads.
                let subscriber = tracing_subscriber::fmt()
                    .with_max_level(tracing_subscriber::filter::LevelFilter::OFF)
                    .finish();
                tracing::subscriber::set_global_default(subscriber)
                    .map_err(|error| format!("installing the tracing subscriber: {error}"))?;
                flowcore_flow::run(dag).await
            }
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one build and run of a graph measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timings {
    /// Building the graph: from nothing to a graph ready to run.
    pub(crate) build: Duration,
    /// Running the graph until every task finished.
    pub(crate) run: Duration,
    /// The wrapping sum of the terminal tasks' values.
    pub(crate) digest: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dag::Workload;

    fn check_all(flavor: tokio::runtime::Builder) {
        let mut flavor = flavor;
        let runtime = flavor.build().unwrap();
        for workload in Workload::ALL {
            for size in [100, 350] {
                let dag = Dag::new(workload, size).unwrap();
                for system in System::ALL {
                    let timings = runtime.block_on(system.run(&dag)).unwrap();
                    assert_eq!(
                        timings.digest,
                        dag.expected_digest(),
                        "{system} {workload} {size}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_system_computes_the_expected_values_on_a_current_thread_runtime() {
        check_all(tokio::runtime::Builder::new_current_thread());
    }

    #[test]
    fn every_system_computes_the_expected_values_on_a_multi_thread_runtime() {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        check_all(builder);
    }
}
