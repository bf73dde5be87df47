use flowcore::task;

#[task(retries = 3)]
async fn extract() -> u32 {
    1
}

fn main() {}
