use std::error::Error;

use flowcore::{Flow, task};

fn transient(error: &(dyn Error + 'static)) -> bool {
    error.downcast_ref::<std::io::Error>().is_some()
}

#[task(
    max_retries = 5,
    retry_backoff = exponential(initial = "500ms", factor = 1.5, max = "1m"),
    retry_jitter = proportional(0.25),
    retry_if = transient,
)]
async fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

#[task(
    max_retries = 2,
    retry_delay = "1s",
    retry_jitter = full,
    retry_if = self::transient
)]
async fn load() -> u32 {
    1
}

#[task(
    retry_backoff = exponential(factor = 2, max = "1h", initial = "1s"),
    retry_jitter = none
)]
async fn store() {}

fn main() {
    let mut flow = Flow::new("retry_policy");
    flow.add(fetch());
    flow.add(load());
    flow.add(store());
    assert!(flow.validate().is_ok());
}
