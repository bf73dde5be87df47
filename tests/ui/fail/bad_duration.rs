use flowcore::task;

#[task(retry_delay = "2 weeks")]
async fn extract() -> u32 {
    1
}

fn main() {}
