use flowcore::task;

fn key(id: &u32) -> u32 {
    *id
}

#[task(cache_key = "rates", cache_key_fn = key)]
async fn rates(id: u32) -> u32 {
    id
}

#[task(cache_for = "1h", cache_key = "")]
async fn empty_key(id: u32) -> u32 {
    id
}

fn main() {}
