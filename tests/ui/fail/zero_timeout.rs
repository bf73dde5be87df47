use flowcore::task;

#[task(timeout = "0s")]
async fn extract() -> u32 {
    1
}

fn main() {}
