//! Tests: mapping a task over items (Prefect 1's `map`): children, reduce, zip, empty,
//! failed and skipped upstream tasks, mapped over mapped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use flowcore::StateKind::{self, *};
use flowcore::{BuildError, Flow, Signal, TaskContext, TaskFailure, each, task};

use crate::run;

#[task]
async fn numbers(n: u32) -> Vec<u32> {
    (1..=n).collect()
}

#[task]
async fn broken_numbers() -> Result<Vec<u32>, String> {
    Err("source offline".to_string())
}

#[task]
async fn double(x: u32) -> u32 {
    x * 2
}

#[task]
async fn scale(x: u32, factor: u32) -> u32 {
    x * factor
}

#[task]
async fn total(values: Vec<u32>) -> u32 {
    values.iter().sum()
}

/// Fails on item 2 of every attempt.
#[task(max_retries = 1)]
async fn fail_on_two(x: u32) -> Result<u32, String> {
    if x == 2 {
        Err(format!("cannot handle {x}"))
    } else {
        Ok(x * 10)
    }
}

fn kinds(states: &[flowcore::State]) -> Vec<StateKind> {
    states.iter().map(flowcore::State::kind).collect()
}

#[tokio::test]
async fn each_item_is_a_child_and_the_results_keep_item_order() {
    let mut flow = Flow::new("map");
    let numbers = flow.add(numbers(4));
    let doubled = flow.map(double(each(numbers)));
    let total = flow.add(total(doubled));
    let report = run(&flow).await;

    report
        .check(doubled)
        .is(Mapped)
        .attempts(0)
        .message("Mapped over 4 items: 4 Success.")
        .result(&vec![2, 4, 6, 8]);
    assert_eq!(kinds(report.children(doubled)), [Success; 4]);
    assert_eq!(report.child_result(doubled, 2), Some(&6));
    assert_eq!(
        report.state_of("double[3]").map(|s| s.kind()),
        Some(Success)
    );
    report.check(total).is(Success).result(&20);
    report.check_flow(Success);
}

#[tokio::test]
async fn unmapped_arguments_are_passed_whole_and_values_can_be_mapped() {
    let mut flow = Flow::new("map");
    let factor = flow.add(double(5));
    let scaled = flow.map(scale(each(vec![1, 2, 3]), factor));
    let report = run(&flow).await;
    report.check(scaled).is(Mapped).result(&vec![10, 20, 30]);
}

#[tokio::test]
async fn a_failed_argument_passed_whole_fails_every_childs_trigger() {
    #[task]
    async fn broken_factor() -> Result<u32, String> {
        Err("no factor".to_string())
    }
    let mut flow = Flow::new("map");
    let factor = flow.add(broken_factor());
    let scaled = flow.map(scale(each(vec![1, 2, 3]), factor));
    let report = run(&flow).await;
    // The task maps (its items are known); each child's trigger sees the failed factor.
    report
        .check(scaled)
        .is(Mapped)
        .message("Mapped over 3 items: 3 TriggerFailed.");
    assert_eq!(kinds(report.children(scaled)), [TriggerFailed; 3]);
    report.check("scale[2]").is(TriggerFailed).attempts(0);
}

#[tokio::test]
async fn several_mapped_arguments_zip_to_the_shortest() {
    let mut flow = Flow::new("map");
    let long = flow.add(numbers(5));
    let scaled = flow.map(scale(each(long), each(vec![100, 10])));
    let report = run(&flow).await;
    report.check(scaled).is(Mapped).result(&vec![100, 20]);
    assert_eq!(report.children(scaled).len(), 2);
}

#[tokio::test]
async fn an_empty_collection_maps_to_no_children() {
    let mut flow = Flow::new("map");
    let none = flow.add(numbers(0));
    let doubled = flow.map(double(each(none)));
    let total = flow.add(total(doubled));
    let report = run(&flow).await;
    report
        .check(doubled)
        .is(Mapped)
        .message("Mapped over 0 items.")
        .result(&vec![]);
    assert!(report.children(doubled).is_empty());
    report.check(total).is(Success).result(&0);
    report.check_flow(Success);
}

#[tokio::test]
async fn a_failed_upstream_cannot_be_mapped_over() {
    let mut flow = Flow::new("map");
    let numbers = flow.add(broken_numbers());
    let doubled = flow.map(double(each(numbers)));
    let again = flow.map(double(each(doubled)));
    let total = flow.add(total(again));
    let report = run(&flow).await;
    report.check(doubled).is(Failed).attempts(0).message(
        "No upstream states can be mapped over: `broken_numbers` is Failed and has no items.",
    );
    // Chains of mapped tasks repeat it, as in Prefect.
    report
        .check(again)
        .is(Failed)
        .message("No upstream states can be mapped over: `double` is Failed and has no items.");
    report.check(total).is(TriggerFailed);
    assert!(report.children(doubled).is_empty());
    report.check_flow(Failed);
}

#[tokio::test]
async fn a_skipped_upstream_skips_the_mapped_task() {
    #[task]
    async fn nothing_today() -> Result<Vec<u32>, Signal> {
        Err(Signal::skip("no files today"))
    }
    let mut flow = Flow::new("map");
    let numbers = flow.add(nothing_today());
    let doubled = flow.map(double(each(numbers)));
    let report = run(&flow).await;
    report.check(doubled).is(Skipped).attempts(0);
    report.check_flow(Success);
}

#[tokio::test]
async fn each_child_retries_and_fails_on_its_own() {
    let mut flow = Flow::new("map");
    let numbers = flow.add(numbers(3));
    let tens = flow.map(fail_on_two(each(numbers)));
    let total = flow.add(total(tens));
    let report = run(&flow).await;

    report
        .check(tens)
        .is(Mapped)
        .message("Mapped over 3 items: 2 Success, 1 Failed.");
    assert_eq!(report.result(tens), None, "not every child has a value");
    assert_eq!(report.child_result(tens, 0), Some(&10));
    assert_eq!(report.child_result(tens, 1), None);
    report
        .check("fail_on_two[1]")
        .is(Failed)
        .attempts(2)
        .message("cannot handle 2")
        .went_through(&[Running, Failed, Retrying, Running, Failed]);
    report.check("fail_on_two[2]").is(Success).attempts(1);
    // A reducing task's trigger sees every child.
    report.check(total).is(TriggerFailed);
    report.check_flow(Failed);
    assert_eq!(
        report.flow_state().message(),
        "Some reference tasks failed: `total` (TriggerFailed)."
    );
}

#[tokio::test]
async fn a_mapped_reference_task_is_judged_by_its_children() {
    let mut flow = Flow::new("map");
    let numbers = flow.add(numbers(3));
    flow.map(fail_on_two(each(numbers)));
    let report = run(&flow).await;
    report.check_flow(Failed);
    assert_eq!(
        report.flow_state().message(),
        "Some reference tasks failed: `fail_on_two[1]` (Failed)."
    );
}

#[tokio::test]
async fn a_reduce_can_take_partial_results() {
    #[task(trigger = all_finished)]
    async fn collect(values: Vec<Option<u32>>) -> Vec<Option<u32>> {
        values
    }
    let mut flow = Flow::new("map");
    let numbers = flow.add(numbers(3));
    let tens = flow.map(fail_on_two(each(numbers)));
    let collected = flow.add(collect(tens));
    let report = run(&flow).await;
    report
        .check(collected)
        .is(Success)
        .result(&vec![Some(10), None, Some(30)]);
}

#[tokio::test]
async fn mapping_over_a_mapped_task_pairs_the_children() {
    let mut flow = Flow::new("map");
    let numbers = flow.add(numbers(3));
    let tens = flow.map(fail_on_two(each(numbers)));
    let doubled = flow.map(double(each(tens)));
    let report = run(&flow).await;
    report
        .check(doubled)
        .is(Mapped)
        .message("Mapped over 3 items: 2 Success, 1 TriggerFailed.");
    assert_eq!(report.child_result(doubled, 0), Some(&20));
    assert_eq!(report.child_result(doubled, 2), Some(&60));
    // Child 1 sees only its own upstream child, which failed.
    report.check("double[1]").is(TriggerFailed).attempts(0);
}

#[tokio::test]
async fn a_mapped_task_over_a_mapped_task_that_succeeded_reads_its_results() {
    let mut flow = Flow::new("map");
    let numbers = flow.add(numbers(3));
    let doubled = flow.map(double(each(numbers)));
    let scaled = flow.map(scale(each(doubled), 3));
    let report = run(&flow).await;
    report.check(scaled).is(Mapped).result(&vec![6, 12, 18]);
}

#[tokio::test]
async fn children_know_their_item_index() {
    #[task]
    async fn where_am_i(_item: u32) -> (String, Option<u32>) {
        let ctx = TaskContext::current().unwrap();
        (ctx.task_name().to_string(), ctx.map_index())
    }
    let mut flow = Flow::new("map");
    let found = flow.map(where_am_i(each(vec![7, 8])));
    let report = run(&flow).await;
    report.check(found).result(&vec![
        ("where_am_i".to_string(), Some(0)),
        ("where_am_i".to_string(), Some(1)),
    ]);
}

#[tokio::test]
async fn a_skipped_child_skips_a_reduce_that_propagates_skips() {
    #[task]
    async fn odd_only(x: u32) -> Result<u32, Signal> {
        if x.is_multiple_of(2) {
            Err(Signal::skip("even"))
        } else {
            Ok(x)
        }
    }
    let mut flow = Flow::new("map");
    let numbers = flow.add(numbers(3));
    let odd = flow.map(odd_only(each(numbers)));
    let total = flow.add(total(odd));
    let report = run(&flow).await;
    report
        .check(odd)
        .is(Mapped)
        .message("Mapped over 3 items: 2 Success, 1 Skipped.");
    report.check("odd_only[1]").is(Skipped).message("even");
    report.check(total).is(Skipped);
}

#[tokio::test]
async fn mapping_must_be_asked_for_with_map_and_each() {
    let mut flow = Flow::new("map");
    let numbers = flow.add(numbers(3));
    flow.add(double(each(numbers)));
    assert_eq!(
        flow.validate().unwrap_err().to_string(),
        "task `double`: argument `x` is mapped with `each(...)`; add the task with `Flow::map`"
    );

    let mut flow = Flow::new("map");
    flow.map(double(3));
    assert!(matches!(
        flow.validate(),
        Err(BuildError::Mapping { task, .. }) if task == "double"
    ));
}

#[tokio::test]
async fn a_direct_call_of_a_mapped_body_names_the_argument() {
    let error = double(each(vec![1, 2])).call().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "task `double`: argument `x` is bound to another task's output, which a direct call does not have; pass a plain value"
    );
}

#[tokio::test]
async fn failed_children_are_listed_for_errors_tasks() {
    #[task]
    async fn alert(failures: Vec<TaskFailure>) -> Vec<String> {
        failures
            .iter()
            .map(|failure| failure.task().to_string())
            .collect()
    }
    let mut flow = Flow::new("map");
    let numbers = flow.add(numbers(3));
    flow.map(fail_on_two(each(numbers)));
    let failures = flow.failed_tasks();
    let alert = flow.add_errors(alert(failures));
    let report = run(&flow).await;
    report
        .check(alert)
        .result(&vec!["fail_on_two[1]".to_string()]);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_cancels_the_children_and_the_task_ends_mapped() {
    #[task]
    async fn slow(secs: u64) -> u64 {
        tokio::time::sleep(Duration::from_secs(secs)).await;
        secs
    }
    let mut flow = Flow::new("map");
    let slept = flow.map(slow(each(vec![1, 3600, 2])));
    flow.set_timeout(Duration::from_secs(60));
    let report = run(&flow).await;
    report
        .check(slept)
        .is(Mapped)
        .message("Mapped over 3 items: 2 Success, 1 Cancelled.");
    report.check("slow[1]").is(Cancelled);
    report.check_flow(TimedOut);
    assert_eq!(
        report.flow_state().message(),
        "Flow run timed out after 60s; 1 unfinished task was cancelled."
    );
}

#[tokio::test]
async fn a_paused_child_is_approved_by_its_name() {
    #[task]
    async fn review(x: u32) -> Result<u32, Signal> {
        if x == 2 {
            flowcore::pause("item 2 needs a review")?;
        }
        Ok(x)
    }
    let mut flow = Flow::new("map");
    let reviewed = flow.map(review(each(vec![1, 2, 3])));
    let mut report = run(&flow).await;
    report.check_flow(Paused);
    assert_eq!(
        report.flow_state().message(),
        "Waiting for approval of `review[1]`."
    );
    report.check(reviewed).is(Running);
    report.approve("review[1]").unwrap();
    report.resume().await;
    report.check(reviewed).is(Mapped).result(&vec![1, 2, 3]);
    report.check_flow(Success);
}

#[tokio::test]
async fn ten_thousand_children_each_run_once() {
    #[task]
    async fn count(_item: u32, calls: Arc<AtomicU32>) -> u32 {
        calls.fetch_add(1, Ordering::Relaxed)
    }
    let calls = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new("map");
    let numbers = flow.add(numbers(10_000));
    let counted = flow.map(count(each(numbers), calls.clone()));
    let report = run(&flow).await;
    report
        .check(counted)
        .message("Mapped over 10000 items: 10000 Success.");
    assert_eq!(calls.load(Ordering::Relaxed), 10_000);
    let mut seen = report.result(counted).unwrap().clone();
    seen.sort_unstable();
    assert_eq!(seen, (0..10_000).collect::<Vec<u32>>());
}

#[tokio::test]
async fn the_report_shows_a_mapped_task_as_one_row() {
    let mut flow = Flow::new("map");
    let numbers = flow.add(numbers(3));
    flow.map(fail_on_two(each(numbers)));
    let report = run(&flow).await;
    assert_eq!(
        report.to_string(),
        "flow `map`: Failed (Some reference tasks failed: `fail_on_two[1]` (Failed).)\n\
         task         state    attempts  message\n\
         numbers      Success  1         Task run succeeded.\n\
         fail_on_two  Mapped   0         Mapped over 3 items: 2 Success, 1 Failed.\n"
    );
}

#[task]
async fn load_batch(batch: Vec<u32>) -> Result<usize, String> {
    if batch.contains(&7) {
        return Err(format!("batch {batch:?} has a bad row"));
    }
    Ok(batch.len())
}

#[tokio::test]
async fn batches_split_the_items_and_map_one_child_per_batch() {
    let mut flow = Flow::new("batches");
    let rows = flow.add(numbers(6));
    let loaded = flow.map(load_batch(flowcore::batches(rows, 4)));
    let report = run(&flow).await;
    report
        .check(loaded)
        .is(Mapped)
        .message("Mapped over 2 items: 2 Success.")
        .result(&vec![4, 2]);

    let mut flow = Flow::new("batches");
    let loaded = flow.map(load_batch(flowcore::batches(vec![1, 2, 3], 2)));
    let report = run(&flow).await;
    report.check(loaded).result(&vec![2, 1]);

    let mut flow = Flow::new("batches");
    let rows = flow.add(numbers(0));
    let loaded = flow.map(load_batch(flowcore::batches(rows, 2)));
    let report = run(&flow).await;
    report.check(loaded).is(Mapped).result(&vec![]);
}

#[tokio::test]
async fn a_failed_batch_fails_the_flow_unless_batches_may_fail() {
    let mut flow = Flow::new("batches");
    let rows = flow.add(numbers(10));
    let loaded = flow.map(load_batch(flowcore::batches(rows, 3)));
    let report = run(&flow).await;
    report
        .check(loaded)
        .message("Mapped over 4 items: 3 Success, 1 Failed.");
    report
        .check("load_batch[2]")
        .is(Failed)
        .message("batch [7, 8, 9] has a bad row");
    report.check_flow(Failed);

    let mut flow = Flow::new("batches");
    let rows = flow.add(numbers(10));
    let loaded = flow.map(load_batch(flowcore::batches(rows, 3)).allow_failure());
    let report = run(&flow).await;
    report
        .check(loaded)
        .message("Mapped over 4 items: 3 Success, 1 Warning.");
    report.check_flow(Warning);
    assert_eq!(
        report.flow_state().message(),
        "No reference tasks failed. Failed, as allowed: `load_batch[2]`."
    );
}

#[tokio::test]
async fn a_batch_size_of_zero_is_a_build_error() {
    let mut flow = Flow::new("batches");
    let rows = flow.add(numbers(3));
    flow.map(load_batch(flowcore::batches(rows, 0)));
    assert_eq!(
        flow.validate().unwrap_err().to_string(),
        "task `load_batch`: argument `batch`: a batch size must be at least 1"
    );
}
