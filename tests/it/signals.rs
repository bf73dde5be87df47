//! Tests: signals a task body ends with (SUCCESS, FAIL, RETRY, SKIP, PAUSE), whatever error type carries them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use flowcore::{BoxError, Flow, Signal, StateKind, Trigger, task};

use crate::run;

/// The seed's signal task.
#[task]
async fn signal_task(message: String) -> Result<String, Signal> {
    match message.as_str() {
        "go!" => Err(Signal::success("going!").with_value(message)),
        "stop!" => Err(Signal::fail("stopping!")),
        "skip!" => Err(Signal::skip("skipping!")),
        _ => Ok(message),
    }
}

#[tokio::test]
async fn seed_signal_task_moves_into_each_state() {
    let mut flow = Flow::new("signals");
    let go = flow.add(signal_task("go!".to_string()));
    let stop = flow.add(signal_task("stop!".to_string()));
    let skip = flow.add(signal_task("skip!".to_string()));
    let plain = flow.add(signal_task("hello".to_string()));
    let report = run(&flow).await;

    assert_eq!(report.state(go).kind(), StateKind::Success);
    assert_eq!(report.state(go).message(), "going!");
    assert_eq!(report.result(go).map(String::as_str), Some("go!"));

    assert_eq!(report.state(stop).kind(), StateKind::Failed);
    assert_eq!(report.state(stop).message(), "stopping!");
    assert_eq!(report.result(stop), None);

    assert_eq!(report.state(skip).kind(), StateKind::Skipped);
    assert_eq!(report.state(skip).message(), "skipping!");

    assert_eq!(report.state(plain).kind(), StateKind::Success);
    assert_eq!(report.state(plain).message(), "Task run succeeded.");
    assert_eq!(report.result(plain).map(String::as_str), Some("hello"));

    // Every task is terminal, so every task is a reference task: the stop! task fails the flow.
    assert_eq!(report.flow_state().kind(), StateKind::Failed);
    assert_eq!(
        report.flow_state().message(),
        "Some reference tasks failed: `signal_task-2` (Failed)."
    );
}

#[task]
async fn skip_via_anyhow() -> anyhow::Result<u32> {
    Err(Signal::skip("nothing to do").into())
}

#[task]
async fn fail_via_box() -> Result<u32, BoxError> {
    Err(Signal::fail("boxed failure").into())
}

#[task]
async fn skip_via_question_mark() -> anyhow::Result<u32> {
    let skip: Result<u32, Signal> = Err(Signal::skip("early exit"));
    Ok(skip?)
}

#[tokio::test]
async fn signals_are_recognised_through_anyhow_and_boxed_errors() {
    let mut flow = Flow::new("carriers");
    let anyhow_skip = flow.add(skip_via_anyhow());
    let boxed_fail = flow.add(fail_via_box());
    let question = flow.add(skip_via_question_mark());
    let report = run(&flow).await;
    assert_eq!(report.state(anyhow_skip).kind(), StateKind::Skipped);
    assert_eq!(report.state(anyhow_skip).message(), "nothing to do");
    assert_eq!(report.state(boxed_fail).kind(), StateKind::Failed);
    assert_eq!(report.state(boxed_fail).message(), "boxed failure");
    assert_eq!(report.state(question).kind(), StateKind::Skipped);
    assert_eq!(report.state(question).message(), "early exit");
}

#[task]
async fn signal_only() -> Signal {
    Signal::success("done by signal")
}

#[task]
async fn number_without_value() -> Result<u32, Signal> {
    Err(Signal::success("no value given"))
}

#[task]
async fn wrong_value_type() -> Result<u32, Signal> {
    Err(Signal::success("wrong type").with_value("a string"))
}

#[task(trigger = always_run)]
async fn consume(value: u32) -> u32 {
    value
}

#[tokio::test]
async fn success_signal_values_are_typed() {
    let mut flow = Flow::new("success");
    let unit = flow.add(signal_only());
    let no_value = flow.add(number_without_value());
    let wrong = flow.add(wrong_value_type());
    let consumer = flow.add(consume(no_value));
    let report = run(&flow).await;

    assert_eq!(report.state(unit).kind(), StateKind::Success);
    assert_eq!(report.state(unit).message(), "done by signal");
    assert_eq!(report.result(unit), Some(&()));

    assert_eq!(report.state(no_value).kind(), StateKind::Success);
    assert_eq!(report.result(no_value), None);
    assert_eq!(report.state(consumer).kind(), StateKind::Failed);
    assert_eq!(
        report.state(consumer).message(),
        "task `consume`: argument `value` has no value because upstream task `number_without_value` is Success; take it as an `Option` to run without it"
    );

    assert_eq!(report.state(wrong).kind(), StateKind::Failed);
    assert_eq!(
        report.state(wrong).message(),
        "SUCCESS signal carried a value that is not the task's output type `u32`"
    );
}

#[task(max_retries = 2)]
async fn fail_signal_counting(calls: Arc<AtomicU32>) -> Result<(), Signal> {
    calls.fetch_add(1, Ordering::SeqCst);
    Err(Signal::fail("always fails"))
}

#[tokio::test(start_paused = true)]
async fn fail_signal_is_retried_while_retries_remain() {
    let calls = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new("fail");
    let task = flow.add(fail_signal_counting(calls.clone()));
    let report = run(&flow).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(report.state(task).kind(), StateKind::Failed);
    assert_eq!(report.state(task).message(), "always fails");
    assert_eq!(report.state(task).run_count(), 3);
}

#[task]
async fn retry_until_third(calls: Arc<AtomicU32>) -> Result<u32, Signal> {
    let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
    if call < 3 {
        return Err(Signal::retry(format!("not yet ({call})")).with_delay(Duration::from_secs(60)));
    }
    Ok(call)
}

#[tokio::test(start_paused = true)]
async fn retry_signal_waits_its_delay_within_max_retries() {
    let calls = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new("retry");
    let task = flow.add(retry_until_third(calls.clone()).max_retries(5));
    let started = tokio::time::Instant::now();
    let report = run(&flow).await;
    assert_eq!(report.state(task).kind(), StateKind::Success);
    assert_eq!(report.result(task), Some(&3));
    assert_eq!(report.state(task).run_count(), 3);
    assert_eq!(started.elapsed(), Duration::from_secs(120));
}

#[tokio::test(start_paused = true)]
async fn retry_signal_without_retries_left_fails() {
    let calls = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new("retry");
    let task = flow.add(retry_until_third(calls.clone()).max_retries(1));
    let report = run(&flow).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(report.state(task).kind(), StateKind::Failed);
    assert_eq!(
        report.state(task).message(),
        "not yet (2) (RETRY signal after attempt 2 of 2; no retries left)"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_signal_is_bounded_by_default() {
    let calls = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new("retry");
    let task = flow.add(retry_until_third(calls.clone()));
    let report = run(&flow).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(report.state(task).kind(), StateKind::Failed);
}

#[task]
async fn skipper() -> Result<u32, Signal> {
    Err(Signal::skip("condition not met"))
}

#[task]
async fn after_skip(value: u32) -> u32 {
    value
}

#[task(skip_on_upstream_skip = false)]
async fn despite_skip(value: Option<u32>) -> String {
    format!("{value:?}")
}

#[tokio::test]
async fn skip_signal_skips_the_branch_unless_downstream_opts_out() {
    let mut flow = Flow::new("skip");
    let skipped = flow.add(skipper());
    let next = flow.add(after_skip(skipped));
    let last = flow.add(after_skip(next));
    let opted_out = flow.add(despite_skip(skipped));
    let report = run(&flow).await;
    assert_eq!(report.state(skipped).kind(), StateKind::Skipped);
    assert_eq!(report.state(next).kind(), StateKind::Skipped);
    assert_eq!(report.state(last).kind(), StateKind::Skipped);
    assert_eq!(report.state(opted_out).kind(), StateKind::Success);
    assert_eq!(report.result(opted_out).map(String::as_str), Some("None"));
    // Skipped reference tasks count as successes.
    assert_eq!(report.flow_state().kind(), StateKind::Success);
}

#[task]
async fn pause_for_a_minute() -> Result<bool, Signal> {
    let resumed = flowcore::TaskContext::current().is_some_and(|ctx| ctx.is_resumed());
    if !resumed {
        return Err(Signal::pause("cooling down").with_delay(Duration::from_secs(60)));
    }
    Ok(resumed)
}

#[tokio::test(start_paused = true)]
async fn timed_pause_resumes_by_itself() {
    let mut flow = Flow::new("timed-pause");
    let task = flow.add(pause_for_a_minute());
    let next = flow.add(after_skip(5).trigger(Trigger::AllSuccessful).after(task));
    let started = tokio::time::Instant::now();
    let report = run(&flow).await;
    assert_eq!(started.elapsed(), Duration::from_secs(60));
    assert_eq!(report.state(task).kind(), StateKind::Success);
    assert_eq!(report.result(task), Some(&true));
    assert_eq!(report.state(task).run_count(), 2);
    assert_eq!(report.state(next).kind(), StateKind::Success);
    assert_eq!(report.flow_state().kind(), StateKind::Success);
}
