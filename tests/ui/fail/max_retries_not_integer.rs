use flowcore::task;

#[task(max_retries = "3")]
async fn extract() -> u32 {
    1
}

fn main() {}
