use flowcore::task;

#[task(timeout = "2 weeks", retries = 3, name = "", max_retries = "3")]
async fn extract() -> u32 {
    1
}

fn main() {}
