//! Tests: flows that cannot run are rejected before any task runs, naming the tasks involved.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use flowcore::{BuildError, Flow, task};

#[task]
async fn count(runs: Arc<AtomicU32>) -> u32 {
    runs.fetch_add(1, Ordering::SeqCst)
}

#[task]
async fn add(a: u32, b: u32) -> u32 {
    a + b
}

#[tokio::test]
async fn a_cycle_is_an_error_naming_its_tasks_and_nothing_runs() {
    let runs = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new("cycle");
    let start = flow.add(count(runs.clone()).name("start"));
    let a = flow.add(add(1, 2).name("a").after(start));
    let b = flow.add(add(a, 1).name("b"));
    let c = flow.add(add(b, 1).name("c"));
    flow.add_edge(c, a);
    let error = flow.run().await.unwrap_err();
    assert_eq!(
        error,
        BuildError::Cycle {
            tasks: vec!["a".to_string(), "b".to_string(), "c".to_string()]
        }
    );
    assert_eq!(
        error.to_string(),
        "the flow has a cycle: `a` -> `b` -> `c` -> `a`"
    );
    assert_eq!(flow.validate(), Err(error));
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_self_edge_is_a_cycle() {
    let mut flow = Flow::new("self");
    let a = flow.add(add(1, 2).name("a"));
    flow.add_edge(a, a);
    assert_eq!(
        flow.validate().unwrap_err().to_string(),
        "the flow has a cycle: `a` -> `a`"
    );
}

#[tokio::test]
async fn edges_added_later_in_order_are_fine() {
    let mut flow = Flow::new("late-edge");
    let a = flow.add(add(1, 2).name("a"));
    let b = flow.add(add(3, 4).name("b"));
    flow.add_edge(b, a);
    assert_eq!(flow.validate(), Ok(()));
    assert_eq!(flow.reference_tasks().unwrap(), ["a"]);
}

#[tokio::test]
async fn duplicate_explicit_names_are_an_error() {
    let mut flow = Flow::new("dupes");
    flow.add(add(1, 2).name("sum"));
    flow.add(add(3, 4).name("sum"));
    let error = flow.validate().unwrap_err();
    assert_eq!(
        error,
        BuildError::DuplicateName {
            name: "sum".to_string()
        }
    );
    assert_eq!(
        error.to_string(),
        "two tasks are named `sum`; task names must be unique in a flow"
    );
}

#[tokio::test]
async fn default_names_get_a_suffix_when_taken() {
    let mut flow = Flow::new("names");
    flow.add(add(1, 2));
    flow.add(add(3, 4));
    flow.add(add(5, 6).name("add-3"));
    flow.add(add(7, 8));
    assert_eq!(flow.validate(), Ok(()));
    let report = crate::run(&flow).await;
    let names: Vec<&str> = report.task_states().map(|(name, _)| name).collect();
    assert_eq!(names, ["add", "add-2", "add-3", "add-4"]);
}

#[tokio::test]
async fn an_explicit_name_that_an_earlier_default_took_is_an_error() {
    let mut flow = Flow::new("names");
    flow.add(add(1, 2));
    flow.add(add(3, 4).name("add"));
    assert_eq!(
        flow.validate(),
        Err(BuildError::DuplicateName {
            name: "add".to_string()
        })
    );
}

#[tokio::test]
async fn an_empty_name_is_an_error() {
    let mut flow = Flow::new("names");
    flow.add(add(1, 2).name(""));
    assert_eq!(flow.validate(), Err(BuildError::EmptyName));
}

#[tokio::test]
async fn handles_from_another_flow_are_an_error() {
    let mut other = Flow::new("other");
    let foreign = other.add(add(1, 2));

    let mut flow = Flow::new("mine");
    flow.add(add(foreign, 1).name("uses_foreign"));
    let error = flow.validate().unwrap_err();
    assert_eq!(
        error,
        BuildError::ForeignTask {
            task: "uses_foreign".to_string(),
            place: "argument `a`".to_string()
        }
    );
    assert_eq!(
        error.to_string(),
        "task `uses_foreign`: argument `a` refers to a task of another flow; handles can only be used in the flow that made them"
    );

    let mut flow = Flow::new("mine");
    flow.add(add(1, 1).name("after_foreign").after(foreign));
    assert!(
        matches!(flow.validate(), Err(BuildError::ForeignTask { task, .. }) if task == "after_foreign")
    );

    let mut flow = Flow::new("mine");
    flow.add(add(1, 1));
    flow.set_reference_tasks([foreign]);
    assert!(
        matches!(flow.validate(), Err(BuildError::ForeignTask { place, .. }) if place == "a reference task")
    );

    let mut flow = Flow::new("mine");
    let local = flow.add(add(1, 1).name("local"));
    flow.add_edge(foreign, local);
    assert!(
        matches!(flow.validate(), Err(BuildError::ForeignTask { task, .. }) if task == "local")
    );
}

#[tokio::test]
async fn a_flow_runs_again_and_after_changes() {
    let runs = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new("again");
    flow.add(count(runs.clone()));
    crate::run(&flow).await;
    crate::run(&flow).await;
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let report = crate::run(&flow).await;
    flow.add(count(runs.clone()));
    // The earlier report keeps its own view of the flow.
    assert_eq!(report.task_states().len(), 1);
    assert_eq!(crate::run(&flow).await.task_states().len(), 2);
    assert_eq!(runs.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn automatic_names_never_clash_with_given_ones() {
    #[flowcore::task]
    async fn step() {}
    let mut flow = Flow::new("names");
    let a = flow.add(step());
    let b = flow.add(step());
    let given = flow.add(step().name("step-3"));
    let c = flow.add(step());
    let hand = flow.add(flowcore::TaskCall::new(
        "step-2",
        flowcore::Args::new(),
        NoOp,
    ));
    flow.validate().unwrap();
    let report = crate::run(&flow).await;
    let names: Vec<&str> = report.task_states().map(|(name, _)| name).collect();
    assert_eq!(names, ["step", "step-2", "step-3", "step-4", "step-2-2"]);
    for (handle, name) in [
        (a.id(), "step"),
        (b.id(), "step-2"),
        (given.id(), "step-3"),
        (c.id(), "step-4"),
        (hand.id(), "step-2-2"),
    ] {
        assert_eq!(report.state_of(name), Some(report.state(handle)), "{name}");
    }

    let mut flow = Flow::new("names");
    flow.add(step());
    flow.add(step());
    flow.add(step().name("step-2"));
    assert_eq!(
        flow.validate().unwrap_err(),
        BuildError::DuplicateName {
            name: "step-2".to_string()
        }
    );
}

struct NoOp;

impl flowcore::Task for NoOp {
    type Output = ();

    fn run(&self, _values: &flowcore::Values<'_>) -> flowcore::TaskFuture<()> {
        Box::pin(async { Ok(()) })
    }
}
