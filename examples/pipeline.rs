//! A user's pipeline and its tests, end to end: an order-import flow whose tests run with
//! `cargo test` (this example has `test = true`, so `cargo test --workspace` runs them).
//!
//! Run the pipeline with: `cargo run -p flowcore-examples --example pipeline`
//! Run its tests with: `cargo test -p flowcore-examples --example pipeline`

use flowcore::{Flow, Handle, Signal, task};

/// An order as the shop's export gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    id: u32,
    cents: u64,
}

#[task(max_retries = 3, retry_delay = "30s", timeout = "5m")]
async fn fetch_orders(day: &'static str) -> Result<Vec<Order>, std::io::Error> {
    // A real pipeline would call the shop's API here.
    let _ = day;
    Ok(vec![
        Order { id: 1, cents: 1250 },
        Order { id: 2, cents: 399 },
    ])
}

#[task]
async fn validate(orders: Vec<Order>) -> Result<Vec<Order>, Signal> {
    if orders.is_empty() {
        return Err(Signal::skip("no orders that day"));
    }
    match orders.iter().find(|order| order.cents == 0) {
        Some(order) => Err(Signal::fail(format!("order {} has no amount", order.id))),
        None => Ok(orders),
    }
}

#[task]
async fn total(orders: Vec<Order>) -> u64 {
    orders.iter().map(|order| order.cents).sum()
}

#[task(trigger = always_run)]
async fn notify(total: Option<u64>) -> String {
    match total {
        Some(cents) => format!("imported {}.{:02}", cents / 100, cents % 100),
        None => "import did not finish".to_string(),
    }
}

/// The pipeline's flow and the handles its tests look at.
#[derive(Debug)]
#[cfg_attr(not(test), allow(dead_code, reason = "the handles are for the tests"))]
pub struct Import {
    flow: Flow,
    fetched: Handle<Vec<Order>>,
    validated: Handle<Vec<Order>>,
    total: Handle<u64>,
    notified: Handle<String>,
}

/// Builds the import flow for one day.
pub fn import(day: &'static str) -> Import {
    let mut flow = Flow::new("import-orders");
    let fetched = flow.add(fetch_orders(day));
    let validated = flow.add(validate(fetched));
    let total = flow.add(total(validated));
    let notified = flow.add(notify(total));
    flow.set_reference_tasks([total]);
    Import {
        flow,
        fetched,
        validated,
        total,
        notified,
    }
}

#[tokio::main]
async fn main() -> Result<(), flowcore::BuildError> {
    let import = import("2026-11-23");
    let report = import.flow.run().await?;
    println!("{report}");
    println!("{:?}", report.result(import.notified));
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use flowcore::StateKind::*;
    use flowcore::{State, Stub};

    use super::*;

    #[tokio::test]
    async fn bodies_are_plain_async_functions() {
        let orders = vec![Order { id: 7, cents: 0 }];
        let error = validate(orders).call().await.unwrap_err();
        assert_eq!(error.to_string(), "FAIL signal: order 7 has no amount");
        assert_eq!(
            total(vec![Order { id: 1, cents: 5 }]).call().await.unwrap(),
            5
        );
    }

    #[tokio::test]
    async fn a_normal_day_imports_every_order() {
        let import = import("2026-11-23");
        let report = import.flow.run().await.unwrap();
        report.check_flow(Success);
        report.check(import.total).result(&1649);
        report
            .check(import.notified)
            .result(&"imported 16.49".to_string());
        // The whole run as a stable table, ready for snapshot tests.
        assert_eq!(
            report.to_string(),
            "flow `import-orders`: Success (All reference tasks succeeded.)\n\
             task          state    attempts  message\n\
             fetch_orders  Success  1         Task run succeeded.\n\
             validate      Success  1         Task run succeeded.\n\
             total         Success  1         Task run succeeded.\n\
             notify        Success  1         Task run succeeded.\n"
        );
    }

    #[tokio::test]
    async fn a_bad_order_fails_the_import_and_still_notifies() {
        let import = import("2026-11-23");
        let bad = vec![Order { id: 9, cents: 0 }];
        let report = import
            .flow
            .runner()
            .with_result(import.fetched, bad)
            .run()
            .await
            .unwrap();
        report
            .check(import.validated)
            .is(Failed)
            .message("order 9 has no amount");
        report.check(import.total).is(TriggerFailed);
        report
            .check(import.notified)
            .is(Success)
            .result(&"import did not finish".to_string());
        report.check_flow(Failed);
    }

    #[tokio::test]
    async fn a_day_without_orders_is_skipped_not_failed() {
        let import = import("2026-12-25");
        let report = import
            .flow
            .runner()
            .with_result(import.fetched, Vec::new())
            .run()
            .await
            .unwrap();
        report
            .check(import.validated)
            .is(Skipped)
            .message("no orders that day");
        report.check(import.total).is(Skipped);
        // Skips propagate to `notify` too: it keeps the default `skip_on_upstream_skip`.
        report.check(import.notified).is(Skipped);
        report.check_flow(Success);
    }

    #[tokio::test(start_paused = true)]
    async fn the_shop_api_is_retried_on_paused_time() {
        let import = import("2026-11-23");
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let flaky = Stub::from_fn(move || {
            let call = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if call < 2 {
                    Err("503 Service Unavailable".into())
                } else {
                    Ok(vec![Order { id: 3, cents: 100 }])
                }
            }
        });
        let started = tokio::time::Instant::now();
        let report = import
            .flow
            .runner()
            .with_stub(import.fetched, flaky)
            .run()
            .await
            .unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(60));
        report
            .check(import.fetched)
            .is(Success)
            .attempts(3)
            .went_through(&[
                Running, Failed, Retrying, Running, Failed, Retrying, Running, Success,
            ]);
        report.check(import.total).result(&100);
    }

    #[tokio::test]
    async fn an_unreachable_shop_is_a_failed_upstream() {
        let import = import("2026-11-23");
        let report = import
            .flow
            .runner()
            .with_state(import.fetched, State::failed("connection refused"))
            .run()
            .await
            .unwrap();
        report.check(import.validated).is(TriggerFailed).attempts(0);
        report.check_flow(Failed);
    }
}
