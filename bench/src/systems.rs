//! The systems under test: flowcore, a hand-written tokio baseline and dagrs.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use crate::dag::{Graph, Workload};

mod baseline;
mod dagrs_graph;
mod flowcore_flow;

/// A system that runs the workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum System {
    /// flowcore through its public API.
    Flowcore,
    /// One spawned tokio task per node, awaiting oneshot receivers of its upstream tasks;
    /// for the mapped workload, one spawned task per item once the source has produced them.
    Tokio,
    /// The dagrs crate's `Graph`; it has no mapping, so it skips the mapped workload.
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

    /// Why this system does not run `workload`, if it does not.
    pub(crate) fn unsupported(self, workload: Workload) -> Option<&'static str> {
        match (self, workload) {
            (System::Dagrs, Workload::Mapped) => Some(dagrs_graph::NO_MAPPING),
            _ => None,
        }
    }

    /// Builds `graph` in this system and runs it on the current tokio runtime.
    pub(crate) async fn run(self, graph: &Graph) -> Result<Timings, String> {
        match (self, graph) {
            (System::Flowcore, Graph::Dag(dag)) => flowcore_flow::run(dag).await,
            (System::Flowcore, Graph::Mapped(mapped)) => flowcore_flow::run_mapped(mapped).await,
            (System::Tokio, Graph::Dag(dag)) => baseline::run(dag).await,
            (System::Tokio, Graph::Mapped(mapped)) => baseline::run_mapped(mapped).await,
            (System::Dagrs, Graph::Dag(dag)) => dagrs_graph::run(dag).await,
            (System::Dagrs, Graph::Mapped(_)) => Err(dagrs_graph::NO_MAPPING.to_string()),
            (System::FlowcoreTracingOff, graph) => {
                install_tracing_off()?;
                match graph {
                    Graph::Dag(dag) => flowcore_flow::run(dag).await,
                    Graph::Mapped(mapped) => flowcore_flow::run_mapped(mapped).await,
                }
            }
        }
    }
}

/// Installs, once per process, a global tracing subscriber whose level filter is off.
///
/// Each measurement is a process of its own, so a global subscriber is fine, and unlike a
/// scoped one it reaches the runtime's worker threads.
fn install_tracing_off() -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing_subscriber::filter::LevelFilter::OFF)
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .map_err(|error| format!("installing the tracing subscriber: {error}"))
        })
        .clone()
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
    /// The wrapping sum of the terminal tasks' values (for the mapped workload, of the
    /// children's values, checked to be in item order).
    pub(crate) digest: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_all(flavor: tokio::runtime::Builder) {
        let mut flavor = flavor;
        let runtime = flavor.build().unwrap();
        for workload in Workload::ALL {
            for size in [100, 350] {
                let graph = Graph::new(workload, size).unwrap();
                for system in System::ALL {
                    let result = runtime.block_on(system.run(&graph));
                    if system.unsupported(workload).is_some() {
                        assert!(result.is_err(), "{system} {workload} {size}");
                        continue;
                    }
                    assert_eq!(
                        result.unwrap().digest,
                        graph.expected_digest(),
                        "{system} {workload} {size}"
                    );
                }
            }
        }
    }

    #[test]
    fn only_dagrs_skips_a_workload_and_only_mapped() {
        for workload in Workload::ALL {
            for system in System::ALL {
                let skips = system == System::Dagrs && workload == Workload::Mapped;
                assert_eq!(
                    system.unsupported(workload).is_some(),
                    skips,
                    "{system} {workload}"
                );
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
