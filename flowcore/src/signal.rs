//! Signals: how a task body ends itself in a chosen state (SUCCESS, FAIL, RETRY, SKIP, PAUSE).

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::error::BoxError;

/// Which state a [`Signal`] asks for.
#[non_exhaustive]
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum SignalKind {
    /// End the task as `Success`, with an optional value.
    Success,
    /// End the task as `Failed`; retried like any failure while retries remain.
    Fail,
    /// Retry the task now or after a delay, within the task's `max_retries` budget.
    Retry,
    /// End the task as `Skipped`; downstream tasks are skipped too unless they opt out.
    Skip,
    /// Pause the task until it is approved or the pause's duration elapses.
    Pause,
}

/// A signal a task body returns, as its error, to move the task into a chosen state.
///
/// Return it with `Err(signal)` (or `Err(signal.into())` when the body's error type is
/// `Box<dyn Error + Send + Sync>`, `anyhow::Error` or similar); the runner recognises it
/// whatever error type carried it.
///
/// How `RETRY` relates to `max_retries`: a `RETRY` uses the same budget as a failure.
/// While attempts remain it schedules the next one (after the signal's delay, or else the
/// delay the task's retry policy gives this retry: its `retry_delay` or
/// [`Backoff`](crate::Backoff), with its [`Jitter`](crate::Jitter)); once `max_retries` is
/// used up the task ends `Failed`.
/// This differs from Prefect 1, where `RETRY` ignores `max_retries` and can loop forever.
/// Signals are explicit requests: [`TaskCall::retry_if`](crate::TaskCall::retry_if) does
/// not filter them, so a `RETRY` is retried and a `FAIL` is retried like a failure.
///
/// # Examples
///
/// ```
/// use flowcore::{Flow, Signal, StateKind, task};
///
/// #[task]
/// async fn signal_task(message: String) -> Result<String, Signal> {
///     match message.as_str() {
///         "go!" => Err(Signal::success("going!").with_value(message)),
///         "stop!" => Err(Signal::fail("stopping!")),
///         "skip!" => Err(Signal::skip("skipping!")),
///         _ => Ok(message),
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut flow = Flow::new("signals");
/// let stop = flow.add(signal_task("stop!".to_string()));
/// let report = flow.run().await.unwrap();
/// assert_eq!(report.state(stop).kind(), StateKind::Failed);
/// assert_eq!(report.state(stop).message(), "stopping!");
/// # }
/// ```
pub struct Signal {
    pub(crate) kind: SignalKind,
    pub(crate) message: Cow<'static, str>,
    pub(crate) delay: Option<Duration>,
    pub(crate) value: Option<Box<dyn Any + Send + Sync>>,
}

impl Signal {
    fn new(kind: SignalKind, message: impl Into<Cow<'static, str>>) -> Signal {
        Signal {
            kind,
            message: message.into(),
            delay: None,
            value: None,
        }
    }

    /// `SUCCESS`: end as `Success`. Attach the task's output with [`Signal::with_value`].
    pub fn success(message: impl Into<Cow<'static, str>>) -> Signal {
        Signal::new(SignalKind::Success, message)
    }

    /// `FAIL`: end as `Failed` (retried while retries remain).
    pub fn fail(message: impl Into<Cow<'static, str>>) -> Signal {
        Signal::new(SignalKind::Fail, message)
    }

    /// `RETRY`: run the task again, within its `max_retries` budget.
    pub fn retry(message: impl Into<Cow<'static, str>>) -> Signal {
        Signal::new(SignalKind::Retry, message)
    }

    /// `SKIP`: end as `Skipped`.
    pub fn skip(message: impl Into<Cow<'static, str>>) -> Signal {
        Signal::new(SignalKind::Skip, message)
    }

    /// `PAUSE`: wait for approval; with [`Signal::with_delay`], resume by itself after that long.
    ///
    /// When the task is resumed its body runs again with
    /// [`TaskContext::is_resumed`](crate::TaskContext::is_resumed) true;
    /// [`pause`](crate::pause) is the usual way to pause once and go on when approved.
    pub fn pause(message: impl Into<Cow<'static, str>>) -> Signal {
        Signal::new(SignalKind::Pause, message)
    }

    /// The value a `SUCCESS` signal gives the task as its output.
    ///
    /// The value's type must be the task's output type; otherwise the task ends
    /// `Failed` with a message naming both types.
    #[must_use = "returns the changed signal"]
    pub fn with_value<T: Any + Send + Sync>(mut self, value: T) -> Signal {
        self.value = Some(Box::new(value));
        self
    }

    /// The delay before the next attempt, for `RETRY`, or the pause's length, for `PAUSE`.
    #[must_use = "returns the changed signal"]
    pub fn with_delay(mut self, delay: Duration) -> Signal {
        self.delay = Some(delay);
        self
    }

    /// Which state the signal asks for.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }

    /// The message the task's state will carry.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The delay set with [`Signal::with_delay`].
    pub fn delay(&self) -> Option<Duration> {
        self.delay
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("delay", &self.delay)
            .field("has_value", &self.value.is_some())
            .finish()
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.kind {
            SignalKind::Success => "SUCCESS",
            SignalKind::Fail => "FAIL",
            SignalKind::Retry => "RETRY",
            SignalKind::Skip => "SKIP",
            SignalKind::Pause => "PAUSE",
        };
        write!(f, "{name} signal: {}", self.message)
    }
}

impl std::error::Error for Signal {}

/// Boxes a task body's error so that a [`Signal`] inside it stays recognisable.
///
/// Most error types box as themselves; `anyhow::Error` boxes as a wrapper, so the signal
/// is taken out of it first (with the `anyhow` feature, on by default).
pub(crate) fn into_box_error<E: Into<BoxError> + 'static>(error: E) -> BoxError {
    #[cfg(feature = "anyhow")]
    {
        let mut slot = Some(error);
        if let Some(carrier) = (&mut slot as &mut dyn Any).downcast_mut::<Option<anyhow::Error>>()
            && let Some(error) = carrier.take()
        {
            return match error.downcast::<Signal>() {
                Ok(signal) => Box::new(signal),
                Err(error) => error.into(),
            };
        }
        match slot {
            Some(error) => error.into(),
            None => unreachable!("the error is taken only when it is an anyhow::Error"),
        }
    }
    #[cfg(not(feature = "anyhow"))]
    error.into()
}
