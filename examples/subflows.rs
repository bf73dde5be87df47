//! Subflows: an `ingest` flow, with inputs, a mapped task that retries and an output, used
//! as a task of a `nightly` flow: once per source (a subflow mapped over items, each run
//! of the child a run of its own), and once more with a row limit that fails the child.
//! Then a binding mistake, caught when the parent is built.
//!
//! Run with: `cargo run -p flowcore-examples --example subflows`

use flowcore::{Flow, Subflow, TaskContext, Trigger, each, task};

#[task]
async fn list_pages(source: String) -> Vec<u32> {
    (1..=source.len() as u32 % 4 + 1).collect()
}

/// Page 2 fails on its first attempt and succeeds when retried, inside the child run.
#[task(max_retries = 2, retry_delay = "100ms")]
async fn fetch_page(source: String, page: u32) -> Result<u64, String> {
    let attempt = TaskContext::current().map_or(1, |ctx| ctx.attempt());
    if page == 2 && attempt == 1 {
        return Err(format!("{source} page {page}: connection reset"));
    }
    Ok(u64::from(page) * 100)
}

#[task]
async fn count_rows(pages: Vec<u64>, max_rows: u64) -> Result<u64, String> {
    let rows = pages.iter().sum();
    if rows > max_rows {
        Err(format!("{rows} rows is above the limit of {max_rows}"))
    } else {
        Ok(rows)
    }
}

/// The child flow: the rows of one source.
fn ingest() -> Flow {
    let mut flow = Flow::new("ingest");
    let source = flow.input::<String>("source");
    let max_rows = flow.input_or("max_rows", 1_000_u64);
    let pages = flow.add(list_pages(source));
    let fetched = flow.map(fetch_page(source, each(pages)));
    let rows = flow.add(count_rows(fetched, max_rows));
    flow.output("rows", rows);
    flow
}

#[task]
async fn list_sources() -> Vec<String> {
    ["orders", "users", "events"].map(String::from).to_vec()
}

#[task]
async fn total(rows: Vec<Option<u64>>) -> u64 {
    rows.iter().flatten().sum()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let child = ingest();

    let mut nightly = Flow::new("nightly");
    nightly.add_label("env", "prod");
    let sources = nightly.add(list_sources());
    // One child run per source, with the parent's labels.
    let runs = nightly.map(
        Subflow::new(&child)
            .input("source", each(sources))
            .inherit_labels(true)
            .into_call(),
    );
    let rows = nightly.subflow_outputs::<u64>(runs, "rows");
    let total = nightly.add(total(rows).trigger(Trigger::AllFinished));
    // The same child with a limit too low: it fails, which is allowed here.
    let strict = nightly.add(
        Subflow::new(&child)
            .input_value("source", "orders".to_string())
            .input_value("max_rows", 100_u64)
            .into_call()
            .name("strict_ingest")
            .allow_failure(),
    );

    let report = nightly.run().await?;
    println!("{report}");
    println!(
        "total rows: {}\n",
        report.result(total).copied().unwrap_or(0)
    );
    for (i, state) in report.children(runs).iter().enumerate() {
        let Some(run) = report.child_result(runs, i) else {
            println!("ingest[{i}]: {} ({})", state.kind(), state.message());
            continue;
        };
        let retried = run
            .state_of("fetch_page[1]")
            .map_or(0, |page| page.run_count());
        println!(
            "ingest[{i}]: child run {} ended {}; {} rows; page 2 took {retried} attempts",
            run.run_id(),
            run.state().kind(),
            run.output::<u64>("rows")?.unwrap_or(0),
        );
    }
    println!("strict_ingest: {}\n", report.state(strict).message());

    // Binding `max_rows` to a `u32` instead of the child's `u64`: the parent does not build.
    let mut wrong = Flow::new("wrong");
    wrong.add(
        Subflow::new(&child)
            .input_value("source", "orders".to_string())
            .input_value("max_rows", 100_u32)
            .into_call(),
    );
    if let Err(error) = wrong.validate() {
        println!("a mistyped input: {error}");
    }
    Ok(())
}
