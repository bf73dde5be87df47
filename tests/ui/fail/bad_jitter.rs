use flowcore::task;

#[task(retry_jitter = proportional(1.5))]
async fn too_much() {}

#[task(retry_jitter = proportional)]
async fn no_fraction() {}

#[task(retry_jitter = random)]
async fn unknown_jitter() {}

fn main() {}
