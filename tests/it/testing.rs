//! Tests: the tools for testing pipelines: direct body calls, preset states, stubs, checks.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use flowcore::StateKind::{self, *};
use flowcore::{BuildError, Flow, MissingInput, Signal, State, Stub, task};

use crate::run;

#[task]
async fn extract(rows: u32, calls: Arc<AtomicU32>) -> Result<Vec<u32>, String> {
    calls.fetch_add(1, Ordering::SeqCst);
    if rows == 0 {
        return Err("source is empty".to_string());
    }
    Ok((1..=rows).collect())
}

#[task(max_retries = 2, retry_delay = "10m")]
async fn load(rows: Vec<u32>) -> Result<usize, Signal> {
    if rows.len() > 100 {
        return Err(Signal::skip("too many rows"));
    }
    Ok(rows.len())
}

#[task(trigger = always_run)]
async fn cleanup(loaded: Option<usize>) -> &'static str {
    if loaded.is_some() {
        "clean"
    } else {
        "cleaned after failure"
    }
}

struct Etl {
    flow: Flow,
    calls: Arc<AtomicU32>,
    extract: flowcore::Handle<Vec<u32>>,
    load: flowcore::Handle<usize>,
    cleanup: flowcore::Handle<&'static str>,
}

fn etl(rows: u32) -> Etl {
    let calls = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new("etl");
    let extract = flow.add(extract(rows, calls.clone()));
    let load = flow.add(load(extract));
    let cleanup = flow.add(cleanup(load));
    Etl {
        flow,
        calls,
        extract,
        load,
        cleanup,
    }
}

#[tokio::test]
async fn a_body_is_called_directly_with_plain_values() {
    let calls = Arc::new(AtomicU32::new(0));
    assert_eq!(
        extract(3, calls.clone()).call().await.unwrap(),
        vec![1, 2, 3]
    );
    let error = extract(0, calls.clone()).call().await.unwrap_err();
    assert_eq!(error.to_string(), "source is empty");
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let skip = load(vec![0; 101]).call().await.unwrap_err();
    let signal = skip.downcast_ref::<Signal>().expect("the SKIP signal");
    assert_eq!(signal.kind(), flowcore::SignalKind::Skip);
    assert_eq!(signal.message(), "too many rows");
}

#[tokio::test]
async fn a_direct_call_cannot_read_a_handle() {
    let e = etl(3);
    let error = load(e.extract).call().await.unwrap_err();
    assert!(error.is::<MissingInput>());
    assert_eq!(
        error.to_string(),
        "task `load`: argument `rows` is bound to another task's output, which a direct call does not have; pass a plain value"
    );
}

#[tokio::test]
async fn a_preset_failed_state_tests_the_cleanup_path_without_running_the_task() {
    let e = etl(3);
    let report = e
        .flow
        .runner()
        .with_state(e.extract, State::failed("database unreachable"))
        .run()
        .await
        .unwrap();
    assert_eq!(e.calls.load(Ordering::SeqCst), 0);
    report
        .check(e.extract)
        .is(Failed)
        .message("database unreachable")
        .attempts(0);
    report.check(e.load).is(TriggerFailed);
    report
        .check(e.cleanup)
        .is(Success)
        .result(&"cleaned after failure");
    report.check_flow(Success);
}

#[tokio::test]
async fn a_preset_result_feeds_downstream_tasks() {
    let e = etl(3);
    let report = e
        .flow
        .runner()
        .with_result(e.extract, vec![7; 5])
        .run()
        .await
        .unwrap();
    assert_eq!(e.calls.load(Ordering::SeqCst), 0);
    report
        .check(e.extract)
        .is(Success)
        .message("Result given to the run.");
    report.check(e.load).result(&5_usize);
    // The flow itself is unchanged: a plain run runs every task.
    let plain = run(&e.flow).await;
    plain.check(e.load).result(&3_usize);
    assert_eq!(e.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn preset_states_must_be_finished_and_of_this_flow() {
    let e = etl(3);
    let error = e
        .flow
        .runner()
        .with_state(e.load, State::paused("wait"))
        .run()
        .await
        .unwrap_err();
    assert_eq!(
        error,
        BuildError::Override {
            task: "load".to_string(),
            problem: "a preset state must be finished, and Paused is not".to_string()
        }
    );
    let other = etl(1);
    let error = e
        .flow
        .runner()
        .with_result(other.load, 1)
        .run()
        .await
        .unwrap_err();
    assert!(matches!(error, BuildError::ForeignTask { .. }));
    assert_eq!(e.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_stub_replaces_the_body_and_keeps_the_options() {
    let e = etl(3);
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = attempts.clone();
    let stub = Stub::from_fn(move || {
        let attempt = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if attempt < 3 {
                return Err(format!("flaky attempt {attempt}").into());
            }
            Ok(attempt as usize)
        }
    });
    let started = tokio::time::Instant::now();
    let report = e.flow.runner().with_stub(e.load, stub).run().await.unwrap();
    // Two ten-minute retry delays passed on paused time.
    assert_eq!(started.elapsed(), Duration::from_secs(1200));
    report
        .check(e.load)
        .is(Success)
        .attempts(3)
        .result(&3_usize)
        .went_through(&[
            Running, Failed, Retrying, Running, Failed, Retrying, Running, Success,
        ]);
}

#[tokio::test(start_paused = true)]
async fn stubs_give_a_value_an_error_or_a_signal() {
    let e = etl(3);
    let report = e
        .flow
        .runner()
        .with_stub(e.load, Stub::value(42))
        .run()
        .await
        .unwrap();
    report.check(e.load).result(&42_usize);

    let report = e
        .flow
        .runner()
        .with_stub(e.load, Stub::error("disk full"))
        .run()
        .await
        .unwrap();
    report
        .check(e.load)
        .is(Failed)
        .message("disk full")
        .attempts(3);
    report.check(e.cleanup).result(&"cleaned after failure");

    let report = e
        .flow
        .runner()
        .with_stub(e.load, Stub::signal(Signal::skip("maintenance window")))
        .run()
        .await
        .unwrap();
    report
        .check(e.load)
        .is(Skipped)
        .message("maintenance window");
    // The default skip propagation skips the clean-up too.
    report.check(e.cleanup).is(Skipped);
}

fn panic_message(f: impl FnOnce()) -> String {
    let panic = std::panic::catch_unwind(AssertUnwindSafe(f)).expect_err("the check should fail");
    match panic.downcast::<String>() {
        Ok(message) => *message,
        Err(panic) => panic
            .downcast_ref::<&str>()
            .map(|m| m.to_string())
            .unwrap_or_default(),
    }
}

#[tokio::test]
async fn failed_checks_say_what_was_expected_and_what_happened() {
    let e = etl(0);
    let report = run(&e.flow).await;
    assert_eq!(
        panic_message(|| {
            report.check(e.extract).is(Success);
        }),
        "task `extract`: expected Success, but it ended Failed (\"source is empty\") after 1 attempt(s), going through [Running, Failed]"
    );
    assert_eq!(
        panic_message(|| {
            report.check("load").attempts(1);
        }),
        "task `load`: expected 1 attempt(s), but it ended TriggerFailed (\"Trigger was \\\"all_successful\\\" but some of the upstream tasks failed.\") after 0 attempt(s), going through [TriggerFailed]"
    );
    assert_eq!(
        panic_message(|| {
            report.check(e.cleanup).result(&"clean");
        }),
        "task `cleanup`: expected the result \"clean\", but it was \"cleaned after failure\""
    );
    assert_eq!(
        panic_message(|| {
            report.check("nope").is(Success);
        }),
        "flow `etl` has no task named `nope`"
    );
    let flow_message = panic_message(|| {
        report.check_flow(Failed);
    });
    assert!(
        flow_message.starts_with("flow `etl`: expected Failed, but it ended Success (\"All reference tasks succeeded.\")\nflow `etl`: Success"),
        "{flow_message}"
    );
}

#[tokio::test]
async fn the_transition_log_keeps_the_order_of_the_run() {
    let e = etl(3);
    let report = run(&e.flow).await;
    let log: Vec<(String, StateKind)> = report
        .transition_log()
        .map(|(name, kind)| (name.into_owned(), kind))
        .collect();
    let log: Vec<(&str, StateKind)> = log.iter().map(|(name, kind)| (&**name, *kind)).collect();
    assert_eq!(
        log,
        [
            ("extract", Running),
            ("extract", Success),
            ("load", Running),
            ("load", Success),
            ("cleanup", Running),
            ("cleanup", Success),
        ]
    );
}
