//! Allowed failures: a best-effort task fails as a `Warning` that neither fails its
//! downstream tasks nor the flow (Kestra's `allowFailure`).
//!
//! Run with: `cargo run -p flowcore-examples --example allow_failure`

use flowcore::{Flow, task};

#[task]
async fn build_site() -> u32 {
    42
}

#[task]
async fn warm_cdn_cache(pages: u32) -> Result<u32, String> {
    Err(format!("CDN API rate-limited after 0 of {pages} pages"))
}

#[task]
async fn announce(pages: u32, warmed: Option<u32>) -> String {
    match warmed {
        Some(warmed) => format!("{pages} pages live, {warmed} warmed"),
        None => format!("{pages} pages live (cache cold)"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut flow = Flow::new("publish");
    let pages = flow.add(build_site());
    let warmed = flow.add(warm_cdn_cache(pages).allow_failure().max_retries(1));
    let announced = flow.add(announce(pages, warmed));
    let report = flow.run().await?;
    println!("{report}");
    println!("{}", report.result(announced).map_or("-", String::as_str));
    Ok(())
}
