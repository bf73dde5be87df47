//! Task and flow states, and how each is classified (finished, successful, failed).

use std::borrow::Cow;
use std::fmt;

use tokio::time::Instant;

/// What a task (or a flow) is doing or how it ended.
///
/// The classification follows Prefect 1: `Skipped` is a success,
/// `TriggerFailed` and `TimedOut` are failures, `Cancelled` is finished but
/// neither successful nor failed, and the waiting kinds are not finished.
/// `Warning` is flowcore's own: a failure the task was allowed to have
/// ([`TaskCall::allow_failure`](crate::TaskCall::allow_failure)), which counts as a success.
/// `Cached`, as in Prefect 1, is a success whose result came from the cache.
///
/// | kind | finished | successful | failed |
/// |---|---|---|---|
/// | `Pending`, `Queued`, `Scheduled`, `Retrying`, `Running`, `Paused` | no | no | no |
/// | `Success`, `Cached`, `Skipped`, `Warning`, `Mapped` | yes | yes | no |
/// | `Failed`, `TriggerFailed`, `TimedOut` | yes | no | yes |
/// | `Cancelled` | yes | no | no |
#[non_exhaustive]
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum StateKind {
    /// Waiting for its upstream tasks to finish.
    Pending,
    /// Waiting for a start time.
    Scheduled,
    /// Ready to run, waiting for a concurrency slot (a run's, a mapped task's or a tag's limit).
    Queued,
    /// An attempt failed and another one is scheduled.
    Retrying,
    /// An attempt is in progress.
    Running,
    /// Waiting for approval (see [`RunReport::approve`](crate::RunReport::approve)) or for a pause to elapse.
    Paused,
    /// Ran to completion.
    Success,
    /// Finished with a result taken from the cache, without running the body: an earlier
    /// run in this process ran the task with the same cache key (see
    /// [`Cache`](crate::Cache)). A success; the message gives the key and when the
    /// entry expires. The run count includes the attempt the cache answered.
    Cached,
    /// Did not run, by a `SKIP` signal or because an upstream task was skipped; counts as a success.
    Skipped,
    /// The body returned an error, panicked or sent `FAIL`.
    Failed,
    /// The trigger did not pass, so the body never ran; a kind of failure.
    TriggerFailed,
    /// The attempt ran longer than the task's timeout; a kind of failure.
    TimedOut,
    /// Stopped from outside (the run was cancelled or timed out); finished, neither
    /// successful nor failed.
    Cancelled,
    /// Failed, but the task was allowed to fail: its downstream tasks and the flow treat
    /// it as a success, and the message says how it failed.
    Warning,
    /// A mapped task whose children have all finished. It counts as a success itself;
    /// its downstream tasks' triggers and the flow's final state look at its children's
    /// states instead (see [`Flow::map`](crate::Flow::map)).
    Mapped,
}

impl StateKind {
    /// The name of this kind, as shown in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            StateKind::Pending => "Pending",
            StateKind::Scheduled => "Scheduled",
            StateKind::Queued => "Queued",
            StateKind::Retrying => "Retrying",
            StateKind::Running => "Running",
            StateKind::Paused => "Paused",
            StateKind::Success => "Success",
            StateKind::Cached => "Cached",
            StateKind::Skipped => "Skipped",
            StateKind::Failed => "Failed",
            StateKind::TriggerFailed => "TriggerFailed",
            StateKind::TimedOut => "TimedOut",
            StateKind::Cancelled => "Cancelled",
            StateKind::Warning => "Warning",
            StateKind::Mapped => "Mapped",
        }
    }

    /// Whether the task is done: no further attempt will run in this run.
    pub const fn is_finished(self) -> bool {
        matches!(
            self,
            StateKind::Success
                | StateKind::Cached
                | StateKind::Skipped
                | StateKind::Failed
                | StateKind::TriggerFailed
                | StateKind::TimedOut
                | StateKind::Cancelled
                | StateKind::Warning
                | StateKind::Mapped
        )
    }

    /// Whether this is a success (`Success`, `Cached`, `Skipped`, `Warning` or `Mapped`).
    pub const fn is_successful(self) -> bool {
        matches!(
            self,
            StateKind::Success
                | StateKind::Cached
                | StateKind::Skipped
                | StateKind::Warning
                | StateKind::Mapped
        )
    }

    /// Whether this is a failure (`Failed`, `TriggerFailed` or `TimedOut`).
    pub const fn is_failed(self) -> bool {
        matches!(
            self,
            StateKind::Failed | StateKind::TriggerFailed | StateKind::TimedOut
        )
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state with its message, attempt count and, for waiting states, when the next attempt starts.
///
/// # Examples
///
/// ```
/// use flowcore::{State, StateKind};
///
/// let state = State::failed("disk full");
/// assert_eq!(state.kind(), StateKind::Failed);
/// assert!(state.is_finished() && state.is_failed() && !state.is_successful());
/// assert_eq!(state.message(), "disk full");
/// assert!(State::skipped("no data").is_successful());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    kind: StateKind,
    message: Cow<'static, str>,
    run_count: u32,
    start_time: Option<Instant>,
}

impl State {
    /// A state of `kind` with `message`.
    pub fn new(kind: StateKind, message: impl Into<Cow<'static, str>>) -> State {
        State {
            kind,
            message: message.into(),
            run_count: 0,
            start_time: None,
        }
    }

    pub(crate) const fn fixed(kind: StateKind, message: &'static str) -> State {
        State {
            kind,
            message: Cow::Borrowed(message),
            run_count: 0,
            start_time: None,
        }
    }

    /// A `Pending` state.
    pub fn pending() -> State {
        State::fixed(StateKind::Pending, "")
    }

    /// A `Success` state.
    pub fn success(message: impl Into<Cow<'static, str>>) -> State {
        State::new(StateKind::Success, message)
    }

    /// A `Failed` state.
    pub fn failed(message: impl Into<Cow<'static, str>>) -> State {
        State::new(StateKind::Failed, message)
    }

    /// A `Skipped` state.
    pub fn skipped(message: impl Into<Cow<'static, str>>) -> State {
        State::new(StateKind::Skipped, message)
    }

    /// A `TriggerFailed` state.
    pub fn trigger_failed(message: impl Into<Cow<'static, str>>) -> State {
        State::new(StateKind::TriggerFailed, message)
    }

    /// A `TimedOut` state.
    pub fn timed_out(message: impl Into<Cow<'static, str>>) -> State {
        State::new(StateKind::TimedOut, message)
    }

    /// A `Cancelled` state.
    pub fn cancelled(message: impl Into<Cow<'static, str>>) -> State {
        State::new(StateKind::Cancelled, message)
    }

    /// A `Paused` state.
    pub fn paused(message: impl Into<Cow<'static, str>>) -> State {
        State::new(StateKind::Paused, message)
    }

    /// Sets how many attempts have started so far.
    #[must_use = "returns the changed state"]
    pub fn with_run_count(mut self, run_count: u32) -> State {
        self.run_count = run_count;
        self
    }

    /// Sets when the next attempt starts (for `Scheduled`, `Retrying` and timed `Paused` states).
    #[must_use = "returns the changed state"]
    pub fn with_start_time(mut self, start_time: Instant) -> State {
        self.start_time = Some(start_time);
        self
    }

    /// The kind of state.
    pub fn kind(&self) -> StateKind {
        self.kind
    }

    /// The message: why the task is in this state.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How many attempts of the task's body have started.
    pub fn run_count(&self) -> u32 {
        self.run_count
    }

    /// When the next attempt starts, for `Retrying`, `Scheduled` and timed `Paused` states.
    pub fn start_time(&self) -> Option<Instant> {
        self.start_time
    }

    /// See [`StateKind::is_finished`].
    pub fn is_finished(&self) -> bool {
        self.kind.is_finished()
    }

    /// See [`StateKind::is_successful`].
    pub fn is_successful(&self) -> bool {
        self.kind.is_successful()
    }

    /// See [`StateKind::is_failed`].
    pub fn is_failed(&self) -> bool {
        self.kind.is_failed()
    }

    /// Whether the state is `Skipped`.
    pub fn is_skipped(&self) -> bool {
        self.kind == StateKind::Skipped
    }

    /// Whether the state is `Paused`.
    pub fn is_paused(&self) -> bool {
        self.kind == StateKind::Paused
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.kind, self.message)
        }
    }
}
