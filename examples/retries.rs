//! Retries and timeouts: a flaky task succeeds on its third attempt, a slow one times out.
//!
//! Run with: `cargo run -p flowcore-examples --example retries`

use std::time::Duration;

use flowcore::{Flow, TaskContext, task};

#[task(max_retries = 3, retry_delay = "20ms")]
async fn flaky_download(url: &'static str) -> Result<usize, std::io::Error> {
    let attempt = TaskContext::current().map_or(1, |ctx| ctx.attempt());
    println!("  attempt {attempt} to download {url}");
    if attempt < 3 {
        return Err(std::io::Error::other(format!(
            "connection reset (attempt {attempt})"
        )));
    }
    Ok(url.len())
}

#[task(timeout = "50ms", max_retries = 1)]
async fn slow_query(sleep: Duration) -> u64 {
    tokio::time::sleep(sleep).await;
    42
}

#[tokio::main]
async fn main() -> Result<(), flowcore::BuildError> {
    let mut flow = Flow::new("retries");
    flow.add(flaky_download("https://example.com/data.csv"));
    flow.add(slow_query(Duration::from_secs(10)));
    let report = flow.run().await?;
    println!("\n{report}");
    Ok(())
}
