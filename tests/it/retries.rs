//! Tests: retries (counts, delays on paused time, exhaustion), retry policies (backoff,
//! jitter, predicate), timeouts and panics as states.

use std::error::Error;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowcore::StateKind::*;
use flowcore::{
    Backoff, BuildError, Flow, Jitter, RunReport, Signal, StateKind, TaskContext, task,
};
use tokio::time::Instant;

use crate::run;
use crate::tracing_events::capture;

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

type Starts = Arc<Mutex<Vec<(u32, Instant)>>>;

fn starts() -> Starts {
    Arc::new(Mutex::new(Vec::new()))
}

/// When each recorded attempt started, from `started`.
fn offsets(starts: &Starts, started: Instant) -> Vec<Duration> {
    let starts = starts.lock().unwrap();
    starts
        .iter()
        .map(|(_, at)| at.duration_since(started))
        .collect()
}

/// The time between one attempt's start and the next's: the delays, since every attempt
/// fails at once.
fn gaps(starts: &Starts) -> Vec<Duration> {
    let starts = starts.lock().unwrap();
    starts
        .windows(2)
        .map(|pair| pair[1].1 - pair[0].1)
        .collect()
}

fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// Runs `flow` with tracing captured; returns the report and the reasons of the task's
/// `Retrying` states, in order.
async fn run_capturing_retries(flow: &Flow, task: &str) -> (RunReport, Vec<String>) {
    let mut report = None;
    let lines = capture(async { report = Some(run(flow).await) }).await;
    let span = format!("task_run{{task={task}}}");
    let reasons = lines
        .iter()
        .filter(|line| line.contains(&span) && line.contains("state=Retrying"))
        .filter_map(|line| line.split(" reason=").nth(1))
        .map(str::to_string)
        .collect();
    (report.expect("the run finished"), reasons)
}

/// Fails every attempt, recording when each started.
#[task(
    max_retries = 5,
    retry_backoff = exponential(initial = "1s", factor = 2.0, max = "5s")
)]
async fn always_fails(starts: Starts) -> Result<u32, io::Error> {
    let attempt = TaskContext::current().map_or(0, |ctx| ctx.attempt());
    starts.lock().unwrap().push((attempt, Instant::now()));
    Err(io::Error::other(format!("attempt {attempt} failed")))
}

#[tokio::test(start_paused = true)]
async fn exponential_backoff_waits_1s_2s_4s_then_the_cap() {
    let attempts = starts();
    let mut flow = Flow::new("backoff");
    let task = flow.add(always_fails(attempts.clone()));
    let started = Instant::now();
    let (report, retrying) = run_capturing_retries(&flow, "always_fails").await;

    report
        .check(task)
        .is(Failed)
        .attempts(6)
        .message("attempt 6 failed");
    // Each attempt starts when its Retrying state said it would.
    assert_eq!(
        offsets(&attempts, started),
        [secs(0), secs(1), secs(3), secs(7), secs(12), secs(17)]
    );
    assert_eq!(started.elapsed(), secs(17));
    assert_eq!(
        retrying,
        [
            "Retrying Task in 1s (after attempt 1 of 6)",
            "Retrying Task in 2s (after attempt 2 of 6)",
            "Retrying Task in 4s (after attempt 3 of 6)",
            "Retrying Task in 5s (after attempt 4 of 6)",
            "Retrying Task in 5s (after attempt 5 of 6)",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_site_backoff_replaces_the_attributes_delay() {
    let attempts = starts();
    let mut flow = Flow::new("backoff");
    let task = flow.add(
        flaky(4, attempts.clone()).retry_backoff(Backoff::exponential(secs(1), 3.0, secs(3600))),
    );
    let started = Instant::now();
    let report = run(&flow).await;
    report.check(task).is(Success).attempts(4).result(&4);
    assert_eq!(
        offsets(&attempts, started),
        [secs(0), secs(1), secs(4), secs(13)]
    );

    // And a later `retry_delay` replaces the backoff.
    let attempts = starts();
    let mut flow = Flow::new("backoff");
    flow.add(
        flaky(3, attempts.clone())
            .retry_backoff(Backoff::exponential(secs(1), 3.0, secs(3600)))
            .retry_delay(secs(5)),
    );
    let started = Instant::now();
    run(&flow).await;
    assert_eq!(offsets(&attempts, started), [secs(0), secs(5), secs(10)]);
}

/// Fails every attempt, with exponential backoff and full jitter.
#[task(
    max_retries = 4,
    retry_backoff = exponential(initial = "1s", factor = 2.0, max = "4s"),
    retry_jitter = full
)]
async fn jittered(starts: Starts) -> Result<(), io::Error> {
    starts.lock().unwrap().push((0, Instant::now()));
    Err(io::Error::other("down"))
}

/// tokio's timers fire on whole milliseconds, so an attempt may start up to 1ms after the
/// start time of its `Retrying` state.
const TIMER_TICK: Duration = Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn full_jitter_stays_within_the_delay_repeats_and_differs_between_tasks() {
    let (first, second) = (starts(), starts());
    let mut flow = Flow::new("jitter");
    flow.add(jittered(first.clone()).name("first"));
    flow.add(jittered(second.clone()).name("second"));
    let (report, first_retrying) = run_capturing_retries(&flow, "first").await;
    report.check("first").is(Failed).attempts(5);

    let caps = [secs(1), secs(2), secs(4), secs(4)];
    for starts in [&first, &second] {
        let gaps = gaps(starts);
        assert_eq!(gaps.len(), 4);
        for (gap, cap) in gaps.iter().zip(caps) {
            assert!(*gap <= cap + TIMER_TICK, "{gap:?} is longer than {cap:?}");
        }
    }
    // Jittered, so not the backoff's delays; and each task has its own.
    assert_ne!(gaps(&first), caps);
    assert_ne!(gaps(&first), gaps(&second));
    assert_eq!(first_retrying.len(), 4);
    assert!(
        first_retrying
            .iter()
            .all(|reason| reason.starts_with("Retrying Task in "))
    );

    // A second run waits exactly the same delays.
    let first_gaps = gaps(&first);
    first.lock().unwrap().clear();
    second.lock().unwrap().clear();
    let (_, again) = run_capturing_retries(&flow, "first").await;
    assert_eq!(again, first_retrying);
    for (gap, earlier) in gaps(&first).iter().zip(&first_gaps) {
        assert!(
            gap.abs_diff(*earlier) <= TIMER_TICK,
            "{gap:?} != {earlier:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn proportional_jitter_stays_within_the_fraction_of_the_delay() {
    let attempts = starts();
    let mut flow = Flow::new("jitter");
    let task = flow.add(
        jittered(attempts.clone())
            .max_retries(8)
            .retry_delay(secs(10))
            .retry_jitter(Jitter::Proportional(0.5)),
    );
    let report = run(&flow).await;
    report.check(task).attempts(9);
    let gaps = gaps(&attempts);
    assert_eq!(gaps.len(), 8);
    for gap in &gaps {
        assert!(
            (secs(5)..=secs(15) + TIMER_TICK).contains(gap),
            "{gap:?} is not 10s ± 5s"
        );
    }
    assert!(gaps.iter().any(|gap| *gap < secs(10)));
    assert!(gaps.iter().any(|gap| *gap > secs(10) + TIMER_TICK));
}

/// Whether `error`, or one of its sources, is an IO timeout.
fn timed_out(error: &(dyn Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(io) = error.downcast_ref::<io::Error>()
            && io.kind() == io::ErrorKind::TimedOut
        {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Fails attempt n with the n-th error kind, and succeeds once they are used up.
#[task(max_retries = 5, retry_delay = "1s", retry_if = timed_out)]
async fn io_errors(kinds: Vec<io::ErrorKind>, starts: Starts) -> Result<u32, Outer> {
    let attempt = TaskContext::current().map_or(0, |ctx| ctx.attempt());
    starts.lock().unwrap().push((attempt, Instant::now()));
    match kinds.get(attempt as usize - 1) {
        Some(&kind) => Err(Outer(io::Error::new(kind, format!("attempt {attempt}")))),
        None => Ok(attempt),
    }
}

#[tokio::test(start_paused = true)]
async fn retry_if_retries_the_errors_it_accepts() {
    let attempts = starts();
    let mut flow = Flow::new("predicate");
    let kinds = vec![io::ErrorKind::TimedOut, io::ErrorKind::TimedOut];
    let task = flow.add(io_errors(kinds, attempts.clone()));
    let started = Instant::now();
    let report = run(&flow).await;
    report.check(task).is(Success).attempts(3).result(&3);
    assert_eq!(offsets(&attempts, started), [secs(0), secs(1), secs(2)]);
}

#[tokio::test(start_paused = true)]
async fn an_error_retry_if_rejects_fails_the_task_at_once() {
    let attempts = starts();
    let mut flow = Flow::new("predicate");
    let kinds = vec![io::ErrorKind::TimedOut, io::ErrorKind::PermissionDenied];
    let task = flow.add(io_errors(kinds, attempts.clone()));
    let started = Instant::now();
    let report = run(&flow).await;
    report
        .check(task)
        .is(Failed)
        .attempts(2)
        .message("could not load the table: attempt 2 (not retried: `retry_if` rejected the error after attempt 2 of 6)")
        .went_through(&[Running, Failed, Retrying, Running, Failed]);
    assert_eq!(started.elapsed(), secs(1));
    report.check_flow(Failed);
}

#[tokio::test(start_paused = true)]
async fn a_call_site_retry_if_replaces_the_attributes() {
    let mut flow = Flow::new("predicate");
    let kinds = vec![io::ErrorKind::PermissionDenied];
    let task = flow.add(io_errors(kinds, starts()).retry_if(|_| true));
    run(&flow).await.check(task).is(Success).attempts(2);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_retry_if_fails_the_task_and_the_run_goes_on() {
    let mut flow = Flow::new("predicate");
    let task = flow.add(
        flaky(3, starts())
            .retry_if(|_: &(dyn Error + 'static)| -> bool { panic!("bug in the predicate") }),
    );
    let other = flow.add(flaky(2, starts()).name("other"));
    let report = run(&flow).await;
    report
        .check(task)
        .is(Failed)
        .attempts(1)
        .message("attempt 1 failed (not retried: `retry_if` panicked after attempt 1 of 4: bug in the predicate)");
    report.check(other).is(Success).attempts(2);
}

#[task]
async fn retry_then_fail_then_succeed(calls: Arc<AtomicU32>) -> Result<u32, Signal> {
    let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
    match call {
        1 => Err(Signal::retry("asked to retry")),
        2 => Err(Signal::fail("asked to fail")),
        _ => Ok(call),
    }
}

#[tokio::test(start_paused = true)]
async fn retry_if_does_not_filter_signals_panics_or_timeouts() {
    let never = |_: &(dyn Error + 'static)| false;
    let mut flow = Flow::new("unfiltered");
    let signals = flow.add(
        retry_then_fail_then_succeed(Arc::new(AtomicU32::new(0)))
            .max_retries(2)
            .retry_if(never),
    );
    let panicking = flow.add(panics("boom").max_retries(1).retry_if(never));
    let timing_out = flow.add(slow_then_fast().retry_if(never));
    let erroring = flow.add(flaky(2, starts()).retry_if(never));
    let report = run(&flow).await;
    report
        .check(signals)
        .is(Success)
        .attempts(3)
        .went_through(&[
            Running, Retrying, Running, Failed, Retrying, Running, Success,
        ]);
    report
        .check(panicking)
        .is(Failed)
        .attempts(2)
        .message("Task panicked: boom");
    report.check(timing_out).is(Success).attempts(3);
    report.check(erroring).is(Failed).attempts(1);
}

#[task(
    max_retries = 4,
    retry_backoff = exponential(initial = "1s", factor = 2.0, max = "1h")
)]
async fn retry_signals(starts: Starts) -> Result<u32, Signal> {
    let attempt = TaskContext::current().map_or(0, |ctx| ctx.attempt());
    starts.lock().unwrap().push((attempt, Instant::now()));
    match attempt {
        1 | 2 => Err(Signal::retry("not yet")),
        3 => Err(Signal::retry("later").with_delay(secs(60))),
        _ => Ok(attempt),
    }
}

#[tokio::test(start_paused = true)]
async fn a_retry_signal_waits_the_backoff_unless_it_has_a_delay() {
    let attempts = starts();
    let mut flow = Flow::new("signals");
    let task = flow.add(retry_signals(attempts.clone()));
    let started = Instant::now();
    let report = run(&flow).await;
    report.check(task).is(Success).attempts(4).result(&4);
    // Retry 1 waits 1s and retry 2 waits 2s, from the backoff; retry 3 the signal's 60s.
    assert_eq!(
        offsets(&attempts, started),
        [secs(0), secs(1), secs(3), secs(63)]
    );
}

#[task]
async fn counted(calls: Arc<AtomicU32>) -> u32 {
    calls.fetch_add(1, Ordering::SeqCst)
}

#[tokio::test]
async fn an_invalid_retry_policy_is_a_build_error_naming_the_task() {
    let calls = Arc::new(AtomicU32::new(0));
    let cases = [
        (
            counted(calls.clone()).retry_backoff(Backoff::exponential(secs(1), 0.5, secs(60))),
            "`retry_backoff`: `factor` must be a finite number of at least 1.0, not 0.5",
        ),
        (
            counted(calls.clone()).retry_backoff(Backoff::exponential(secs(1), f64::NAN, secs(60))),
            "`retry_backoff`: `factor` must be a finite number of at least 1.0, not NaN",
        ),
        (
            counted(calls.clone()).retry_backoff(Backoff::exponential(
                secs(1),
                f64::INFINITY,
                secs(60),
            )),
            "`retry_backoff`: `factor` must be a finite number of at least 1.0, not inf",
        ),
        (
            counted(calls.clone()).retry_backoff(Backoff::exponential(
                Duration::ZERO,
                2.0,
                secs(60),
            )),
            "`retry_backoff`: `initial` must be longer than zero",
        ),
        (
            counted(calls.clone()).retry_backoff(Backoff::exponential(secs(60), 2.0, secs(1))),
            "`retry_backoff`: `max` (1s) must not be shorter than `initial` (60s)",
        ),
        (
            counted(calls.clone()).retry_jitter(Jitter::Proportional(1.5)),
            "`retry_jitter`: the proportion must be between 0.0 and 1.0, not 1.5",
        ),
        (
            counted(calls.clone()).retry_jitter(Jitter::Proportional(-0.5)),
            "`retry_jitter`: the proportion must be between 0.0 and 1.0, not -0.5",
        ),
    ];
    for (call, problem) in cases {
        let mut flow = Flow::new("policies");
        flow.add(counted(calls.clone()).name("fine"));
        flow.add(call.name("fetch"));
        let error = flow.validate().unwrap_err();
        assert_eq!(
            error,
            BuildError::InvalidRetryPolicy {
                task: "fetch".to_string(),
                problem: problem.to_string(),
            }
        );
        assert_eq!(
            error.to_string(),
            format!("task `fetch`: invalid retry policy: {problem}")
        );
        assert_eq!(flow.run().await.unwrap_err(), error);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    let mut flow = Flow::new("policies");
    flow.add(
        counted(calls.clone())
            .retry_backoff(Backoff::exponential(secs(1), 1.0, secs(1)))
            .retry_jitter(Jitter::Proportional(1.0)),
    );
    assert_eq!(flow.validate(), Ok(()));
}
