//! Retry policies: the delay before each retry (backoff, then deterministic jitter) and
//! which errors are retried.

use std::error::Error;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use crate::task::panic_message;

/// How the delay before a retry grows from one retry to the next.
///
/// Set it with [`TaskCall::retry_backoff`](crate::TaskCall::retry_backoff), or with the
/// `retry_backoff = exponential(initial = "1s", factor = 2.0, max = "1m")` option of
/// `#[task]`; [`TaskCall::retry_delay`](crate::TaskCall::retry_delay) (and the
/// `retry_delay` option) is the fixed form. The default is no delay.
///
/// Retries are numbered from 1: retry 1 follows the first attempt. A
/// [`Jitter`] set on the task is applied to the backoff's delay.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use flowcore::Backoff;
///
/// let backoff = Backoff::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(5));
/// let delays: Vec<u64> = (1..=5).map(|retry| backoff.delay(retry).as_secs()).collect();
/// assert_eq!(delays, [1, 2, 4, 5, 5]);
///
/// assert_eq!(Backoff::fixed(Duration::from_secs(3)).delay(7), Duration::from_secs(3));
/// ```
#[non_exhaustive]
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Backoff {
    /// The same delay before every retry.
    Fixed(Duration),
    /// `initial` before the first retry, multiplied by `factor` for each further one, and
    /// never more than `max`: the delay before retry `n` is
    /// `min(initial × factor^(n-1), max)`.
    ///
    /// The flow reports a [`BuildError::InvalidRetryPolicy`](crate::BuildError::InvalidRetryPolicy)
    /// unless `factor` is finite and at least 1.0, `initial` is longer than zero and
    /// `max` is at least `initial`.
    Exponential {
        /// The delay before the first retry.
        initial: Duration,
        /// What each delay is multiplied by to get the next one.
        factor: f64,
        /// The longest delay, jitter included.
        max: Duration,
    },
}

impl Default for Backoff {
    /// No delay: `Backoff::Fixed(Duration::ZERO)`.
    fn default() -> Backoff {
        Backoff::Fixed(Duration::ZERO)
    }
}

impl Backoff {
    /// The same `delay` before every retry.
    pub const fn fixed(delay: Duration) -> Backoff {
        Backoff::Fixed(delay)
    }

    /// `initial` before the first retry, then `factor` times longer each time, at most `max`.
    pub const fn exponential(initial: Duration, factor: f64, max: Duration) -> Backoff {
        Backoff::Exponential {
            initial,
            factor,
            max,
        }
    }

    /// The delay before retry `retry` (1 for the first retry; 0 counts as 1), before jitter.
    ///
    /// Never panics or overflows: an exponential delay that would pass `max` is `max`.
    pub fn delay(&self, retry: u32) -> Duration {
        match *self {
            Backoff::Fixed(delay) => delay,
            Backoff::Exponential {
                initial,
                factor,
                max,
            } => {
                if initial.is_zero() {
                    return Duration::ZERO;
                }
                let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
                let nanos = initial.as_nanos() as f64 * factor.powi(exponent);
                from_nanos(nanos, max)
            }
        }
    }

    /// What is wrong with the backoff, if anything.
    fn problem(&self) -> Option<String> {
        let Backoff::Exponential {
            initial,
            factor,
            max,
        } = *self
        else {
            return None;
        };
        if !(factor.is_finite() && factor >= 1.0) {
            return Some(format!(
                "`retry_backoff`: `factor` must be a finite number of at least 1.0, not {factor}"
            ));
        }
        if initial.is_zero() {
            return Some("`retry_backoff`: `initial` must be longer than zero".to_string());
        }
        if max < initial {
            return Some(format!(
                "`retry_backoff`: `max` ({max:?}) must not be shorter than `initial` ({initial:?})"
            ));
        }
        None
    }
}

/// How a retry's delay is spread, so that tasks failing together do not all retry at
/// the same instant.
///
/// Set it with [`TaskCall::retry_jitter`](crate::TaskCall::retry_jitter), or with the
/// `retry_jitter = full` or `retry_jitter = proportional(0.25)` option of `#[task]`.
///
/// The jitter is **deterministic**: it is not drawn from a random number generator but
/// derived from a hash of the flow's name, the task's name and the retry number (as
/// Airflow does). The same task of the same flow waits the same delays in every run and
/// on every machine, so tests on paused tokio time can rely on them, while different
/// tasks get different delays. The hash itself is not part of the API and may change
/// between flowcore versions. Runs of the same flow that fail together are therefore
/// not spread from each other.
///
/// For a [`Backoff::Exponential`] backoff, the jittered delay is also capped at its `max`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use flowcore::{Backoff, Jitter, task};
///
/// #[task]
/// async fn fetch(url: &'static str) -> Result<usize, std::io::Error> {
///     Ok(url.len())
/// }
///
/// // Retry 1 waits between 0.5s and 1.5s, retry 2 between 1s and 3s, and so on up to 30s.
/// let call = fetch("https://example.com")
///     .max_retries(5)
///     .retry_backoff(Backoff::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(30)))
///     .retry_jitter(Jitter::Proportional(0.5));
/// # let _ = call;
/// ```
#[non_exhaustive]
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub enum Jitter {
    /// The backoff's delay as it is (the default).
    #[default]
    None,
    /// Anywhere from zero to the backoff's delay `d`: uniform in `[0, d]`.
    Full,
    /// The backoff's delay `d` give or take the fraction `f` of it: uniform in
    /// `[d - f·d, d + f·d]`. `f` must be between 0.0 and 1.0, otherwise the flow reports a
    /// [`BuildError::InvalidRetryPolicy`](crate::BuildError::InvalidRetryPolicy).
    Proportional(f64),
}

impl Jitter {
    /// `delay` spread for retry `retry` of task `task` of flow `flow`.
    pub(crate) fn apply(self, delay: Duration, flow: &str, task: &str, retry: u32) -> Duration {
        let spread = match self {
            Jitter::None => return delay,
            Jitter::Full => unit_hash(flow, task, retry),
            Jitter::Proportional(fraction) => {
                let fraction = if fraction.is_finite() {
                    fraction.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                1.0 + fraction * (2.0 * unit_hash(flow, task, retry) - 1.0)
            }
        };
        from_nanos(delay.as_nanos() as f64 * spread, Duration::MAX)
    }

    fn problem(&self) -> Option<String> {
        match *self {
            Jitter::Proportional(fraction) if !(0.0..=1.0).contains(&fraction) => Some(format!(
                "`retry_jitter`: the proportion must be between 0.0 and 1.0, not {fraction}"
            )),
            _ => None,
        }
    }
}

/// A number in `[0, 1)` derived from the flow's name, the task's name and the retry
/// number: FNV-1a over the names, then the retry number mixed in with SplitMix64's
/// finalizer. The same on every platform and in every run.
fn unit_hash(flow: &str, task: &str, retry: u32) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    // The separator keeps ("ab", "c") and ("a", "bc") apart.
    for &byte in flow.as_bytes().iter().chain(&[0xff]).chain(task.as_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut x = hash ^ u64::from(retry).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    // The top 53 bits, as a fraction of 2^53: exact in an f64.
    (x >> 11) as f64 / (1_u64 << 53) as f64
}

/// A duration of `nanos` nanoseconds, rounded, from zero (for negative numbers) to `max`
/// (for larger numbers, infinity and NaN).
fn from_nanos(nanos: f64, max: Duration) -> Duration {
    if nanos <= 0.0 {
        return Duration::ZERO;
    }
    if nanos.is_nan() || nanos >= max.as_nanos() as f64 {
        return max;
    }
    if nanos < u64::MAX as f64 {
        return Duration::from_nanos(nanos.round() as u64).min(max);
    }
    Duration::try_from_secs_f64(nanos / 1e9).map_or(max, |duration| duration.min(max))
}

/// The predicate of [`TaskCall::retry_if`](crate::TaskCall::retry_if).
pub(crate) type RetryIfFn = dyn Fn(&(dyn Error + 'static)) -> bool + Send + Sync;

/// A task's retry options beyond `max_retries`. Boxed in the task's options and absent
/// for the default (no delay, every error retried), so tasks without them pay nothing.
#[derive(Clone, Debug, Default)]
pub(crate) struct RetryPolicy {
    pub(crate) backoff: Backoff,
    pub(crate) jitter: Jitter,
    pub(crate) retry_if: Option<RetryIf>,
}

/// The predicate deciding which body errors are retried.
#[derive(Clone)]
pub(crate) struct RetryIf(pub(crate) Arc<RetryIfFn>);

impl fmt::Debug for RetryIf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RetryIf(..)")
    }
}

impl RetryPolicy {
    /// The delay before retry `retry` (1 for the first) of task `task` of flow `flow`:
    /// the backoff's, jittered, and capped at an exponential backoff's `max`.
    pub(crate) fn delay(&self, flow: &str, task: &str, retry: u32) -> Duration {
        let delay = self
            .jitter
            .apply(self.backoff.delay(retry), flow, task, retry);
        match self.backoff {
            Backoff::Exponential { max, .. } => delay.min(max),
            Backoff::Fixed(_) => delay,
        }
    }

    /// What is wrong with the policy, naming the option, if anything.
    pub(crate) fn problem(&self) -> Option<String> {
        self.backoff.problem().or_else(|| self.jitter.problem())
    }

    /// The failed state's message when the predicate keeps a body's `error` from being
    /// retried, or `None` when it is retried. `message` is the error's message, which
    /// comes first; `attempt` of `attempts` says where the task stopped.
    ///
    /// The predicate is user code: a panic in it stops the retries and is reported.
    pub(crate) fn not_retried(
        &self,
        error: &(dyn Error + 'static),
        message: &str,
        attempt: u32,
        attempts: u64,
    ) -> Option<String> {
        let retry_if = self.retry_if.as_ref()?;
        match std::panic::catch_unwind(AssertUnwindSafe(|| (retry_if.0)(error))) {
            Ok(true) => None,
            Ok(false) => Some(format!(
                "{message} (not retried: `retry_if` rejected the error after attempt {attempt} of {attempts})"
            )),
            Err(panic) => Some(format!(
                "{message} (not retried: `retry_if` panicked after attempt {attempt} of {attempts}: {})",
                panic_message(&*panic)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    const fn secs(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn exponential_delays_double_up_to_the_cap() {
        let backoff = Backoff::exponential(secs(1), 2.0, secs(10));
        let delays: Vec<Duration> = (1..=6).map(|retry| backoff.delay(retry)).collect();
        assert_eq!(
            delays,
            [secs(1), secs(2), secs(4), secs(8), secs(10), secs(10)]
        );
        assert_eq!(backoff.delay(0), secs(1));
    }

    #[test]
    fn exponential_delays_with_a_fractional_factor_are_exact() {
        let backoff = Backoff::exponential(secs(1), 1.5, secs(60));
        assert_eq!(backoff.delay(2), Duration::from_millis(1500));
        assert_eq!(backoff.delay(3), Duration::from_millis(2250));
        let constant = Backoff::exponential(Duration::from_millis(300), 1.0, secs(1));
        assert_eq!(constant.delay(1000), Duration::from_millis(300));
    }

    #[test]
    fn exponential_delays_saturate_at_the_cap_without_overflow() {
        let backoff = Backoff::exponential(secs(1), 10.0, Duration::MAX);
        assert_eq!(backoff.delay(u32::MAX), Duration::MAX);
        assert!(backoff.delay(15) > secs(10_u64.pow(13)));
        let huge = Backoff::exponential(Duration::MAX, 2.0, Duration::MAX);
        assert_eq!(huge.delay(1), Duration::MAX);
        assert_eq!(huge.delay(u32::MAX), Duration::MAX);
        let capped = Backoff::exponential(secs(1), f64::MAX, secs(5));
        assert_eq!(capped.delay(2), secs(5));
        assert_eq!(capped.delay(u32::MAX), secs(5));
    }

    #[test]
    fn invalid_exponential_backoffs_never_panic() {
        for factor in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -2.0, 0.0, 0.5] {
            let backoff = Backoff::exponential(secs(1), factor, secs(8));
            for retry in [0, 1, 2, 3, 100, u32::MAX] {
                assert!(
                    backoff.delay(retry) <= secs(8),
                    "factor {factor}, retry {retry}"
                );
            }
        }
        assert_eq!(
            Backoff::exponential(Duration::ZERO, 2.0, secs(1)).delay(3),
            Duration::ZERO
        );
        assert_eq!(
            Backoff::exponential(secs(5), 2.0, secs(1)).delay(1),
            secs(1)
        );
    }

    #[test]
    fn fixed_delays_do_not_grow() {
        let backoff = Backoff::fixed(secs(3));
        assert_eq!(backoff.delay(1), secs(3));
        assert_eq!(backoff.delay(u32::MAX), secs(3));
        assert_eq!(Backoff::default().delay(1), Duration::ZERO);
    }

    #[test]
    fn backoff_problems_name_the_field() {
        let problem = |backoff: Backoff| backoff.problem();
        assert_eq!(problem(Backoff::fixed(secs(1))), None);
        assert_eq!(problem(Backoff::exponential(secs(1), 1.0, secs(1))), None);
        assert_eq!(
            problem(Backoff::exponential(secs(1), 0.5, secs(8))).as_deref(),
            Some("`retry_backoff`: `factor` must be a finite number of at least 1.0, not 0.5")
        );
        assert_eq!(
            problem(Backoff::exponential(secs(1), f64::NAN, secs(8))).as_deref(),
            Some("`retry_backoff`: `factor` must be a finite number of at least 1.0, not NaN")
        );
        assert!(problem(Backoff::exponential(secs(1), f64::INFINITY, secs(8))).is_some());
        assert_eq!(
            problem(Backoff::exponential(Duration::ZERO, 2.0, secs(8))).as_deref(),
            Some("`retry_backoff`: `initial` must be longer than zero")
        );
        assert_eq!(
            problem(Backoff::exponential(secs(2), 2.0, secs(1))).as_deref(),
            Some("`retry_backoff`: `max` (1s) must not be shorter than `initial` (2s)")
        );
    }

    #[test]
    fn jitter_problems_name_the_field() {
        assert_eq!(Jitter::None.problem(), None);
        assert_eq!(Jitter::Full.problem(), None);
        assert_eq!(Jitter::Proportional(0.0).problem(), None);
        assert_eq!(Jitter::Proportional(1.0).problem(), None);
        assert_eq!(
            Jitter::Proportional(1.5).problem().as_deref(),
            Some("`retry_jitter`: the proportion must be between 0.0 and 1.0, not 1.5")
        );
        assert!(Jitter::Proportional(-0.1).problem().is_some());
        assert!(Jitter::Proportional(f64::NAN).problem().is_some());
    }

    #[test]
    fn the_hash_spreads_evenly_over_zero_to_one() {
        let samples: Vec<f64> = (0..2000)
            .flat_map(|task| {
                let task = format!("task-{task}");
                (1..=5).map(move |retry| unit_hash("flow", &task, retry))
            })
            .collect();
        assert!(samples.iter().all(|unit| (0.0..1.0).contains(unit)));
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        assert!((0.48..0.52).contains(&mean), "mean {mean}");
        let below_tenth = samples.iter().filter(|&&unit| unit < 0.1).count();
        assert!(
            (800..1200).contains(&below_tenth),
            "{below_tenth} below 0.1"
        );
    }

    #[test]
    fn the_hash_depends_on_the_flow_the_task_and_the_retry() {
        let unit = unit_hash("flow", "fetch", 1);
        assert_eq!(unit, unit_hash("flow", "fetch", 1));
        assert_ne!(unit, unit_hash("flow", "fetch", 2));
        assert_ne!(unit, unit_hash("flow", "fetch-2", 1));
        assert_ne!(unit, unit_hash("other", "fetch", 1));
        assert_ne!(unit_hash("ab", "c", 1), unit_hash("a", "bc", 1));
    }

    #[test]
    fn full_jitter_stays_within_zero_and_the_delay() {
        let delays: Vec<Duration> = (1..=50)
            .map(|retry| Jitter::Full.apply(secs(10), "flow", "fetch", retry))
            .collect();
        assert!(delays.iter().all(|&delay| delay <= secs(10)));
        assert!(delays.iter().any(|&delay| delay < secs(5)));
        assert!(delays.iter().any(|&delay| delay > secs(5)));
        assert_eq!(
            Jitter::Full.apply(Duration::ZERO, "flow", "fetch", 1),
            Duration::ZERO
        );
    }

    #[test]
    fn proportional_jitter_stays_within_plus_or_minus_the_fraction() {
        let delays: Vec<Duration> = (1..=50)
            .map(|retry| Jitter::Proportional(0.25).apply(secs(8), "flow", "fetch", retry))
            .collect();
        assert!(
            delays
                .iter()
                .all(|&delay| (secs(6)..=secs(10)).contains(&delay))
        );
        assert!(delays.iter().any(|&delay| delay < secs(8)));
        assert!(delays.iter().any(|&delay| delay > secs(8)));
        assert_eq!(
            Jitter::Proportional(0.0).apply(secs(8), "flow", "fetch", 1),
            secs(8)
        );
        assert_eq!(Jitter::None.apply(secs(8), "flow", "fetch", 1), secs(8));
    }

    #[test]
    fn jitter_saturates_instead_of_overflowing() {
        let apply = |jitter: Jitter| -> Vec<Duration> {
            (1..=20)
                .map(|retry| jitter.apply(Duration::MAX, "flow", "fetch", retry))
                .collect()
        };
        assert!(
            apply(Jitter::Proportional(0.5))
                .iter()
                .all(|&delay| delay > Duration::MAX / 4)
        );
        // Above the delay, a proportional jitter saturates at the longest duration.
        let delays = apply(Jitter::Proportional(1.0));
        assert!(delays.contains(&Duration::MAX));
        assert!(delays.iter().any(|&delay| delay < Duration::MAX / 2));
        assert!(
            apply(Jitter::Full)
                .iter()
                .any(|&delay| delay < Duration::MAX / 2)
        );
        for fraction in [f64::NAN, f64::INFINITY, -1.0, 7.0] {
            let delay = Jitter::Proportional(fraction).apply(secs(4), "flow", "fetch", 1);
            assert!(delay <= secs(8), "fraction {fraction}");
        }
    }

    #[test]
    fn the_policy_caps_the_jittered_delay_at_the_backoffs_max() {
        let policy = RetryPolicy {
            backoff: Backoff::exponential(secs(1), 2.0, secs(4)),
            jitter: Jitter::Proportional(1.0),
            retry_if: None,
        };
        let delays: Vec<Duration> = (1..=40)
            .map(|retry| policy.delay("flow", "fetch", retry))
            .collect();
        assert!(delays.iter().all(|&delay| delay <= secs(4)));
        assert!(delays[..2].iter().all(|&delay| delay < secs(4)));
        let fixed = RetryPolicy {
            backoff: Backoff::fixed(secs(4)),
            jitter: Jitter::Proportional(0.5),
            retry_if: None,
        };
        let delays: Vec<Duration> = (1..=40)
            .map(|retry| fixed.delay("flow", "fetch", retry))
            .collect();
        assert!(delays.iter().any(|&delay| delay > secs(4)));
    }

    fn timed_out(error: &(dyn Error + 'static)) -> bool {
        error
            .downcast_ref::<io::Error>()
            .is_some_and(|error| error.kind() == io::ErrorKind::TimedOut)
    }

    #[test]
    fn the_predicate_decides_which_errors_are_retried() {
        let policy = RetryPolicy {
            retry_if: Some(RetryIf(Arc::new(timed_out))),
            ..RetryPolicy::default()
        };
        let retried = io::Error::new(io::ErrorKind::TimedOut, "slow");
        assert_eq!(policy.not_retried(&retried, "slow", 1, 3), None);
        let rejected = io::Error::new(io::ErrorKind::PermissionDenied, "denied");
        assert_eq!(
            policy.not_retried(&rejected, "denied", 1, 3).as_deref(),
            Some("denied (not retried: `retry_if` rejected the error after attempt 1 of 3)")
        );
        assert_eq!(
            RetryPolicy::default().not_retried(&rejected, "denied", 1, 3),
            None
        );
    }

    #[test]
    fn a_panicking_predicate_stops_the_retries() {
        let policy = RetryPolicy {
            retry_if: Some(RetryIf(Arc::new(|_: &(dyn Error + 'static)| -> bool {
                panic!("predicate bug")
            }))),
            ..RetryPolicy::default()
        };
        let error = io::Error::other("boom");
        assert_eq!(
            policy.not_retried(&error, "boom", 2, 4).as_deref(),
            Some("boom (not retried: `retry_if` panicked after attempt 2 of 4: predicate bug)")
        );
    }
}
