use flowcore::task;

#[task(trigger = some_successful(at_least = 1.5))]
async fn extract() -> u32 {
    1
}

fn main() {}
