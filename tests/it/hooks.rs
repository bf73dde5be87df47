//! Tests: state hooks on tasks and flows: which changes they see, in which order, and
//! that they observe without changing anything.

use std::sync::{Arc, Mutex};

use flowcore::StateKind::{self, *};
use flowcore::{Flow, Signal, each, task};

use crate::run;

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[task(max_retries = 1)]
async fn flaky(fail: bool) -> Result<u32, String> {
    if fail {
        Err("broken".to_string())
    } else {
        Ok(1)
    }
}

#[task]
async fn skipper() -> Result<(), Signal> {
    Err(Signal::skip("nothing to do"))
}

#[tokio::test]
async fn task_hooks_see_every_change_and_the_final_outcome() {
    let (all, failures, successes) = (log(), log(), log());
    let (a, f, s) = (all.clone(), failures.clone(), successes.clone());
    let mut flow = Flow::new("hooks");
    flow.add(
        flaky(true)
            .on_state(move |change| {
                a.lock()
                    .unwrap()
                    .push(format!("{:?} {}", change.task(), change.state().kind()))
            })
            .on_failure(move |change| f.lock().unwrap().push(change.state().message().to_string()))
            .on_success(move |change| s.lock().unwrap().push(change.state().message().to_string())),
    );
    run(&flow).await;
    assert_eq!(
        entries(&all),
        [
            "Some(\"flaky\") Running",
            "Some(\"flaky\") Failed",
            "Some(\"flaky\") Retrying",
            "Some(\"flaky\") Running",
            "Some(\"flaky\") Failed",
        ]
    );
    assert_eq!(entries(&failures), ["broken"]);
    assert!(entries(&successes).is_empty());
}

#[tokio::test]
async fn success_hooks_count_skips_as_successes() {
    let successes = log();
    let s = successes.clone();
    let mut flow = Flow::new("hooks");
    flow.add(
        skipper()
            .on_success(move |change| s.lock().unwrap().push(change.state().kind().to_string())),
    );
    run(&flow).await;
    assert_eq!(entries(&successes), ["Skipped"]);
}

#[tokio::test]
async fn the_children_of_a_mapped_task_call_its_hooks_with_their_index() {
    #[task]
    async fn double(x: u32) -> u32 {
        x * 2
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let mut flow = Flow::new("hooks");
    flow.map(double(each(vec![1, 2])).on_success(move |change| {
        s.lock()
            .unwrap()
            .push((change.map_index(), change.state().kind()))
    }));
    run(&flow).await;
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_by_key(|(index, _)| *index);
    assert_eq!(
        seen,
        [(None, Mapped), (Some(0), Success), (Some(1), Success)]
    );
}

#[tokio::test]
async fn flow_hooks_see_running_then_the_final_state_with_the_run_id() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let failed = log();
    let (s, f) = (seen.clone(), failed.clone());
    let mut flow = Flow::new("observed");
    flow.add(flaky(true));
    flow.on_state(move |change| {
        s.lock().unwrap().push((
            change.flow_name().to_string(),
            change.run_id(),
            change.state().kind(),
        ))
    });
    flow.on_failure(move |change| f.lock().unwrap().push(change.state().message().to_string()));
    let report = run(&flow).await;
    let id = report.run_id();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("observed".to_string(), id, Running),
            ("observed".to_string(), id, Failed)
        ]
    );
    assert_eq!(
        entries(&failed),
        ["Some reference tasks failed: `flaky` (Failed)."]
    );
}

#[tokio::test]
async fn a_paused_run_is_not_an_outcome_for_flow_hooks() {
    #[task(trigger = manual_only)]
    async fn deploy() {}
    let kinds: Arc<Mutex<Vec<StateKind>>> = Arc::new(Mutex::new(Vec::new()));
    let outcomes = log();
    let (k, o) = (kinds.clone(), outcomes.clone());
    let mut flow = Flow::new("paused");
    flow.add(flaky(false));
    flow.add(deploy());
    flow.on_state(move |change| k.lock().unwrap().push(change.state().kind()));
    flow.on_success(move |change| o.lock().unwrap().push(change.state().kind().to_string()));
    let mut report = run(&flow).await;
    assert_eq!(*kinds.lock().unwrap(), [Running, Paused]);
    assert!(entries(&outcomes).is_empty());
    report.approve("deploy").unwrap();
    report.resume().await;
    assert_eq!(*kinds.lock().unwrap(), [Running, Paused, Running, Success]);
    assert_eq!(entries(&outcomes), ["Success"]);
}

#[tokio::test]
async fn a_panicking_hook_changes_nothing() {
    let mut flow = Flow::new("hooks");
    let task = flow.add(flaky(false).on_state(|_| panic!("hook bug")));
    flow.on_state(|_| panic!("flow hook bug"));
    let report = run(&flow).await;
    report
        .check(task)
        .is(Success)
        .went_through(&[Running, Success]);
    report.check_flow(Success);
}
