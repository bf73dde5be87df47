//! Kestra's `ForEachItem`: split rows into batches, process each batch as a child task
//! with at most two batches at once, and let a failed batch be reported without failing
//! the flow (`transmitFailed: false`).
//!
//! Run with: `cargo run -p flowcore-examples --example batches`

use std::time::Duration;

use flowcore::{Flow, batches, task};

#[task]
async fn read_rows() -> Vec<String> {
    (1..=23).map(|i| format!("row-{i}")).collect()
}

#[task]
async fn load_batch(rows: Vec<String>) -> Result<usize, String> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    if rows.iter().any(|row| row == "row-17") {
        return Err(format!("{} rows rejected: row-17 is malformed", rows.len()));
    }
    Ok(rows.len())
}

#[task]
async fn report_done(rows: Vec<String>) -> String {
    format!("read {} rows", rows.len())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut flow = Flow::new("for_each_item");
    let rows = flow.add(read_rows());
    let loaded = flow.map(
        load_batch(batches(rows, 5))
            .max_concurrency(2)
            .allow_failure(),
    );
    // Does not take the batch task's handle, so it does not wait for the batches.
    flow.add(report_done(rows));

    let report = flow.run().await?;
    println!("{report}");
    for (i, state) in report.children(loaded).iter().enumerate() {
        println!("batch {i}: {state}");
    }
    Ok(())
}
