use flowcore::task;

struct Connection;

#[task(cache_for = "1h")]
async fn connect(url: String) -> Result<Connection, std::io::Error> {
    let _ = url;
    Ok(Connection)
}

fn main() {}
