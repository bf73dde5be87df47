use flowcore::task;

#[derive(Clone)]
struct Point {
    x: f64,
    y: f64,
}

fn point_key(point: &Point) -> (f64, f64) {
    (point.x, point.y)
}

#[task(cache_for = "1h", cache_key_fn = point_key)]
async fn distance(point: Point) -> u64 {
    (point.x * point.x + point.y * point.y).sqrt() as u64
}

fn main() {}
