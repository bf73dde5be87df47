//! Retries and timeouts: a flaky task succeeds on its third attempt, a rate-limited call
//! backs off exponentially with jitter, an error that retrying cannot fix is not retried,
//! and a slow task times out.
//!
//! Run with: `cargo run -p flowcore-examples --example retries`

use std::error::Error;
use std::io;
use std::time::Duration;

use flowcore::{Flow, TaskContext, task};
use tokio::time::Instant;

#[task(max_retries = 3, retry_delay = "20ms")]
async fn flaky_download(url: &'static str) -> Result<usize, io::Error> {
    let attempt = TaskContext::current().map_or(1, |ctx| ctx.attempt());
    println!("  attempt {attempt} to download {url}");
    if attempt < 3 {
        return Err(io::Error::other(format!(
            "connection reset (attempt {attempt})"
        )));
    }
    Ok(url.len())
}

/// Waits about 10ms, 20ms, 40ms, then 50ms (the cap) between attempts, each delay give or
/// take half of it. The jitter is derived from the task's name and the retry number, so
/// every run waits the same delays.
#[task(
    max_retries = 4,
    retry_backoff = exponential(initial = "10ms", factor = 2.0, max = "50ms"),
    retry_jitter = proportional(0.5)
)]
async fn rate_limited_call(started: Instant) -> Result<&'static str, io::Error> {
    let attempt = TaskContext::current().map_or(1, |ctx| ctx.attempt());
    println!(
        "  attempt {attempt} to call the API, {:?} after the start",
        started.elapsed()
    );
    if attempt < 5 {
        return Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "429 Too Many Requests",
        ));
    }
    Ok("200 OK")
}

/// Whether retrying can help: timeouts and rate limits, not missing files.
fn transient(error: &(dyn Error + 'static)) -> bool {
    error.downcast_ref::<io::Error>().is_some_and(|error| {
        matches!(
            error.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        )
    })
}

/// Fails with an error `transient` rejects, so it is not retried.
#[task(max_retries = 3, retry_delay = "20ms", retry_if = transient)]
async fn read_config(path: &'static str) -> Result<String, io::Error> {
    println!("  reading {path}");
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("{path} does not exist"),
    ))
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
    flow.add(rate_limited_call(Instant::now()));
    flow.add(read_config("/etc/app/config.toml"));
    flow.add(slow_query(Duration::from_secs(10)));
    let report = flow.run().await?;
    println!("\n{report}");
    Ok(())
}
