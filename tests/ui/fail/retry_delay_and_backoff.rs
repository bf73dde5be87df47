use flowcore::task;

#[task(
    retry_delay = "2s",
    retry_backoff = exponential(initial = "1s", factor = 2.0, max = "1m")
)]
async fn fetch() {}

fn main() {}
