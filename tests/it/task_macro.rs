//! Tests: what `#[task]` accepts (values and handles, return shapes, options) and hand-written tasks.

use std::sync::Arc;

use flowcore::{Arg, Args, Flow, StateKind, Task, TaskCall, TaskFuture, Values, task};

use crate::run;

#[task(name = "numbers")]
async fn make_numbers(n: u32) -> Vec<u32> {
    (1..=n).collect()
}

#[task]
async fn scale(numbers: Vec<u32>, factor: u32, mut offset: u32) -> Vec<u32> {
    offset += 0;
    numbers.iter().map(|n| n * factor + offset).collect()
}

#[task]
async fn sum(values: Vec<u32>) -> u32 {
    values.iter().sum()
}

#[tokio::test]
async fn values_and_handles_mix_in_any_argument() {
    let mut flow = Flow::new("mix");
    let numbers = flow.add(make_numbers(3));
    let factor = flow.add(make_numbers(2));
    let scaled = flow.add(scale(numbers, 10, 1));
    let total = flow.add(sum(scaled));
    let lengths = flow.add(sum(factor));
    let report = run(&flow).await;
    assert_eq!(report.result(numbers), Some(&vec![1, 2, 3]));
    assert_eq!(report.result(scaled), Some(&vec![11, 21, 31]));
    assert_eq!(report.result(total), Some(&63));
    assert_eq!(report.result(lengths), Some(&3));
    let names: Vec<&str> = report.task_states().map(|(name, _)| name).collect();
    assert_eq!(names, ["numbers", "numbers-2", "scale", "sum", "sum-2"]);
}

#[task]
async fn io_result(fail: bool) -> std::io::Result<u8> {
    if fail {
        Err(std::io::Error::other("io failed"))
    } else {
        Ok(1)
    }
}

#[task]
async fn boxed_result(fail: bool) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    if fail {
        Err("boxed failed".into())
    } else {
        Ok(2)
    }
}

#[task]
async fn anyhow_result(fail: bool) -> anyhow::Result<u8> {
    if fail {
        anyhow::bail!("anyhow failed")
    } else {
        Ok(3)
    }
}

#[task]
async fn string_error(fail: bool) -> Result<u8, String> {
    if fail {
        Err("string failed".to_string())
    } else {
        Ok(4)
    }
}

#[task]
async fn unit_task() {}

#[tokio::test]
async fn bodies_return_values_or_results_with_common_error_types() {
    let mut flow = Flow::new("returns");
    let handles = [
        flow.add(io_result(false)),
        flow.add(boxed_result(false)),
        flow.add(anyhow_result(false)),
        flow.add(string_error(false)),
    ];
    let failures = [
        flow.add(io_result(true)),
        flow.add(boxed_result(true)),
        flow.add(anyhow_result(true)),
        flow.add(string_error(true)),
    ];
    let unit = flow.add(unit_task());
    let report = run(&flow).await;
    let values: Vec<Option<&u8>> = handles
        .iter()
        .map(|&handle| report.result(handle))
        .collect();
    assert_eq!(values, [Some(&1), Some(&2), Some(&3), Some(&4)]);
    let messages: Vec<&str> = failures
        .iter()
        .map(|&handle| report.state(handle).message())
        .collect();
    assert_eq!(
        messages,
        [
            "io failed",
            "boxed failed",
            "anyhow failed",
            "string failed"
        ]
    );
    assert_eq!(report.result(unit), Some(&()));
}

#[tokio::test]
async fn a_task_defined_in_a_function_body_works() {
    #[derive(Clone, Debug, PartialEq)]
    struct Local(u32);

    #[task]
    async fn local(value: Local) -> Local {
        Local(value.0 * 2)
    }

    let mut flow = Flow::new("local");
    let doubled = flow.add(local(Local(4)));
    let again = flow.add(local(doubled));
    let report = run(&flow).await;
    assert_eq!(report.result(again), Some(&Local(16)));
}

#[task]
async fn shared(config: Arc<String>) -> usize {
    config.len()
}

#[tokio::test]
async fn static_references_and_arcs_are_fine_arguments() {
    #[task]
    async fn greet(name: &'static str) -> String {
        format!("hello {name}")
    }
    let mut flow = Flow::new("refs");
    let greeting = flow.add(greet("flowcore"));
    let length = flow.add(shared(Arc::new("config".to_string())));
    let report = run(&flow).await;
    assert_eq!(
        report.result(greeting).map(String::as_str),
        Some("hello flowcore")
    );
    assert_eq!(report.result(length), Some(&6));
}

/// A task written by hand, without the macro.
struct Multiply {
    a: Arg<i64>,
    b: Arg<i64>,
}

impl Task for Multiply {
    type Output = i64;

    fn run(&self, values: &Values<'_>) -> TaskFuture<i64> {
        let (a, b) = (values.get(&self.a), values.get(&self.b));
        Box::pin(async move { Ok(a? * b?) })
    }
}

fn multiply(a: impl flowcore::IntoArg<i64>, b: impl flowcore::IntoArg<i64>) -> TaskCall<i64> {
    let mut args = Args::new();
    let a = args.bind("a", a);
    let b = args.bind("b", b);
    TaskCall::new("multiply", args, Multiply { a, b })
}

#[task]
async fn seven() -> i64 {
    7
}

#[tokio::test]
async fn hand_written_tasks_mix_with_macro_tasks() {
    let mut flow = Flow::new("by-hand");
    let seven = flow.add(seven());
    let product = flow.add(multiply(seven, 6));
    let squared = flow.add(multiply(product, product).max_retries(1));
    let report = run(&flow).await;
    assert_eq!(report.result(product), Some(&42));
    assert_eq!(report.result(squared), Some(&1764));
    assert_eq!(
        flow.to_mermaid()
            .lines()
            .filter(|line| line.contains("-->"))
            .count(),
        3
    );
}

struct PanicsWhenStarting;

impl Task for PanicsWhenStarting {
    type Output = ();

    fn run(&self, _values: &Values<'_>) -> TaskFuture<()> {
        panic!("bad task implementation")
    }
}

#[tokio::test]
async fn a_hand_written_task_that_panics_while_starting_is_failed() {
    let mut flow = Flow::new("panicky");
    let task = flow.add(TaskCall::new("panicky", Args::new(), PanicsWhenStarting));
    let report = run(&flow).await;
    assert_eq!(report.state(task).kind(), StateKind::Failed);
    assert_eq!(
        report.state(task).message(),
        "Task panicked: bad task implementation"
    );
}

#[task]
async fn part(i: u64, fail: bool) -> Result<u64, String> {
    if fail {
        Err(format!("part {i} failed"))
    } else {
        Ok(i)
    }
}

#[task]
async fn add_parts(parts: Vec<u64>) -> u64 {
    parts.iter().sum()
}

#[task(trigger = always_run)]
async fn count_parts(parts: Vec<Option<u64>>) -> (usize, u64) {
    (
        parts.iter().filter(|part| part.is_none()).count(),
        parts.iter().flatten().sum(),
    )
}

#[task(trigger = always_run)]
async fn strict_sum(parts: Vec<u64>) -> u64 {
    parts.iter().sum()
}

#[tokio::test]
async fn a_vec_of_handles_fans_in_to_a_vec_argument() {
    let mut flow = Flow::new("fan-in");
    let parts: Vec<_> = (1..=4).map(|i| flow.add(part(i, i == 3))).collect();
    let total = flow.add(add_parts(parts.clone()));
    let counted = flow.add(count_parts(parts.clone()));
    let strict = flow.add(strict_sum(parts));
    let report = run(&flow).await;
    assert_eq!(report.state(total).kind(), StateKind::TriggerFailed);
    assert_eq!(report.result(counted), Some(&(1, 7)));
    assert_eq!(report.state(strict).kind(), StateKind::Failed);
    assert_eq!(
        report.state(strict).message(),
        "task `strict_sum`: argument `parts` has no value because upstream task `part-3` is Failed; take it as an `Option` to run without it"
    );
    assert_eq!(flow.to_mermaid().matches("-->|parts|").count(), 12);
}
