//! Concurrency limits: at most three tasks of a run at once, and at most two tasks that
//! talk to the warehouse database across every flow of the process.
//!
//! Run with: `cargo run -p flowcore-examples --example limits`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use flowcore::{Flow, set_tag_limit, task};

/// Counts the queries running at once.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static MOST: AtomicUsize = AtomicUsize::new(0);

#[task]
async fn query(table: &'static str, calls: Arc<AtomicUsize>) -> String {
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    MOST.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(30)).await;
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    calls.fetch_add(1, Ordering::SeqCst);
    format!("{table}: ok")
}

fn flow_of(name: &str, tables: &[&'static str], calls: &Arc<AtomicUsize>) -> Flow {
    let mut flow = Flow::new(name);
    for table in tables {
        flow.add(query(*table, calls.clone()).name(*table).tag("warehouse"));
    }
    flow.set_max_concurrency(3);
    flow
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    set_tag_limit("warehouse", 2);
    let calls = Arc::new(AtomicUsize::new(0));
    let sales = flow_of("sales", &["orders", "refunds", "invoices"], &calls);
    let stock = flow_of("stock", &["items", "moves", "counts"], &calls);
    let (sales, stock) = tokio::join!(sales.run(), stock.run());
    let (sales, stock) = (sales?, stock?);
    println!("{sales}\n{stock}");
    println!(
        "{} queries ran, at most {} at once (the `warehouse` limit is 2)",
        calls.load(Ordering::SeqCst),
        MOST.load(Ordering::SeqCst)
    );
    for report in [&sales, &stock] {
        let queued: Vec<String> = report
            .transition_log()
            .filter(|(_, kind)| *kind == flowcore::StateKind::Queued)
            .map(|(name, _)| name.into_owned())
            .collect();
        println!("{}: waited for a slot: {queued:?}", report.flow_name());
    }
    Ok(())
}
