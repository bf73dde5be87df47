//! Flow inputs, outputs and metadata: one flow run with its defaults, then with values given
//! to the run; a rejected value; the outputs read back typed; tasks reading the run's
//! context (namespace, labels, run id).
//!
//! Run with: `cargo run -p flowcore-examples --example inputs`

use flowcore::{Flow, Input, TaskContext, task};

#[task]
async fn fetch_orders(day: String, limit: u32) -> Vec<u64> {
    if let Some(ctx) = TaskContext::current() {
        println!(
            "  [{}/{} run {}, env={}] fetching at most {limit} orders of {day}",
            ctx.namespace().unwrap_or("-"),
            ctx.flow_name(),
            ctx.run_id(),
            ctx.label("env").unwrap_or("-"),
        );
    }
    (1..=u64::from(limit.min(5))).map(|n| n * 10).collect()
}

#[task]
async fn total(orders: Vec<u64>) -> u64 {
    orders.iter().sum()
}

#[task]
async fn count(orders: Vec<u64>) -> usize {
    orders.len()
}

fn daily_orders() -> Flow {
    let mut flow = Flow::new("daily-orders");
    flow.set_namespace("shop.analytics");
    flow.set_description("Sums the orders of one day.");
    flow.add_label("team", "analytics");
    flow.add_label("env", "dev");

    // `day` is required; `limit` has a default and a validator.
    let day = flow.input::<String>("day");
    let limit = flow.add_input(Input::new("limit").default(3_u32).validate(|limit| {
        if *limit == 0 {
            Err("must be at least 1".to_string())
        } else {
            Ok(())
        }
    }));
    let orders = flow.add(fetch_orders(day, limit));
    let total = flow.add(total(orders));
    let count = flow.add(count(orders));
    flow.output("total", total);
    flow.output("count", count);
    flow
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let flow = daily_orders();
    println!(
        "flow `{}` in `{}`: {}",
        flow.id(),
        flow.namespace().unwrap_or("-"),
        flow.description().unwrap_or("")
    );
    let inputs: Vec<&str> = flow.input_names().collect();
    let outputs: Vec<&str> = flow.output_names().collect();
    println!("inputs: {inputs:?}, outputs: {outputs:?}\n");

    // A run without `day` does not start.
    match flow.run().await {
        Ok(_) => println!("unexpected: the run started without `day`"),
        Err(error) => println!("without `day`: {error}"),
    }
    // Neither does one whose `limit` the validator rejects, or of the wrong type.
    let rejected = flow.runner().input("day", "2026-11-23".to_string());
    if let Err(error) = rejected.input("limit", 0_u32).run().await {
        println!("limit 0: {error}");
    }
    let wrong_type = flow.runner().input("day", "2026-11-23");
    if let Err(error) = wrong_type.run().await {
        println!("day as a &str: {error}\n");
    }

    println!("with the default limit:");
    let report = flow
        .runner()
        .input("day", "2026-11-23".to_string())
        .run()
        .await?;
    println!("{report}");
    let total = report.output::<u64>("total")?.copied().unwrap_or_default();
    let count = report
        .output::<usize>("count")?
        .copied()
        .unwrap_or_default();
    println!(
        "total {total} over {count} orders (run {})\n",
        report.run_id()
    );

    println!("with limit 5:");
    let report = flow
        .runner()
        .input("day", "2026-11-24".to_string())
        .input("limit", 5_u32)
        .run()
        .await?;
    println!("{report}");
    let total = report.output::<u64>("total")?.copied().unwrap_or_default();
    println!("total {total} (run {})", report.run_id());
    Ok(())
}
