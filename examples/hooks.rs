//! State hooks: observe every change of a task and the flow's outcome, for example to
//! send metrics or notifications (hooks observe; they cannot change a state).
//!
//! Run with: `cargo run -p flowcore-examples --example hooks`

use flowcore::{Flow, task};

#[task(max_retries = 2)]
async fn sync_accounts(fail_times: u32) -> Result<u32, String> {
    let attempt = flowcore::TaskContext::current().map_or(1, |ctx| ctx.attempt());
    if attempt <= fail_times {
        return Err(format!("CRM timed out (attempt {attempt})"));
    }
    Ok(1200)
}

#[task]
async fn send_digest(accounts: u32) -> String {
    format!("digest of {accounts} accounts sent")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut flow = Flow::new("crm_sync");
    let accounts = flow.add(
        sync_accounts(2)
            .on_state(|change| {
                println!(
                    "[metrics] {} -> {} ({})",
                    change.task().unwrap_or("?"),
                    change.state().kind(),
                    change.state().message()
                )
            })
            .on_failure(|change| {
                println!("[pager] {} failed for good", change.task().unwrap_or("?"))
            }),
    );
    flow.add(send_digest(accounts));
    flow.on_state(|change| {
        println!(
            "[flow] run {} is {}",
            change.run_id(),
            change.state().kind()
        )
    });
    flow.on_failure(|change| println!("[pager] flow failed: {}", change.state().message()));

    let report = flow.run().await?;
    println!("\n{report}");
    Ok(())
}
