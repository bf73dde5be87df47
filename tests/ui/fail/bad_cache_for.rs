use flowcore::task;

#[task(cache_for = "10 minutes")]
async fn rates() -> u32 {
    1
}

#[task(cache_for = "0s")]
async fn never_kept() -> u32 {
    1
}

fn main() {}
