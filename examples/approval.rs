//! Pausing for approval: a `manual_only` task waits, the run returns `Paused`, and the
//! same run continues once the task is approved.
//!
//! Run with: `cargo run -p flowcore-examples --example approval`

use flowcore::{Flow, task};

#[task]
async fn build() -> String {
    "v1.4.2".to_string()
}

#[task(trigger = manual_only)]
async fn deploy(version: String) -> String {
    format!("{version} is live")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut flow = Flow::new("release");
    let version = flow.add(build());
    flow.add(deploy(version));

    let mut report = flow.run().await?;
    println!("{report}");

    println!("approving `deploy`\n");
    report.approve("deploy")?;
    report.resume().await;
    println!("{report}");
    Ok(())
}
