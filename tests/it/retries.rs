//! Tests: retries (counts, delays on paused time, exhaustion), timeouts and panics as states.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowcore::{Flow, StateKind, TaskContext, task};
use tokio::time::Instant;

use crate::run;

/// Records the virtual time of each attempt and fails until attempt `succeed_on`.
#[task(max_retries = 3, retry_delay = "10m")]
async fn flaky(
    succeed_on: u32,
    attempts: Arc<Mutex<Vec<(u32, Instant)>>>,
) -> Result<u32, std::io::Error> {
    let attempt = TaskContext::current().map_or(0, |ctx| ctx.attempt());
    attempts.lock().unwrap().push((attempt, Instant::now()));
    if attempt < succeed_on {
        return Err(std::io::Error::other(format!("attempt {attempt} failed")));
    }
    Ok(attempt)
}

#[tokio::test(start_paused = true)]
async fn retries_wait_the_delay_and_succeed() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let mut flow = Flow::new("retries");
    let task = flow.add(flaky(3, attempts.clone()));
    let started = Instant::now();
    let report = run(&flow).await;

    assert_eq!(report.state(task).kind(), StateKind::Success);
    assert_eq!(report.result(task), Some(&3));
    assert_eq!(report.state(task).run_count(), 3);
    let offsets: Vec<(u32, Duration)> = attempts
        .lock()
        .unwrap()
        .iter()
        .map(|(attempt, at)| (*attempt, at.duration_since(started)))
        .collect();
    assert_eq!(
        offsets,
        [
            (1, Duration::ZERO),
            (2, Duration::from_secs(600)),
            (3, Duration::from_secs(1200))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_leave_the_last_failure() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let mut flow = Flow::new("retries");
    let task = flow.add(flaky(10, attempts.clone()));
    let report = run(&flow).await;
    assert_eq!(attempts.lock().unwrap().len(), 4);
    assert_eq!(report.state(task).kind(), StateKind::Failed);
    assert_eq!(report.state(task).message(), "attempt 4 failed");
    assert_eq!(report.state(task).run_count(), 4);
    assert_eq!(report.flow_state().kind(), StateKind::Failed);
}

#[tokio::test(start_paused = true)]
async fn call_site_options_override_the_attribute() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let mut flow = Flow::new("retries");
    let task = flow.add(
        flaky(10, attempts.clone())
            .max_retries(1)
            .retry_delay(Duration::from_secs(5)),
    );
    let started = Instant::now();
    let report = run(&flow).await;
    assert_eq!(report.state(task).run_count(), 2);
    assert_eq!(
        attempts.lock().unwrap()[1].1.duration_since(started),
        Duration::from_secs(5)
    );
}

#[task]
async fn no_retries(attempts: Arc<Mutex<Vec<(u32, Instant)>>>) -> Result<(), String> {
    attempts.lock().unwrap().push((0, Instant::now()));
    Err("boom".to_string())
}

#[tokio::test]
async fn no_retries_by_default() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let mut flow = Flow::new("once");
    let task = flow.add(no_retries(attempts.clone()));
    let report = run(&flow).await;
    assert_eq!(attempts.lock().unwrap().len(), 1);
    assert_eq!(report.state(task).kind(), StateKind::Failed);
    assert_eq!(report.state(task).message(), "boom");
}

#[task(timeout = "1s")]
async fn sleeps(duration: Duration) -> u32 {
    tokio::time::sleep(duration).await;
    7
}

#[tokio::test(start_paused = true)]
async fn timeouts_end_the_attempt_as_timed_out() {
    let mut flow = Flow::new("timeouts");
    let slow = flow.add(sleeps(Duration::from_secs(5)));
    let fast = flow.add(sleeps(Duration::from_millis(500)));
    let started = Instant::now();
    let report = run(&flow).await;
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(report.state(slow).kind(), StateKind::TimedOut);
    assert_eq!(
        report.state(slow).message(),
        "Task timed out after 1s during execution."
    );
    assert!(report.state(slow).is_failed());
    assert_eq!(report.state(fast).kind(), StateKind::Success);
    assert_eq!(report.result(fast), Some(&7));
}

#[task(timeout = "1s", max_retries = 2, retry_delay = "1s")]
async fn slow_then_fast() -> u32 {
    let attempt = TaskContext::current().map_or(0, |ctx| ctx.attempt());
    if attempt < 3 {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    attempt
}

#[tokio::test(start_paused = true)]
async fn timed_out_attempts_are_retried() {
    let mut flow = Flow::new("timeouts");
    let task = flow.add(slow_then_fast());
    let started = Instant::now();
    let report = run(&flow).await;
    assert_eq!(report.state(task).kind(), StateKind::Success);
    assert_eq!(report.result(task), Some(&3));
    // Two attempts of 1s that time out, each followed by a 1s delay.
    assert_eq!(started.elapsed(), Duration::from_secs(4));
}

#[task]
async fn panics(message: &'static str) -> u32 {
    if !message.is_empty() {
        panic!("{message}");
    }
    1
}

#[task(trigger = always_run)]
async fn cleanup(value: Option<u32>) -> bool {
    value.is_none()
}

#[tokio::test]
async fn a_panicking_task_is_failed_and_the_run_goes_on() {
    let mut flow = Flow::new("panics");
    let bad = flow.add(panics("index out of bounds"));
    let good = flow.add(panics(""));
    let after = flow.add(cleanup(bad));
    let report = run(&flow).await;
    assert_eq!(report.state(bad).kind(), StateKind::Failed);
    assert_eq!(
        report.state(bad).message(),
        "Task panicked: index out of bounds"
    );
    assert_eq!(report.state(good).kind(), StateKind::Success);
    assert_eq!(report.state(after).kind(), StateKind::Success);
    assert_eq!(report.result(after), Some(&true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_task_is_failed_on_a_multi_thread_runtime() {
    let mut flow = Flow::new("panics");
    let bad = flow.add(panics("boom").max_retries(1));
    let report = run(&flow).await;
    assert_eq!(report.state(bad).kind(), StateKind::Failed);
    assert_eq!(report.state(bad).run_count(), 2);
    assert_eq!(report.state(bad).message(), "Task panicked: boom");
}

#[derive(Debug)]
struct Outer(std::io::Error);

impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("could not load the table")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[task]
async fn load_table() -> Result<u32, Outer> {
    Err(Outer(std::io::Error::other("connection refused")))
}

#[task]
async fn with_context() -> anyhow::Result<u32> {
    use anyhow::Context;
    Err(std::io::Error::other("disk full")).context("writing the report")
}

#[tokio::test]
async fn error_messages_include_their_sources() {
    let mut flow = Flow::new("errors");
    let table = flow.add(load_table());
    let report_task = flow.add(with_context());
    let report = run(&flow).await;
    assert_eq!(
        report.state(table).message(),
        "could not load the table: connection refused"
    );
    assert_eq!(
        report.state(report_task).message(),
        "writing the report: disk full"
    );
}
