//! Reference tasks: how the flow's final state follows from the states of the chosen tasks.

use std::fmt::Write;

use crate::state::{State, StateKind};

/// The flow's final state once every task has finished, from its reference tasks
/// (Prefect 1's rule): any reference task failed gives `Failed`, naming them; otherwise
/// `Success`, with "All reference tasks succeeded." when every one succeeded (a skip is a
/// success) and "No reference tasks failed." when some were cancelled.
pub(crate) fn final_state<'a>(
    reference: impl Iterator<Item = (&'a str, &'a State)> + Clone,
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
    if reference.clone().all(|(_, state)| state.is_successful()) {
        State::fixed(StateKind::Success, "All reference tasks succeeded.")
    } else {
        State::fixed(StateKind::Success, "No reference tasks failed.")
    }
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
}
