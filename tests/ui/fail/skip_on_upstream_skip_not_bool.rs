use flowcore::task;

#[task(skip_on_upstream_skip = "no")]
async fn extract() -> u32 {
    1
}

fn main() {}
