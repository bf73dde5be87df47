//! Every state change is a tracing event in a span per flow run and per task run.
//!
//! Run with: `cargo run -p flowcore-examples --example tracing`

use flowcore::{Flow, task};
use tracing_subscriber::filter::LevelFilter;

#[task(max_retries = 1, retry_delay = "10ms")]
async fn unreliable() -> Result<u32, String> {
    Err("service unavailable".to_string())
}

#[task]
async fn use_it(value: u32) -> u32 {
    value
}

#[tokio::main]
async fn main() -> Result<(), flowcore::BuildError> {
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::DEBUG)
        .with_target(false)
        .init();
    let mut flow = Flow::new("traced");
    let value = flow.add(unreliable());
    flow.add(use_it(value));
    flow.run().await?;
    Ok(())
}
