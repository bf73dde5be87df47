//! A flow's time limit and cancellation: unfinished tasks end `Cancelled`, `errors` tasks
//! alert after a timeout, and `finally` tasks still clean up.
//!
//! Run with: `cargo run -p flowcore-examples --example timeout`

use std::time::Duration;

use flowcore::{CancellationToken, Flow, TaskFailure, task};

#[task]
async fn quick_step() -> &'static str {
    "done"
}

#[task]
async fn slow_export(millis: u64) -> &'static str {
    tokio::time::sleep(Duration::from_millis(millis)).await;
    "exported"
}

#[task]
async fn alert(failures: Vec<TaskFailure>) -> String {
    format!("{} task(s) did not finish", failures.len())
}

#[task]
async fn release_locks() -> &'static str {
    "locks released"
}

fn export_flow() -> Flow {
    let mut flow = Flow::new("nightly_export");
    flow.add(quick_step());
    let export = flow.add(slow_export(5_000));
    flow.add(slow_export(10).name("publish").after(export));
    let failures = flow.failed_tasks();
    flow.add_errors(alert(failures));
    flow.add_finally(release_locks());
    flow
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut flow = export_flow();
    flow.set_timeout(Duration::from_millis(100));
    let report = flow.run().await?;
    println!("{report}");

    // The same flow, cancelled from outside instead.
    let flow = export_flow();
    let token = CancellationToken::new();
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        canceller.cancel();
    });
    let report = flow.runner().cancel_on(token).run().await?;
    println!("{report}");
    Ok(())
}
