use flowcore::task;

#[task]
async fn identity<T: Clone + Send + Sync + 'static>(value: T) -> T {
    value
}

fn main() {}
