//! Tests: concurrency limits: a run's cap, a mapped task's cap on its children, and
//! process-wide tag limits shared by every flow.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use flowcore::StateKind::*;
use flowcore::{CancellationToken, Flow, each, remove_tag_limit, set_tag_limit, task};
use tokio::time::Instant;

use crate::run;

/// Counts how many bodies run at once and the most that ever did.
#[derive(Clone, Default)]
struct Gauge {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

impl Gauge {
    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

#[task]
async fn work(gauge: Gauge, secs: u64) -> u64 {
    let now = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
    gauge.max.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    gauge.now.fetch_sub(1, Ordering::SeqCst);
    secs
}

#[task]
async fn work_item(item: u64, gauge: Gauge) -> u64 {
    let now = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
    gauge.max.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(10)).await;
    gauge.now.fetch_sub(1, Ordering::SeqCst);
    item
}

#[tokio::test(start_paused = true)]
async fn a_run_cap_queues_the_attempts_beyond_it() {
    let gauge = Gauge::default();
    let mut flow = Flow::new("capped");
    let tasks: Vec<_> = (0..6)
        .map(|i| flow.add(work(gauge.clone(), 10).name(format!("w{i}"))))
        .collect();
    flow.set_max_concurrency(2);
    let started = Instant::now();
    let report = run(&flow).await;
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    assert_eq!(gauge.max(), 2);
    report.check(tasks[0]).went_through(&[Running, Success]);
    report
        .check(tasks[5])
        .is(Success)
        .went_through(&[Queued, Running, Success]);
    report.check_flow(Success);
}

#[tokio::test(start_paused = true)]
async fn a_mapped_task_caps_its_children() {
    let gauge = Gauge::default();
    let mut flow = Flow::new("batches");
    let items: Vec<u64> = (0..9).collect();
    let done = flow.map(work_item(each(items), gauge.clone()).max_concurrency(3));
    let started = Instant::now();
    let report = run(&flow).await;
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    assert_eq!(gauge.max(), 3);
    report
        .check(done)
        .is(Mapped)
        .result(&(0..9).collect::<Vec<u64>>());
    report
        .check("work_item[8]")
        .went_through(&[Queued, Running, Success]);
}

#[tokio::test(start_paused = true)]
async fn a_tag_limit_is_shared_by_every_flow_of_the_process() {
    set_tag_limit("it-limits-db", 2);
    let gauge = Gauge::default();
    let flow_of = |name: &str| {
        let mut flow = Flow::new(name);
        for i in 0..3 {
            flow.add(
                work(gauge.clone(), 10)
                    .name(format!("q{i}"))
                    .tag("it-limits-db"),
            );
        }
        flow
    };
    let (a, b) = (flow_of("a"), flow_of("b"));
    let started = Instant::now();
    let (ra, rb) = tokio::join!(run(&a), run(&b));
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    assert_eq!(gauge.max(), 2);
    ra.check_flow(Success);
    rb.check_flow(Success);
    remove_tag_limit("it-limits-db");
}

#[tokio::test(start_paused = true)]
async fn a_tag_without_a_limit_holds_nothing_back() {
    let gauge = Gauge::default();
    let mut flow = Flow::new("free");
    let first = flow.add(work(gauge.clone(), 10).name("a").tag("it-limits-none"));
    flow.add(work(gauge.clone(), 10).name("b").tag("it-limits-none"));
    let started = Instant::now();
    let report = run(&flow).await;
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(gauge.max(), 2);
    report.check(first).went_through(&[Running, Success]);
}

#[tokio::test(start_paused = true)]
async fn waiting_for_a_slot_does_not_count_against_the_timeout() {
    let gauge = Gauge::default();
    let mut flow = Flow::new("capped");
    flow.add(work(gauge.clone(), 10).name("first"));
    let second = flow.add(
        work(gauge.clone(), 10)
            .name("second")
            .timeout(Duration::from_secs(15)),
    );
    flow.set_max_concurrency(1);
    let report = run(&flow).await;
    report.check(second).is(Success).result(&10);
}

#[tokio::test(start_paused = true)]
async fn a_retry_waits_for_its_delay_then_for_a_slot() {
    #[task(max_retries = 1, retry_delay = "5s")]
    async fn flaky(gauge: Gauge) -> Result<(), String> {
        if gauge.now.fetch_add(1, Ordering::SeqCst) == 0 {
            Err("first attempt fails".to_string())
        } else {
            Ok(())
        }
    }
    let gauge = Gauge::default();
    let mut flow = Flow::new("capped");
    let flaky = flow.add(flaky(Gauge::default()));
    flow.add(work(gauge.clone(), 20).name("long"));
    flow.set_max_concurrency(1);
    let started = Instant::now();
    let report = run(&flow).await;
    // `flaky` fails at once, `long` takes the slot for 20s, then the retry runs.
    assert_eq!(started.elapsed(), Duration::from_secs(20));
    report
        .check(flaky)
        .is(Success)
        .attempts(2)
        .went_through(&[Running, Failed, Retrying, Running, Success]);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_queued_task_gives_its_slot_back() {
    set_tag_limit("it-limits-cancel", 1);
    let gauge = Gauge::default();
    let mut flow = Flow::new("cancelled");
    let running = flow.add(
        work(gauge.clone(), 100)
            .name("running")
            .tag("it-limits-cancel"),
    );
    let queued = flow.add(
        work(gauge.clone(), 100)
            .name("queued")
            .tag("it-limits-cancel"),
    );
    let token = CancellationToken::new();
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        canceller.cancel();
    });
    let report = flow.runner().cancel_on(token).run().await.unwrap();
    report
        .check(running)
        .is(Cancelled)
        .went_through(&[Running, Cancelled]);
    report
        .check(queued)
        .is(Cancelled)
        .went_through(&[Queued, Cancelled]);

    // Both slots came back: a new run gets the tag's slot at once.
    let mut flow = Flow::new("after");
    let next = flow.add(work(gauge.clone(), 1).tag("it-limits-cancel"));
    let report = run(&flow).await;
    report
        .check(next)
        .is(Success)
        .went_through(&[Running, Success]);
    remove_tag_limit("it-limits-cancel");
}
