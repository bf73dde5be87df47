//! Mapping: one task run per item of an upstream task's output, each item a child task
//! with its own state and retries; a reduce over the results; partial results.
//!
//! Run with: `cargo run -p flowcore-examples --example mapping`

use flowcore::{Flow, Signal, each, task};

#[task]
async fn list_orders() -> Vec<u32> {
    vec![101, 102, 103, 104, 105]
}

/// Order 103 is malformed every time; the others are priced.
#[task(max_retries = 1)]
async fn price(order: u32, vat: f64) -> Result<f64, String> {
    if order == 103 {
        return Err(format!("order {order}: missing line items"));
    }
    Ok(f64::from(order) * (1.0 + vat))
}

/// Skips orders below a threshold: a child can end itself like any task.
#[task]
async fn large_only(order: u32) -> Result<u32, Signal> {
    if order < 103 {
        return Err(Signal::skip("small order"));
    }
    Ok(order)
}

/// A reduce that runs whatever the children did, with `None` for those without a value.
#[task(trigger = all_finished)]
async fn invoice_total(prices: Vec<Option<f64>>) -> f64 {
    prices.into_iter().flatten().sum()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut flow = Flow::new("invoicing");
    let orders = flow.add(list_orders());
    // `each(orders)` is mapped (one item per child); `0.2` goes whole to every child.
    let prices = flow.map(price(each(orders), 0.2));
    let total = flow.add(invoice_total(prices));
    let large = flow.map(large_only(each(orders)));

    let report = flow.run().await?;
    println!("{report}");
    for (i, state) in report.children(prices).iter().enumerate() {
        println!("price[{i}]: {state}");
    }
    println!("large_only: {}", report.state(large));
    println!(
        "total of the priced orders: {:.2}",
        report.result(total).unwrap_or(&0.0)
    );
    Ok(())
}
