//! Caching: a slow lookup declared with `cache_for` runs once, and later runs of the flow
//! in the same process take its result from the cache (`Cached`); a mapped task caches
//! each item; a call can refresh the entry; an entry expires.
//!
//! Run with: `cargo run -p flowcore-examples --example caching`

use std::time::Duration;

use flowcore::{Flow, RunReport, each, task};

/// A slow call to a rate service. The key hashes the function and `currency`, so each
/// currency has its own entry.
#[task(cache_for = "10m")]
async fn exchange_rate(currency: String) -> Result<f64, std::io::Error> {
    println!("  asking the rate service for {currency}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(match currency.as_str() {
        "EUR" => 0.92,
        "GBP" => 0.79,
        _ => 1.0,
    })
}

#[task]
async fn currencies() -> Vec<String> {
    vec!["EUR".to_string(), "GBP".to_string()]
}

/// Cached per item: each child's key hashes its own currency.
#[task(cache_for = "10m")]
async fn price_list(currency: String) -> String {
    println!("  building the price list in {currency}");
    format!("prices in {currency}")
}

#[task]
async fn invoice(rate: f64, amount_usd: f64) -> String {
    format!("{:.2} EUR", rate * amount_usd)
}

fn show(title: &str, report: &RunReport) {
    println!("{title}\n{report}");
}

#[tokio::main]
async fn main() -> Result<(), flowcore::BuildError> {
    let mut flow = Flow::new("invoicing");
    let rate = flow.add(exchange_rate("EUR".to_string()));
    flow.add(invoice(rate, 120.0));
    let currencies = flow.add(currencies());
    flow.map(price_list(each(currencies)));

    println!("first run: the bodies run and their results are stored");
    show("", &flow.run().await?);

    println!("second run: nothing is asked again, the cached tasks end Cached");
    show("", &flow.run().await?);

    println!("a run that refreshes the rate: its body runs and replaces the entry");
    let mut refresh = Flow::new("refresh-rate");
    refresh.add(exchange_rate("EUR".to_string()).refresh_cache());
    show("", &refresh.run().await?);

    println!("a rate kept for 100ms only, read after 150ms: the entry has expired");
    let mut short = Flow::new("short-lived");
    short.add(exchange_rate("GBP".to_string()).cache_for(Duration::from_millis(100)));
    short.run().await?;
    tokio::time::sleep(Duration::from_millis(150)).await;
    show("", &short.run().await?);
    Ok(())
}
