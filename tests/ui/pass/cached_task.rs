use flowcore::{Flow, Signal, each, task};

#[task(cache_for = "10m")]
async fn rates(currency: String, day: u32) -> Result<Vec<f64>, std::io::Error> {
    Ok(vec![currency.len() as f64, f64::from(day)])
}

#[task(cache_for = "1h 30m", cache_key = "shared-prices", max_retries = 2)]
async fn prices(day: u32) -> Result<u64, Signal> {
    Err(Signal::success("from the archive").with_value(u64::from(day)))
}

#[derive(Clone)]
struct Query {
    text: String,
    weight: f64,
}

fn query_key(query: &Query, limit: &usize) -> (String, usize) {
    (query.text.clone(), *limit)
}

#[task(cache_for = "1d", cache_key_fn = query_key)]
async fn search(query: Query, limit: usize) -> Vec<String> {
    vec![format!("{} {}", query.text, query.weight); limit]
}

#[task(cache_for = "5s")]
async fn warm_up() {}

#[task(cache_for = "1m")]
async fn square(x: u64) -> u64 {
    x * x
}

fn main() {
    let mut flow = Flow::new("cached");
    let rates = flow.add(rates("EUR".to_string(), 3).refresh_cache());
    flow.add(prices(3).cache_for(std::time::Duration::from_secs(60)).after(rates));
    flow.add(search(
        Query {
            text: "rust".to_string(),
            weight: 0.5,
        },
        3,
    ));
    flow.add(warm_up().no_cache());
    flow.map(square(each(vec![1, 2, 3])));
}
