use flowcore::task;

#[task(max_retries = 1, max_retries = 2)]
async fn extract() -> u32 {
    1
}

fn main() {}
