use flowcore::task;

struct Source;

impl Source {
    #[task]
    async fn extract(&self) -> u32 {
        1
    }
}

fn main() {}
