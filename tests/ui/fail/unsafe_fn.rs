use flowcore::task;

#[task]
async unsafe fn extract() -> u32 {
    1
}

fn main() {}
