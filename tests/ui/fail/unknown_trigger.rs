use flowcore::task;

#[task(trigger = all_done)]
async fn extract() -> u32 {
    1
}

fn main() {}
