use flowcore::task;

#[task]
fn extract() -> u32 {
    1
}

fn main() {}
