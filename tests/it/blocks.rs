//! Tests: the `errors` and `finally` blocks, flow timeouts, cancellation and allowed failures.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowcore::StateKind::{self, *};
use flowcore::{BuildError, CancellationToken, Flow, Signal, TaskFailure, task};
use tokio::time::Instant;

use crate::run;

#[task]
async fn step(fail: bool) -> Result<u32, String> {
    if fail {
        Err("step broke".to_string())
    } else {
        Ok(1)
    }
}

#[task]
async fn alert(failures: Vec<TaskFailure>) -> Vec<String> {
    failures.iter().map(TaskFailure::to_string).collect()
}

#[task]
async fn cleanup() -> &'static str {
    "cleaned"
}

#[task]
async fn broken_cleanup() -> Result<(), String> {
    Err("could not remove temp dir".to_string())
}

#[task]
async fn sleep_for(secs: u64) -> u64 {
    tokio::time::sleep(Duration::from_secs(secs)).await;
    secs
}

/// The order in which tasks first started running, from the transition log.
fn start_order(report: &flowcore::RunReport) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for (name, kind) in report.transition_log() {
        if matches!(kind, Running | Skipped | Success) && !order.iter().any(|seen| *seen == name) {
            order.push(name.to_string());
        }
    }
    order
}

#[tokio::test]
async fn errors_run_after_a_failure_and_see_it_then_finally_runs() {
    let mut flow = Flow::new("blocks");
    let a = flow.add(step(false).name("a"));
    let b = flow.add(step(true).name("b"));
    let failures = flow.failed_tasks();
    let alert = flow.add_errors(alert(failures));
    let cleanup = flow.add_finally(cleanup());
    let report = run(&flow).await;

    report.check(a).is(Success);
    report.check(b).is(Failed);
    report
        .check(alert)
        .is(Success)
        .result(&vec!["`b`: Failed: step broke".to_string()]);
    report.check(cleanup).is(Success).result(&"cleaned");
    report.check_flow(Failed);
    assert_eq!(
        report.flow_state().message(),
        "Some reference tasks failed: `b` (Failed)."
    );
    assert_eq!(
        start_order(&report),
        ["a", "b", "failed_tasks", "alert", "cleanup"]
    );
}

#[tokio::test]
async fn errors_are_skipped_when_the_main_tasks_succeed_and_finally_still_runs() {
    let mut flow = Flow::new("blocks");
    flow.add(step(false).name("a"));
    let failures = flow.failed_tasks();
    let alert = flow.add_errors(alert(failures));
    let cleanup = flow.add_finally(cleanup());
    let report = run(&flow).await;

    report
        .check(alert)
        .is(Skipped)
        .attempts(0)
        .message("Not run: `errors` tasks run only when the main tasks failed.");
    report.check("failed_tasks").is(Success);
    report.check(cleanup).is(Success);
    report.check_flow(Success);
    assert_eq!(
        report.flow_state().message(),
        "All reference tasks succeeded."
    );
}

#[tokio::test]
async fn errors_run_when_a_reference_task_failed_not_when_another_did() {
    // `b` fails, but the reference task is `a`: the main outcome is a success.
    let mut flow = Flow::new("blocks");
    let a = flow.add(step(false).name("a"));
    flow.add(step(true).name("b"));
    flow.set_reference_tasks([a]);
    let alert = flow.add_errors(cleanup());
    let report = run(&flow).await;
    report.check(alert).is(Skipped);
    report.check_flow(Success);
}

#[tokio::test]
async fn a_failed_finally_task_fails_a_successful_flow_without_hiding_the_main_outcome() {
    let mut flow = Flow::new("blocks");
    flow.add(step(false).name("a"));
    let broken = flow.add_finally(broken_cleanup());
    let report = run(&flow).await;
    report.check(broken).is(Failed);
    report.check_flow(Failed);
    assert_eq!(
        report.flow_state().message(),
        "All reference tasks succeeded. Also failed: `broken_cleanup` in `finally` (Failed)."
    );

    let mut flow = Flow::new("blocks");
    flow.add(step(true).name("a"));
    flow.add_finally(broken_cleanup());
    let report = run(&flow).await;
    report.check_flow(Failed);
    assert_eq!(
        report.flow_state().message(),
        "Some reference tasks failed: `a` (Failed). Also failed: `broken_cleanup` in `finally` (Failed)."
    );
}

#[tokio::test]
async fn finally_tasks_use_main_outputs_and_keep_their_own_triggers() {
    #[task]
    async fn start() -> Result<String, String> {
        Ok("container-1".to_string())
    }
    #[task]
    async fn start_broken() -> Result<String, String> {
        Err("image not found".to_string())
    }
    #[task]
    async fn stop(id: String) -> String {
        format!("stopped {id}")
    }
    #[task(trigger = all_finished)]
    async fn stop_if_started(id: Option<String>) -> String {
        id.map_or_else(
            || "nothing to stop".to_string(),
            |id| format!("stopped {id}"),
        )
    }

    let mut flow = Flow::new("resource");
    let id = flow.add(start());
    flow.add(step(true).after(id));
    let stopped = flow.add_finally(stop(id));
    let report = run(&flow).await;
    report
        .check(stopped)
        .is(Success)
        .result(&"stopped container-1".to_string());

    let mut flow = Flow::new("resource");
    let id = flow.add(start_broken());
    let stopped = flow.add_finally(stop(id));
    let guarded = flow.add_finally(stop_if_started(id));
    let report = run(&flow).await;
    report.check(stopped).is(TriggerFailed);
    report
        .check(guarded)
        .is(Success)
        .result(&"nothing to stop".to_string());
    // The reference task is the main task `start_broken`, although it has finally tasks
    // downstream; the finally failure is added after it.
    assert_eq!(
        report.flow_state().message(),
        "Some reference tasks failed: `start_broken` (Failed). Also failed: `stop` in `finally` (TriggerFailed)."
    );
}

#[tokio::test]
async fn tasks_within_a_block_depend_on_each_other() {
    let mut flow = Flow::new("blocks");
    flow.add(step(true));
    let first = flow.add_errors(cleanup().name("first"));
    let second = flow.add_errors(cleanup().name("second").after(first));
    let last = flow.add_finally(cleanup().name("last").after(second));
    let report = run(&flow).await;
    assert_eq!(start_order(&report), ["step", "first", "second", "last"]);
    report.check(last).is(Success);
}

#[tokio::test]
async fn a_main_task_cannot_depend_on_a_later_block() {
    let mut flow = Flow::new("blocks");
    let done = flow.add_finally(cleanup());
    flow.add(step(false).after(done));
    let error = flow.validate().unwrap_err();
    assert!(matches!(error, BuildError::BlockOrder { .. }));
    assert_eq!(
        error.to_string(),
        "task `step` (in `tasks`) depends on `cleanup` (in `finally`), which runs after it; blocks run in the order tasks, errors, finally, and a task can only depend on its own block or an earlier one"
    );

    let mut flow = Flow::new("blocks");
    let done = flow.add_finally(cleanup());
    flow.add_errors(step(false).after(done));
    assert!(matches!(
        flow.validate(),
        Err(BuildError::BlockOrder {
            block: "errors",
            upstream_block: "finally",
            ..
        })
    ));

    let mut flow = Flow::new("blocks");
    flow.add(step(false));
    let done = flow.add_finally(cleanup());
    flow.set_reference_tasks([done]);
    assert_eq!(
        flow.validate().unwrap_err().to_string(),
        "task `cleanup` is in `finally` and cannot be a reference task; the flow's final state comes from its main tasks"
    );
}

#[tokio::test]
async fn a_flow_without_main_tasks_runs_its_finally_tasks() {
    let mut flow = Flow::new("blocks");
    let errors = flow.add_errors(cleanup().name("errors"));
    let last = flow.add_finally(cleanup().name("last"));
    let report = run(&flow).await;
    report.check(errors).is(Skipped);
    report.check(last).is(Success);
    report.check_flow(Success);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_flow_cancels_its_tasks_then_runs_errors_and_finally() {
    let mut flow = Flow::new("bounded");
    let quick = flow.add(sleep_for(1).name("quick"));
    let slow = flow.add(sleep_for(3600).name("slow"));
    let after_slow = flow.add(sleep_for(1).name("after_slow").after(slow));
    let failures = flow.failed_tasks();
    let alert = flow.add_errors(alert(failures));
    let cleanup = flow.add_finally(cleanup());
    flow.set_timeout(Duration::from_secs(60));

    let started = Instant::now();
    let report = run(&flow).await;
    assert_eq!(started.elapsed(), Duration::from_secs(60));
    report.check(quick).is(Success);
    report
        .check(slow)
        .is(Cancelled)
        .attempts(1)
        .message("The flow run timed out before this task finished.")
        .went_through(&[Running, Cancelled]);
    report.check(after_slow).is(Cancelled).attempts(0);
    report.check(alert).is(Success).result(&vec![
        "`slow`: Cancelled: The flow run timed out before this task finished.".to_string(),
        "`after_slow`: Cancelled: The flow run timed out before this task finished.".to_string(),
    ]);
    report.check(cleanup).is(Success);
    report.check_flow(TimedOut);
    assert_eq!(
        report.flow_state().message(),
        "Flow run timed out after 60s; 2 unfinished tasks were cancelled."
    );
}

#[tokio::test(start_paused = true)]
async fn a_timeout_cancels_a_task_waiting_to_retry() {
    #[task(max_retries = 5, retry_delay = "1h")]
    async fn flaky() -> Result<(), String> {
        Err("503".to_string())
    }
    let mut flow = Flow::new("bounded");
    let flaky = flow.add(flaky());
    let report = flow
        .runner()
        .timeout(Duration::from_secs(90 * 60))
        .run()
        .await
        .unwrap();
    report
        .check(flaky)
        .is(Cancelled)
        .attempts(2)
        .went_through(&[
            Running, Failed, Retrying, Running, Failed, Retrying, Cancelled,
        ]);
    report.check_flow(TimedOut);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_during_errors_cancels_them_and_finally_still_runs() {
    let mut flow = Flow::new("bounded");
    flow.add(sleep_for(10).name("main"));
    flow.add(step(true));
    let slow_alert = flow.add_errors(sleep_for(3600).name("slow_alert"));
    let cleanup = flow.add_finally(cleanup());
    flow.set_timeout(Duration::from_secs(60));
    let report = run(&flow).await;
    report.check(slow_alert).is(Cancelled);
    report.check(cleanup).is(Success);
    report.check_flow(TimedOut);
    assert_eq!(
        report.flow_state().message(),
        "Some reference tasks failed: `step` (Failed). Flow run timed out after 60s; 1 unfinished task was cancelled."
    );
}

#[tokio::test(start_paused = true)]
async fn the_time_limit_does_not_cover_finally() {
    let mut flow = Flow::new("bounded");
    let main = flow.add(sleep_for(3600).name("main"));
    let slow_cleanup = flow.add_finally(sleep_for(120).name("slow_cleanup"));
    flow.set_timeout(Duration::from_secs(60));
    let started = Instant::now();
    let report = run(&flow).await;
    assert_eq!(started.elapsed(), Duration::from_secs(180));
    report.check(main).is(Cancelled);
    report.check(slow_cleanup).is(Success).result(&120);
}

#[tokio::test(start_paused = true)]
async fn a_flow_that_finishes_in_time_is_not_interrupted() {
    let mut flow = Flow::new("bounded");
    let main = flow.add(sleep_for(59));
    flow.set_timeout(Duration::from_secs(60));
    let report = run(&flow).await;
    report.check(main).is(Success);
    report.check_flow(Success);
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_run_cancels_main_and_errors_tasks_and_runs_finally() {
    let mut flow = Flow::new("cancellable");
    let done = flow.add(sleep_for(1).name("done"));
    let waiting = flow.add(sleep_for(3600).name("waiting"));
    let alert = flow.add_errors(cleanup().name("alert"));
    let released = Arc::new(Mutex::new(Vec::new()));
    #[task]
    async fn release(log: Arc<Mutex<Vec<&'static str>>>) {
        log.lock().unwrap().push("released");
    }
    let release = flow.add_finally(release(released.clone()));

    let token = CancellationToken::new();
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        canceller.cancel();
    });
    let started = Instant::now();
    let report = flow.runner().cancel_on(token).run().await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    report.check(done).is(Success);
    report.check(waiting).is(Cancelled);
    report.check(alert).is(Cancelled).attempts(0);
    report.check(release).is(Success);
    assert_eq!(*released.lock().unwrap(), ["released"]);
    report.check_flow(Cancelled);
    assert_eq!(
        report.flow_state().message(),
        "Flow run was cancelled; 2 unfinished tasks were cancelled."
    );
}

#[tokio::test(start_paused = true)]
async fn a_token_cancelled_before_the_run_cancels_every_main_task() {
    let mut flow = Flow::new("cancellable");
    let a = flow.add(sleep_for(1));
    let last = flow.add_finally(cleanup());
    let token = CancellationToken::new();
    token.cancel();
    let report = flow.runner().cancel_on(token).run().await.unwrap();
    report.check(a).is(Cancelled);
    report.check(last).is(Success);
    report.check_flow(Cancelled);
}

#[tokio::test]
async fn errors_and_finally_wait_while_a_main_task_is_paused() {
    #[task]
    async fn deploy() -> Result<&'static str, Signal> {
        flowcore::pause("needs approval")?;
        Ok("deployed")
    }
    let mut flow = Flow::new("paused");
    let deploy = flow.add(deploy());
    let last = flow.add_finally(cleanup());
    let mut report = run(&flow).await;
    report.check_flow(Paused);
    report.check(last).is(Pending);
    report.approve("deploy").unwrap();
    report.resume().await;
    report.check(deploy).is(Success);
    report.check(last).is(Success);
    report.check_flow(Success);
}

#[tokio::test]
async fn an_allowed_failure_is_a_warning_that_does_not_fail_downstream_or_the_flow() {
    #[task]
    async fn after(upstream: Option<u32>) -> bool {
        upstream.is_none()
    }
    let mut flow = Flow::new("allowed");
    let flaky = flow.add(step(true).name("flaky").allow_failure().max_retries(1));
    let next = flow.add(after(flaky));
    let alert = flow.add_errors(cleanup());
    let report = run(&flow).await;
    report
        .check(flaky)
        .is(Warning)
        .attempts(2)
        .message("Failed: step broke (failure allowed)");
    report.check(next).is(Success).result(&true);
    report.check(alert).is(Skipped);
    report.check_flow(Warning);
    assert_eq!(
        report.flow_state().message(),
        "All reference tasks succeeded. Failed, as allowed: `flaky`."
    );
}

#[tokio::test]
async fn an_allowed_failure_without_a_value_still_fails_a_task_that_needs_it() {
    #[task]
    async fn needs(upstream: u32) -> u32 {
        upstream
    }
    let mut flow = Flow::new("allowed");
    let flaky = flow.add(step(true).name("flaky").allow_failure());
    let needs = flow.add(needs(flaky));
    let report = run(&flow).await;
    report.check(flaky).is(Warning);
    report.check(needs).is(Failed).message(
        "task `needs`: argument `upstream` has no value because upstream task `flaky` is Warning; take it as an `Option` to run without it",
    );
    report.check_flow(Failed);
}

#[tokio::test]
async fn an_allowed_failure_of_a_reference_task_gives_a_warning_flow() {
    let mut flow = Flow::new("allowed");
    flow.add(step(true).name("only").allow_failure());
    let report = run(&flow).await;
    report.check_flow(Warning);
    assert_eq!(
        report.flow_state().message(),
        "No reference tasks failed. Failed, as allowed: `only`."
    );
    let kinds: Vec<StateKind> = report.task_states().map(|(_, s)| s.kind()).collect();
    assert_eq!(kinds, [Warning]);
}

#[tokio::test(start_paused = true)]
async fn finally_tasks_read_the_failed_tasks_after_a_cancellation() {
    let mut flow = Flow::new("cancellable");
    flow.add(sleep_for(3600).name("waiting"));
    let failures = flow.failed_tasks();
    let report_failures = flow.add_finally(alert(failures));
    let token = CancellationToken::new();
    token.cancel();
    let report = flow.runner().cancel_on(token).run().await.unwrap();
    report.check("failed_tasks").is(Success);
    report.check(report_failures).is(Success).result(&vec![
        "`waiting`: Cancelled: The flow run was cancelled before this task finished.".to_string(),
    ]);
    assert_eq!(
        report.flow_state().message(),
        "Flow run was cancelled; 1 unfinished task was cancelled."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_noticed_once_every_task_it_covers_has_ended_still_ends_the_run() {
    #[task]
    async fn cancel_run(token: CancellationToken) -> u32 {
        token.cancel();
        1
    }
    // The only main task cancels the run and ends; the `errors` block holds only the list
    // of failed tasks, which is not cancelled.
    let mut flow = Flow::new("cancelled-at-the-end");
    let token = CancellationToken::new();
    let cancelled = flow.add(cancel_run(token.clone()));
    let failures = flow.failed_tasks();
    let listed = flow.add_finally(alert(failures));
    let report = tokio::time::timeout(
        Duration::from_secs(10),
        flow.runner().cancel_on(token).run(),
    )
    .await
    .expect("the run did not end")
    .unwrap();
    report.check(cancelled).is(Success).result(&1);
    report.check(listed).is(Success);
    assert_eq!(report.flow_state().kind(), Cancelled);
    assert_eq!(
        report.flow_state().message(),
        "All reference tasks succeeded. Flow run was cancelled; 0 unfinished tasks were cancelled."
    );
}
