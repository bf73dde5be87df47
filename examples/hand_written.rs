//! A task written by hand with the `Task` trait, next to `#[task]` functions, and the
//! flow's graph exported as Mermaid and Graphviz DOT.
//!
//! Run with: `cargo run -p flowcore-examples --example hand_written`

use flowcore::{Arg, Args, Flow, IntoArg, Task, TaskCall, TaskFuture, Values, task};

/// Raises a number to a power chosen when the flow is built.
struct Power {
    base: Arg<u64>,
    exponent: u32,
}

impl Task for Power {
    type Output = u64;

    fn run(&self, values: &Values<'_>) -> TaskFuture<u64> {
        let base = values.get(&self.base);
        let exponent = self.exponent;
        Box::pin(async move { Ok(base?.pow(exponent)) })
    }
}

/// The constructor a `#[task]` would have generated.
fn power(base: impl IntoArg<u64>, exponent: u32) -> TaskCall<u64> {
    let mut args = Args::new();
    let base = args.bind("base", base);
    TaskCall::new("power", args, Power { base, exponent })
}

#[task]
async fn seed() -> u64 {
    3
}

#[task]
async fn total(parts: Vec<u64>) -> u64 {
    parts.iter().sum()
}

#[tokio::main]
async fn main() -> Result<(), flowcore::BuildError> {
    let mut flow = Flow::new("powers");
    let seed = flow.add(seed());
    let powers: Vec<_> = (1..=3)
        .map(|exponent| flow.add(power(seed, exponent)))
        .collect();
    let sum = flow.add(total(powers));

    println!("Mermaid:\n{}", flow.to_mermaid());
    println!("DOT:\n{}", flow.to_dot());

    let report = flow.run().await?;
    println!("{report}");
    println!(
        "3 + 9 + 27 = {}",
        report.result(sum).copied().unwrap_or_default()
    );
    Ok(())
}
