use flowcore::task;

#[derive(Debug)]
struct LoadError;

#[task]
async fn load() -> Result<i32, LoadError> {
    Err(LoadError)
}

fn main() {}
