//! The Spark cluster flow: create a cluster, run a job on it, and always tear it down.
//!
//! Run with: `cargo run -p flowcore-examples --example spark`
//!
//! The flow runs twice, once with a job that succeeds and once with a job that fails.
//! `tear_down_cluster` has the `always_run` trigger, so the cluster is torn down either way,
//! and `run_spark_job` is the reference task, so the flow fails when the job fails even
//! though the clean-up succeeded.

use flowcore::{Flow, Signal, task};

#[task]
async fn create_cluster(name: &'static str) -> String {
    println!("  creating cluster {name}");
    name.to_string()
}

#[task(max_retries = 1, retry_delay = "50ms")]
async fn run_spark_job(cluster: String, rows: u64) -> Result<u64, Signal> {
    println!("  submitting a job of {rows} rows to {cluster}");
    if rows > 1_000_000 {
        return Err(Signal::fail(format!(
            "executor lost on {cluster}: {rows} rows do not fit in memory"
        )));
    }
    Ok(rows / 1_000)
}

#[task(trigger = always_run)]
async fn tear_down_cluster(cluster: String) -> String {
    println!("  tearing down {cluster}");
    format!("{cluster} deleted")
}

fn spark_flow(rows: u64) -> Flow {
    let mut flow = Flow::new("spark");
    let cluster = flow.add(create_cluster("spark-1"));
    let submitted = flow.add(run_spark_job(cluster, rows));
    flow.add(tear_down_cluster(cluster).after(submitted));
    flow.set_reference_tasks([submitted]);
    flow
}

#[tokio::main]
async fn main() -> Result<(), flowcore::BuildError> {
    println!("Graph (Mermaid):\n{}", spark_flow(0).to_mermaid());

    for (title, rows) in [
        ("a job that succeeds", 250_000),
        ("a job that fails", 5_000_000),
    ] {
        println!("Running the flow with {title}:");
        let report = spark_flow(rows).run().await?;
        println!("\n{report}");
    }
    Ok(())
}
