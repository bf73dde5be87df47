use flowcore::task;

#[task(trigger = some_failed(at_least = 1, exactly = 2))]
async fn extract() -> u32 {
    1
}

fn main() {}
