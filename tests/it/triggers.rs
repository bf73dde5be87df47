//! Tests: every trigger against every mix of upstream states, and skip propagation.
//!
//! Most cases are one line of a table: the trigger, how each upstream task ends and the
//! state (kind and message) the task under test must end in. Each case is a real flow run
//! under paused tokio time, so timeouts cost no wall-clock time.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowcore::{
    BoxError, Flow, Handle, Signal, State, StateKind, Threshold, Trigger, Verdict, task,
};

use Threshold::{Count, Fraction};

use crate::run;

const SUCCEEDED: &str = "Task run succeeded.";
const UPSTREAM_SKIPPED: &str = "Upstream task was skipped; if this was not the intended behavior, consider changing `skip_on_upstream_skip=False` for this task.";
const MANUAL_ONLY: &str = "Trigger function is \"manual_only\"";
const ALL_SKIPPED: &str = "All upstreams were skipped";
const ALL_SUCCESSFUL: &str =
    "Trigger was \"all_successful\" but some of the upstream tasks failed.";
const ALL_FAILED: &str = "Trigger was \"all_failed\" but some of the upstream tasks succeeded.";
const ANY_SUCCESSFUL: &str =
    "Trigger was \"any_successful\" but none of the upstream tasks succeeded.";
const ANY_FAILED: &str = "Trigger was \"any_failed\" but none of the upstream tasks failed.";
const ALL_FINISHED: &str =
    "Trigger was \"all_finished\" but some of the upstream tasks were not finished.";
const NOT_ALL_SKIPPED: &str =
    "Trigger was \"not_all_skipped\" but some of the upstream tasks failed.";
const SOME_SUCCESSFUL: &str = "Trigger was \"some_successful\" but thresholds were not met.";
const SOME_FAILED: &str = "Trigger was \"some_failed\" but thresholds were not met.";
const AT_MOST_ONE_FAILURE: &str = "Trigger was \"at_most_one_failure\" but it did not pass.";

const FAIL_MESSAGE: &str = "failed on purpose";
const ERROR_MESSAGE: &str = "an ordinary error";
const SKIP_MESSAGE: &str = "skipped on purpose";
const TIMED_OUT: &str = "Task timed out after 1s during execution.";
/// The output of an upstream task that succeeds.
const VALUE: u32 = 7;

/// How an upstream task of the task under test ends.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Up {
    /// Returns a value: `Success`.
    Succeed,
    /// Sends `FAIL`: `Failed`.
    Fail,
    /// Returns an ordinary `Err`: `Failed`.
    Error,
    /// Sends `SKIP`: `Skipped`.
    Skip,
    /// Has a failed upstream task and the default trigger: `TriggerFailed`.
    TriggerFail,
    /// Sleeps past its timeout: `TimedOut`.
    TimeOut,
}

const S: Up = Up::Succeed;
const F: Up = Up::Fail;
const E: Up = Up::Error;
const K: Up = Up::Skip;
const TF: Up = Up::TriggerFail;
const TO: Up = Up::TimeOut;

impl Up {
    /// The state kind this upstream task ends in.
    fn kind(self) -> StateKind {
        match self {
            Up::Succeed => StateKind::Success,
            Up::Fail | Up::Error => StateKind::Failed,
            Up::Skip => StateKind::Skipped,
            Up::TriggerFail => StateKind::TriggerFailed,
            Up::TimeOut => StateKind::TimedOut,
        }
    }
}

/// The expected state of the task under test: its kind and exact message.
type Want = (StateKind, &'static str);

const RUN: Want = (StateKind::Success, SUCCEEDED);
const PAUSED: Want = (StateKind::Paused, MANUAL_ONLY);
const PROPAGATED: Want = (StateKind::Skipped, UPSTREAM_SKIPPED);
const SKIPPED_ALL: Want = (StateKind::Skipped, ALL_SKIPPED);

const fn tf(message: &'static str) -> Want {
    (StateKind::TriggerFailed, message)
}

#[task]
async fn emit(outcome: Up) -> Result<u32, BoxError> {
    match outcome {
        Up::Succeed | Up::TriggerFail => Ok(VALUE),
        Up::Fail => Err(Signal::fail(FAIL_MESSAGE).into()),
        Up::Error => Err(ERROR_MESSAGE.into()),
        Up::Skip => Err(Signal::skip(SKIP_MESSAGE).into()),
        Up::TimeOut => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(VALUE)
        }
    }
}

/// The task under test when it takes no data.
#[task]
async fn sink() {}

/// The task under test with two data inputs; returns what it received.
#[task]
async fn join2(a: Option<u32>, b: Option<u32>) -> (Option<u32>, Option<u32>) {
    (a, b)
}

/// Takes an upstream value as a plain `u32`.
#[task]
async fn pass(x: u32) -> u32 {
    x
}

/// Takes an upstream value as an `Option<u32>`.
#[task]
async fn maybe(x: Option<u32>) -> Option<u32> {
    x
}

/// Counts its attempts.
#[task]
async fn counted(calls: Arc<AtomicU32>) {
    calls.fetch_add(1, Ordering::SeqCst);
}

#[task(trigger = always_run)]
async fn cleanup() {}

/// Adds an upstream task named `name` that ends as `up` says.
fn add_upstream(flow: &mut Flow, name: &str, up: Up) -> Handle<u32> {
    match up {
        Up::TriggerFail => {
            let cause = flow.add(emit(Up::Fail).name(format!("{name}_cause")));
            flow.add(emit(up).name(name.to_string()).after(cause))
        }
        Up::TimeOut => flow.add(
            emit(up)
                .name(name.to_string())
                .timeout(Duration::from_secs(1)),
        ),
        _ => flow.add(emit(up).name(name.to_string())),
    }
}

/// Adds upstream tasks `up0`, `up1`, ... for `ups`.
fn add_upstreams(flow: &mut Flow, ups: &[Up]) -> Vec<Handle<u32>> {
    ups.iter()
        .enumerate()
        .map(|(i, &up)| add_upstream(flow, &format!("up{i}"), up))
        .collect()
}

/// Panics unless every upstream task ended in the state its `Up` asks for.
fn assert_upstreams(report: &flowcore::RunReport, handles: &[Handle<u32>], ups: &[Up]) {
    for (&handle, &up) in handles.iter().zip(ups) {
        assert_eq!(
            report.state(handle).kind(),
            up.kind(),
            "upstream {up:?} did not end as intended"
        );
    }
}

/// Runs `sink` after upstream tasks ending as `ups` (order-only edges); returns the
/// sink's state and the flow's state.
async fn run_sink(trigger: Trigger, skip_on_upstream_skip: bool, ups: &[Up]) -> (State, State) {
    let mut flow = Flow::new("triggers");
    let handles = add_upstreams(&mut flow, ups);
    let mut call = sink()
        .name("sink")
        .trigger(trigger)
        .skip_on_upstream_skip(skip_on_upstream_skip);
    for &handle in &handles {
        call = call.after(handle);
    }
    let sink = flow.add(call);
    let report = run(&flow).await;
    assert_upstreams(&report, &handles, ups);
    (report.state(sink).clone(), report.flow_state().clone())
}

/// Checks one case; a mismatch is described in `mismatches`.
async fn check_case(
    trigger: &Trigger,
    skip_on_upstream_skip: bool,
    ups: &[Up],
    want: Want,
    mismatches: &mut Vec<String>,
) {
    let (state, flow_state) = run_sink(trigger.clone(), skip_on_upstream_skip, ups).await;
    let (kind, message) = want;
    if state.kind() != kind || state.message() != message {
        mismatches.push(format!(
            "trigger {trigger:?}, skip_on_upstream_skip = {skip_on_upstream_skip}, upstream {ups:?}: \
             expected {kind}: {message:?}, got {}: {:?}",
            state.kind(),
            state.message()
        ));
    }
    if state.kind() == StateKind::Success && state.run_count() != 1 {
        mismatches.push(format!(
            "trigger {trigger:?}, upstream {ups:?}: ran {} times",
            state.run_count()
        ));
    }
    if state.kind() != StateKind::Success && state.run_count() != 0 {
        mismatches.push(format!(
            "trigger {trigger:?}, upstream {ups:?}: the body ran although the task ended {}",
            state.kind()
        ));
    }
    let flow_paused = flow_state.kind() == StateKind::Paused;
    if flow_paused != (kind == StateKind::Paused) {
        mismatches.push(format!(
            "trigger {trigger:?}, upstream {ups:?}: flow ended {}, expected it paused only when the task is",
            flow_state.kind()
        ));
    }
}

fn assert_no_mismatch(mismatches: &[String]) {
    assert!(
        mismatches.is_empty(),
        "{} case(s) failed:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Checks `trigger` against each `(upstream states, expected state)` row.
///
/// A row without a skipped upstream runs with both values of `skip_on_upstream_skip`
/// (the flag must not matter); a row with one runs with the flag off, so the skipped
/// upstream reaches the trigger (the flag's default is checked by the skip tests).
async fn check(trigger: Trigger, rows: &[(&[Up], Want)]) {
    let mut mismatches = Vec::new();
    for &(ups, want) in rows {
        if !ups.contains(&K) {
            check_case(&trigger, true, ups, want, &mut mismatches).await;
        }
        check_case(&trigger, false, ups, want, &mut mismatches).await;
    }
    assert_no_mismatch(&mismatches);
}

/// Checks rows that each name their trigger, as [`check`] does.
async fn check_each(rows: &[(Trigger, &[Up], Want)]) {
    let mut mismatches = Vec::new();
    for (trigger, ups, want) in rows {
        if !ups.contains(&K) {
            check_case(trigger, true, ups, *want, &mut mismatches).await;
        }
        check_case(trigger, false, ups, *want, &mut mismatches).await;
    }
    assert_no_mismatch(&mismatches);
}

fn some_successful(at_least: Option<Threshold>, at_most: Option<Threshold>) -> Trigger {
    Trigger::some_successful(at_least, at_most)
}

fn some_failed(at_least: Option<Threshold>, at_most: Option<Threshold>) -> Trigger {
    Trigger::some_failed(at_least, at_most)
}

fn at_most_one_failure() -> Trigger {
    Trigger::custom("at_most_one_failure", |upstream: &[&State]| {
        upstream.iter().filter(|state| state.is_failed()).count() <= 1
    })
}

// ---------------------------------------------------------------------------------------
// Producing each upstream state in a real flow.

#[tokio::test(start_paused = true)]
async fn each_upstream_state_is_produced_by_a_real_task() {
    let mut flow = Flow::new("producers");
    let ups = [S, F, E, K, TF, TO];
    let handles = add_upstreams(&mut flow, &ups);
    let started = std::time::Instant::now();
    let report = run(&flow).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the timeout took wall-clock time"
    );
    let want: [Want; 6] = [
        (StateKind::Success, SUCCEEDED),
        (StateKind::Failed, FAIL_MESSAGE),
        (StateKind::Failed, ERROR_MESSAGE),
        (StateKind::Skipped, SKIP_MESSAGE),
        (StateKind::TriggerFailed, ALL_SUCCESSFUL),
        (StateKind::TimedOut, TIMED_OUT),
    ];
    for ((handle, up), (kind, message)) in handles.iter().zip(ups).zip(want) {
        let state = report.state(*handle);
        assert_eq!(
            (state.kind(), state.message()),
            (kind, message),
            "upstream {up:?}"
        );
    }
    assert_eq!(report.result(handles[0]), Some(&VALUE));
    for &handle in &handles[1..] {
        assert_eq!(report.result(handle), None);
    }
    assert_eq!(report.state(handles[4]).run_count(), 0);
}

// ---------------------------------------------------------------------------------------
// Each trigger against the mixes of upstream states.

#[tokio::test(start_paused = true)]
async fn all_successful_is_the_default_and_needs_every_upstream_successful() {
    let rows: &[(&[Up], Want)] = &[
        (&[], RUN),
        (&[S], RUN),
        (&[S, S], RUN),
        (&[S, F], tf(ALL_SUCCESSFUL)),
        (&[S, E], tf(ALL_SUCCESSFUL)),
        (&[F, F], tf(ALL_SUCCESSFUL)),
        (&[F, E], tf(ALL_SUCCESSFUL)),
        (&[TF], tf(ALL_SUCCESSFUL)),
        (&[TO], tf(ALL_SUCCESSFUL)),
        (&[S, TF], tf(ALL_SUCCESSFUL)),
        (&[S, TO], tf(ALL_SUCCESSFUL)),
        (&[F, TF, TO], tf(ALL_SUCCESSFUL)),
        (&[K], RUN),
        (&[K, K], RUN),
        (&[S, K], RUN),
        (&[F, K], tf(ALL_SUCCESSFUL)),
    ];
    check(Trigger::AllSuccessful, rows).await;
    check(Trigger::default(), rows).await;
}

#[tokio::test(start_paused = true)]
async fn default_trigger_of_a_task_call_is_all_successful() {
    let mut flow = Flow::new("default");
    let ok = flow.add(emit(S).name("ok"));
    let failed = flow.add(emit(F).name("failed"));
    let after_ok = flow.add(sink().name("after_ok").after(ok));
    let after_failed = flow.add(sink().name("after_failed").after(ok).after(failed));
    let report = run(&flow).await;
    assert_eq!(report.state(after_ok).kind(), StateKind::Success);
    let state = report.state(after_failed);
    assert_eq!((state.kind(), state.message()), tf(ALL_SUCCESSFUL));
}

#[tokio::test(start_paused = true)]
async fn all_failed_needs_every_upstream_failed() {
    check(
        Trigger::AllFailed,
        &[
            (&[], RUN),
            (&[S], tf(ALL_FAILED)),
            (&[S, S], tf(ALL_FAILED)),
            (&[S, F], tf(ALL_FAILED)),
            (&[S, E], tf(ALL_FAILED)),
            (&[F, F], RUN),
            (&[F, E], RUN),
            (&[TF], RUN),
            (&[TO], RUN),
            (&[S, TF], tf(ALL_FAILED)),
            (&[S, TO], tf(ALL_FAILED)),
            (&[F, TF, TO], RUN),
            (&[K], tf(ALL_FAILED)),
            (&[K, K], tf(ALL_FAILED)),
            (&[S, K], tf(ALL_FAILED)),
            (&[F, K], tf(ALL_FAILED)),
        ],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn any_successful_needs_one_successful_upstream() {
    check(
        Trigger::AnySuccessful,
        &[
            (&[], RUN),
            (&[S], RUN),
            (&[S, S], RUN),
            (&[S, F], RUN),
            (&[S, E], RUN),
            (&[F, F], tf(ANY_SUCCESSFUL)),
            (&[F, E], tf(ANY_SUCCESSFUL)),
            (&[TF], tf(ANY_SUCCESSFUL)),
            (&[TO], tf(ANY_SUCCESSFUL)),
            (&[S, TF], RUN),
            (&[S, TO], RUN),
            (&[F, TF, TO], tf(ANY_SUCCESSFUL)),
            (&[K], RUN),
            (&[K, K], RUN),
            (&[S, K], RUN),
            (&[F, K], RUN),
        ],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn any_failed_needs_one_failed_upstream() {
    check(
        Trigger::AnyFailed,
        &[
            (&[], RUN),
            (&[S], tf(ANY_FAILED)),
            (&[S, S], tf(ANY_FAILED)),
            (&[S, F], RUN),
            (&[S, E], RUN),
            (&[F, F], RUN),
            (&[F, E], RUN),
            (&[TF], RUN),
            (&[TO], RUN),
            (&[S, TF], RUN),
            (&[S, TO], RUN),
            (&[F, TF, TO], RUN),
            (&[K], tf(ANY_FAILED)),
            (&[K, K], tf(ANY_FAILED)),
            (&[S, K], tf(ANY_FAILED)),
            (&[F, K], RUN),
        ],
    )
    .await;
}

/// Every mix: all_finished runs whatever the finished upstream states are.
const ALL_FINISHED_ROWS: &[(&[Up], Want)] = &[
    (&[], RUN),
    (&[S], RUN),
    (&[S, S], RUN),
    (&[S, F], RUN),
    (&[S, E], RUN),
    (&[F, F], RUN),
    (&[F, E], RUN),
    (&[TF], RUN),
    (&[TO], RUN),
    (&[S, TF], RUN),
    (&[S, TO], RUN),
    (&[F, TF, TO], RUN),
    (&[K], RUN),
    (&[K, K], RUN),
    (&[S, K], RUN),
    (&[F, K], RUN),
];

#[tokio::test(start_paused = true)]
async fn all_finished_runs_whatever_the_upstream_states() {
    check(Trigger::AllFinished, ALL_FINISHED_ROWS).await;
}

#[tokio::test(start_paused = true)]
async fn always_run_is_all_finished() {
    assert_eq!(Trigger::ALWAYS_RUN.name(), "all_finished");
    assert!(matches!(Trigger::ALWAYS_RUN, Trigger::AllFinished));
    check(Trigger::ALWAYS_RUN, ALL_FINISHED_ROWS).await;
}

#[tokio::test(start_paused = true)]
async fn always_run_attribute_runs_after_any_finished_upstream_states() {
    let mixes: &[&[Up]] = &[&[], &[F], &[E], &[TF], &[TO], &[S, F, TF, TO]];
    for &ups in mixes {
        let mut flow = Flow::new("always_run");
        let handles = add_upstreams(&mut flow, ups);
        let mut call = cleanup();
        for &handle in &handles {
            call = call.after(handle);
        }
        let cleanup = flow.add(call);
        let report = run(&flow).await;
        assert_upstreams(&report, &handles, ups);
        let state = report.state(cleanup);
        assert_eq!((state.kind(), state.message()), RUN, "upstream {ups:?}");
    }
    // The attribute sets the trigger only: a skipped upstream still skips the task.
    let mut flow = Flow::new("always_run_skip");
    let skipped = flow.add(emit(K));
    let cleanup = flow.add(cleanup().after(skipped));
    let report = run(&flow).await;
    let state = report.state(cleanup);
    assert_eq!((state.kind(), state.message()), PROPAGATED);
}

#[tokio::test(start_paused = true)]
async fn not_all_skipped_skips_when_all_upstreams_skipped_and_else_needs_all_successful() {
    check(
        Trigger::NotAllSkipped,
        &[
            (&[], SKIPPED_ALL),
            (&[S], RUN),
            (&[S, S], RUN),
            (&[S, F], tf(NOT_ALL_SKIPPED)),
            (&[S, E], tf(NOT_ALL_SKIPPED)),
            (&[F, F], tf(NOT_ALL_SKIPPED)),
            (&[F, E], tf(NOT_ALL_SKIPPED)),
            (&[TF], tf(NOT_ALL_SKIPPED)),
            (&[TO], tf(NOT_ALL_SKIPPED)),
            (&[S, TF], tf(NOT_ALL_SKIPPED)),
            (&[S, TO], tf(NOT_ALL_SKIPPED)),
            (&[F, TF, TO], tf(NOT_ALL_SKIPPED)),
            (&[K], SKIPPED_ALL),
            (&[K, K], SKIPPED_ALL),
            (&[S, K], RUN),
            (&[F, K], tf(NOT_ALL_SKIPPED)),
        ],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn manual_only_pauses_whatever_the_upstream_states() {
    check(
        Trigger::ManualOnly,
        &[
            (&[], PAUSED),
            (&[S], PAUSED),
            (&[S, S], PAUSED),
            (&[S, F], PAUSED),
            (&[F, F], PAUSED),
            (&[TF], PAUSED),
            (&[TO], PAUSED),
            (&[F, TF, TO], PAUSED),
            (&[K], PAUSED),
            (&[S, K], PAUSED),
        ],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn manual_only_leaves_the_flow_paused_until_approved() {
    let mut flow = Flow::new("manual");
    let handles = add_upstreams(&mut flow, &[S, F]);
    let gate = flow.add(
        sink()
            .name("gate")
            .trigger(Trigger::ManualOnly)
            .after(handles[0])
            .after(handles[1]),
    );
    let after = flow.add(sink().name("after").after(gate));
    let mut report = run(&flow).await;
    let state = report.state(gate);
    assert_eq!(
        (state.kind(), state.message(), state.run_count()),
        (StateKind::Paused, MANUAL_ONLY, 0)
    );
    assert_eq!(report.state(after).kind(), StateKind::Pending);
    let flow_state = report.flow_state();
    assert_eq!(
        (flow_state.kind(), flow_state.message()),
        (StateKind::Paused, "Waiting for approval of `gate`.")
    );

    report.approve("gate").unwrap();
    report.resume().await;
    let state = report.state(gate);
    assert_eq!(
        (state.kind(), state.message(), state.run_count()),
        (StateKind::Success, SUCCEEDED, 1)
    );
    assert_eq!(report.state(after).kind(), StateKind::Success);
    assert_eq!(report.flow_state().kind(), StateKind::Success);
}

#[tokio::test(start_paused = true)]
async fn some_successful_without_thresholds_always_passes() {
    check(
        some_successful(None, None),
        &[
            (&[], RUN),
            (&[S], RUN),
            (&[S, F], RUN),
            (&[F, F], RUN),
            (&[TF], RUN),
            (&[TO], RUN),
            (&[F, TF, TO], RUN),
            (&[K], RUN),
            (&[F, K], RUN),
        ],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn some_failed_without_thresholds_always_passes() {
    check(
        some_failed(None, None),
        &[
            (&[], RUN),
            (&[S], RUN),
            (&[S, S], RUN),
            (&[S, F], RUN),
            (&[F, F], RUN),
            (&[TF], RUN),
            (&[TO], RUN),
            (&[K], RUN),
            (&[S, K], RUN),
        ],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn some_successful_with_at_least_one_over_the_mixes() {
    check(
        some_successful(Some(Count(1)), None),
        &[
            // No upstream: see `thresholded_triggers_pass_with_no_upstream`.
            (&[S], RUN),
            (&[S, S], RUN),
            (&[S, F], RUN),
            (&[S, E], RUN),
            (&[F, F], tf(SOME_SUCCESSFUL)),
            (&[F, E], tf(SOME_SUCCESSFUL)),
            (&[TF], tf(SOME_SUCCESSFUL)),
            (&[TO], tf(SOME_SUCCESSFUL)),
            (&[S, TF], RUN),
            (&[S, TO], RUN),
            (&[F, TF, TO], tf(SOME_SUCCESSFUL)),
            (&[K], RUN),
            (&[K, K], RUN),
            (&[F, K], RUN),
        ],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn some_failed_with_at_least_one_over_the_mixes() {
    check(
        some_failed(Some(Count(1)), None),
        &[
            // No upstream: see `thresholded_triggers_pass_with_no_upstream`.
            (&[S], tf(SOME_FAILED)),
            (&[S, S], tf(SOME_FAILED)),
            (&[S, F], RUN),
            (&[S, E], RUN),
            (&[F, F], RUN),
            (&[TF], RUN),
            (&[TO], RUN),
            (&[S, TF], RUN),
            (&[S, TO], RUN),
            (&[F, TF, TO], RUN),
            (&[K], tf(SOME_FAILED)),
            (&[K, K], tf(SOME_FAILED)),
            (&[S, K], tf(SOME_FAILED)),
            (&[F, K], RUN),
        ],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn some_failed_with_at_most_zero_needs_no_failure() {
    check(
        some_failed(None, Some(Count(0))),
        &[
            (&[], RUN),
            (&[S], RUN),
            (&[S, S], RUN),
            (&[S, F], tf(SOME_FAILED)),
            (&[S, E], tf(SOME_FAILED)),
            (&[TF], tf(SOME_FAILED)),
            (&[TO], tf(SOME_FAILED)),
            (&[F, TF, TO], tf(SOME_FAILED)),
            (&[K], RUN),
            (&[S, K], RUN),
            (&[F, K], tf(SOME_FAILED)),
        ],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn some_successful_with_exactly_half_over_the_mixes() {
    check(
        some_successful(Some(Fraction(0.5)), Some(Fraction(0.5))),
        &[
            (&[], RUN),
            (&[S], tf(SOME_SUCCESSFUL)),
            (&[S, S], tf(SOME_SUCCESSFUL)),
            (&[S, F], RUN),
            (&[S, E], RUN),
            (&[F, F], tf(SOME_SUCCESSFUL)),
            (&[TF], tf(SOME_SUCCESSFUL)),
            (&[TO], tf(SOME_SUCCESSFUL)),
            (&[S, TF], RUN),
            (&[S, TO], RUN),
            (&[K], tf(SOME_SUCCESSFUL)),
            (&[S, K], tf(SOME_SUCCESSFUL)),
            (&[F, K], RUN),
        ],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn some_successful_thresholds_are_inclusive_counts_or_fractions_of_all_upstreams() {
    #[rustfmt::skip]
    let rows: &[(Trigger, &[Up], Want)] = &[
        // Counts, inclusive at both ends.
        (some_successful(Some(Count(2)), None), &[S, S, F], RUN),
        (some_successful(Some(Count(2)), None), &[S, S, S], RUN),
        (some_successful(Some(Count(2)), None), &[S, F, F], tf(SOME_SUCCESSFUL)),
        (some_successful(None, Some(Count(2))), &[S, S, F], RUN),
        (some_successful(None, Some(Count(2))), &[F, F, F], RUN),
        (some_successful(None, Some(Count(2))), &[S, S, S], tf(SOME_SUCCESSFUL)),
        (some_successful(Some(Count(2)), Some(Count(2))), &[S, S, F, F], RUN),
        (some_successful(Some(Count(2)), Some(Count(2))), &[S, F, F, F], tf(SOME_SUCCESSFUL)),
        (some_successful(Some(Count(2)), Some(Count(2))), &[S, S, S, F], tf(SOME_SUCCESSFUL)),
        (some_successful(Some(Count(0)), None), &[F, F], RUN),
        (some_successful(Some(Count(1)), Some(Count(3))), &[S, S, S, TO], RUN),
        (some_successful(Some(Count(1)), Some(Count(3))), &[S, S, S, S], tf(SOME_SUCCESSFUL)),
        // A count above the number of upstream tasks cannot be met.
        (some_successful(Some(Count(3)), None), &[S, S], tf(SOME_SUCCESSFUL)),
        // Fractions of N, without rounding.
        (some_successful(Some(Fraction(0.5)), None), &[S, S, F, F], RUN),
        (some_successful(Some(Fraction(0.5)), None), &[S, F, F, F], tf(SOME_SUCCESSFUL)),
        (some_successful(Some(Fraction(0.5)), None), &[S, F, F], tf(SOME_SUCCESSFUL)),
        (some_successful(Some(Fraction(0.5)), None), &[S, S, F], RUN),
        (some_successful(None, Some(Fraction(0.25))), &[S, F, F, F], RUN),
        (some_successful(None, Some(Fraction(0.25))), &[S, S, F, F], tf(SOME_SUCCESSFUL)),
        (some_successful(None, Some(Fraction(0.5))), &[S, F, F], RUN),
        (some_successful(None, Some(Fraction(0.5))), &[S, S, F], tf(SOME_SUCCESSFUL)),
        (some_successful(None, Some(Fraction(0.0))), &[F, TF], RUN),
        (some_successful(None, Some(Fraction(0.0))), &[S, TF], tf(SOME_SUCCESSFUL)),
        // Fraction 1.0 is all upstream tasks (a deliberate difference from Prefect 1).
        (some_successful(Some(Fraction(1.0)), None), &[S, S, S, S], RUN),
        (some_successful(Some(Fraction(1.0)), None), &[S, S, S, F], tf(SOME_SUCCESSFUL)),
        // Skipped upstream tasks (reaching the trigger) count as successful.
        (some_successful(Some(Count(2)), None), &[S, K, F], RUN),
        (some_successful(None, Some(Count(1))), &[S, K, F], tf(SOME_SUCCESSFUL)),
    ];
    check_each(rows).await;
}

#[tokio::test(start_paused = true)]
async fn some_failed_thresholds_are_inclusive_counts_or_fractions_of_all_upstreams() {
    #[rustfmt::skip]
    let rows: &[(Trigger, &[Up], Want)] = &[
        // TriggerFailed and TimedOut count as failed.
        (some_failed(Some(Count(2)), None), &[S, F, TO], RUN),
        (some_failed(Some(Count(2)), None), &[S, TF, TO], RUN),
        (some_failed(Some(Count(2)), None), &[S, S, TF], tf(SOME_FAILED)),
        (some_failed(None, Some(Count(1))), &[S, F], RUN),
        (some_failed(None, Some(Count(1))), &[S, TO], RUN),
        (some_failed(None, Some(Count(1))), &[F, TF], tf(SOME_FAILED)),
        // Both bounds, inclusive.
        (some_failed(Some(Count(1)), Some(Count(2))), &[S, S, S], tf(SOME_FAILED)),
        (some_failed(Some(Count(1)), Some(Count(2))), &[S, S, E], RUN),
        (some_failed(Some(Count(1)), Some(Count(2))), &[S, E, F], RUN),
        (some_failed(Some(Count(1)), Some(Count(2))), &[E, F, TO], tf(SOME_FAILED)),
        // Fractions of N, without rounding: 0.5 of 3 is 1.5, 0.1 of 10 is 1.
        (some_failed(Some(Fraction(0.5)), Some(Fraction(0.5))), &[S, S, F, TO], RUN),
        (some_failed(Some(Fraction(0.5)), Some(Fraction(0.5))), &[S, F, TF, TO], tf(SOME_FAILED)),
        (some_failed(Some(Fraction(0.5)), Some(Fraction(0.5))), &[S, S, S, F], tf(SOME_FAILED)),
        (some_failed(None, Some(Fraction(0.5))), &[S, S, F], RUN),
        (some_failed(None, Some(Fraction(0.5))), &[S, F, F], tf(SOME_FAILED)),
        (some_failed(Some(Fraction(0.1)), None), &[S, S, S, S, S, S, S, S, S, F], RUN),
        (some_failed(Some(Fraction(0.1)), None), &[S, S, S, S, S, S, S, S, S, S], tf(SOME_FAILED)),
        (some_failed(Some(Fraction(1.0)), None), &[F, TF, TO], RUN),
        (some_failed(Some(Fraction(1.0)), None), &[F, TF, S], tf(SOME_FAILED)),
        // Skipped upstream tasks (reaching the trigger) do not count as failed.
        (some_failed(Some(Count(2)), None), &[K, F], tf(SOME_FAILED)),
        (some_failed(None, Some(Count(0))), &[K, K], RUN),
    ];
    check_each(rows).await;
}

/// Prefect 1 passes `some_successful` and `some_failed` whatever their thresholds when
/// the task has no upstream tasks.
#[tokio::test(start_paused = true)]
async fn thresholded_triggers_pass_with_no_upstream() {
    #[rustfmt::skip]
    let rows: &[(Trigger, &[Up], Want)] = &[
        (some_successful(Some(Count(1)), None), &[], RUN),
        (some_successful(Some(Count(2)), Some(Count(3))), &[], RUN),
        (some_successful(Some(Fraction(0.5)), None), &[], RUN),
        (some_failed(Some(Count(1)), None), &[], RUN),
        (some_failed(Some(Fraction(1.0)), None), &[], RUN),
        (some_failed(None, Some(Count(0))), &[], RUN),
    ];
    check_each(rows).await;
}

#[tokio::test(start_paused = true)]
async fn custom_trigger_decides_and_its_failure_names_it() {
    check(
        at_most_one_failure(),
        &[
            (&[], RUN),
            (&[S], RUN),
            (&[S, S], RUN),
            (&[S, F], RUN),
            (&[S, E], RUN),
            (&[F, F], tf(AT_MOST_ONE_FAILURE)),
            (&[F, E], tf(AT_MOST_ONE_FAILURE)),
            (&[TF], RUN),
            (&[TO], RUN),
            (&[S, TF], RUN),
            (&[S, TO], RUN),
            (&[F, TF, TO], tf(AT_MOST_ONE_FAILURE)),
            (&[TF, TO], tf(AT_MOST_ONE_FAILURE)),
            (&[K], RUN),
            (&[K, K], RUN),
            (&[F, K], RUN),
        ],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn custom_trigger_is_asked_even_with_no_upstream() {
    let any_success = Trigger::custom("any_success", |upstream: &[&State]| {
        upstream.iter().any(|state| state.is_successful())
    });
    check(
        any_success,
        &[
            (&[], tf("Trigger was \"any_success\" but it did not pass.")),
            (&[F, S], RUN),
        ],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn custom_trigger_sees_each_upstream_state_once() {
    let seen: Arc<Mutex<Vec<Vec<StateKind>>>> = Arc::default();
    let record = {
        let seen = seen.clone();
        Trigger::custom("record", move |upstream: &[&State]| {
            let mut kinds: Vec<StateKind> = upstream.iter().map(|state| state.kind()).collect();
            kinds.sort_by_key(|kind| kind.as_str());
            seen.lock().unwrap().push(kinds);
            true
        })
    };
    let (state, _) = run_sink(record.clone(), true, &[S, F, E, TF, TO]).await;
    assert_eq!(state.kind(), StateKind::Success);
    let (state, _) = run_sink(record.clone(), false, &[S, K]).await;
    assert_eq!(state.kind(), StateKind::Success);
    // With the default flag a skipped upstream skips the task before the trigger is asked.
    let (state, _) = run_sink(record, true, &[S, K]).await;
    assert_eq!((state.kind(), state.message()), PROPAGATED);

    let seen = seen.lock().unwrap();
    assert_eq!(
        *seen,
        [
            vec![
                StateKind::Failed,
                StateKind::Failed,
                StateKind::Success,
                StateKind::TimedOut,
                StateKind::TriggerFailed
            ],
            vec![StateKind::Skipped, StateKind::Success],
        ]
    );
}

// ---------------------------------------------------------------------------------------
// What counts as an upstream task.

/// Runs `join2` with its two upstream tasks wired as data edges, order-only edges or one
/// of each; the trigger must see the same upstream states every way.
#[tokio::test(start_paused = true)]
async fn order_only_edges_count_for_triggers_like_data_edges() {
    #[rustfmt::skip]
    let rows: &[(Trigger, bool, [Up; 2], Want)] = &[
        (Trigger::AllSuccessful, true, [S, S], RUN),
        (Trigger::AllSuccessful, true, [S, F], tf(ALL_SUCCESSFUL)),
        (Trigger::AllSuccessful, true, [TO, S], tf(ALL_SUCCESSFUL)),
        (Trigger::AllFailed, true, [F, TF], RUN),
        (Trigger::AllFailed, true, [F, S], tf(ALL_FAILED)),
        (Trigger::AnySuccessful, true, [F, TO], tf(ANY_SUCCESSFUL)),
        (Trigger::AnyFailed, true, [S, S], tf(ANY_FAILED)),
        (Trigger::AnyFailed, true, [S, E], RUN),
        (Trigger::AllFinished, true, [F, TO], RUN),
        (some_failed(Some(Count(2)), None), true, [TF, F], RUN),
        (some_successful(Some(Count(2)), None), true, [S, TF], tf(SOME_SUCCESSFUL)),
        (at_most_one_failure(), true, [F, TO], tf(AT_MOST_ONE_FAILURE)),
        (Trigger::AllSuccessful, true, [S, K], PROPAGATED),
        (Trigger::AllSuccessful, true, [K, S], PROPAGATED),
        (Trigger::AnyFailed, true, [F, K], PROPAGATED),
        (Trigger::AllSuccessful, false, [S, K], RUN),
        (Trigger::AllFailed, false, [K, F], tf(ALL_FAILED)),
        (Trigger::NotAllSkipped, false, [K, K], SKIPPED_ALL),
        (Trigger::ManualOnly, true, [S, F], PAUSED),
    ];
    let mut mismatches = Vec::new();
    for (trigger, skip_on_upstream_skip, ups, (kind, message)) in rows {
        for wiring in ["data, data", "order-only, order-only", "data, order-only"] {
            let mut flow = Flow::new("edges");
            let handles = add_upstreams(&mut flow, ups);
            let (a, b) = (handles[0], handles[1]);
            let call = match wiring {
                "data, data" => join2(a, b),
                "order-only, order-only" => join2(None, None).after(a).after(b),
                _ => join2(a, None).after(b),
            };
            let join = flow.add(
                call.name("join")
                    .trigger(trigger.clone())
                    .skip_on_upstream_skip(*skip_on_upstream_skip),
            );
            let report = run(&flow).await;
            assert_upstreams(&report, &handles, ups);
            let state = report.state(join);
            if (state.kind(), state.message()) != (*kind, *message) {
                mismatches.push(format!(
                    "trigger {trigger:?}, upstream {ups:?} wired {wiring}: expected {kind}: {message:?}, got {}: {:?}",
                    state.kind(),
                    state.message()
                ));
            }
            if state.kind() == StateKind::Success && wiring == "data, data" {
                // A data input holds the upstream value, or None when there is none.
                let input = |up: Up| (up == S).then_some(VALUE);
                assert_eq!(
                    report.result(join),
                    Some(&(input(ups[0]), input(ups[1]))),
                    "upstream {ups:?}"
                );
            }
        }
    }
    assert_no_mismatch(&mismatches);
}

#[tokio::test(start_paused = true)]
async fn an_upstream_task_reached_by_several_edges_counts_once() {
    // One failed upstream passed twice as data and once as an order-only edge: one failure.
    let mut flow = Flow::new("duplicates");
    let failed = flow.add(emit(F));
    let once = flow.add(
        join2(failed, failed)
            .after(failed)
            .trigger(some_failed(Some(Count(1)), Some(Count(1)))),
    );
    let report = run(&flow).await;
    let state = report.state(once);
    assert_eq!((state.kind(), state.message()), RUN);
    assert_eq!(report.result(once), Some(&(None, None)));

    // One success reached twice and one failure: 1 of 2 succeeded, within half.
    let mut flow = Flow::new("duplicates_fraction");
    let ok = flow.add(emit(S));
    let failed = flow.add(emit(F));
    let half = flow.add(
        join2(ok, ok)
            .after(failed)
            .trigger(some_successful(None, Some(Fraction(0.5)))),
    );
    let report = run(&flow).await;
    let state = report.state(half);
    assert_eq!((state.kind(), state.message()), RUN);
    assert_eq!(report.result(half), Some(&(Some(VALUE), Some(VALUE))));
}

#[tokio::test(start_paused = true)]
async fn values_given_as_arguments_are_not_upstream_tasks() {
    // A deliberate difference from Prefect 1: a value argument is no upstream task, so a
    // task with only value arguments has no upstream at all.
    let mut flow = Flow::new("values");
    let not_all_skipped = flow.add(
        pass(1)
            .name("not_all_skipped")
            .trigger(Trigger::NotAllSkipped),
    );
    let all_failed = flow.add(pass(2).name("all_failed").trigger(Trigger::AllFailed));
    let report = run(&flow).await;
    let state = report.state(not_all_skipped);
    assert_eq!((state.kind(), state.message()), SKIPPED_ALL);
    let state = report.state(all_failed);
    assert_eq!((state.kind(), state.message()), RUN);
}

// ---------------------------------------------------------------------------------------
// Skip propagation.

/// Every trigger kind, to show that skip propagation comes before any of them.
fn every_trigger() -> Vec<Trigger> {
    vec![
        Trigger::AllSuccessful,
        Trigger::AllFailed,
        Trigger::AnySuccessful,
        Trigger::AnyFailed,
        Trigger::AllFinished,
        Trigger::ManualOnly,
        Trigger::NotAllSkipped,
        some_successful(Some(Count(1)), None),
        some_failed(Some(Count(1)), None),
        at_most_one_failure(),
        Trigger::custom("never", |_: &[&State]| false),
    ]
}

#[tokio::test(start_paused = true)]
async fn any_skipped_upstream_skips_the_task_whatever_its_trigger() {
    let mixes: &[&[Up]] = &[
        &[K],
        &[K, K],
        &[S, K],
        &[K, S],
        &[F, K],
        &[K, TF],
        &[K, TO],
        &[F, E, TF, TO, K],
    ];
    let mut mismatches = Vec::new();
    for trigger in every_trigger() {
        for &ups in mixes {
            check_case(&trigger, true, ups, PROPAGATED, &mut mismatches).await;
        }
    }
    assert_no_mismatch(&mismatches);
}

#[tokio::test(start_paused = true)]
async fn a_skipped_upstream_beats_a_failed_one_even_for_any_failed() {
    let mut flow = Flow::new("skip_beats_failure");
    let failed = flow.add(emit(F).name("failed"));
    let skipped = flow.add(emit(K).name("skipped"));
    let handler = flow.add(
        sink()
            .name("handler")
            .trigger(Trigger::AnyFailed)
            .after(failed)
            .after(skipped),
    );
    let report = run(&flow).await;
    let state = report.state(handler);
    assert_eq!(
        (state.kind(), state.message(), state.run_count()),
        (StateKind::Skipped, UPSTREAM_SKIPPED, 0)
    );
    // The skipped handler is the only terminal task, and a skip is a success.
    assert_eq!(report.flow_state().kind(), StateKind::Success);
}

#[tokio::test(start_paused = true)]
async fn skip_propagates_down_a_chain() {
    let mut flow = Flow::new("chain");
    let first = flow.add(emit(K).name("first"));
    let second = flow.add(pass(first).name("second"));
    let third = flow.add(pass(second).name("third"));
    let fourth = flow.add(
        sink()
            .name("fourth")
            .trigger(Trigger::AllFinished)
            .after(third),
    );
    let report = run(&flow).await;
    let state = report.state(first);
    assert_eq!(
        (state.kind(), state.message()),
        (StateKind::Skipped, SKIP_MESSAGE)
    );
    for (name, handle) in [("second", second), ("third", third)] {
        let state = report.state(handle);
        assert_eq!(
            (state.kind(), state.message(), state.run_count()),
            (StateKind::Skipped, UPSTREAM_SKIPPED, 0),
            "{name}"
        );
        assert_eq!(report.result(handle), None, "{name}");
    }
    let state = report.state(fourth);
    assert_eq!((state.kind(), state.message()), PROPAGATED);
    let flow_state = report.flow_state();
    assert_eq!(
        (flow_state.kind(), flow_state.message()),
        (StateKind::Success, "All reference tasks succeeded.")
    );
}

#[tokio::test(start_paused = true)]
async fn opting_out_stops_skip_propagation_down_a_chain() {
    let mut flow = Flow::new("chain_opt_out");
    let first = flow.add(emit(K).name("first"));
    let second = flow.add(pass(first).name("second"));
    let third = flow.add(maybe(second).name("third").skip_on_upstream_skip(false));
    let fourth = flow.add(maybe(third).name("fourth"));
    let report = run(&flow).await;
    let state = report.state(second);
    assert_eq!((state.kind(), state.message()), PROPAGATED);
    let state = report.state(third);
    assert_eq!((state.kind(), state.message()), RUN);
    assert_eq!(report.result(third), Some(&None));
    let state = report.state(fourth);
    assert_eq!((state.kind(), state.message()), RUN);
    assert_eq!(report.result(fourth), Some(&None));
}

#[tokio::test(start_paused = true)]
async fn opted_out_skipped_upstream_reaches_the_trigger_as_a_success() {
    let mut flow = Flow::new("opt_out");
    let skipped = flow.add(emit(K).name("skipped"));
    let all_successful = flow.add(
        maybe(skipped)
            .name("all_successful")
            .skip_on_upstream_skip(false),
    );
    let all_failed = flow.add(
        maybe(skipped)
            .name("all_failed")
            .trigger(Trigger::AllFailed)
            .skip_on_upstream_skip(false),
    );
    let not_all_skipped = flow.add(
        maybe(skipped)
            .name("not_all_skipped")
            .trigger(Trigger::NotAllSkipped)
            .skip_on_upstream_skip(false),
    );
    let report = run(&flow).await;
    let state = report.state(all_successful);
    assert_eq!((state.kind(), state.message()), RUN);
    assert_eq!(report.result(all_successful), Some(&None));
    let state = report.state(all_failed);
    assert_eq!((state.kind(), state.message()), tf(ALL_FAILED));
    let state = report.state(not_all_skipped);
    assert_eq!(
        (state.kind(), state.message(), state.run_count()),
        (StateKind::Skipped, ALL_SKIPPED, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn option_argument_from_an_upstream_without_value_receives_none() {
    let mut flow = Flow::new("option_inputs");
    let ok = flow.add(emit(S).name("ok"));
    let skipped = flow.add(emit(K).name("skipped"));
    let failed = flow.add(emit(F).name("failed"));
    let timed_out = flow.add(emit(TO).name("timed_out").timeout(Duration::from_secs(1)));
    let from_ok = flow.add(maybe(ok).name("from_ok"));
    let from_skipped = flow.add(
        maybe(skipped)
            .name("from_skipped")
            .skip_on_upstream_skip(false),
    );
    let from_failed = flow.add(
        maybe(failed)
            .name("from_failed")
            .trigger(Trigger::AllFinished),
    );
    let from_timed_out = flow.add(
        maybe(timed_out)
            .name("from_timed_out")
            .trigger(Trigger::AnyFailed),
    );
    let report = run(&flow).await;
    assert_eq!(report.result(from_ok), Some(&Some(VALUE)));
    for handle in [from_skipped, from_failed, from_timed_out] {
        let state = report.state(handle);
        assert_eq!((state.kind(), state.message()), RUN);
        assert_eq!(report.result(handle), Some(&None));
    }
}

#[tokio::test(start_paused = true)]
async fn plain_argument_from_an_upstream_without_value_fails_naming_both() {
    let mut flow = Flow::new("plain_inputs");
    let skipped = flow.add(emit(K).name("skipped"));
    let failed = flow.add(emit(F).name("failed"));
    let from_skipped = flow.add(
        pass(skipped)
            .name("from_skipped")
            .skip_on_upstream_skip(false)
            .max_retries(2),
    );
    let from_failed = flow.add(
        pass(failed)
            .name("from_failed")
            .trigger(Trigger::AllFinished),
    );
    let report = run(&flow).await;
    let state = report.state(from_skipped);
    assert_eq!(
        (state.kind(), state.message()),
        (
            StateKind::Failed,
            "task `from_skipped`: argument `x` has no value because upstream task `skipped` is Skipped; \
             take it as an `Option` to run without it"
        )
    );
    assert_eq!(state.run_count(), 1, "a missing input is not retried");
    let state = report.state(from_failed);
    assert_eq!(
        (state.kind(), state.message()),
        (
            StateKind::Failed,
            "task `from_failed`: argument `x` has no value because upstream task `failed` is Failed; \
             take it as an `Option` to run without it"
        )
    );
}

// ---------------------------------------------------------------------------------------
// Trigger failures.

#[tokio::test(start_paused = true)]
async fn a_trigger_failure_is_never_retried() {
    let calls = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new("no_retry");
    let failed = flow.add(emit(F).name("failed"));
    let guarded = flow.add(
        counted(calls.clone())
            .name("guarded")
            .after(failed)
            .max_retries(3)
            .retry_delay(Duration::from_secs(1)),
    );
    let report = run(&flow).await;
    let state = report.state(guarded);
    assert_eq!(
        (state.kind(), state.message(), state.run_count()),
        (StateKind::TriggerFailed, ALL_SUCCESSFUL, 0)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let flow_state = report.flow_state();
    assert_eq!(
        (flow_state.kind(), flow_state.message()),
        (
            StateKind::Failed,
            "Some reference tasks failed: `guarded` (TriggerFailed)."
        )
    );
}

#[test]
fn trigger_names_are_prefect_names() {
    let names: Vec<String> = every_trigger()
        .iter()
        .map(|trigger| trigger.name().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "all_successful",
            "all_failed",
            "any_successful",
            "any_failed",
            "all_finished",
            "manual_only",
            "not_all_skipped",
            "some_successful",
            "some_failed",
            "at_most_one_failure",
            "never",
        ]
    );
}

// ---------------------------------------------------------------------------------------
// `Trigger::evaluate` on its own, including states a flow run cannot hand it.

#[test]
fn evaluate_decides_from_the_given_states() {
    let success = State::success("");
    let skipped = State::skipped("");
    let failed = State::failed("");
    let trigger_failed = State::trigger_failed("");
    let timed_out = State::timed_out("");
    let cancelled = State::cancelled("");
    let pending = State::pending();
    let running = State::new(StateKind::Running, "");
    let paused = State::paused("");
    let (ok, sk, fl, tfd, tmo, cn) = (
        &success,
        &skipped,
        &failed,
        &trigger_failed,
        &timed_out,
        &cancelled,
    );

    let run = || Verdict::Run;
    let fails = |message: &'static str| Verdict::TriggerFailed(message.into());
    let pause = || Verdict::Pause(MANUAL_ONLY.into());
    let skip = || Verdict::Skip(ALL_SKIPPED.into());

    #[rustfmt::skip]
    let rows: Vec<(Trigger, Vec<&State>, bool, Verdict)> = vec![
        // Every trigger with no upstream (the thresholded ones: see below).
        (Trigger::AllSuccessful, vec![], false, run()),
        (Trigger::AllFailed, vec![], false, run()),
        (Trigger::AnySuccessful, vec![], false, run()),
        (Trigger::AnyFailed, vec![], false, run()),
        (Trigger::AllFinished, vec![], false, run()),
        (Trigger::ManualOnly, vec![], false, pause()),
        (Trigger::NotAllSkipped, vec![], false, skip()),
        (some_successful(None, None), vec![], false, run()),
        (some_failed(None, None), vec![], false, run()),
        (at_most_one_failure(), vec![], false, run()),
        // The state classes: Skipped is a success; TriggerFailed and TimedOut are failures.
        (Trigger::AllSuccessful, vec![ok, sk], false, run()),
        (Trigger::AllSuccessful, vec![ok, tmo], false, fails(ALL_SUCCESSFUL)),
        (Trigger::AllFailed, vec![fl, tfd, tmo], false, run()),
        (Trigger::AllFailed, vec![fl, sk], false, fails(ALL_FAILED)),
        (Trigger::AnySuccessful, vec![fl, sk], false, run()),
        (Trigger::AnySuccessful, vec![fl, tfd, tmo], false, fails(ANY_SUCCESSFUL)),
        (Trigger::AnyFailed, vec![ok, sk], false, fails(ANY_FAILED)),
        (Trigger::AnyFailed, vec![ok, tfd], false, run()),
        // Cancelled is finished but neither successful nor failed.
        (Trigger::AllFinished, vec![cn, fl], false, run()),
        (Trigger::AllSuccessful, vec![cn], false, fails(ALL_SUCCESSFUL)),
        (Trigger::AllFailed, vec![cn], false, fails(ALL_FAILED)),
        (Trigger::AnySuccessful, vec![cn], false, fails(ANY_SUCCESSFUL)),
        (Trigger::AnyFailed, vec![cn], false, fails(ANY_FAILED)),
        (Trigger::NotAllSkipped, vec![sk, cn], false, fails(NOT_ALL_SKIPPED)),
        (some_failed(Some(Count(1)), None), vec![cn, ok], false, fails(SOME_FAILED)),
        (some_successful(None, Some(Count(0))), vec![cn, fl], false, run()),
        // Unfinished states are not finished.
        (Trigger::AllFinished, vec![ok, &pending], false, fails(ALL_FINISHED)),
        (Trigger::AllFinished, vec![&running], false, fails(ALL_FINISHED)),
        (Trigger::AllFinished, vec![&paused], false, fails(ALL_FINISHED)),
        // manual_only passes only once resumed; the other triggers ignore `resumed`.
        (Trigger::ManualOnly, vec![ok], false, pause()),
        (Trigger::ManualOnly, vec![ok], true, run()),
        (Trigger::ManualOnly, vec![fl], true, run()),
        (Trigger::ManualOnly, vec![], true, run()),
        (Trigger::AllFailed, vec![ok], true, fails(ALL_FAILED)),
        (Trigger::NotAllSkipped, vec![sk], true, skip()),
        // not_all_skipped.
        (Trigger::NotAllSkipped, vec![sk, sk], false, skip()),
        (Trigger::NotAllSkipped, vec![sk, ok], false, run()),
        (Trigger::NotAllSkipped, vec![sk, fl], false, fails(NOT_ALL_SKIPPED)),
        (Trigger::NotAllSkipped, vec![sk, tmo], false, fails(NOT_ALL_SKIPPED)),
        // Thresholds: inclusive, counts or fractions of N.
        (some_successful(Some(Count(2)), Some(Count(2))), vec![ok, sk, fl], false, run()),
        (some_successful(Some(Count(2)), Some(Count(2))), vec![ok, fl], false, fails(SOME_SUCCESSFUL)),
        (some_successful(Some(Fraction(0.5)), None), vec![ok, fl, fl], false, fails(SOME_SUCCESSFUL)),
        (some_successful(Some(Fraction(0.5)), None), vec![ok, ok, fl], false, run()),
        (some_failed(None, Some(Fraction(0.5))), vec![fl, fl, ok, ok], false, run()),
        (some_failed(None, Some(Fraction(0.5))), vec![fl, fl, tmo, ok], false, fails(SOME_FAILED)),
        (some_failed(Some(Fraction(1.0)), None), vec![fl, tmo], false, run()),
        // Custom triggers.
        (at_most_one_failure(), vec![fl, tmo], false, fails(AT_MOST_ONE_FAILURE)),
        (at_most_one_failure(), vec![fl, sk], false, run()),
    ];
    let mut mismatches = Vec::new();
    for (trigger, upstream, resumed, want) in &rows {
        let got = trigger.evaluate(upstream, *resumed);
        if got != *want {
            let kinds: Vec<StateKind> = upstream.iter().map(|state| state.kind()).collect();
            mismatches.push(format!(
                "{trigger:?} on {kinds:?} (resumed = {resumed}): expected {want:?}, got {got:?}"
            ));
        }
    }
    assert_no_mismatch(&mismatches);
}

/// Prefect 1 passes `some_successful` and `some_failed` whatever their thresholds when
/// the task has no upstream tasks.
#[test]
fn evaluate_thresholds_pass_with_no_upstream() {
    let triggers = [
        some_successful(Some(Count(1)), None),
        some_successful(Some(Count(2)), Some(Count(3))),
        some_successful(Some(Fraction(0.5)), None),
        some_failed(Some(Count(1)), None),
        some_failed(Some(Fraction(1.0)), None),
        some_failed(None, Some(Count(0))),
    ];
    let mismatches: Vec<String> = triggers
        .iter()
        .map(|trigger| (trigger, trigger.evaluate(&[], false)))
        .filter(|(_, got)| *got != Verdict::Run)
        .map(|(trigger, got)| format!("{trigger:?} on []: expected Run, got {got:?}"))
        .collect();
    assert_no_mismatch(&mismatches);
}

#[tokio::test]
async fn a_panicking_custom_trigger_fails_the_task_not_the_run() {
    let mut flow = Flow::new("panicking-trigger");
    let up = flow.add(pass(1));
    let panicky = Trigger::custom("panicky", |_upstream: &[&State]| panic!("trigger bug"));
    let guarded = flow.add(pass(up).name("guarded").trigger(panicky));
    let other = flow.add(pass(up).name("other"));
    let report = run(&flow).await;
    assert_eq!(report.state(guarded).kind(), StateKind::TriggerFailed);
    assert_eq!(
        report.state(guarded).message(),
        "Unexpected error while checking task trigger \"panicky\": it panicked: trigger bug"
    );
    assert_eq!(report.state(other).kind(), StateKind::Success);
}
