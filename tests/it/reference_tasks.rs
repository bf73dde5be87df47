//! Tests: reference tasks decide the flow's final state; terminal tasks are the default.

use flowcore::{Flow, Signal, StateKind, Trigger, task};

use crate::run;

#[task]
async fn step(fail: bool) -> Result<u32, String> {
    if fail {
        Err("step failed".to_string())
    } else {
        Ok(1)
    }
}

#[task(trigger = always_run)]
async fn always(value: Option<u32>) -> u32 {
    value.unwrap_or(0)
}

#[task]
async fn skip() -> Result<u32, Signal> {
    Err(Signal::skip("nothing to do"))
}

#[tokio::test]
async fn terminal_tasks_are_the_default_reference_tasks() {
    let mut flow = Flow::new("default");
    let a = flow.add(step(false));
    let b = flow.add(step(false).after(a));
    let c = flow.add(always(a));
    let _ = (b, c);
    assert_eq!(flow.reference_tasks().unwrap(), ["step-2", "always"]);
}

#[tokio::test]
async fn a_failed_terminal_task_fails_the_flow() {
    let mut flow = Flow::new("terminal");
    let a = flow.add(step(false));
    let b = flow.add(step(true).after(a));
    let report = run(&flow).await;
    assert_eq!(report.state(b).kind(), StateKind::Failed);
    assert_eq!(report.flow_state().kind(), StateKind::Failed);
    assert_eq!(
        report.flow_state().message(),
        "Some reference tasks failed: `step-2` (Failed)."
    );
}

#[tokio::test]
async fn a_failed_task_that_is_not_a_reference_does_not_fail_the_flow() {
    let mut flow = Flow::new("hidden-failure");
    let failing = flow.add(step(true));
    let cleanup = flow.add(always(failing));
    let report = run(&flow).await;
    assert_eq!(report.state(failing).kind(), StateKind::Failed);
    assert_eq!(report.state(cleanup).kind(), StateKind::Success);
    assert_eq!(report.flow_state().kind(), StateKind::Success);
    assert_eq!(
        report.flow_state().message(),
        "All reference tasks succeeded."
    );
}

#[tokio::test]
async fn set_reference_tasks_makes_a_non_terminal_failure_count() {
    let mut flow = Flow::new("set");
    let failing = flow.add(step(true));
    let cleanup = flow.add(always(failing));
    flow.set_reference_tasks([failing]);
    assert_eq!(flow.reference_tasks().unwrap(), ["step"]);
    let report = run(&flow).await;
    assert_eq!(report.state(cleanup).kind(), StateKind::Success);
    assert_eq!(report.flow_state().kind(), StateKind::Failed);
    assert_eq!(
        report.flow_state().message(),
        "Some reference tasks failed: `step` (Failed)."
    );
}

#[tokio::test]
async fn an_empty_reference_list_restores_the_terminal_tasks() {
    let mut flow = Flow::new("reset");
    let failing = flow.add(step(true));
    let cleanup = flow.add(always(failing));
    flow.set_reference_tasks([failing]);
    flow.set_reference_tasks(Vec::<flowcore::TaskId>::new());
    assert_eq!(flow.reference_tasks().unwrap(), ["always"]);
    let report = run(&flow).await;
    assert_eq!(report.state(cleanup).kind(), StateKind::Success);
    assert_eq!(report.flow_state().kind(), StateKind::Success);
}

#[tokio::test]
async fn trigger_failed_and_skipped_references() {
    let mut flow = Flow::new("mixed");
    let failing = flow.add(step(true));
    let trigger_failed = flow.add(step(false).after(failing));
    let skipped = flow.add(skip());
    flow.set_reference_tasks([trigger_failed]);
    let report = run(&flow).await;
    assert_eq!(
        report.state(trigger_failed).kind(),
        StateKind::TriggerFailed
    );
    assert_eq!(report.flow_state().kind(), StateKind::Failed);
    assert_eq!(
        report.flow_state().message(),
        "Some reference tasks failed: `step-2` (TriggerFailed)."
    );

    let mut only_skipped = Flow::new("skipped");
    only_skipped.add(skip());
    let report = run(&only_skipped).await;
    assert_eq!(report.flow_state().kind(), StateKind::Success);
    let _ = skipped;
}

#[tokio::test]
async fn an_empty_flow_succeeds() {
    let flow = Flow::new("empty");
    let report = run(&flow).await;
    assert_eq!(report.flow_state().kind(), StateKind::Success);
    assert_eq!(report.task_states().len(), 0);
}

#[tokio::test]
async fn any_failed_cleanup_runs_only_on_failure() {
    let mut flow = Flow::new("on-failure");
    let ok = flow.add(step(false));
    let on_failure = flow.add(always(ok).trigger(Trigger::AnyFailed));
    flow.set_reference_tasks([ok]);
    let report = run(&flow).await;
    assert_eq!(report.state(on_failure).kind(), StateKind::TriggerFailed);
    assert_eq!(report.flow_state().kind(), StateKind::Success);
}
