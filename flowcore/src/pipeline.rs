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

/// The `Retrying` state after attempt `run_count` failed, starting the next attempt after
/// `delay`; the message gives the delay unless it is zero.
pub(crate) fn retrying(run_count: u32, max_retries: u32, delay: Duration, now: Instant) -> State {
    let attempts = u64::from(max_retries) + 1;
    let message = if delay.is_zero() {
        format!("Retrying Task (after attempt {run_count} of {attempts})")
    } else {
        format!("Retrying Task in {delay:?} (after attempt {run_count} of {attempts})")
    };
    State::new(StateKind::Retrying, message)
        .with_run_count(run_count)
        .with_start_time(start_after(now, delay))
}

/// `now + delay`, or about thirty years from now when that is past what an `Instant` holds
/// (as tokio does for a sleep that long).
pub(crate) fn start_after(now: Instant, delay: Duration) -> Instant {
    const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);
    now.checked_add(delay)
        .or_else(|| now.checked_add(FAR_FUTURE))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retrying_state_gives_the_delay_and_starts_after_it() {
        let now = Instant::now();
        let state = retrying(1, 3, Duration::from_millis(1500), now);
        assert_eq!(state.kind(), StateKind::Retrying);
        assert_eq!(
            state.message(),
            "Retrying Task in 1.5s (after attempt 1 of 4)"
        );
        assert_eq!(state.run_count(), 1);
        assert_eq!(state.start_time(), Some(now + Duration::from_millis(1500)));

        let state = retrying(2, 2, Duration::ZERO, now);
        assert_eq!(state.message(), "Retrying Task (after attempt 2 of 3)");
        assert_eq!(state.start_time(), Some(now));

        let state = retrying(1, u32::MAX, Duration::ZERO, now);
        assert_eq!(
            state.message(),
            "Retrying Task (after attempt 1 of 4294967296)"
        );
    }

    #[test]
    fn a_start_past_what_an_instant_holds_is_far_in_the_future() {
        let now = Instant::now();
        let start = start_after(now, Duration::MAX);
        assert!(start >= now + Duration::from_secs(86_400 * 365 * 29));
        assert_eq!(
            start_after(now, Duration::from_secs(60)),
            now + Duration::from_secs(60)
        );
    }

    #[test]
    fn a_failed_attempt_is_retried_while_attempts_remain() {
        assert!(should_retry(1, 1));
        assert!(!should_retry(2, 1));
        assert!(!should_retry(1, 0));
    }
}
