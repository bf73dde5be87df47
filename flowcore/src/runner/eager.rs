//! On a multi-thread runtime, whether the coordinator polls the attempts it starts itself:
//! as long as doing so costs less than handing them to the runtime.
//!
//! An attempt the coordinator polls first (see `Attempts::eager`) and that ends then costs
//! no spawn, no wake and no trip between workers, but its body runs on the coordinator's
//! worker, one body after the other. That pays while bodies are about as short as the
//! coordinator's own work per task: the coordinator decides tasks one at a time anyway,
//! so handing out bodies shorter than the hand-out itself gains nothing from the other
//! workers.
//!
//! Longer bodies belong on the other workers: once a window of decisions' eager polls
//! have taken longer than [`SLOW_PER_ATTEMPT`] each on average, and [`SLOW_WINDOW`] in
//! all (checked after every poll, so a long body is the last one polled eagerly, while a
//! poll that met a page fault does not count as slow), the rest of the window spawns its
//! attempts and eager polls pause for the next windows: one window the first time, twice
//! as many each time in a row that the first window after a pause is slow again. A run of
//! long bodies thus soon spawns nearly all of them, while a window slowed down by
//! something else (the thread was preempted) costs one window.

use std::time::{Duration, Instant};

/// The average time of an eager poll above which a window counts as slow. Only the polls
/// are timed, not the decisions between them (whose time depends on the size of the run
/// and on what the other workers do, not on the bodies). A no-op body's poll takes a
/// fraction of a microsecond.
const SLOW_PER_ATTEMPT: Duration = Duration::from_micros(2);

/// How long a window's eager polls must have taken before they can count as slow.
const SLOW_WINDOW: Duration = Duration::from_micros(50);

/// The longest pause, in windows.
const MAX_PAUSE: u32 = 1024;

/// Whether the next window may poll attempts eagerly, from how the last ones went.
#[derive(Debug)]
pub(super) struct Eagerness {
    /// Windows left before eager polls are tried again.
    paused: u32,
    /// How long the next pause is, in windows.
    next_pause: u32,
}

impl Eagerness {
    pub(super) fn new() -> Eagerness {
        Eagerness {
            paused: 0,
            next_pause: 1,
        }
    }

    /// Whether the next window may poll attempts eagerly.
    pub(super) fn allows(&self) -> bool {
        self.paused == 0
    }

    /// A window ended, having decided `decided` tasks and polled some of their attempts
    /// eagerly, as `window` tells.
    pub(super) fn window_ended(&mut self, decided: usize, window: &EagerWindow) {
        if self.paused > 0 {
            if decided > 0 {
                self.paused -= 1;
            }
            return;
        }
        if window.polled == 0 {
            return;
        }
        if window.slow {
            self.paused = self.next_pause;
            self.next_pause = (self.next_pause * 2).min(MAX_PAUSE);
        } else {
            self.next_pause = 1;
        }
    }
}

/// The eager polls of one window of decisions.
#[derive(Debug, Default)]
pub(super) struct EagerWindow {
    /// Whether the polls are timed (on a multi-thread runtime).
    timed: bool,
    /// The coordinator's cooperative budget is spent: the window ends.
    pub(super) spent: bool,
    polled: u32,
    /// When the poll under way started, when timed.
    started: Option<Instant>,
    /// How long the window's polls took, when timed.
    busy: Duration,
    /// The polls took longer than [`SLOW_PER_ATTEMPT`] each on average, and than
    /// [`SLOW_WINDOW`] in all.
    slow: bool,
}

impl EagerWindow {
    pub(super) fn new(timed: bool) -> EagerWindow {
        EagerWindow {
            timed,
            ..EagerWindow::default()
        }
    }

    /// An eager poll is about to start.
    pub(super) fn poll_starts(&mut self) {
        if self.timed {
            self.started = Some(Instant::now());
        }
    }

    /// An eager poll ended; says whether the window may poll more.
    pub(super) fn poll_ended(&mut self) -> bool {
        self.polled += 1;
        if let Some(started) = self.started.take() {
            self.busy += started.elapsed();
            if self.busy > SLOW_WINDOW && self.busy > SLOW_PER_ATTEMPT * self.polled {
                self.slow = true;
            }
        }
        !self.slow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window that polled `polled` attempts, slow or not.
    fn window(polled: u32, slow: bool) -> EagerWindow {
        EagerWindow {
            polled,
            slow,
            ..EagerWindow::default()
        }
    }

    /// Ends `n` windows of 10 decisions, each polling 10 attempts when eager polls are
    /// allowed, slow or not; returns which windows were eager.
    fn windows(eagerness: &mut Eagerness, n: usize, slow: bool) -> Vec<bool> {
        (0..n)
            .map(|_| {
                let eager = eagerness.allows();
                let polled = if eager { 10 } else { 0 };
                eagerness.window_ended(10, &window(polled, slow));
                eager
            })
            .collect()
    }

    #[test]
    fn short_bodies_stay_eager() {
        let mut eagerness = Eagerness::new();
        let eager = windows(&mut eagerness, 100, false);
        assert!(eager.iter().all(|&eager| eager));
    }

    #[test]
    fn a_slow_window_pauses_one_window_then_eager_polls_resume() {
        let mut eagerness = Eagerness::new();
        eagerness.window_ended(10, &window(10, true));
        assert_eq!(windows(&mut eagerness, 4, false), [false, true, true, true]);
        // The slow window was forgotten: the next one pauses one window again.
        eagerness.window_ended(10, &window(10, true));
        assert_eq!(windows(&mut eagerness, 2, false), [false, true]);
    }

    #[test]
    fn long_bodies_pause_eager_polls_for_twice_as_long_each_time() {
        let mut eagerness = Eagerness::new();
        let eager = windows(&mut eagerness, 32, true);
        let tried: Vec<usize> = (0..eager.len()).filter(|&i| eager[i]).collect();
        // Tried, paused 1, tried, paused 2, tried, paused 4, tried, paused 8, tried, ...
        assert_eq!(tried, [0, 2, 5, 10, 19]);
    }

    #[test]
    fn pauses_count_windows_that_decided_something_and_are_bounded() {
        let mut eagerness = Eagerness::new();
        eagerness.window_ended(10, &window(10, true));
        eagerness.window_ended(0, &window(0, false));
        assert!(!eagerness.allows());
        eagerness.window_ended(1, &window(0, false));
        assert!(eagerness.allows());
        for _ in 0..20 {
            while !eagerness.allows() {
                eagerness.window_ended(1, &window(0, false));
            }
            eagerness.window_ended(10, &window(10, true));
        }
        assert_eq!(eagerness.paused, MAX_PAUSE);
    }

    #[test]
    fn a_window_without_eager_polls_changes_nothing() {
        let mut eagerness = Eagerness::new();
        eagerness.window_ended(10, &window(0, true));
        assert!(eagerness.allows());
        assert_eq!(eagerness.next_pause, 1);
    }

    #[test]
    fn a_window_is_slow_once_its_polls_took_longer_than_the_limit_on_average() {
        let mut window = EagerWindow::new(true);
        window.poll_starts();
        // A million polls may take up to 2 s.
        window.polled = 999_999;
        assert!(window.poll_ended());
        let mut window = EagerWindow::new(true);
        window.started = Some(Instant::now() - Duration::from_millis(10));
        assert!(!window.poll_ended());
        window.poll_starts();
        assert!(!window.poll_ended(), "a slow window stays slow");
    }

    #[test]
    fn a_window_is_not_slow_before_its_polls_took_long_in_all() {
        let mut window = EagerWindow::new(true);
        window.poll_starts();
        // Well over the average, well under the total: one poll that met a page fault.
        std::thread::sleep(Duration::from_micros(10));
        assert!(window.poll_ended() || window.busy > SLOW_WINDOW);
        // The time between polls (the coordinator's decisions) does not count.
        let first = window.busy;
        std::thread::sleep(Duration::from_millis(20));
        window.poll_starts();
        window.poll_ended();
        assert!(window.busy - first < Duration::from_millis(20));
    }

    #[test]
    fn an_untimed_window_is_never_slow() {
        let mut window = EagerWindow::new(false);
        window.poll_starts();
        std::thread::sleep(Duration::from_millis(1));
        assert!(window.poll_ended());
    }
}
