//! Triggers: the pure decision, from the upstream states, whether a task runs.

use std::borrow::Cow;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crate::state::State;
use crate::task::panic_message;

/// Decides, once every upstream task has finished, whether a task runs.
///
/// A trigger that does not pass ends the task `TriggerFailed` (never retried), except
/// [`Trigger::ManualOnly`], which pauses the task until it is approved, and
/// [`Trigger::NotAllSkipped`], which skips it when every upstream task was skipped.
/// Skipped upstream tasks count as successful. A task with no upstream tasks passes every
/// trigger except `ManualOnly` (which pauses) and `NotAllSkipped` (which skips, as in Prefect 1).
///
/// Skip propagation is decided before the trigger: unless the task sets
/// `skip_on_upstream_skip = false`, any skipped upstream task skips it and the trigger is
/// not asked.
///
/// # Examples
///
/// ```
/// use flowcore::{State, Trigger, Verdict};
///
/// let failed = State::failed("boom");
/// let ok = State::success("done");
/// let upstream = [&failed, &ok];
/// assert_eq!(Trigger::AllFinished.evaluate(&upstream, false), Verdict::Run);
/// assert!(matches!(Trigger::AllSuccessful.evaluate(&upstream, false), Verdict::TriggerFailed(_)));
/// assert_eq!(Trigger::AnyFailed.evaluate(&upstream, false), Verdict::Run);
/// ```
#[non_exhaustive]
#[derive(Clone, Default)]
pub enum Trigger {
    /// Every upstream task succeeded (or was skipped). The default.
    #[default]
    AllSuccessful,
    /// Every upstream task failed.
    AllFailed,
    /// At least one upstream task succeeded.
    AnySuccessful,
    /// At least one upstream task failed.
    AnyFailed,
    /// Every upstream task finished, whatever its state; also known as `always_run`.
    AllFinished,
    /// Pauses the task until it is approved with [`RunReport::approve`](crate::RunReport::approve).
    ManualOnly,
    /// Every upstream task succeeded and not all of them were skipped; skips when all were.
    NotAllSkipped,
    /// The number of successful upstream tasks lies between the thresholds (inclusive).
    SomeSuccessful {
        /// The least number (or fraction) of successful upstream tasks; none when `None`.
        at_least: Option<Threshold>,
        /// The greatest number (or fraction); all when `None`.
        at_most: Option<Threshold>,
    },
    /// The number of failed upstream tasks lies between the thresholds (inclusive).
    SomeFailed {
        /// The least number (or fraction) of failed upstream tasks; none when `None`.
        at_least: Option<Threshold>,
        /// The greatest number (or fraction); all when `None`.
        at_most: Option<Threshold>,
    },
    /// A user-defined function of the upstream states; see [`Trigger::custom`].
    Custom(CustomTrigger),
}

/// A bound for [`Trigger::SomeSuccessful`] and [`Trigger::SomeFailed`].
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Threshold {
    /// A number of upstream tasks.
    Count(u32),
    /// A fraction of the upstream tasks, from 0.0 to 1.0 (so 1.0 means all of them).
    Fraction(f64),
}

impl Threshold {
    fn resolve(self, n_upstream: usize) -> f64 {
        match self {
            Threshold::Count(count) => f64::from(count),
            Threshold::Fraction(fraction) => fraction * n_upstream as f64,
        }
    }
}

/// The function of a custom trigger.
type CheckFn = dyn Fn(&[&State]) -> bool + Send + Sync;

/// A user-defined trigger: a name for messages and a function of the upstream states.
#[derive(Clone)]
pub struct CustomTrigger {
    name: Cow<'static, str>,
    check: Arc<CheckFn>,
}

impl fmt::Debug for CustomTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomTrigger")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a trigger decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The task runs.
    Run,
    /// The task ends `TriggerFailed` with this message.
    TriggerFailed(Cow<'static, str>),
    /// The task ends `Skipped` with this message.
    Skip(Cow<'static, str>),
    /// The task pauses with this message until approved.
    Pause(Cow<'static, str>),
}

impl Trigger {
    /// `always_run`: the alias of [`Trigger::AllFinished`].
    pub const ALWAYS_RUN: Trigger = Trigger::AllFinished;

    /// A user-defined trigger named `name` that passes when `check` returns true.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{State, Trigger, Verdict};
    ///
    /// let at_most_one_failure = Trigger::custom("at_most_one_failure", |upstream: &[&State]| {
    ///     upstream.iter().filter(|state| state.is_failed()).count() <= 1
    /// });
    /// let failed = State::failed("boom");
    /// assert_eq!(at_most_one_failure.evaluate(&[&failed], false), Verdict::Run);
    /// ```
    pub fn custom(
        name: impl Into<Cow<'static, str>>,
        check: impl Fn(&[&State]) -> bool + Send + Sync + 'static,
    ) -> Trigger {
        Trigger::Custom(CustomTrigger {
            name: name.into(),
            check: Arc::new(check),
        })
    }

    /// [`Trigger::SomeSuccessful`] with these thresholds.
    pub fn some_successful(at_least: Option<Threshold>, at_most: Option<Threshold>) -> Trigger {
        Trigger::SomeSuccessful { at_least, at_most }
    }

    /// [`Trigger::SomeFailed`] with these thresholds.
    pub fn some_failed(at_least: Option<Threshold>, at_most: Option<Threshold>) -> Trigger {
        Trigger::SomeFailed { at_least, at_most }
    }

    /// The trigger's name, as used in messages (`all_successful`, `always_run` is `all_finished`, ...).
    pub fn name(&self) -> &str {
        match self {
            Trigger::AllSuccessful => "all_successful",
            Trigger::AllFailed => "all_failed",
            Trigger::AnySuccessful => "any_successful",
            Trigger::AnyFailed => "any_failed",
            Trigger::AllFinished => "all_finished",
            Trigger::ManualOnly => "manual_only",
            Trigger::NotAllSkipped => "not_all_skipped",
            Trigger::SomeSuccessful { .. } => "some_successful",
            Trigger::SomeFailed { .. } => "some_failed",
            Trigger::Custom(custom) => &custom.name,
        }
    }

    /// Decides from the finished upstream states whether the task runs.
    ///
    /// `resumed` is true when the task was approved after a pause; only
    /// [`Trigger::ManualOnly`] looks at it. Duplicates in `upstream` count as often as
    /// they appear; the runner passes each upstream task once.
    pub fn evaluate(&self, upstream: &[&State], resumed: bool) -> Verdict {
        let all = |pred: fn(&State) -> bool| upstream.iter().all(|state| pred(state));
        let any = |pred: fn(&State) -> bool| upstream.iter().any(|state| pred(state));
        let passes = match self {
            Trigger::AllSuccessful => all(State::is_successful),
            Trigger::AllFailed => all(State::is_failed),
            Trigger::AnySuccessful => upstream.is_empty() || any(State::is_successful),
            Trigger::AnyFailed => upstream.is_empty() || any(State::is_failed),
            Trigger::AllFinished => all(State::is_finished),
            Trigger::ManualOnly => {
                if resumed {
                    return Verdict::Run;
                }
                return Verdict::Pause(Cow::Borrowed("Trigger function is \"manual_only\""));
            }
            Trigger::NotAllSkipped => {
                if all(State::is_skipped) {
                    return Verdict::Skip(Cow::Borrowed("All upstreams were skipped"));
                }
                all(State::is_successful)
            }
            Trigger::SomeSuccessful { at_least, at_most } => {
                within(upstream, State::is_successful, *at_least, *at_most)
            }
            Trigger::SomeFailed { at_least, at_most } => {
                within(upstream, State::is_failed, *at_least, *at_most)
            }
            Trigger::Custom(custom) => {
                // A custom trigger is user code: a panic in it fails the task, not the run.
                let check = std::panic::catch_unwind(AssertUnwindSafe(|| (custom.check)(upstream)));
                let message = match check {
                    Ok(true) => return Verdict::Run,
                    Ok(false) => format!("Trigger was \"{}\" but it did not pass.", custom.name),
                    Err(panic) => format!(
                        "Unexpected error while checking task trigger \"{}\": it panicked: {}",
                        custom.name,
                        panic_message(&*panic)
                    ),
                };
                return Verdict::TriggerFailed(Cow::Owned(message));
            }
        };
        if passes {
            Verdict::Run
        } else {
            Verdict::TriggerFailed(Cow::Borrowed(self.failure_message()))
        }
    }

    fn failure_message(&self) -> &'static str {
        match self {
            Trigger::AllSuccessful => {
                "Trigger was \"all_successful\" but some of the upstream tasks failed."
            }
            Trigger::AllFailed => {
                "Trigger was \"all_failed\" but some of the upstream tasks succeeded."
            }
            Trigger::AnySuccessful => {
                "Trigger was \"any_successful\" but none of the upstream tasks succeeded."
            }
            Trigger::AnyFailed => {
                "Trigger was \"any_failed\" but none of the upstream tasks failed."
            }
            Trigger::AllFinished => {
                "Trigger was \"all_finished\" but some of the upstream tasks were not finished."
            }
            Trigger::NotAllSkipped => {
                "Trigger was \"not_all_skipped\" but some of the upstream tasks failed."
            }
            Trigger::SomeSuccessful { .. } => {
                "Trigger was \"some_successful\" but thresholds were not met."
            }
            Trigger::SomeFailed { .. } => {
                "Trigger was \"some_failed\" but thresholds were not met."
            }
            Trigger::ManualOnly | Trigger::Custom(_) => "Trigger failed",
        }
    }
}

fn within(
    upstream: &[&State],
    pred: fn(&State) -> bool,
    at_least: Option<Threshold>,
    at_most: Option<Threshold>,
) -> bool {
    let n_upstream = upstream.len();
    if n_upstream == 0 {
        // As in Prefect 1, thresholds are not checked without upstream tasks.
        return true;
    }
    let count = upstream.iter().filter(|state| pred(state)).count() as f64;
    let min = at_least.map_or(0.0, |t| t.resolve(n_upstream));
    let max = at_most.map_or(n_upstream as f64, |t| t.resolve(n_upstream));
    min <= count && count <= max
}

impl fmt::Debug for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::SomeSuccessful { at_least, at_most }
            | Trigger::SomeFailed { at_least, at_most } => f
                .debug_struct(self.name())
                .field("at_least", at_least)
                .field("at_most", at_most)
                .finish(),
            _ => f.write_str(self.name()),
        }
    }
}
