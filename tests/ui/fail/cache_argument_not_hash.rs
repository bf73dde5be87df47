use flowcore::{Flow, task};

#[derive(Clone)]
struct Temperature(f64);

#[task(cache_for = "10m")]
async fn forecast(city: String, temperature: Temperature) -> String {
    format!("{city}: {}", temperature.0)
}

fn main() {
    let mut flow = Flow::new("not_hash");
    flow.add(forecast("Oslo".to_string(), Temperature(-3.0)));
}
