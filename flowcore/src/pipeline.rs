//! The task pipeline's pure decisions: skip propagation and trigger before a run, retry after one.

use std::borrow::Cow;
use std::time::Duration;

use tokio::time::Instant;

use crate::state::{State, StateKind};
use crate::trigger::{Trigger, Verdict};

/// The message of a task skipped because an upstream task was skipped (Prefect 1's wording).
pub(crate) const UPSTREAM_SKIPPED: &str = "Upstream task was skipped; if this was not the intended behavior, consider changing `skip_on_upstream_skip=False` for this task.";

/// What happens to a task whose upstream tasks have all finished, in Prefect's order:
/// skip propagation first (when `skip_on_upstream_skip`), then the trigger.
pub(crate) fn before_run(
    trigger: &Trigger,
    skip_on_upstream_skip: bool,
    upstream: &[&State],
    resumed: bool,
) -> Verdict {
    if skip_on_upstream_skip && upstream.iter().any(|state| state.is_skipped()) {
        return Verdict::Skip(Cow::Borrowed(UPSTREAM_SKIPPED));
    }
    trigger.evaluate(upstream, resumed)
}

/// The same decision for the default options (`all_successful`, skip propagation on),
/// without collecting the upstream states.
pub(crate) fn before_run_default<'a>(upstream: impl Iterator<Item = &'a State>) -> Verdict {
    let mut all_successful = true;
    for state in upstream {
        match state.kind() {
            StateKind::Skipped => return Verdict::Skip(Cow::Borrowed(UPSTREAM_SKIPPED)),
            kind if !kind.is_successful() => all_successful = false,
            _ => {}
        }
    }
    if all_successful {
        Verdict::Run
    } else {
        Verdict::TriggerFailed(Cow::Borrowed(
            "Trigger was \"all_successful\" but some of the upstream tasks failed.",
        ))
    }
}

/// Whether a failed attempt gets another one: attempt `run_count` of `max_retries + 1`.
pub(crate) fn should_retry(run_count: u32, max_retries: u32) -> bool {
    run_count <= max_retries
}

/// The `Retrying` state after attempt `run_count` failed, with the next start time.
pub(crate) fn retrying(run_count: u32, max_retries: u32, delay: Duration, now: Instant) -> State {
    State::new(
        StateKind::Retrying,
        format!(
            "Retrying Task (after attempt {run_count} of {})",
            max_retries + 1
        ),
    )
    .with_run_count(run_count)
    .with_start_time(now + delay)
}
