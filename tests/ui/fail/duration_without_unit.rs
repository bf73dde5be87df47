use flowcore::task;

#[task(timeout = "2")]
async fn extract() -> u32 {
    1
}

fn main() {}
