//! Tests: conditional branching (`case`, `when`, `switch`, `if_else`, `merge`) and how its
//! skips propagate, with Prefect 1's rules.

use expect_test::expect;
use flowcore::{BuildError, Flow, Handle, RunReport, Signal, StateKind::*, TaskFailure, task};

use crate::run;

const UPSTREAM_SKIPPED: &str = "Upstream task was skipped; if this was not the intended behavior, consider changing `skip_on_upstream_skip=False` for this task.";
const ALL_SKIPPED: &str = "All upstreams were skipped";
const NOT_ALL_SKIPPED: &str =
    "Trigger was \"not_all_skipped\" but some of the upstream tasks failed.";
const ALL_SUCCESSFUL: &str =
    "Trigger was \"all_successful\" but some of the upstream tasks failed.";
const SUCCEEDED: &str = "Task run succeeded.";

#[task]
async fn detect(file: &'static str) -> &'static str {
    file.rsplit('.').next().unwrap_or_default()
}

#[task]
async fn broken_detect() -> Result<&'static str, String> {
    Err("cannot read the file".to_string())
}

#[task]
async fn skipped_detect() -> Result<&'static str, Signal> {
    Err(Signal::skip("no file today"))
}

#[task]
async fn parse(file: &'static str, factor: usize) -> usize {
    file.len() * factor
}

#[task]
async fn count(rows: usize) -> usize {
    rows + 1
}

#[task]
async fn store(rows: usize) -> String {
    format!("stored {rows}")
}

#[task]
async fn reject(file: &'static str) -> Result<usize, String> {
    Err(format!("{file}: unknown format"))
}

#[task]
async fn constant(value: u32) -> u32 {
    value
}

#[task]
async fn note() -> &'static str {
    "ran"
}

#[task]
async fn fail() -> Result<u32, String> {
    Err("boom".to_string())
}

/// The import flow: a switch on the file's format with a csv and a json branch, a task
/// after the csv branch, a default branch, and a merge of the two parsers.
struct Import {
    flow: Flow,
    format: Handle<&'static str>,
    csv: Handle<usize>,
    csv_count: Handle<usize>,
    json: Handle<usize>,
    rejected: Option<Handle<usize>>,
    rows: Handle<usize>,
    stored: Handle<String>,
}

fn import(file: &'static str, with_default: bool) -> Import {
    let mut flow = Flow::new("import");
    let format = flow.add(detect(file));
    let (csv, csv_count, json, rejected) = flow.switch(format, |formats| {
        let (csv, csv_count) = formats.case("csv", |flow| {
            let csv = flow.add(parse(file, 1).name("parse_csv"));
            (csv, flow.add(count(csv)))
        });
        let json = formats.case("json", |flow| flow.add(parse(file, 10).name("parse_json")));
        let rejected = with_default.then(|| formats.default(|flow| flow.add(reject(file))));
        (csv, csv_count, json, rejected)
    });
    let rows = flow.merge([csv, json]);
    let stored = flow.add(store(rows));
    Import {
        flow,
        format,
        csv,
        csv_count,
        json,
        rejected,
        rows,
        stored,
    }
}

#[tokio::test]
async fn a_switch_runs_the_matching_branch_and_skips_the_others() {
    let import = import("orders.json", true);
    let report = run(&import.flow).await;

    report.check(import.format).is(Success).result(&"json");
    report
        .check("case(csv)")
        .is(Skipped)
        .message(r#"Provided value "json" did not match "csv""#);
    report.check("case(json)").is(Success).message(SUCCEEDED);
    report
        .check("case(_)")
        .is(Skipped)
        .message(r#"Provided value "json" matched case "json""#);

    report
        .check(import.csv)
        .is(Skipped)
        .message(UPSTREAM_SKIPPED);
    // Downstream of the untaken branch: skipped by propagation too.
    report
        .check(import.csv_count)
        .is(Skipped)
        .message(UPSTREAM_SKIPPED);
    report.check(import.json).is(Success).result(&110);
    report
        .check(import.rejected.unwrap())
        .is(Skipped)
        .message(UPSTREAM_SKIPPED);
    report.check(import.rows).is(Success).result(&110);
    report
        .check(import.stored)
        .is(Success)
        .result(&"stored 110".to_string());
    // Skipped terminal tasks count as successes.
    report.check_flow(Success);
    assert_eq!(
        report.flow_state().message(),
        "All reference tasks succeeded."
    );
}

#[tokio::test]
async fn without_a_matching_case_every_branch_is_skipped_and_the_default_runs() {
    let import = import("orders.xml", true);
    let report = run(&import.flow).await;
    report
        .check("case(csv)")
        .is(Skipped)
        .message(r#"Provided value "xml" did not match "csv""#);
    report
        .check("case(json)")
        .is(Skipped)
        .message(r#"Provided value "xml" did not match "json""#);
    report.check("case(_)").is(Success);
    report.check(import.csv).is(Skipped);
    report.check(import.json).is(Skipped);
    report
        .check(import.rejected.unwrap())
        .is(Failed)
        .message("orders.xml: unknown format");
    report.check(import.rows).is(Skipped).message(ALL_SKIPPED);
    report
        .check(import.stored)
        .is(Skipped)
        .message(UPSTREAM_SKIPPED);
    report.check_flow(Failed);
    assert_eq!(
        report.flow_state().message(),
        "Some reference tasks failed: `reject` (Failed)."
    );

    let import = self::import("orders.xml", false);
    let report = run(&import.flow).await;
    assert_eq!(report.state_of("case(_)"), None);
    report.check(import.csv).is(Skipped);
    report.check(import.json).is(Skipped);
    report.check(import.rows).is(Skipped).message(ALL_SKIPPED);
    report.check(import.stored).is(Skipped);
    report.check_flow(Success);
}

#[tokio::test]
async fn the_default_branch_is_skipped_when_a_case_matches() {
    let import = import("orders.csv", true);
    let report = run(&import.flow).await;
    report.check("case(csv)").is(Success);
    report
        .check("case(_)")
        .is(Skipped)
        .message(r#"Provided value "csv" matched case "csv""#);
    report.check(import.csv).is(Success).result(&10);
    report.check(import.csv_count).is(Success).result(&11);
    report.check(import.json).is(Skipped);
    report
        .check(import.rejected.unwrap())
        .is(Skipped)
        .message(UPSTREAM_SKIPPED);
    report.check(import.rows).is(Success).result(&10);
    report.check_flow(Success);
}

#[tokio::test]
async fn a_default_added_before_the_cases_sees_them() {
    let mut flow = Flow::new("default-first");
    let format = flow.add(detect("a.json"));
    let (other, json) = flow.switch(format, |formats| {
        let other = formats.default(|flow| flow.add(note().name("other")));
        formats.case("csv", |flow| flow.add(note().name("csv")));
        (
            other,
            formats.case("json", |flow| flow.add(note().name("json"))),
        )
    });
    let report = run(&flow).await;
    report
        .check("case(_)")
        .is(Skipped)
        .message(r#"Provided value "json" matched case "json""#);
    report.check(other).is(Skipped).message(UPSTREAM_SKIPPED);
    report.check(json).is(Success);

    let report = flow
        .runner()
        .with_result(format, "xml")
        .run()
        .await
        .unwrap();
    report.check(other).is(Success);
    report.check(json).is(Skipped);
}

#[task]
async fn is_big(size: u32) -> bool {
    size > 100
}

#[task]
async fn compress(size: u32) -> u32 {
    size / 10
}

#[task]
async fn copy(size: u32) -> u32 {
    size
}

#[tokio::test]
async fn if_else_runs_one_branch_or_the_other() {
    let mut flow = Flow::new("archive");
    let size = flow.input::<u32>("size");
    let big = flow.add(is_big(size));
    let (compressed, copied) = flow.if_else(
        big,
        |flow| flow.add(compress(size)),
        |flow| flow.add(copy(size)),
    );
    let archived = flow.merge([compressed, copied]);

    let report = flow.runner().input("size", 500_u32).run().await.unwrap();
    report.check("case(true)").is(Success);
    report
        .check("case(false)")
        .is(Skipped)
        .message(r#"Provided value "true" did not match "false""#);
    report.check(compressed).is(Success).result(&50);
    report.check(copied).is(Skipped).message(UPSTREAM_SKIPPED);
    report.check(archived).is(Success).result(&50);
    report.check_flow(Success);

    let report = flow.runner().input("size", 7_u32).run().await.unwrap();
    report
        .check("case(true)")
        .is(Skipped)
        .message(r#"Provided value "false" did not match "true""#);
    report.check("case(false)").is(Success);
    report
        .check(compressed)
        .is(Skipped)
        .message(UPSTREAM_SKIPPED);
    report.check(copied).is(Success).result(&7);
    report.check(archived).is(Success).result(&7);
    report.check_flow(Success);
}

#[tokio::test]
async fn a_block_gates_only_the_tasks_without_an_upstream_in_the_block() {
    let mut flow = Flow::new("gates");
    let format = flow.add(detect("a.json"));
    let outside = flow.add(constant(3).name("outside"));
    let csv = flow.case(format, "csv");
    let (free, fed, chained, eager) = flow.when(csv, |flow| {
        // No upstream at all: gated.
        let free = flow.add(note().name("free"));
        // Its only upstream is outside the block: gated.
        let fed = flow.add(constant(outside).name("fed"));
        // Depends on a task of the block: not gated, skipped through it.
        let chained = flow.add(constant(fed).name("chained"));
        // Already after the condition: not gated a second time.
        let eager = flow.add(note().name("eager").after(csv));
        (free, fed, chained, eager)
    });
    expect![[r#"
        flowchart TD
            t0["detect"]
            t1["outside"]
            t2["case(csv)"]
            t3["free"]
            t4["fed"]
            t5["chained"]
            t6["eager"]
            t0 -->|value| t2
            t2 -.-> t3
            t1 -->|value| t4
            t2 -.-> t4
            t4 -->|value| t5
            t2 -.-> t6
    "#]]
    .assert_eq(&flow.to_mermaid());

    let report = run(&flow).await;
    report.check(csv).is(Skipped);
    for gated in [free.id(), eager.id()] {
        report.check(gated).is(Skipped).message(UPSTREAM_SKIPPED);
    }
    report.check(fed).is(Skipped).message(UPSTREAM_SKIPPED);
    report.check(chained).is(Skipped).message(UPSTREAM_SKIPPED);
    report.check(outside).is(Success);

    let report = flow
        .runner()
        .with_result(format, "csv")
        .run()
        .await
        .unwrap();
    report.check(csv).is(Success);
    report.check(free).is(Success).result(&"ran");
    report.check(chained).is(Success).result(&3);
    report.check(eager).is(Success);
}

#[tokio::test]
async fn inputs_and_failed_tasks_added_in_a_block_are_not_gated() {
    let mut flow = Flow::new("inputs-in-blocks");
    let format = flow.add(detect("a.json"));
    let csv = flow.case(format, "csv");
    let (limit, limited) = flow.when(csv, |flow| {
        let limit = flow.input_or("limit", 5_u32);
        // Its only upstream is an input of the block, which does not count: gated.
        (limit, flow.add(constant(limit)))
    });
    let report = run(&flow).await;
    report.check(limit).is(Success).result(&5);
    report.check(limited).is(Skipped).message(UPSTREAM_SKIPPED);
}

#[tokio::test]
async fn blocks_nest_and_the_inner_branch_runs_only_when_both_match() {
    async fn run_with(format: &'static str, big: bool) -> (RunReport, Handle<u32>) {
        let mut flow = Flow::new("nested");
        let format_task = flow.add(detect(format));
        let size = flow.add(constant(if big { 500 } else { 5 }).name("size"));
        let compressed = flow.switch(format_task, |formats| {
            formats.case("csv", |flow| {
                let big = flow.add(is_big(size));
                let (compressed, _) = flow.if_else(
                    big,
                    |flow| flow.add(compress(size)),
                    |flow| flow.add(copy(size)),
                );
                compressed
            })
        });
        (run(&flow).await, compressed)
    }

    let (report, compressed) = run_with("a.csv", true).await;
    report.check(compressed).is(Success).result(&50);

    let (report, compressed) = run_with("a.csv", false).await;
    report.check("case(true)").is(Skipped);
    report.check(compressed).is(Skipped);
    report.check("copy").is(Success);

    let (report, compressed) = run_with("a.json", true).await;
    report.check("case(csv)").is(Skipped);
    // The inner conditions are in the outer block: gated by `case(csv)`, then skipped.
    report.check("is_big").is(Skipped).message(UPSTREAM_SKIPPED);
    report
        .check("case(true)")
        .is(Skipped)
        .message(UPSTREAM_SKIPPED);
    report
        .check("case(false)")
        .is(Skipped)
        .message(UPSTREAM_SKIPPED);
    report.check(compressed).is(Skipped);
    report.check("copy").is(Skipped);
    report.check_flow(Success);
}

#[tokio::test]
async fn a_branch_task_without_skip_propagation_runs_anyway() {
    let mut flow = Flow::new("eager");
    let format = flow.add(detect("a.json"));
    let csv = flow.case(format, "csv");
    let (eager, after_eager) = flow.when(csv, |flow| {
        let eager = flow.add(note().name("eager").skip_on_upstream_skip(false));
        (eager, flow.add(note().name("after_eager").after(eager)))
    });
    let report = run(&flow).await;
    report.check(csv).is(Skipped);
    // The skipped condition counts as a success for its trigger.
    report.check(eager).is(Success).result(&"ran");
    report.check(after_eager).is(Success);
}

#[tokio::test]
async fn a_failed_value_fails_the_conditions_and_the_branches() {
    let mut flow = Flow::new("broken");
    let format = flow.add(broken_detect());
    let (csv, json, other) = flow.switch(format, |formats| {
        let csv = formats.case("csv", |flow| flow.add(note().name("csv")));
        let json = formats.case("json", |flow| flow.add(note().name("json")));
        (
            csv,
            json,
            formats.default(|flow| flow.add(note().name("other"))),
        )
    });
    let merged = flow.merge([csv, json, other]);
    let report = run(&flow).await;

    report
        .check(format)
        .is(Failed)
        .message("cannot read the file");
    for condition in ["case(csv)", "case(json)", "case(_)"] {
        report
            .check(condition)
            .is(TriggerFailed)
            .message(ALL_SUCCESSFUL);
    }
    for branch in [csv, json, other] {
        report
            .check(branch)
            .is(TriggerFailed)
            .message(ALL_SUCCESSFUL);
    }
    report
        .check(merged)
        .is(TriggerFailed)
        .message(NOT_ALL_SKIPPED);
    report.check_flow(Failed);
    assert_eq!(
        report.flow_state().message(),
        "Some reference tasks failed: `merge` (TriggerFailed)."
    );
}

#[tokio::test]
async fn a_skipped_value_skips_every_branch_and_the_default() {
    let mut flow = Flow::new("nothing");
    let format = flow.add(skipped_detect());
    let (csv, other) = flow.switch(format, |formats| {
        let csv = formats.case("csv", |flow| flow.add(note().name("csv")));
        (csv, formats.default(|flow| flow.add(note().name("other"))))
    });
    let report = run(&flow).await;
    for condition in ["case(csv)", "case(_)"] {
        report
            .check(condition)
            .is(Skipped)
            .message(UPSTREAM_SKIPPED);
    }
    report.check(csv).is(Skipped);
    report.check(other).is(Skipped);
    report.check_flow(Success);
}

#[tokio::test]
async fn merge_takes_the_first_value_in_argument_order() {
    let mut flow = Flow::new("order");
    let format = flow.add(detect("a.csv"));
    // Eleven branches: the first is skipped, the others all run. Prefect 1 ordered them
    // by key name, so `task_10` came before `task_2`; flowcore keeps the order given.
    let first = flow.case(format, "json");
    let mut branches = vec![flow.add(constant(1).after(first))];
    for value in 2..=11 {
        branches.push(flow.add(constant(value)));
    }
    let merged = flow.merge(branches.clone());
    let report = run(&flow).await;
    report.check(branches[0]).is(Skipped);
    report.check(merged).is(Success).result(&2);
}

#[tokio::test]
async fn equal_cases_both_run_and_merge_takes_the_first() {
    let mut flow = Flow::new("equal-cases");
    let format = flow.add(detect("a.csv"));
    let (first, second) = flow.switch(format, |formats| {
        let first = formats.case("csv", |flow| flow.add(constant(1)));
        (first, formats.case("csv", |flow| flow.add(constant(2))))
    });
    let merged = flow.merge([second, first]);
    let report = run(&flow).await;
    report.check("case(csv)").is(Success);
    report.check("case(csv)-2").is(Success);
    report.check(merged).is(Success).result(&2);
}

#[tokio::test]
async fn merge_of_skipped_branches_is_skipped_and_of_a_failed_one_trigger_fails() {
    let mut flow = Flow::new("merges");
    let format = flow.add(detect("a.csv"));
    let json = flow.case(format, "json");
    let skipped_a = flow.add(constant(1).after(json));
    let skipped_b = flow.add(constant(2).after(json));
    let failed = flow.add(fail());
    let none_ran = flow.merge([skipped_a, skipped_b]);
    let one_failed = flow.merge([skipped_a, failed]);
    let nothing = flow.merge(Vec::<Handle<u32>>::new());
    let report = run(&flow).await;
    report
        .check(none_ran)
        .is(Skipped)
        .message(ALL_SKIPPED)
        .attempts(0);
    report
        .check(one_failed)
        .is(TriggerFailed)
        .message(NOT_ALL_SKIPPED);
    report.check(nothing).is(Skipped).message(ALL_SKIPPED);
    assert_eq!(
        report
            .task_states()
            .map(|(name, _)| name)
            .collect::<Vec<_>>(),
        [
            "detect",
            "case(json)",
            "constant",
            "constant-2",
            "fail",
            "merge",
            "merge-2",
            "merge-3"
        ]
    );
}

#[task]
async fn refresh() -> Result<u32, String> {
    Err("cache down".to_string())
}

#[task]
async fn announce(value: Option<u32>) -> String {
    format!("{value:?}")
}

#[tokio::test]
async fn merge_without_any_value_succeeds_without_one() {
    let mut flow = Flow::new("no-value");
    let format = flow.add(detect("a.csv"));
    let json = flow.case(format, "json");
    let skipped = flow.add(constant(1).after(json));
    let allowed = flow.add(refresh().allow_failure());
    let merged = flow.merge([skipped, allowed]);
    let announced = flow.add(announce(merged));
    let report = run(&flow).await;
    report.check(allowed).is(Warning);
    report
        .check(merged)
        .is(Success)
        .message("No branch had a value to merge.");
    assert_eq!(report.result(merged), None);
    report
        .check(announced)
        .is(Success)
        .result(&"None".to_string());
}

#[tokio::test]
async fn a_skip_from_a_branch_beats_a_failure_downstream() {
    // Prefect's PIN 15 and issue #5071: a task downstream of an untaken branch and of a
    // failed task is skipped, so the failure does not reach the flow's terminal tasks.
    let mut flow = Flow::new("skip-beats-failure");
    let format = flow.add(detect("a.csv"));
    let json = flow.case(format, "json");
    let branch = flow.add(constant(1).after(json));
    let failed = flow.add(fail());
    let report_task = flow.add(note().name("report").after(branch).after(failed));
    let report = run(&flow).await;
    report.check(failed).is(Failed);
    report
        .check(report_task)
        .is(Skipped)
        .message(UPSTREAM_SKIPPED);
    report.check_flow(Success);

    // Making the task that may fail a reference task keeps its failure visible.
    flow.set_reference_tasks([failed.id(), report_task.id()]);
    let report = run(&flow).await;
    report.check_flow(Failed);
}

#[task]
async fn how_many(failures: Vec<TaskFailure>) -> usize {
    failures.len()
}

#[task]
async fn alert() -> &'static str {
    "paged"
}

#[tokio::test]
async fn a_condition_on_an_errors_task_is_in_the_errors_block() {
    let mut flow = Flow::new("alerts");
    flow.add(fail());
    let failures = flow.failed_tasks();
    let n_failed = flow.add_errors(how_many(failures));
    let one = flow.case(n_failed, 1_usize);
    let paged = flow.when(one, |flow| flow.add_errors(alert()));
    let merged = flow.merge([paged]);
    let report = run(&flow).await;
    report.check(one).is(Success);
    report.check(paged).is(Success).result(&"paged");
    report.check(merged).is(Success).result(&"paged");
    report.check_flow(Failed);
}

#[tokio::test]
async fn a_condition_of_another_flow_is_a_build_error() {
    let mut other = Flow::new("other");
    let format = other.add(detect("a.csv"));
    let foreign = other.case(format, "csv");
    let mut flow = Flow::new("flow");
    flow.when(foreign, |flow| flow.add(note()));
    assert_eq!(
        flow.validate(),
        Err(BuildError::ForeignTask {
            task: "note".to_string(),
            place: "the condition of `Flow::when`".to_string(),
        })
    );
    let mut flow = Flow::new("flow");
    flow.case(format, "csv");
    assert!(matches!(
        flow.validate(),
        Err(BuildError::ForeignTask { task, .. }) if task == "case(csv)"
    ));
}

#[tokio::test]
async fn the_report_of_a_switch_flow() {
    let report = run(&import("orders.json", true).flow).await;
    expect![[r#"
        flow `import`: Success (All reference tasks succeeded.)
        task        state    attempts  message
        detect      Success  1         Task run succeeded.
        case(csv)   Skipped  1         Provided value "json" did not match "csv"
        parse_csv   Skipped  0         Upstream task was skipped; if this was not the intended behavior, consider changing `skip_on_upstream_skip=False` for this task.
        count       Skipped  0         Upstream task was skipped; if this was not the intended behavior, consider changing `skip_on_upstream_skip=False` for this task.
        case(json)  Success  1         Task run succeeded.
        parse_json  Success  1         Task run succeeded.
        case(_)     Skipped  1         Provided value "json" matched case "json"
        reject      Skipped  0         Upstream task was skipped; if this was not the intended behavior, consider changing `skip_on_upstream_skip=False` for this task.
        merge       Success  1         Task run succeeded.
        store       Success  1         Task run succeeded.
    "#]].assert_eq(&report.to_string());
    assert_eq!(
        report.state_of("case(json)").map(|state| state.kind()),
        Some(Success)
    );
}
