use flowcore::task;

#[task(timeout = "2 weeks")]
fn extract<T>((a, b): (i32, i32), x: &str, y: impl Clone) -> i32 {
    let _ = (x, y);
    a + b
}

fn main() {}
