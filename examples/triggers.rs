//! Triggers decide from the upstream states whether a task runs.
//!
//! Run with: `cargo run -p flowcore-examples --example triggers`

use flowcore::{Flow, Signal, Threshold, Trigger, task};

#[task]
async fn check(name: &'static str, healthy: bool) -> Result<&'static str, Signal> {
    if healthy {
        Ok(name)
    } else {
        Err(Signal::fail(format!("{name} is down")))
    }
}

#[task]
async fn report(label: &'static str) -> &'static str {
    label
}

#[tokio::main]
async fn main() -> Result<(), flowcore::BuildError> {
    let mut flow = Flow::new("health");
    let checks = [
        flow.add(check("db", true).name("db")),
        flow.add(check("cache", false).name("cache")),
        flow.add(check("queue", true).name("queue")),
    ];
    let triggers = [
        ("all_ok", Trigger::AllSuccessful),
        ("page_on_call", Trigger::AnyFailed),
        (
            "degraded",
            Trigger::some_failed(Some(Threshold::Count(1)), Some(Threshold::Fraction(0.5))),
        ),
        ("summary", Trigger::ALWAYS_RUN),
        (
            "at_most_one_down",
            Trigger::custom("at_most_one_down", |upstream| {
                upstream.iter().filter(|state| state.is_failed()).count() <= 1
            }),
        ),
    ];
    for (label, trigger) in triggers {
        let mut call = report(label).name(label).trigger(trigger);
        for check in checks {
            call = call.after(check);
        }
        flow.add(call);
    }
    let report = flow.run().await?;
    println!("{report}");
    Ok(())
}
