//! Tests: independent tasks run concurrently and a task starts as soon as its own upstream tasks finish.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowcore::{Flow, StateKind, task};
use tokio::sync::Barrier;
use tokio::time::Instant;

use crate::run;

#[task]
async fn meet(barrier: Arc<Barrier>) -> bool {
    barrier.wait().await.is_leader()
}

#[tokio::test(start_paused = true)]
async fn independent_tasks_run_at_the_same_time() {
    // Each task waits for all the others: only a concurrent run can finish.
    let barrier = Arc::new(Barrier::new(3));
    let mut flow = Flow::new("concurrent");
    let handles = [
        flow.add(meet(barrier.clone())),
        flow.add(meet(barrier.clone())),
        flow.add(meet(barrier.clone())),
    ];
    let report = tokio::time::timeout(Duration::from_secs(5), run(&flow))
        .await
        .expect("independent tasks did not run concurrently");
    let leaders = handles
        .iter()
        .filter(|&&handle| report.result(handle) == Some(&true))
        .count();
    assert_eq!(leaders, 1);
}

#[tokio::test(start_paused = true)]
async fn tasks_waiting_for_a_later_task_are_woken_by_it() {
    #[task]
    async fn meet_after(_waited: Duration, barrier: Arc<Barrier>) -> bool {
        barrier.wait().await.is_leader()
    }
    // The first three wait for the fourth, which starts a second later: whatever first
    // polled them, they are woken when it arrives.
    let barrier = Arc::new(Barrier::new(4));
    let mut flow = Flow::new("woken");
    let waiting: Vec<_> = (0..3).map(|_| flow.add(meet(barrier.clone()))).collect();
    let slept = flow.add(wait(Duration::from_secs(1)));
    let last = flow.add(meet_after(slept, barrier.clone()));
    let report = tokio::time::timeout(Duration::from_secs(5), run(&flow))
        .await
        .expect("the waiting tasks were not woken");
    let leaders = waiting
        .iter()
        .chain([&last])
        .filter(|&&handle| report.result(handle) == Some(&true))
        .count();
    assert_eq!(leaders, 1);
}

#[task]
async fn wait(duration: Duration) -> Duration {
    tokio::time::sleep(duration).await;
    duration
}

#[task]
async fn stamp(_upstream: Duration, started: Instant, log: Arc<Mutex<Vec<Duration>>>) -> Duration {
    let at = started.elapsed();
    log.lock().unwrap().push(at);
    at
}

#[tokio::test(start_paused = true)]
async fn a_task_does_not_wait_for_unrelated_slow_tasks() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut flow = Flow::new("no-layers");
    let slow = flow.add(wait(Duration::from_secs(100)));
    let fast = flow.add(wait(Duration::from_secs(1)));
    let after_fast = flow.add(stamp(fast, started, log.clone()));
    let after_slow = flow.add(stamp(slow, started, log.clone()));
    let report = run(&flow).await;
    assert_eq!(report.result(after_fast), Some(&Duration::from_secs(1)));
    assert_eq!(report.result(after_slow), Some(&Duration::from_secs(100)));
    assert_eq!(report.flow_state().kind(), StateKind::Success);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wide_flow_completes_on_a_multi_thread_runtime() {
    #[task]
    async fn leaf(i: u64) -> u64 {
        i
    }
    #[task]
    async fn total(parts: Vec<u64>) -> u64 {
        parts.iter().sum()
    }
    let mut flow = Flow::new("wide");
    let leaves: Vec<_> = (0..1000).map(|i| flow.add(leaf(i))).collect();
    let sum = flow.add(total(leaves));
    let report = run(&flow).await;
    assert_eq!(report.result(sum), Some(&(999 * 1000 / 2)));
    assert_eq!(report.flow_state().kind(), StateKind::Success);
}

#[tokio::test(start_paused = true)]
async fn every_task_of_a_wide_fan_out_runs_at_the_same_time() {
    // Wider than the number of tasks the runner decides at once: deciding in windows must
    // not limit how many tasks run concurrently.
    let mut flow = Flow::new("wide-sleepers");
    let sleepers: Vec<_> = (0..5000)
        .map(|_| flow.add(wait(Duration::from_secs(1))))
        .collect();
    let started = Instant::now();
    let report = run(&flow).await;
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    for sleeper in sleepers {
        assert_eq!(report.state(sleeper).kind(), StateKind::Success);
    }
}

/// Runs 5,000 independent tasks that each cancel the run; returns how many bodies ran and
/// how many tasks succeeded.
async fn fan_out_cancelled_by_its_tasks() -> (usize, usize) {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use flowcore::CancellationToken;

    #[task]
    async fn count(ran: Arc<AtomicUsize>, token: CancellationToken) {
        ran.fetch_add(1, Ordering::Relaxed);
        token.cancel();
    }
    let ran = Arc::new(AtomicUsize::new(0));
    let token = CancellationToken::new();
    let mut flow = Flow::new("wide-cancelled");
    let tasks: Vec<_> = (0..5000)
        .map(|_| flow.add(count(ran.clone(), token.clone())))
        .collect();
    let report = flow.runner().cancel_on(token).run().await.unwrap();
    assert_eq!(report.flow_state().kind(), StateKind::Cancelled);
    let mut succeeded = 0;
    for task in tasks {
        match report.state(task).kind() {
            StateKind::Success => succeeded += 1,
            StateKind::Cancelled => {}
            other => panic!("a task of the cancelled run ended {other}"),
        }
    }
    (ran.load(Ordering::Relaxed), succeeded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_stops_a_wide_fan_out_before_all_of_it_has_started() {
    let (ran, succeeded) = fan_out_cancelled_by_its_tasks().await;
    // The runner notices the cancellation while it is still starting tasks: most of
    // them never start. A body running on the other worker meanwhile may end after the
    // run stopped: its task was cancelled.
    assert!(
        ran <= 2500,
        "{ran} of 5000 tasks started after the first cancelled the run"
    );
    assert!(succeeded <= ran, "{succeeded} tasks succeeded, {ran} ran");
}

#[tokio::test]
async fn on_a_current_thread_runtime_no_task_starts_after_one_cancelled_the_run() {
    // The coordinator runs each body as it starts it, and checks for a cancellation
    // before it starts the next; the task whose body ended keeps its outcome.
    assert_eq!(fan_out_cancelled_by_its_tasks().await, (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_ended_before_the_cancellation_was_noticed_keeps_its_outcome() {
    use std::sync::atomic::{AtomicBool, Ordering};

    use flowcore::CancellationToken;

    #[task]
    async fn first(ended: Arc<AtomicBool>) -> u64 {
        ended.store(true, Ordering::Release);
        7
    }
    let ended = Arc::new(AtomicBool::new(false));
    let token = CancellationToken::new();
    let mut flow = Flow::new("ended-before-cancelled");
    let first = flow.add(first(ended.clone()));
    flow.add(next(0));
    // Started by the coordinator after the two others, in its first window: its hook
    // (which the coordinator runs) waits until the first body has ended on the other
    // worker and sent its outcome, then cancels the run before the coordinator has
    // taken any event.
    let cancel = token.clone();
    flow.add(next(0).on_state(move |change| {
        if change.state().kind() == StateKind::Running {
            let waited = Instant::now();
            while !ended.load(Ordering::Acquire) && waited.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(50));
            cancel.cancel();
        }
    }));
    // More tasks than one window decides: the coordinator checks for a cancellation
    // before it yields between windows.
    for _ in 0..2_000 {
        flow.add(next(0));
    }
    let report = flow.runner().cancel_on(token).run().await.unwrap();
    assert_eq!(report.flow_state().kind(), StateKind::Cancelled);
    assert_eq!(report.state(first).kind(), StateKind::Success);
    assert_eq!(report.result(first), Some(&7));
}

#[task]
async fn zero() -> u32 {
    0
}

/// Logs `name`, once its upstream task has finished.
#[task]
async fn record(_upstream: u32, name: &'static str, log: Arc<Mutex<Vec<&'static str>>>) {
    log.lock().unwrap().push(name);
}

#[tokio::test]
async fn tasks_made_ready_together_start_in_the_order_they_were_added() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut flow = Flow::new("ordered");
    // One slot: the tasks run one at a time, in the order they were started.
    flow.set_max_concurrency(1);
    let first = flow.add(zero());
    for name in ["a", "b", "c", "d"] {
        flow.add(record(first, name, log.clone()));
    }
    let report = run(&flow).await;
    assert_eq!(report.flow_state().kind(), StateKind::Success);
    assert_eq!(*log.lock().unwrap(), ["a", "b", "c", "d"]);
}

#[tokio::test(start_paused = true)]
async fn a_time_limit_stops_a_wide_fan_out_before_all_of_it_has_started() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[task]
    async fn slow(ran: Arc<AtomicUsize>) {
        ran.fetch_add(1, Ordering::Relaxed);
        // Each task takes a second of the (paused) clock without yielding to the timer.
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    let ran = Arc::new(AtomicUsize::new(0));
    let mut flow = Flow::new("wide-timed-out");
    flow.set_timeout(Duration::from_secs(5));
    let tasks: Vec<_> = (0..5000).map(|_| flow.add(slow(ran.clone()))).collect();
    let report = run(&flow).await;
    let ran = ran.load(Ordering::Relaxed);
    // The runner notices the time limit while it is still starting tasks.
    assert!(
        ran <= 2500,
        "{ran} of 5000 tasks started after the time limit passed"
    );
    let cancelled = tasks
        .iter()
        .filter(|&&task| report.state(task).kind() == StateKind::Cancelled)
        .count();
    assert!(
        cancelled >= 5000 - ran,
        "only {cancelled} tasks were cancelled"
    );
    assert_eq!(report.flow_state().kind(), StateKind::TimedOut);
}

#[tokio::test]
async fn tasks_made_ready_by_events_that_arrive_together_start_in_the_order_they_were_added() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut flow = Flow::new("ordered-events");
    let first = flow.add(zero());
    let second = flow.add(zero());
    // Added first, but its upstream task ends second: both upstream tasks have ended by
    // the time the runner looks, so both downstream tasks start in the order added.
    flow.add(record(second, "after-second", log.clone()));
    flow.add(record(first, "after-first", log.clone()));
    let report = run(&flow).await;
    assert_eq!(report.flow_state().kind(), StateKind::Success);
    assert_eq!(*log.lock().unwrap(), ["after-second", "after-first"]);
}

#[tokio::test]
async fn a_task_that_becomes_ready_later_starts_after_those_already_waiting() {
    #[task]
    async fn record_owned(name: String, log: Arc<Mutex<Vec<String>>>) {
        log.lock().unwrap().push(name);
    }
    #[task]
    async fn record_after(_upstream: u32, log: Arc<Mutex<Vec<String>>>) {
        log.lock().unwrap().push("late".to_string());
    }
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut flow = Flow::new("ordered-windows");
    flow.set_max_concurrency(1);
    let first = flow.add(zero());
    // More tasks ready at the start than the runner decides at once.
    for i in 0..1100 {
        flow.add(record_owned(format!("early-{i}"), log.clone()));
    }
    flow.add(record_after(first, log.clone()));
    let report = run(&flow).await;
    assert_eq!(report.flow_state().kind(), StateKind::Success);
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 1101);
    assert_eq!(log.last().map(String::as_str), Some("late"));
    assert_eq!(log[1099], "early-1099");
}

#[task]
async fn count(ran: Arc<std::sync::atomic::AtomicUsize>) {
    ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Runs `tasks` independent tasks under a token cancelled before the run starts: how many
/// of their bodies ran, the report and the tasks.
async fn run_cancelled_before_start(
    tasks: usize,
) -> (usize, flowcore::RunReport, Vec<flowcore::Handle<()>>) {
    let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut flow = Flow::new("cancelled-early");
    let tasks: Vec<_> = (0..tasks).map(|_| flow.add(count(ran.clone()))).collect();
    let token = flowcore::CancellationToken::new();
    token.cancel();
    let report = flow.runner().cancel_on(token).run().await.unwrap();
    (
        ran.load(std::sync::atomic::Ordering::Relaxed),
        report,
        tasks,
    )
}

#[tokio::test]
async fn a_run_cancelled_before_it_starts_runs_none_of_a_wide_fan_out() {
    let (ran, report, tasks) = run_cancelled_before_start(3000).await;
    assert_eq!(ran, 0);
    for task in tasks {
        assert_eq!(report.state(task).kind(), StateKind::Cancelled);
    }
    assert_eq!(report.flow_state().kind(), StateKind::Cancelled);
}

/// Logs, when dropped, the task whose context it was dropped in.
struct ContextGuard(Arc<Mutex<Vec<String>>>);

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let task = flowcore::TaskContext::current().map(|ctx| ctx.task_name().to_string());
        self.0.lock().unwrap().push(format!("dropped in {task:?}"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_body_is_dropped_with_its_context_before_the_run_hears_of_it() {
    #[task(timeout = "1s")]
    async fn hang(log: Arc<Mutex<Vec<String>>>) {
        let _guard = ContextGuard(log);
        std::future::pending::<()>().await;
    }
    #[task(trigger = always_run)]
    async fn after(_upstream: Option<()>, log: Arc<Mutex<Vec<String>>>) {
        log.lock().unwrap().push("downstream started".to_string());
    }
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut flow = Flow::new("dropped-in-context");
    let hung = flow.add(hang(log.clone()));
    flow.add(after(hung, log.clone()));
    let report = run(&flow).await;
    assert_eq!(report.state(hung).kind(), StateKind::TimedOut);
    assert_eq!(
        *log.lock().unwrap(),
        ["dropped in Some(\"hang\")", "downstream started"]
    );
}

// A task that is the only one that can run (no other is ready or running) is polled by the
// run itself rather than spawned; these tests hold it to the rules of a spawned attempt.

#[tokio::test(start_paused = true)]
async fn a_lone_task_stopped_by_the_time_limit_is_dropped_with_its_context_before_finally_runs() {
    #[task]
    async fn hang(log: Arc<Mutex<Vec<String>>>) {
        let _guard = ContextGuard(log);
        std::future::pending::<()>().await;
    }
    #[task]
    async fn clean_up(log: Arc<Mutex<Vec<String>>>) {
        log.lock().unwrap().push("finally ran".to_string());
    }
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut flow = Flow::new("lone-timed-out");
    let hung = flow.add(hang(log.clone()));
    let cleanup = flow.add_finally(clean_up(log.clone()));
    flow.set_timeout(Duration::from_secs(1));
    let report = run(&flow).await;
    assert_eq!(report.flow_state().kind(), StateKind::TimedOut);
    assert_eq!(report.state(hung).kind(), StateKind::Cancelled);
    assert_eq!(report.state(cleanup).kind(), StateKind::Success);
    assert_eq!(
        *log.lock().unwrap(),
        ["dropped in Some(\"hang\")", "finally ran"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_a_stopped_lone_task_is_dropped_does_not_stop_the_run() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("dropped");
        }
    }
    #[task]
    async fn hang() {
        let _guard = PanicOnDrop;
        std::future::pending::<()>().await;
    }
    #[task]
    async fn clean_up() {}
    let mut flow = Flow::new("panic-on-drop");
    let hung = flow.add(hang());
    let cleanup = flow.add_finally(clean_up());
    flow.set_timeout(Duration::from_secs(1));
    let report = run(&flow).await;
    assert_eq!(report.flow_state().kind(), StateKind::TimedOut);
    assert_eq!(report.state(hung).kind(), StateKind::Cancelled);
    assert_eq!(report.state(cleanup).kind(), StateKind::Success);
}

#[task]
async fn next(previous: u64) -> u64 {
    previous + 1
}

/// A chain of `len` tasks after a first one, whose last value is `len + 1`.
fn chain(len: usize) -> (Flow, flowcore::Handle<u64>) {
    let mut flow = Flow::new("chain");
    let mut last = flow.add(next(0));
    for _ in 0..len {
        last = flow.add(next(last));
    }
    (flow, last)
}

/// Runs `flow` beside a tokio task that counts in `ticks` how often it runs.
async fn run_beside_a_ticker(flow: &Flow, ticks: &Arc<AtomicU64>) -> flowcore::RunReport {
    let ticker = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            loop {
                ticks.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        }
    });
    let report = run(flow).await;
    ticker.abort();
    report
}

#[tokio::test]
async fn a_long_sequence_of_tasks_lets_other_tokio_tasks_run_meanwhile() {
    let (flow, last) = chain(5_000);
    let ticks = Arc::new(AtomicU64::new(0));
    let report = run_beside_a_ticker(&flow, &ticks).await;
    let ticks = ticks.load(Ordering::Relaxed);
    assert_eq!(report.result(last), Some(&5_001));
    // On this current-thread runtime the ticker only runs when the run yields.
    assert!(ticks > 10, "the run yielded {ticks} times");
}

#[tokio::test]
async fn a_wide_fan_out_lets_other_tokio_tasks_run_meanwhile() {
    let mut flow = Flow::new("wide");
    let source = flow.add(next(0));
    let children: Vec<_> = (0..5_000).map(|_| flow.add(next(source))).collect();
    let ticks = Arc::new(AtomicU64::new(0));
    let report = run_beside_a_ticker(&flow, &ticks).await;
    let ticks = ticks.load(Ordering::Relaxed);
    assert!(
        children
            .iter()
            .all(|&child| report.result(child) == Some(&2))
    );
    // The coordinator runs these bodies itself as it starts them, and still yields
    // every ~128 of them, not only after each window of 1,024 decisions.
    assert!(ticks > 10, "the run yielded {ticks} times");
}

#[tokio::test]
async fn a_wide_fan_out_of_bodies_that_wait_lets_other_tokio_tasks_run_meanwhile() {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    /// How many bodies started since the ticker last ran, and the most at once.
    #[derive(Default)]
    struct Starts {
        ticks_seen: AtomicU64,
        since_tick: AtomicUsize,
        most: AtomicUsize,
    }
    #[task]
    async fn waits_once(ticks: Arc<AtomicU64>, starts: Arc<Starts>) {
        let now = ticks.load(Ordering::Relaxed);
        if starts.ticks_seen.swap(now, Ordering::Relaxed) == now {
            let since = starts.since_tick.fetch_add(1, Ordering::Relaxed) + 1;
            starts.most.fetch_max(since, Ordering::Relaxed);
        } else {
            starts.since_tick.store(1, Ordering::Relaxed);
        }
        tokio::task::yield_now().await;
    }
    let ticks = Arc::new(AtomicU64::new(0));
    let starts = Arc::new(Starts::default());
    let mut flow = Flow::new("waiting-bodies");
    for _ in 0..5_000 {
        flow.add(waits_once(ticks.clone(), starts.clone()));
    }
    let report = run_beside_a_ticker(&flow, &ticks).await;
    assert_eq!(report.flow_state().kind(), StateKind::Success);
    // A first poll counts against the run's cooperative budget whether or not the body
    // ended then, so the run yields long before a window of 1,024 decisions is over.
    let most = starts.most.load(Ordering::Relaxed);
    assert!(
        most < 1_000,
        "{most} bodies started without the runtime running anything else"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_keep_their_thread_busy_run_on_both_workers() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Keeps its thread busy for 20 ms, counting the bodies busy at the same time.
    #[task]
    async fn spin(busy: Arc<AtomicUsize>, most: Arc<AtomicUsize>) {
        let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
        most.fetch_max(now, Ordering::SeqCst);
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(20) {
            std::hint::spin_loop();
        }
        busy.fetch_sub(1, Ordering::SeqCst);
    }
    let (busy, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut flow = Flow::new("busy");
    for _ in 0..8 {
        flow.add(spin(busy.clone(), most.clone()));
    }
    let report = run(&flow).await;
    assert_eq!(report.flow_state().kind(), StateKind::Success);
    // The coordinator runs short bodies itself, but hands long ones to the runtime.
    assert_eq!(most.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_sequence_of_tasks_completes_on_a_multi_thread_runtime() {
    let (flow, last) = chain(5_000);
    let report = run(&flow).await;
    assert_eq!(report.flow_state().kind(), StateKind::Success);
    assert_eq!(report.result(last), Some(&5_001));
}

#[tokio::test]
async fn a_run_cancelled_before_it_starts_does_not_run_its_lone_task() {
    let (ran, report, tasks) = run_cancelled_before_start(1).await;
    assert_eq!(ran, 0);
    assert_eq!(report.state(tasks[0]).kind(), StateKind::Cancelled);
    assert_eq!(report.flow_state().kind(), StateKind::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_task_that_blocks_its_thread_does_not_hold_up_the_time_limit() {
    use std::sync::atomic::{AtomicBool, Ordering};

    #[task]
    async fn block(release: Arc<AtomicBool>) {
        // Blocks its worker (as `block_in_place` allows) until the test has its report,
        // or for 10 s at most.
        tokio::task::block_in_place(|| {
            for _ in 0..10_000 {
                if release.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
    }
    let release = Arc::new(AtomicBool::new(false));
    let mut flow = Flow::new("lone-blocking");
    let blocked = flow.add(block(release.clone()));
    flow.set_timeout(Duration::from_millis(50));
    let report = run(&flow).await;
    release.store(true, Ordering::Relaxed);
    assert_eq!(report.flow_state().kind(), StateKind::TimedOut);
    assert_eq!(report.state(blocked).kind(), StateKind::Cancelled);
}
