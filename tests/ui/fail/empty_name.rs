use flowcore::task;

#[task(name = "")]
async fn extract() -> u32 {
    1
}

fn main() {}
