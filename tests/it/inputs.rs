//! Tests: flow inputs (defaults, values given to a run, validation before any task runs),
//! named outputs, flow metadata, run ids and the run context a body reads.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use expect_test::expect;
use flowcore::StateKind::*;
use flowcore::{
    BuildError, Flow, Handle, Input, OutputError, RunId, State, Stub, TaskContext, task,
};

use crate::run;

#[task]
async fn multiply(x: u32, factor: u32, runs: Arc<AtomicU32>) -> u32 {
    runs.fetch_add(1, Ordering::SeqCst);
    x * factor
}

#[task]
async fn greet(name: String, punctuation: char) -> String {
    format!("hello, {name}{punctuation}")
}

#[task]
async fn check_positive(x: u32) -> Result<u32, String> {
    if x == 0 {
        Err("x must be positive".to_string())
    } else {
        Ok(x)
    }
}

/// `x` (required) times `factor` (default 10), counting the runs of the body.
struct Product {
    flow: Flow,
    x: Handle<u32>,
    factor: Handle<u32>,
    product: Handle<u32>,
    runs: Arc<AtomicU32>,
}

fn product() -> Product {
    let runs = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new("product");
    let x = flow.input::<u32>("x");
    let factor = flow.input_or("factor", 10_u32);
    let product = flow.add(multiply(x, factor, runs.clone()));
    flow.output("product", product);
    Product {
        flow,
        x,
        factor,
        product,
        runs,
    }
}

#[tokio::test]
async fn a_plain_run_uses_the_defaults() {
    let mut flow = Flow::new("greeting");
    let name = flow.input_or("name", "world".to_string());
    let punctuation = flow.input_or("punctuation", '!');
    let greeting = flow.add(greet(name, punctuation));
    let report = run(&flow).await;
    report
        .check(greeting)
        .is(Success)
        .result(&"hello, world!".to_string());
    report
        .check(name)
        .is(Success)
        .message("Input default used.")
        .attempts(0)
        .went_through(&[Success]);
    assert_eq!(report.result(punctuation), Some(&'!'));
}

#[tokio::test]
async fn values_given_to_the_runner_replace_the_defaults() {
    let p = product();
    let report = p
        .flow
        .runner()
        .input("x", 4_u32)
        .input("factor", 3_u32)
        .run()
        .await
        .unwrap();
    report.check(p.product).is(Success).result(&12);
    report.check(p.x).message("Input given to the run.");
    report.check(p.factor).message("Input given to the run.");

    // Only the given input counts as given; the last value given wins.
    let report = p
        .flow
        .runner()
        .input("x", 1_u32)
        .input("x", 5_u32)
        .run()
        .await
        .unwrap();
    report.check(p.product).result(&50);
    report.check(p.factor).message("Input default used.");
}

#[tokio::test]
async fn a_missing_required_input_is_an_error_naming_it_and_nothing_runs() {
    let p = product();
    let error = p.flow.run().await.unwrap_err();
    assert_eq!(
        error,
        BuildError::InputRequired {
            name: "x".to_string(),
            expected: "u32"
        }
    );
    assert_eq!(
        error.to_string(),
        "input `x` (`u32`) is required and was not given; pass it with `flow.runner().input(\"x\", value)` or declare a default"
    );
    let error = p
        .flow
        .runner()
        .input("factor", 2_u32)
        .run()
        .await
        .unwrap_err();
    assert!(matches!(error, BuildError::InputRequired { name, .. } if name == "x"));
    assert_eq!(p.runs.load(Ordering::SeqCst), 0);
    // Validating the flow does not need the run's values.
    assert_eq!(p.flow.validate(), Ok(()));
}

#[tokio::test]
async fn an_unknown_input_is_an_error_listing_the_inputs() {
    let p = product();
    let error = p
        .flow
        .runner()
        .input("x", 1_u32)
        .input("factr", 2_u32)
        .run()
        .await
        .unwrap_err();
    assert_eq!(
        error,
        BuildError::UnknownInput {
            name: "factr".to_string(),
            inputs: vec!["x".to_string(), "factor".to_string()]
        }
    );
    assert_eq!(
        error.to_string(),
        "the flow has no input named `factr`; its inputs are `x`, `factor`"
    );
    // A task's name is not an input's.
    let error = p
        .flow
        .runner()
        .input("multiply", 1_u32)
        .run()
        .await
        .unwrap_err();
    assert!(matches!(error, BuildError::UnknownInput { name, .. } if name == "multiply"));

    let mut empty = Flow::new("no-inputs");
    empty.add(check_positive(1));
    let error = empty.runner().input("x", 1_u32).run().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the flow has no input named `x`; it declares no inputs"
    );
    assert_eq!(p.runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_value_of_the_wrong_type_is_an_error_naming_both_types() {
    let p = product();
    // The literal is an `i32`.
    let error = p.flow.runner().input("x", 5).run().await.unwrap_err();
    assert_eq!(
        error,
        BuildError::InputType {
            name: "x".to_string(),
            expected: "u32",
            given: "i32"
        }
    );
    assert_eq!(
        error.to_string(),
        "input `x` expects a value of type `u32`, and was given a `i32`"
    );
    let error = p
        .flow
        .runner()
        .input("x", 5_u32)
        .input("factor", Some(2_u32))
        .run()
        .await
        .unwrap_err();
    assert_eq!(
        error,
        BuildError::InputType {
            name: "factor".to_string(),
            expected: "u32",
            given: "core::option::Option<u32>"
        }
    );
    assert_eq!(p.runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn validators_check_given_and_default_values_before_any_task_runs() {
    let runs = Arc::new(AtomicU32::new(0));
    let mut flow = Flow::new("validated");
    let x = flow.add_input(
        Input::new("x")
            .default(0_u32)
            .validate(|x| {
                if *x > 0 {
                    Ok(())
                } else {
                    Err("must be positive".to_string())
                }
            })
            .validate(|x| {
                if *x < 100 {
                    Ok(())
                } else {
                    Err(format!("{x} is not below 100"))
                }
            }),
    );
    let factor = flow.add_input(Input::new("factor").validate(|factor: &u32| {
        assert!(*factor != 13, "unlucky");
        Ok(())
    }));
    let product = flow.add(multiply(x, factor, runs.clone()));

    let error = flow
        .runner()
        .input("factor", 2_u32)
        .run()
        .await
        .unwrap_err();
    assert_eq!(
        error,
        BuildError::InvalidInput {
            name: "x".to_string(),
            message: "must be positive".to_string()
        }
    );
    assert_eq!(error.to_string(), "input `x` is invalid: must be positive");
    let error = flow
        .runner()
        .input("x", 100_u32)
        .input("factor", 2_u32)
        .run()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "input `x` is invalid: 100 is not below 100"
    );
    // A validator that panics rejects the value; the run does not panic.
    let error = flow
        .runner()
        .input("x", 1_u32)
        .input("factor", 13_u32)
        .run()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "input `factor` is invalid: its validator panicked: unlucky"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    let report = flow
        .runner()
        .input("x", 7_u32)
        .input("factor", 3_u32)
        .run()
        .await
        .unwrap();
    report.check(product).result(&21);
}

#[tokio::test]
async fn the_same_flow_runs_twice_with_different_inputs() {
    let p = product();
    let first = p.flow.runner().input("x", 2_u32);
    let second = p.flow.runner().input("x", 3_u32).input("factor", 7_u32);
    // Both runs at once, from the same flow.
    let (first, second) = tokio::join!(first.run(), second.run());
    let (first, second) = (first.unwrap(), second.unwrap());
    first.check(p.product).result(&20);
    second.check(p.product).result(&21);
    assert_eq!(p.runs.load(Ordering::SeqCst), 2);
    assert_ne!(first.run_id(), second.run_id());
}

#[tokio::test]
async fn inputs_are_successful_nodes_of_the_flow() {
    let p = product();
    let report = p.flow.runner().input("x", 2_u32).run().await.unwrap();
    expect![[r#"
        flow `product`: Success (All reference tasks succeeded.)
        task      state    attempts  message
        x         Success  0         Input given to the run.
        factor    Success  0         Input default used.
        multiply  Success  1         Task run succeeded.
    "#]]
    .assert_eq(&report.to_string());
    assert_eq!(p.flow.len(), 3);
    assert_eq!(p.flow.input_names().collect::<Vec<_>>(), ["x", "factor"]);
    assert_eq!(report.result(p.x), Some(&2));
    assert_eq!(
        report
            .transition_log()
            .map(|(name, kind)| (name.into_owned(), kind))
            .collect::<Vec<_>>(),
        [
            ("x".to_string(), Success),
            ("factor".to_string(), Success),
            ("multiply".to_string(), Running),
            ("multiply".to_string(), Success)
        ]
    );
    expect![[r#"
        flowchart TD
            t0[/"x"/]
            t1[/"factor"/]
            t2["multiply"]
            t0 -->|x| t2
            t1 -->|factor| t2
    "#]]
    .assert_eq(&p.flow.to_mermaid());
    assert!(
        p.flow
            .to_dot()
            .contains("t1 [label=\"factor\", shape=parallelogram];")
    );
}

#[tokio::test]
async fn an_input_feeds_several_tasks_and_a_failed_task_does_not_touch_it() {
    let mut flow = Flow::new("fan-out");
    let x = flow.input::<u32>("x");
    let checked = flow.add(check_positive(x));
    let runs = Arc::new(AtomicU32::new(0));
    let doubled = flow.add(multiply(x, 2, runs.clone()));
    let report = flow.runner().input("x", 0_u32).run().await.unwrap();
    report
        .check(checked)
        .is(Failed)
        .message("x must be positive");
    report.check(doubled).is(Success).result(&0);
    report.check(x).is(Success);
    report.check_flow(Failed);
}

#[tokio::test]
async fn input_names_are_unique_among_inputs_and_tasks() {
    let mut flow = Flow::new("names");
    flow.input::<u32>("x");
    flow.input::<String>("x");
    let error = flow.validate().unwrap_err();
    assert_eq!(
        error,
        BuildError::DuplicateInput {
            name: "x".to_string()
        }
    );
    assert_eq!(
        error.to_string(),
        "input `x`: another input or task has this name; inputs and tasks share one namespace and names must be unique in a flow"
    );

    let mut flow = Flow::new("names");
    flow.add(check_positive(1).name("x"));
    flow.input::<u32>("x");
    assert_eq!(
        flow.validate(),
        Err(BuildError::DuplicateInput {
            name: "x".to_string()
        })
    );

    let mut flow = Flow::new("names");
    flow.input::<u32>("x");
    flow.add(check_positive(1).name("x"));
    assert_eq!(
        flow.validate(),
        Err(BuildError::DuplicateInput {
            name: "x".to_string()
        })
    );

    // A task's default name steps aside, as it does for another task.
    let mut flow = Flow::new("names");
    let input = flow.input_or("check_positive", 1_u32);
    let task = flow.add(check_positive(input));
    let report = run(&flow).await;
    report.check("check_positive-2").is(Success);
    report.check(task).result(&1);

    let mut flow = Flow::new("names");
    flow.input::<u32>("");
    assert_eq!(flow.validate(), Err(BuildError::EmptyName));
}

#[tokio::test]
async fn an_input_cannot_wait_for_a_task_nor_take_an_override() {
    let p = product();
    let mut flow = p.flow.clone();
    flow.add_edge(p.product, p.x);
    let error = flow.validate().unwrap_err();
    assert_eq!(
        error,
        BuildError::EdgeIntoInput {
            input: "x".to_string(),
            upstream: "multiply".to_string()
        }
    );
    assert_eq!(
        error.to_string(),
        "input `x` cannot run after task `multiply`: an input has its value before the run starts"
    );
    // Order-only edges from an input are fine.
    let mut flow = p.flow.clone();
    let later = flow.add(check_positive(1).after(p.x));
    flow.add_edge(p.factor, later);
    assert_eq!(flow.validate(), Ok(()));

    let problem =
        "it is a flow input, which takes no override; give its value with `RunBuilder::input`";
    let expected = BuildError::Override {
        task: "x".to_string(),
        problem: problem.to_string(),
    };
    let runner = p.flow.runner().input("x", 1_u32);
    assert_eq!(
        runner.with_result(p.x, 3).run().await.unwrap_err(),
        expected
    );
    let runner = p.flow.runner().input("x", 1_u32);
    let error = runner.with_state(p.x, State::failed("no")).run().await;
    assert_eq!(error.unwrap_err(), expected);
    let runner = p.flow.runner().input("x", 1_u32);
    let error = runner.with_stub(p.x, Stub::value(3)).run().await;
    assert_eq!(error.unwrap_err(), expected);
    assert_eq!(p.runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn outputs_are_read_back_typed() {
    let mut flow = Flow::new("outputs");
    let name = flow.input_or("name", "Ada".to_string());
    let greeting = flow.add(greet(name, '.'));
    let checked = flow.add(check_positive(4));
    flow.output("greeting", greeting);
    flow.output("checked", checked);
    flow.output("name", name);
    assert_eq!(
        flow.output_names().collect::<Vec<_>>(),
        ["greeting", "checked", "name"]
    );
    let report = run(&flow).await;
    assert_eq!(
        report.output::<String>("greeting"),
        Ok(Some(&"hello, Ada.".to_string()))
    );
    assert_eq!(report.output::<u32>("checked"), Ok(Some(&4)));
    assert_eq!(
        report.output::<String>("name").unwrap().map(String::as_str),
        Some("Ada")
    );
    assert_eq!(
        report.output_names().collect::<Vec<_>>(),
        ["greeting", "checked", "name"]
    );
}

#[tokio::test]
async fn the_output_of_a_failed_task_is_none() {
    let mut flow = Flow::new("failed-output");
    let x = flow.input::<u32>("x");
    let checked = flow.add(check_positive(x));
    flow.output("checked", checked);
    let report = flow.runner().input("x", 0_u32).run().await.unwrap();
    report.check(checked).is(Failed);
    assert_eq!(report.output::<u32>("checked"), Ok(None));
    let report = flow.runner().input("x", 3_u32).run().await.unwrap();
    assert_eq!(report.output::<u32>("checked"), Ok(Some(&3)));
}

#[tokio::test]
async fn an_unknown_output_or_another_type_is_an_error() {
    let p = product();
    let report = p.flow.runner().input("x", 1_u32).run().await.unwrap();
    let error = report.output::<u32>("total").unwrap_err();
    assert_eq!(
        error,
        OutputError::Unknown {
            name: "total".to_string(),
            outputs: vec!["product".to_string()]
        }
    );
    assert_eq!(
        error.to_string(),
        "the flow has no output named `total`; its outputs are `product`"
    );
    let error = report.output::<u64>("product").unwrap_err();
    assert_eq!(
        error,
        OutputError::WrongType {
            name: "product".to_string(),
            declared: "u32",
            requested: "u64"
        }
    );
    assert_eq!(
        error.to_string(),
        "output `product` is a `u32`, not a `u64`"
    );

    let mut flow = Flow::new("none");
    flow.add(check_positive(1));
    let report = run(&flow).await;
    assert_eq!(
        report.output::<u32>("x").unwrap_err().to_string(),
        "the flow has no output named `x`; it declares no outputs"
    );
}

#[tokio::test]
async fn duplicate_foreign_and_empty_outputs_are_build_errors() {
    let mut flow = Flow::new("dupes");
    let a = flow.add(check_positive(1).name("a"));
    let b = flow.add(check_positive(2).name("b"));
    flow.output("result", a);
    flow.output("result", b);
    let error = flow.validate().unwrap_err();
    assert_eq!(
        error,
        BuildError::DuplicateOutput {
            name: "result".to_string()
        }
    );
    assert_eq!(
        error.to_string(),
        "two outputs are named `result`; output names must be unique in a flow"
    );
    assert!(flow.run().await.is_err());

    let mut other = Flow::new("other");
    let foreign = other.add(check_positive(1));
    let mut flow = Flow::new("mine");
    flow.add(check_positive(2));
    flow.output("result", foreign);
    let error = flow.validate().unwrap_err();
    assert_eq!(
        error,
        BuildError::ForeignOutput {
            name: "result".to_string()
        }
    );
    assert_eq!(
        error.to_string(),
        "output `result` is declared with a task of another flow; handles can only be used in the flow that made them"
    );

    let mut flow = Flow::new("empty");
    let a = flow.add(check_positive(1));
    flow.output("", a);
    assert_eq!(flow.validate(), Err(BuildError::EmptyName));
    assert_eq!(
        BuildError::EmptyName.to_string(),
        "a task, input or output name must not be empty"
    );
}

#[tokio::test]
async fn flow_metadata_is_read_back_and_does_not_change_the_run() {
    let mut flow = Flow::new("nightly");
    assert_eq!(flow.id(), "nightly");
    assert_eq!(flow.namespace(), None);
    assert_eq!(flow.description(), None);
    assert_eq!(flow.labels().len(), 0);
    let task = flow.add(check_positive(1));
    flow.validate().unwrap();
    flow.set_namespace("company.data");
    flow.set_description("Checks a number.");
    flow.add_label("team", "data");
    flow.add_label("env", "dev");
    flow.add_label("env", "prod");
    assert_eq!(flow.id(), "nightly");
    assert_eq!(flow.name(), "nightly");
    assert_eq!(flow.namespace(), Some("company.data"));
    assert_eq!(flow.description(), Some("Checks a number."));
    assert_eq!(
        flow.labels().collect::<Vec<_>>(),
        [("team", "data"), ("env", "prod")]
    );
    assert_eq!(flow.label("env"), Some("prod"));
    assert_eq!(flow.label("owner"), None);
    let report = run(&flow).await;
    report.check(task).result(&1);
    // The table has no run id: two runs print the same.
    let again = run(&flow).await;
    assert_ne!(report.run_id(), again.run_id());
    assert_eq!(report.to_string(), again.to_string());
    assert_eq!(
        report.to_string(),
        "flow `nightly`: Success (All reference tasks succeeded.)\n\
         task            state    attempts  message\n\
         check_positive  Success  1         Task run succeeded.\n"
    );
    // A clone keeps the metadata; changing it leaves the original as it was.
    let mut copy = flow.clone();
    copy.set_namespace("company.test");
    assert_eq!(flow.namespace(), Some("company.data"));
    assert_eq!(copy.label("team"), Some("data"));
}

#[tokio::test]
async fn run_ids_differ_between_runs_and_a_resumed_run_keeps_its_own() {
    #[task(trigger = manual_only)]
    async fn approved() -> Option<RunId> {
        TaskContext::current().map(|ctx| ctx.run_id())
    }

    let mut flow = Flow::new("ids");
    let task = flow.add(approved());
    let mut first = run(&flow).await;
    let second = run(&flow).await;
    assert_ne!(first.run_id(), second.run_id());
    assert!(first.run_id() < second.run_id());
    let before = first.run_id();
    first.approve("approved").unwrap();
    first.resume().await;
    assert_eq!(first.run_id(), before);
    first.check(task).result(&Some(before));
    assert_eq!(first.run_id().to_string(), before.get().to_string());
}

/// What a body saw of its context, attempt by attempt.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    flow: String,
    namespace: Option<String>,
    run: RunId,
    task: String,
    attempt: u32,
    resumed: bool,
    map_index: Option<u32>,
    labels: Vec<(String, String)>,
    started_after: Duration,
}

#[tokio::test(start_paused = true)]
async fn a_body_reads_its_run_context() {
    #[task(max_retries = 1, retry_delay = "30s")]
    async fn observe(
        seen: Arc<Mutex<Vec<Seen>>>,
        run_start: tokio::time::Instant,
    ) -> Result<u32, String> {
        let ctx = TaskContext::current().ok_or("no context")?;
        let attempt = ctx.attempt();
        seen.lock().unwrap().push(Seen {
            flow: ctx.flow_name().to_string(),
            namespace: ctx.namespace().map(str::to_string),
            run: ctx.run_id(),
            task: ctx.task_name().to_string(),
            attempt,
            resumed: ctx.is_resumed(),
            map_index: ctx.map_index(),
            labels: ctx
                .labels()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            started_after: ctx.started_at() - run_start,
        });
        // Time passes inside the body; the start time stays the attempt's.
        tokio::time::sleep(Duration::from_secs(5)).await;
        if attempt == 1 {
            Err("first attempt fails".to_string())
        } else {
            Ok(attempt)
        }
    }

    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut flow = Flow::new("context");
    flow.set_namespace("company.team");
    flow.add_label("env", "test");
    flow.add_label("owner", "data");
    let start = tokio::time::Instant::now();
    let task = flow.add(observe(seen.clone(), start).name("watcher"));
    let report = run(&flow).await;
    report.check(task).is(Success).attempts(2).result(&2);

    let attempt = |attempt, started_after| Seen {
        flow: "context".to_string(),
        namespace: Some("company.team".to_string()),
        run: report.run_id(),
        task: "watcher".to_string(),
        attempt,
        resumed: false,
        map_index: None,
        labels: vec![
            ("env".to_string(), "test".to_string()),
            ("owner".to_string(), "data".to_string()),
        ],
        started_after,
    };
    // The retry starts 30 s after the first attempt failed, which took 5 s.
    assert_eq!(
        *seen.lock().unwrap(),
        [
            attempt(1, Duration::ZERO),
            attempt(2, Duration::from_secs(35))
        ]
    );
    assert_eq!(start.elapsed(), Duration::from_secs(40));
}

#[tokio::test]
async fn a_body_outside_a_run_has_no_context_and_a_flow_without_metadata_has_none() {
    #[task]
    async fn namespace() -> Option<Option<String>> {
        TaskContext::current().map(|ctx| ctx.namespace().map(str::to_string))
    }

    assert_eq!(namespace().call().await.unwrap(), None);
    let mut flow = Flow::new("bare");
    let task = flow.add(namespace());
    let report = run(&flow).await;
    report.check(task).result(&Some(None));
}
