use flowcore::task;

#[task]
const async fn extract() -> u32 {
    1
}

fn main() {}
