use flowcore::task;

#[task(retry_backoff = exponential(initial = "1s", factor = 0.5, max = "1m"))]
async fn shrinking() {}

#[task(retry_backoff = exponential(initial = "1s"))]
async fn missing_parameters() {}

#[task(retry_backoff = exponential(initial = "1m", factor = 2.0, max = "1s"))]
async fn max_below_initial() {}

#[task(retry_backoff = exponential(initial = "0s", factor = 2.0, max = "1s"))]
async fn zero_initial() {}

#[task(retry_backoff = exponential(initial = "1s", factor = 2.0, max = "1m", min = "1s"))]
async fn unknown_parameter() {}

#[task(retry_backoff = exponential)]
async fn no_parameters() {}

#[task(retry_backoff = fixed("2s"))]
async fn fixed() {}

#[task(retry_backoff = linear(step = "1s"))]
async fn unknown_backoff() {}

fn main() {}
