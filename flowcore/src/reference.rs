//! Reference tasks: how the flow's final state follows from the states of the chosen tasks.

use std::fmt::Write;

use crate::block::Block;
use crate::state::{State, StateKind};

/// The flow's final state once every task has finished, from its reference tasks
/// (Prefect 1's rule): any reference task failed gives `Failed`, naming them; otherwise
/// `Success`, with "All reference tasks succeeded." when every one succeeded (a skip or a
/// cached result is a success) and "No reference tasks failed." when some were cancelled.
pub(crate) fn final_state<'a, N: std::fmt::Display>(
    reference: impl Iterator<Item = (N, &'a State)> + Clone,
) -> State {
    let mut failed = reference
        .clone()
        .filter(|(_, state)| state.is_failed())
        .peekable();
    if failed.peek().is_some() {
        let mut message = String::from("Some reference tasks failed:");
        for (i, (name, state)) in failed.enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            let _ = write!(message, "{sep}`{name}` ({})", state.kind());
        }
        message.push('.');
        return State::new(StateKind::Failed, message);
    }
    let succeeded = |state: &State| {
        matches!(
            state.kind(),
            StateKind::Success | StateKind::Cached | StateKind::Skipped
        )
    };
    if reference.clone().all(|(_, state)| succeeded(state)) {
        State::fixed(StateKind::Success, "All reference tasks succeeded.")
    } else {
        State::fixed(StateKind::Success, "No reference tasks failed.")
    }
}

/// How many names a flow message lists before it says how many more there are.
const MAX_NAMES: usize = 10;

/// The flow's final state from its main outcome (the reference tasks' verdict, or how the
/// run was interrupted) and what happened after: the `errors` and `finally` tasks that
/// failed, and the tasks anywhere that failed but were allowed to (`Warning`).
///
/// A failure after the main tasks fails a successful flow and is added to the message of
/// a failed one, so it never hides the main outcome; allowed failures turn a successful
/// flow into `Warning`.
pub(crate) fn with_blocks<'a>(
    main: State,
    mut failed_after: impl Iterator<Item = (&'a str, Block, StateKind)>,
    mut warnings: impl Iterator<Item = &'a str>,
) -> State {
    if let Some(first) = failed_after.next() {
        let kind = if main.is_successful() {
            StateKind::Failed
        } else {
            main.kind()
        };
        let mut message = main.message().to_string();
        message.push_str(" Also failed:");
        for (i, (name, block, state)) in std::iter::once(first).chain(failed_after).enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            let _ = write!(message, "{sep}`{name}` in `{}` ({state})", block.name());
        }
        message.push('.');
        return State::new(kind, message);
    }
    if !main.is_successful() {
        return main;
    }
    let Some(first) = warnings.next() else {
        return main;
    };
    let mut message = main.message().to_string();
    message.push_str(" Failed, as allowed:");
    let mut n_more = 0;
    for (i, name) in std::iter::once(first).chain(warnings).enumerate() {
        if i >= MAX_NAMES {
            n_more += 1;
            continue;
        }
        let sep = if i == 0 { " " } else { ", " };
        let _ = write!(message, "{sep}`{name}`");
    }
    if n_more > 0 {
        let _ = write!(message, " and {n_more} more");
    }
    message.push('.');
    State::new(StateKind::Warning, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(states: &[(&str, State)]) -> State {
        final_state(states.iter().map(|(name, state)| (*name, state)))
    }

    #[test]
    fn failed_reference_fails_the_flow_and_is_named() {
        let state = decide(&[
            ("a", State::success("")),
            ("b", State::trigger_failed("")),
            ("c", State::timed_out("")),
        ]);
        assert_eq!(state.kind(), StateKind::Failed);
        assert_eq!(
            state.message(),
            "Some reference tasks failed: `b` (TriggerFailed), `c` (TimedOut)."
        );
    }

    #[test]
    fn skipped_references_succeed() {
        let state = decide(&[("a", State::skipped("")), ("b", State::success(""))]);
        assert_eq!(state.kind(), StateKind::Success);
        assert_eq!(state.message(), "All reference tasks succeeded.");
    }

    #[test]
    fn cached_references_succeed() {
        let cached = State::new(StateKind::Cached, "Result from the cache.");
        let state = decide(&[("a", cached), ("b", State::success(""))]);
        assert_eq!(state.kind(), StateKind::Success);
        assert_eq!(state.message(), "All reference tasks succeeded.");
    }

    #[test]
    fn cancelled_reference_is_success_without_failures() {
        let state = decide(&[("a", State::cancelled("")), ("b", State::success(""))]);
        assert_eq!(state.kind(), StateKind::Success);
        assert_eq!(state.message(), "No reference tasks failed.");
    }

    #[test]
    fn no_reference_tasks_is_success() {
        let state = decide(&[]);
        assert_eq!(state.kind(), StateKind::Success);
        assert_eq!(state.message(), "All reference tasks succeeded.");
    }

    fn after(
        main: State,
        failed: &[(&'static str, Block, StateKind)],
        warned: &[&'static str],
    ) -> State {
        with_blocks(main, failed.iter().copied(), warned.iter().copied())
    }

    #[test]
    fn finally_failure_fails_a_successful_flow_and_keeps_its_message() {
        let main = State::success("All reference tasks succeeded.");
        let state = after(main, &[("stop", Block::Finally, StateKind::Failed)], &[]);
        assert_eq!(state.kind(), StateKind::Failed);
        assert_eq!(
            state.message(),
            "All reference tasks succeeded. Also failed: `stop` in `finally` (Failed)."
        );
    }

    #[test]
    fn block_failures_are_added_to_a_failed_flow() {
        let main = State::timed_out("Flow run timed out after 1s.");
        let failed = [
            ("alert", Block::Errors, StateKind::Failed),
            ("stop", Block::Finally, StateKind::TimedOut),
        ];
        let state = after(main, &failed, &["ignored"]);
        assert_eq!(state.kind(), StateKind::TimedOut);
        assert_eq!(
            state.message(),
            "Flow run timed out after 1s. Also failed: `alert` in `errors` (Failed), `stop` in `finally` (TimedOut)."
        );
    }

    #[test]
    fn allowed_failures_make_a_successful_flow_a_warning() {
        let main = State::success("All reference tasks succeeded.");
        let state = after(main.clone(), &[], &["a", "b"]);
        assert_eq!(state.kind(), StateKind::Warning);
        assert_eq!(
            state.message(),
            "All reference tasks succeeded. Failed, as allowed: `a`, `b`."
        );
        let many: Vec<&str> = (0..12).map(|_| "t").collect();
        let state = after(main.clone(), &[], &many);
        assert!(
            state.message().ends_with("`t` and 2 more."),
            "{}",
            state.message()
        );
        assert_eq!(after(main.clone(), &[], &[]), main);
    }

    #[test]
    fn allowed_failures_do_not_change_a_failed_flow() {
        let main = State::failed("Some reference tasks failed: `x` (Failed).");
        assert_eq!(after(main.clone(), &[], &["a"]), main);
    }

    #[test]
    fn warning_reference_is_not_all_succeeded() {
        let state = decide(&[
            ("a", State::new(StateKind::Warning, "")),
            ("b", State::success("")),
        ]);
        assert_eq!(state.kind(), StateKind::Success);
        assert_eq!(state.message(), "No reference tasks failed.");
    }
}
