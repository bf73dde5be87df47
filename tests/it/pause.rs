//! Tests: pausing (the `manual_only` trigger and the PAUSE signal), approving and resuming the same run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use flowcore::{Flow, ResumeError, Signal, StateKind, Trigger, pause, task};

use crate::run;

#[task]
async fn build() -> u32 {
    1
}

#[task(trigger = manual_only)]
async fn deploy(build: u32, runs: Arc<AtomicU32>) -> u32 {
    runs.fetch_add(1, Ordering::SeqCst);
    build + 1
}

#[task]
async fn announce(version: u32) -> String {
    format!("deployed {version}")
}

#[tokio::test]
async fn manual_only_pauses_until_approved_and_the_same_run_continues() {
    let runs = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new("release");
    let built = flow.add(build());
    let deployed = flow.add(deploy(built, runs.clone()));
    let announced = flow.add(announce(deployed));

    let mut report = run(&flow).await;
    assert_eq!(report.state(built).kind(), StateKind::Success);
    assert_eq!(report.state(deployed).kind(), StateKind::Paused);
    assert_eq!(
        report.state(deployed).message(),
        "Trigger function is \"manual_only\""
    );
    assert_eq!(report.state(announced).kind(), StateKind::Pending);
    assert_eq!(report.flow_state().kind(), StateKind::Paused);
    assert_eq!(
        report.flow_state().message(),
        "Waiting for approval of `deploy`."
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    report.approve("deploy").unwrap();
    report.resume().await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(report.state(deployed).kind(), StateKind::Success);
    assert_eq!(
        report.result(announced).map(String::as_str),
        Some("deployed 2")
    );
    assert_eq!(report.flow_state().kind(), StateKind::Success);
    // The task that ran before the pause did not run again.
    assert_eq!(report.state(built).run_count(), 1);
}

#[tokio::test]
async fn approving_checks_the_name_and_the_state() {
    let runs = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new("release");
    let built = flow.add(build());
    flow.add(deploy(built, runs));
    let mut report = run(&flow).await;
    assert_eq!(
        report.approve("deploi"),
        Err(ResumeError::UnknownTask {
            name: "deploi".to_string()
        })
    );
    assert_eq!(
        report.approve("build"),
        Err(ResumeError::NotPaused {
            name: "build".to_string(),
            state: StateKind::Success
        })
    );
    assert_eq!(
        report.approve("build").unwrap_err().to_string(),
        "task `build` is Success, not Paused; only a paused task can be approved"
    );
}

#[task]
async fn needs_approval(runs: Arc<AtomicU32>) -> Result<u32, Signal> {
    runs.fetch_add(1, Ordering::SeqCst);
    pause("waiting for sign-off")?;
    Ok(10)
}

#[tokio::test]
async fn pause_signal_reruns_the_body_once_approved() {
    let runs = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new("sign-off");
    let task = flow.add(needs_approval(runs.clone()));
    let mut report = run(&flow).await;
    assert_eq!(report.state(task).kind(), StateKind::Paused);
    assert_eq!(report.state(task).message(), "waiting for sign-off");
    assert_eq!(report.flow_state().kind(), StateKind::Paused);

    report.approve("needs_approval").unwrap();
    report.resume().await;
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(report.state(task).kind(), StateKind::Success);
    assert_eq!(report.state(task).run_count(), 2);
    assert_eq!(report.result(task), Some(&10));
    assert_eq!(report.flow_state().kind(), StateKind::Success);
}

#[tokio::test]
async fn resuming_one_of_two_paused_tasks_leaves_the_flow_paused() {
    let runs = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new("two");
    let first = flow.add(needs_approval(runs.clone()).name("first"));
    let second = flow.add(needs_approval(runs.clone()).name("second"));
    let mut report = run(&flow).await;
    assert_eq!(
        report.flow_state().message(),
        "Waiting for approval of `first`, `second`."
    );
    report.approve("second").unwrap();
    report.resume().await;
    assert_eq!(report.state(first).kind(), StateKind::Paused);
    assert_eq!(report.state(second).kind(), StateKind::Success);
    assert_eq!(report.flow_state().kind(), StateKind::Paused);
    assert_eq!(
        report.flow_state().message(),
        "Waiting for approval of `first`."
    );
    report.approve("first").unwrap();
    report.resume().await;
    assert_eq!(report.flow_state().kind(), StateKind::Success);
}

#[tokio::test]
async fn manual_only_without_upstream_still_pauses() {
    let runs = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new("manual");
    let task = flow.add(deploy(1, runs.clone()).trigger(Trigger::ManualOnly));
    let mut report = run(&flow).await;
    assert_eq!(report.state(task).kind(), StateKind::Paused);
    report.approve("deploy").unwrap();
    report.resume().await;
    assert_eq!(report.result(task), Some(&2));
}
