use flowcore::task;

fn transient(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::TimedOut
}

#[task(max_retries = 3, retry_if = transient)]
async fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
