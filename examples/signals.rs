//! Signals: a task body ends itself as SUCCESS, FAIL, SKIP, RETRY or PAUSE.
//!
//! Run with: `cargo run -p flowcore-examples --example signals`

use std::time::Duration;

use flowcore::{Flow, Signal, TaskContext, task};

#[task]
async fn signal_task(message: &'static str) -> Result<&'static str, Signal> {
    match message {
        "go!" => Err(Signal::success("going!").with_value(message)),
        "stop!" => Err(Signal::fail("stopping!")),
        "skip!" => Err(Signal::skip("skipping!")),
        _ => Ok(message),
    }
}

#[task]
async fn shout(message: &'static str) -> String {
    message.to_uppercase()
}

#[task(max_retries = 3)]
async fn poll_until_ready() -> Result<u32, Signal> {
    let attempt = TaskContext::current().map_or(1, |ctx| ctx.attempt());
    if attempt < 3 {
        return Err(Signal::retry(format!("not ready at attempt {attempt}"))
            .with_delay(Duration::from_millis(20)));
    }
    Ok(attempt)
}

#[tokio::main]
async fn main() -> Result<(), flowcore::BuildError> {
    let mut flow = Flow::new("signals");
    for message in ["go!", "stop!", "skip!", "hello"] {
        let signalled = flow.add(signal_task(message).name(message));
        flow.add(shout(signalled).name(format!("shout {message}")));
    }
    flow.add(poll_until_ready());
    let report = flow.run().await?;
    println!("{report}");
    Ok(())
}
