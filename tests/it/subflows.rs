//! Tests: subflows, a flow run as a task of another flow: inputs bound from the parent,
//! typed outputs, the child's final state as the task's, retries re-running the child,
//! mapped tasks inside a subflow, mapped subflows, timeouts, cancellation, build errors.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use expect_test::expect;
use flowcore::StateKind::{self, *};
use flowcore::{
    BuildError, CancellationToken, Flow, Handle, Input, RunId, Signal, Subflow, SubflowError,
    SubflowRun, TaskContext, TaskFailure, each, task,
};
use tokio::time::Instant;

use crate::run as run_flow;

#[task]
async fn scale(n: u32, factor: u32) -> u32 {
    n * factor
}

#[task]
async fn seven() -> u32 {
    7
}

#[task]
async fn describe(total: u32) -> String {
    format!("total {total}")
}

#[task]
async fn fail(message: &'static str) -> Result<u32, String> {
    Err(message.to_string())
}

#[task]
async fn count(runs: Arc<AtomicU32>) -> u32 {
    runs.fetch_add(1, Ordering::SeqCst) + 1
}

#[task]
async fn sum(values: Vec<u32>) -> u32 {
    values.iter().sum()
}

#[task]
async fn alert(failures: Vec<TaskFailure>) -> Vec<String> {
    failures.iter().map(TaskFailure::to_string).collect()
}

#[task(trigger = any_failed)]
async fn on_failure(_total: Option<u32>) -> &'static str {
    "alerted"
}

#[task]
async fn cleanup(runs: Arc<AtomicU32>) -> &'static str {
    runs.fetch_add(1, Ordering::SeqCst);
    "cleaned"
}

/// Adds one to `dropped` when dropped: shows that a running body was stopped.
struct DropGuard(Arc<AtomicU32>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[task]
async fn hang(dropped: Arc<AtomicU32>) {
    let _guard = DropGuard(dropped);
    std::future::pending::<()>().await;
}

/// `n` (required) times `factor` (default 2), as the output `total`.
fn scaler() -> Flow {
    let mut flow = Flow::new("scaler");
    let n = flow.input::<u32>("n");
    let factor = flow.input_or("factor", 2_u32);
    let scaled = flow.add(scale(n, factor));
    flow.output("total", scaled);
    flow
}

/// A child whose `load` task fails.
fn failing() -> Flow {
    let mut flow = Flow::new("etl");
    let loaded = flow.add(fail("table is locked").name("load"));
    flow.output("loaded", loaded);
    flow
}

fn kinds(states: &[flowcore::State]) -> Vec<StateKind> {
    states.iter().map(flowcore::State::kind).collect()
}

#[tokio::test]
async fn outputs_come_back_typed_and_feed_downstream_tasks() {
    let child = scaler();
    let mut parent = Flow::new("parent");
    let n = parent.add(seven());
    let run = parent.add(
        Subflow::new(&child)
            .input("n", n)
            .input_value("factor", 6_u32)
            .into_call(),
    );
    let total = parent.subflow_output::<u32>(run, "total");
    let described = parent.add(describe(total));
    let report = run_flow(&parent).await;

    report.check_flow(Success);
    report
        .check(run)
        .is(Success)
        .attempts(1)
        .message("Subflow `scaler`: Success (All reference tasks succeeded.)");
    report
        .check(total)
        .is(Success)
        .message("Task run succeeded.")
        .result(&42);
    report.check("scaler.total").result_as(&42_u32);
    report.check(described).result(&"total 42".to_string());

    let child_run = report.result(run).expect("the subflow task has a value");
    assert_eq!(child_run.flow_name(), "scaler");
    assert_ne!(child_run.run_id(), report.run_id());
    assert_eq!(child_run.state().kind(), Success);
    assert_eq!(child_run.output::<u32>("total"), Ok(Some(42)));
    let states: Vec<(&str, StateKind, &str)> = child_run
        .task_states()
        .map(|(name, state)| (name, state.kind(), state.message()))
        .collect();
    assert_eq!(
        states,
        [
            ("n", Success, "Input given to the run."),
            ("factor", Success, "Input given to the run."),
            ("scale", Success, "Task run succeeded."),
        ]
    );
}

#[tokio::test]
async fn an_unbound_input_takes_the_childs_default() {
    let child = scaler();
    let mut parent = Flow::new("parent");
    let run = parent.add(Subflow::new(&child).input_value("n", 5_u32).into_call());
    let total = parent.subflow_output::<u32>(run, "total");
    let report = run_flow(&parent).await;

    report.check(total).result(&10);
    let child_run = report.result(run).unwrap();
    assert_eq!(
        child_run.state_of("factor").map(flowcore::State::message),
        Some("Input default used.")
    );
    assert_eq!(child_run.state_of("missing"), None);
}

#[tokio::test]
async fn the_child_runs_with_its_own_context_and_a_new_run_id() {
    #[task]
    async fn whoami() -> (String, String, RunId) {
        let ctx = TaskContext::current().expect("inside a run");
        (
            ctx.flow_name().to_string(),
            ctx.task_name().to_string(),
            ctx.run_id(),
        )
    }

    let mut child = Flow::new("child");
    let who = child.add(whoami());
    child.output("who", who);
    let mut parent = Flow::new("parent");
    let run = parent.add(Subflow::new(&child).into_call().name("call_child"));
    let who = parent.subflow_output::<(String, String, RunId)>(run, "who");
    let report = run_flow(&parent).await;

    let (flow, task, run_id) = report.result(who).unwrap().clone();
    assert_eq!((flow.as_str(), task.as_str()), ("child", "whoami"));
    assert_eq!(run_id, report.result(run).unwrap().run_id());
    assert_ne!(run_id, report.run_id());
    report.check("call_child.who").is(Success);
}

#[tokio::test]
async fn a_failed_child_fails_the_task_and_downstream_triggers_see_it() {
    let child = failing();
    let mut parent = Flow::new("parent");
    let run = parent.add(Subflow::new(&child).into_call());
    let loaded = parent.subflow_output::<u32>(run, "loaded");
    let described = parent.add(describe(loaded));
    let alerted = parent.add(on_failure(loaded).after(run));
    let failures = parent.failed_tasks();
    let listed = parent.add_errors(alert(failures));
    let report = run_flow(&parent).await;

    let message = "subflow `etl` failed: Some reference tasks failed: `load` (Failed).";
    report.check(run).is(Failed).attempts(1).message(message);
    report.check(loaded).is(TriggerFailed);
    report.check(described).is(TriggerFailed);
    report.check(alerted).is(Success).result(&"alerted");
    report.check(listed).is(Success).result(&vec![
        format!("`etl`: Failed: {message}"),
        "`etl.loaded`: TriggerFailed: Trigger was \"all_successful\" but some of the upstream tasks failed.".to_string(),
        "`describe`: TriggerFailed: Trigger was \"all_successful\" but some of the upstream tasks failed.".to_string(),
    ]);
    report.check_flow(Failed);
    expect![[r#"
        flow `parent`: Failed (Some reference tasks failed: `describe` (TriggerFailed).)
        task          state          attempts  message
        etl           Failed         1         subflow `etl` failed: Some reference tasks failed: `load` (Failed).
        etl.loaded    TriggerFailed  0         Trigger was "all_successful" but some of the upstream tasks failed.
        describe      TriggerFailed  0         Trigger was "all_successful" but some of the upstream tasks failed.
        on_failure    Success        1         Task run succeeded.
        failed_tasks  Success        0         Listed the main tasks that failed.
        alert         Success        1         Task run succeeded.
    "#]]
    .assert_eq(&report.to_string());
}

#[tokio::test]
async fn transmit_failed_false_keeps_the_failed_run_for_inspection() {
    let child = failing();
    let mut parent = Flow::new("parent");
    let run = parent.add(Subflow::new(&child).transmit_failed(false).into_call());
    let loaded = parent.subflow_output::<u32>(run, "loaded");
    let described = parent.add(describe(loaded));
    let report = run_flow(&parent).await;

    report.check(run).is(Success).message(
        "Subflow `etl`: Failed (Some reference tasks failed: `load` (Failed).) (failure not transmitted)",
    );
    let child_run = report.result(run).unwrap();
    assert_eq!(child_run.state().kind(), Failed);
    let load = child_run.state_of("load").unwrap();
    assert_eq!((load.kind(), load.message()), (Failed, "table is locked"));
    assert_eq!(child_run.output::<u32>("loaded"), Ok(None));
    report
        .check(loaded)
        .is(Skipped)
        .message("Output `loaded` of subflow `etl` has no value: task `load` is Failed.");
    report.check(described).is(Skipped);
    report.check_flow(Success);
}

#[tokio::test]
async fn allow_failure_makes_a_failed_child_a_warning_and_skips_its_outputs() {
    let child = failing();
    let mut parent = Flow::new("parent");
    let run = parent.add(Subflow::new(&child).into_call().allow_failure());
    let loaded = parent.subflow_output::<u32>(run, "loaded");
    let described = parent.add(describe(loaded));
    let report = run_flow(&parent).await;

    report.check(run).is(Warning).message(
        "Failed: subflow `etl` failed: Some reference tasks failed: `load` (Failed). (failure allowed)",
    );
    report
        .check(loaded)
        .is(Skipped)
        .message("Subflow task `etl` is Warning and has no run to read output `loaded` from.");
    report.check(described).is(Skipped);
    report.check_flow(Warning);
}

#[tokio::test]
async fn a_child_warning_is_a_success_that_keeps_the_childs_message() {
    let mut child = Flow::new("warned");
    let optional = child.add(fail("cache down").name("refresh").allow_failure());
    child.add(seven().after(optional));
    let mut parent = Flow::new("parent");
    let run = parent.add(Subflow::new(&child).into_call());
    let report = run_flow(&parent).await;

    report.check(run).is(Success).message(
        "Subflow `warned`: Warning (All reference tasks succeeded. Failed, as allowed: `refresh`.)",
    );
    assert_eq!(report.result(run).unwrap().state().kind(), Warning);
    report.check_flow(Success);
}

#[tokio::test(start_paused = true)]
async fn retries_rerun_the_whole_child_flow_each_as_a_new_run() {
    #[task]
    async fn flaky(runs: Arc<AtomicU32>, ids: Arc<Mutex<Vec<RunId>>>) -> Result<u32, String> {
        let ctx = TaskContext::current().expect("inside a run");
        ids.lock().unwrap().push(ctx.run_id());
        let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
        if run < 3 {
            Err(format!("run {run} failed"))
        } else {
            Ok(run)
        }
    }

    let runs = Arc::new(AtomicU32::new(0));
    let ids = Arc::new(Mutex::new(Vec::new()));
    let mut child = Flow::new("flaky-child");
    let value = child.add(flaky(runs.clone(), ids.clone()));
    child.output("value", value);
    let mut parent = Flow::new("parent");
    let run = parent.add(
        Subflow::new(&child)
            .into_call()
            .max_retries(2)
            .retry_delay(Duration::from_secs(60)),
    );
    let value = parent.subflow_output::<u32>(run, "value");
    let started = Instant::now();
    let report = run_flow(&parent).await;

    assert_eq!(started.elapsed(), Duration::from_secs(120));
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    report.check(run).is(Success).attempts(3).went_through(&[
        Running, Failed, Retrying, Running, Failed, Retrying, Running, Success,
    ]);
    report.check(value).result(&3);
    let ids = ids.lock().unwrap().clone();
    assert_eq!(ids.len(), 3);
    assert!(ids[0] < ids[1] && ids[1] < ids[2], "{ids:?}");
    assert_eq!(report.result(run).unwrap().run_id(), ids[2]);
}

#[tokio::test(start_paused = true)]
async fn a_mapped_task_inside_a_subflow_retries_its_children_and_the_subflow_retries_the_run() {
    /// Fails while the attempts at its item (counted across child runs) are below
    /// `failures[item]`.
    #[task(max_retries = 2, retry_delay = "10s")]
    async fn flaky(
        x: u32,
        attempts: Arc<Mutex<Vec<u32>>>,
        failures: Vec<u32>,
    ) -> Result<u32, String> {
        let index = TaskContext::current()
            .and_then(|ctx| ctx.map_index())
            .expect("a mapped child") as usize;
        let attempt = {
            let mut attempts = attempts.lock().unwrap();
            attempts[index] += 1;
            attempts[index]
        };
        if attempt <= failures[index] {
            Err(format!("item {x}: attempt {attempt} failed"))
        } else {
            Ok(x * 10)
        }
    }

    let attempts = Arc::new(Mutex::new(vec![0; 3]));
    let runs = Arc::new(AtomicU32::new(0));
    let mut child = Flow::new("batch");
    let items = child.input::<Vec<u32>>("items");
    // Item 0 fails once and item 2 twice: retried within the run. Item 1 fails four
    // times: three attempts in the first run (it fails it), two in the second.
    let mapped = child.map(flaky(each(items), attempts.clone(), vec![1, 4, 2]));
    let total = child.add(sum(mapped));
    child.add_finally(count(runs.clone()));
    child.output("total", total);

    let mut parent = Flow::new("parent");
    let run = parent.add(
        Subflow::new(&child)
            .input_value("items", vec![1_u32, 2, 3])
            .into_call()
            .max_retries(1)
            .retry_delay(Duration::from_secs(60)),
    );
    let total = parent.subflow_output::<u32>(run, "total");
    let started = Instant::now();
    let report = run_flow(&parent).await;

    // Run 1: two retries of 10s, then a 60s retry of the subflow; run 2: one of 10s.
    assert_eq!(started.elapsed(), Duration::from_secs(90));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "the child's finally ran per run"
    );
    // Every item runs again in the second run.
    assert_eq!(*attempts.lock().unwrap(), [2 + 1, 3 + 2, 3 + 1]);
    report.check(run).is(Success).attempts(2);
    report.check(total).is(Success).result(&60);

    let child_run = report.result(run).unwrap();
    assert_eq!(child_run.state().kind(), Success);
    assert_eq!(
        child_run.state_of("flaky").map(flowcore::State::kind),
        Some(Mapped)
    );
    // In the second run, items 0 and 2 succeed at once and item 1 after one retry.
    let attempts: Vec<u32> = (0..3)
        .map(|i| {
            child_run
                .state_of(&format!("flaky[{i}]"))
                .unwrap()
                .run_count()
        })
        .collect();
    assert_eq!(attempts, [1, 2, 1]);
}

#[tokio::test]
async fn the_first_run_of_a_mapped_child_fails_with_its_message() {
    #[task(max_retries = 1)]
    async fn odd_only(x: u32) -> Result<u32, String> {
        if x.is_multiple_of(2) {
            Err(format!("{x} is even"))
        } else {
            Ok(x)
        }
    }

    let mut child = Flow::new("odds");
    let items = child.input::<Vec<u32>>("items");
    let mapped = child.map(odd_only(each(items)));
    child.output("odds", mapped);
    let mut parent = Flow::new("parent");
    let run = parent.add(
        Subflow::new(&child)
            .input_value("items", vec![1_u32, 2, 3, 4])
            .into_call(),
    );
    let report = run_flow(&parent).await;
    report.check(run).is(Failed).message(
        "subflow `odds` failed: Some reference tasks failed: `odd_only[1]` (Failed), `odd_only[3]` (Failed).",
    );
}

#[tokio::test]
async fn the_childs_errors_and_finally_tasks_run_inside_the_child_run() {
    let cleanups = Arc::new(AtomicU32::new(0));
    let mut child = Flow::new("etl");
    child.add(fail("table is locked").name("load"));
    let failures = child.failed_tasks();
    let alerted = child.add_errors(alert(failures));
    child.add_finally(cleanup(cleanups.clone()));
    child.output("alert", alerted);

    let mut parent = Flow::new("parent");
    let transmitted = parent.add(Subflow::new(&child).into_call().name("transmitted"));
    let kept = parent.add(
        Subflow::new(&child)
            .transmit_failed(false)
            .into_call()
            .name("kept"),
    );
    let alert = parent.subflow_output::<Vec<String>>(kept, "alert");
    let report = run_flow(&parent).await;

    assert_eq!(cleanups.load(Ordering::SeqCst), 2);
    report
        .check(transmitted)
        .is(Failed)
        .message("subflow `etl` failed: Some reference tasks failed: `load` (Failed).");
    report
        .check(alert)
        .is(Success)
        .result(&vec!["`load`: Failed: table is locked".to_string()]);
    let child_run = report.result(kept).unwrap();
    let states: Vec<(&str, StateKind)> = child_run
        .task_states()
        .map(|(name, state)| (name, state.kind()))
        .collect();
    assert_eq!(
        states,
        [
            ("load", Failed),
            ("failed_tasks", Success),
            ("alert", Success),
            ("cleanup", Success),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_child_timeout_fails_the_task_after_the_childs_finally_tasks() {
    let cleanups = Arc::new(AtomicU32::new(0));
    let dropped = Arc::new(AtomicU32::new(0));
    let mut child = Flow::new("slow");
    child.add(hang(dropped.clone()));
    child.add_finally(cleanup(cleanups.clone()));
    child.set_timeout(Duration::from_secs(60));

    let mut parent = Flow::new("parent");
    let own = parent.add(Subflow::new(&child).into_call().name("own_limit"));
    let given = parent.add(
        Subflow::new(&child)
            .timeout(Duration::from_secs(30))
            .into_call()
            .name("given_limit"),
    );
    let started = Instant::now();
    let report = run_flow(&parent).await;
    settle().await;

    assert_eq!(started.elapsed(), Duration::from_secs(60));
    report.check(own).is(Failed).message(
        "subflow `slow` timed out: Flow run timed out after 60s; 1 unfinished task was cancelled.",
    );
    report.check(given).is(Failed).message(
        "subflow `slow` timed out: Flow run timed out after 30s; 1 unfinished task was cancelled.",
    );
    assert_eq!(cleanups.load(Ordering::SeqCst), 2);
    assert_eq!(dropped.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn the_tasks_own_timeout_drops_the_child_run() {
    let cleanups = Arc::new(AtomicU32::new(0));
    let dropped = Arc::new(AtomicU32::new(0));
    let mut child = Flow::new("slow");
    child.add(hang(dropped.clone()));
    child.add_finally(cleanup(cleanups.clone()));

    let mut parent = Flow::new("parent");
    let run = parent.add(
        Subflow::new(&child)
            .into_call()
            .timeout(Duration::from_secs(30)),
    );
    let report = run_flow(&parent).await;
    settle().await;

    report
        .check(run)
        .is(TimedOut)
        .message("Task timed out after 30s during execution.");
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the child's task was stopped"
    );
    assert_eq!(
        cleanups.load(Ordering::SeqCst),
        0,
        "the child's finally did not run"
    );
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_parent_stops_the_child_run() {
    let cleanups = Arc::new(AtomicU32::new(0));
    let parent_cleanups = Arc::new(AtomicU32::new(0));
    let dropped = Arc::new(AtomicU32::new(0));
    let mut child = Flow::new("waiting");
    child.add(hang(dropped.clone()));
    child.add_finally(cleanup(cleanups.clone()));

    let mut parent = Flow::new("parent");
    let run = parent.add(Subflow::new(&child).into_call());
    let released = parent.add_finally(cleanup(parent_cleanups.clone()));

    let token = CancellationToken::new();
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        canceller.cancel();
    });
    let started = Instant::now();
    let report = parent.runner().cancel_on(token).run().await.unwrap();
    settle().await;

    assert_eq!(started.elapsed(), Duration::from_secs(5));
    report.check(run).is(Cancelled);
    report.check(released).is(Success);
    report.check_flow(Cancelled);
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the child's task was stopped"
    );
    assert_eq!(
        cleanups.load(Ordering::SeqCst),
        0,
        "the child's finally did not run"
    );
    assert_eq!(parent_cleanups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_paused_child_fails_the_task() {
    #[task(trigger = manual_only)]
    async fn deploy() -> &'static str {
        "deployed"
    }

    let mut child = Flow::new("release");
    child.add(deploy());
    let mut parent = Flow::new("parent");
    let run = parent.add(Subflow::new(&child).into_call());
    let report = run_flow(&parent).await;
    report.check(run).is(Failed).message(
        "subflow `release` paused: Waiting for approval of `deploy`. Approval inside a subflow is not supported.",
    );
    report.check_flow(Failed);
}

#[tokio::test]
async fn an_input_value_the_childs_validator_rejects_fails_the_attempt() {
    #[task]
    async fn limit() -> u32 {
        5000
    }

    let mut child = Flow::new("bounded");
    let n = child.add_input(Input::new("n").validate(|n: &u32| {
        if *n <= 1000 {
            Ok(())
        } else {
            Err(format!("{n} is above 1000"))
        }
    }));
    child.add(scale(n, 2));

    let mut parent = Flow::new("parent");
    let limit = parent.add(limit());
    let run = parent.add(
        Subflow::new(&child)
            .input("n", limit)
            .into_call()
            .retry_if(|error| {
                // Not worth retrying: the same value would be rejected again.
                error
                    .downcast_ref::<SubflowError>()
                    .is_none_or(|error| error.build_error().is_none())
            })
            .max_retries(3),
    );
    let report = run_flow(&parent).await;
    report.check(run).is(Failed).attempts(1).message(
        "subflow `bounded` could not start: input `n` is invalid: 5000 is above 1000 (not retried: `retry_if` rejected the error after attempt 1 of 4)",
    );
}

#[tokio::test]
async fn a_failed_upstream_bound_to_an_input_is_a_missing_input() {
    let child = scaler();
    let mut parent = Flow::new("parent");
    let n = parent.add(fail("no number"));
    let run = parent.add(
        Subflow::new(&child)
            .input("n", n)
            .into_call()
            .trigger(flowcore::Trigger::AllFinished)
            .max_retries(2),
    );
    let report = run_flow(&parent).await;
    report.check(run).is(Failed).attempts(1).message(
        "task `scaler`: argument `n` has no value because upstream task `fail` is Failed; take it as an `Option` to run without it",
    );
}

#[tokio::test]
async fn a_missing_output_value_skips_the_task_reading_it() {
    #[task]
    async fn maybe() -> Result<u32, Signal> {
        Err(Signal::skip("nothing to do"))
    }

    let mut child = Flow::new("maybe");
    let value = child.add(maybe());
    child.output("value", value);
    let mut parent = Flow::new("parent");
    let run = parent.add(Subflow::new(&child).into_call());
    let value = parent.subflow_output::<u32>(run, "value");
    let described = parent.add(describe(value));
    let report = run_flow(&parent).await;

    report.check(run).is(Success);
    report
        .check(value)
        .is(Skipped)
        .message("Output `value` of subflow `maybe` has no value: task `maybe` is Skipped.");
    report.check(described).is(Skipped);
}

#[tokio::test]
async fn a_subflow_mapped_over_items_runs_the_child_once_per_item() {
    #[task]
    async fn numbers() -> Vec<u32> {
        vec![1, 2, 3]
    }

    #[task]
    async fn no_threes(n: u32) -> Result<u32, String> {
        if n == 3 {
            Err("3 is not allowed".to_string())
        } else {
            Ok(n)
        }
    }

    #[task]
    async fn partial(totals: Vec<Option<u32>>) -> Vec<Option<u32>> {
        totals
    }

    let mut child = Flow::new("scaler");
    let n = child.input::<u32>("n");
    let checked = child.add(no_threes(n));
    let factor = child.input_or("factor", 2_u32);
    let scaled = child.add(scale(checked, factor));
    child.output("total", scaled);

    let mut parent = Flow::new("parent");
    let numbers = parent.add(numbers());
    let runs = parent.map(
        Subflow::new(&child)
            .input("n", each(numbers))
            .input_value("factor", 10_u32)
            .into_call(),
    );
    let totals = parent.subflow_outputs::<u32>(runs, "total");
    let partial = parent.add(partial(totals).trigger(flowcore::Trigger::AllFinished));
    // Given up front too.
    let fixed = parent.map(
        Subflow::new(&child)
            .input("n", each(vec![4_u32, 5]))
            .into_call(),
    );
    let fixed_totals = parent.subflow_outputs::<u32>(fixed, "total");
    let report = run_flow(&parent).await;

    report.check(runs).is(Mapped);
    assert_eq!(kinds(report.children(runs)), [Success, Success, Failed]);
    report
        .check("scaler[2]")
        .is(Failed)
        .message("subflow `scaler` failed: Some reference tasks failed: `scale` (TriggerFailed).");
    assert_eq!(
        kinds(report.children(totals)),
        [Success, Success, TriggerFailed]
    );
    report.check("scaler.total[1]").result_as(&20_u32);
    report
        .check(partial)
        .is(Success)
        .result(&vec![Some(10), Some(20), None]);
    report.check(fixed_totals).result(&vec![8, 10]);

    let first = report.child_result(runs, 0).unwrap();
    let second = report.child_result(runs, 1).unwrap();
    assert_ne!(first.run_id(), second.run_id());
    assert_eq!(second.output::<u32>("total"), Ok(Some(20)));
}

#[tokio::test]
async fn subflows_nest_and_can_inherit_labels() {
    #[task]
    async fn env() -> String {
        let ctx = TaskContext::current().expect("inside a run");
        format!(
            "{}: env={}",
            ctx.flow_name(),
            ctx.label("env").unwrap_or("-")
        )
    }

    let mut grandchild = Flow::new("grandchild");
    let env = grandchild.add(env());
    grandchild.output("env", env);

    let mut child = Flow::new("child");
    let inner = child.add(Subflow::new(&grandchild).inherit_labels(true).into_call());
    let env = child.subflow_output::<String>(inner, "env");
    child.output("env", env);

    let mut parent = Flow::new("parent");
    parent.add_label("env", "prod");
    let inheriting = parent.add(
        Subflow::new(&child)
            .inherit_labels(true)
            .into_call()
            .name("inheriting"),
    );
    let plain = parent.add(Subflow::new(&child).into_call().name("plain"));
    let labelled = parent.add(
        Subflow::new(&child)
            .inherit_labels(true)
            .label("env", "staging")
            .into_call()
            .name("labelled"),
    );
    let inherited = parent.subflow_output::<String>(inheriting, "env");
    let not_inherited = parent.subflow_output::<String>(plain, "env");
    let relabelled = parent.subflow_output::<String>(labelled, "env");
    let report = run_flow(&parent).await;

    report
        .check(inherited)
        .result(&"grandchild: env=prod".to_string());
    report
        .check(not_inherited)
        .result(&"grandchild: env=-".to_string());
    report
        .check(relabelled)
        .result(&"grandchild: env=staging".to_string());
}

#[tokio::test]
async fn a_subflow_task_can_be_called_directly_with_values() {
    let child = scaler();
    let call = Subflow::new(&child).input_value("n", 4_u32).into_call();
    let child_run = call.call().await.unwrap();
    assert_eq!(child_run.output::<u32>("total"), Ok(Some(8)));

    let n = Flow::new("other").add(seven());
    let call = Subflow::new(&child).input("n", n).into_call();
    let error = call.call().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "task `scaler`: argument `n` is bound to another task's output, which a direct call does not have; pass a plain value"
    );
}

#[test]
fn input_mistakes_are_build_errors_naming_the_task_and_the_input() {
    let child = scaler();
    let problem = |subflow: Subflow| -> String {
        let mut parent = Flow::new("parent");
        parent.add(subflow.into_call());
        parent.validate().unwrap_err().to_string()
    };
    assert_eq!(
        problem(Subflow::new(&child).input_value("n", 3_u64)),
        "task `scaler` (subflow `scaler`): input `n` is a `u32`, and is bound to a `u64`"
    );
    assert_eq!(
        problem(Subflow::new(&child).input_value("factor", 2_u32)),
        "task `scaler` (subflow `scaler`): input `n` (`u32`) is required and is not bound; bind it with `Subflow::input` or `Subflow::input_value`"
    );
    assert_eq!(
        problem(
            Subflow::new(&child)
                .input_value("n", 1_u32)
                .input_value("m", 1_u32)
        ),
        "task `scaler` (subflow `scaler`): no input is named `m`; the flow's inputs are `n`, `factor`"
    );
    assert_eq!(
        problem(
            Subflow::new(&child)
                .input_value("n", 1_u32)
                .input_value("n", 2_u32)
        ),
        "task `scaler` (subflow `scaler`): input `n` is bound twice"
    );
    assert_eq!(
        problem(Subflow::new(&Flow::new("empty")).input_value("n", 1_u32)),
        "task `empty` (subflow `empty`): no input is named `n`; the flow declares no inputs"
    );

    // A handle of the parent, with another type than the input's.
    let mut parent = Flow::new("parent");
    let text = parent.add(describe(1));
    parent.add(
        Subflow::new(&child)
            .input("n", text)
            .into_call()
            .name("scale_it"),
    );
    assert_eq!(
        parent.validate().unwrap_err(),
        BuildError::Subflow {
            task: "scale_it".to_string(),
            flow: "scaler".to_string(),
            problem: "input `n` is a `u32`, and is bound to a `alloc::string::String`".to_string(),
        }
    );

    // A handle of another flow.
    let n = Flow::new("other").add(seven());
    let mut parent = Flow::new("parent");
    parent.add(Subflow::new(&child).input("n", n).into_call());
    assert!(matches!(
        parent.validate().unwrap_err(),
        BuildError::ForeignTask { task, .. } if task == "scaler"
    ));
}

#[test]
fn a_child_flow_that_cannot_run_is_a_build_error_of_the_parent() {
    let mut child = Flow::new("broken");
    child.add(seven().name("same"));
    child.add(seven().name("same"));
    let mut parent = Flow::new("parent");
    parent.add(Subflow::new(&child).into_call());
    assert_eq!(
        parent.validate().unwrap_err().to_string(),
        "task `broken` (subflow `broken`): the flow cannot run: two tasks are named `same`; task names must be unique in a flow"
    );
}

#[test]
fn output_mistakes_are_build_errors_naming_the_task_and_the_output() {
    let child = scaler();
    let problem = |read: fn(&mut Flow, Handle<SubflowRun>)| -> BuildError {
        let mut parent = Flow::new("parent");
        let run = parent.add(Subflow::new(&child).input_value("n", 1_u32).into_call());
        read(&mut parent, run);
        parent.validate().unwrap_err()
    };
    assert_eq!(
        problem(|parent, run| {
            parent.subflow_output::<u32>(run, "totl");
        })
        .to_string(),
        "task `scaler.totl` (subflow `scaler`): no output is named `totl`; the flow's outputs are `total`"
    );
    assert_eq!(
        problem(|parent, run| {
            parent.subflow_output::<u64>(run, "total");
        })
        .to_string(),
        "task `scaler.total` (subflow `scaler`): output `total` is a `u32`, not a `u64`"
    );

    // Mapped runs are checked the same way.
    let mut parent = Flow::new("parent");
    let runs = parent.map(
        Subflow::new(&child)
            .input("n", each(vec![1_u32, 2]))
            .into_call(),
    );
    parent.subflow_outputs::<i64>(runs, "total");
    assert_eq!(
        parent.validate().unwrap_err().to_string(),
        "task `scaler.total` (subflow `scaler`): output `total` is a `u32`, not a `i64`"
    );

    // A mapped input needs `Flow::map`.
    let mut parent = Flow::new("parent");
    parent.add(
        Subflow::new(&child)
            .input("n", each(vec![1_u32, 2]))
            .into_call(),
    );
    assert!(matches!(
        parent.validate().unwrap_err(),
        BuildError::Mapping { task, .. } if task == "scaler"
    ));
}

#[test]
fn the_subflow_runs_the_child_as_it_was_when_the_call_was_made() {
    let mut child = scaler();
    let call = Subflow::new(&child).input_value("n", 1_u32).into_call();
    // A required input added later is not part of this subflow.
    child.input::<String>("later");
    let mut parent = Flow::new("parent");
    parent.add(call);
    assert_eq!(parent.validate(), Ok(()));
}

/// Lets aborted tasks be dropped: aborting a tokio task takes effect when it is next polled.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}
