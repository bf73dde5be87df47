use flowcore::{Flow, task};

#[task]
async fn name() -> String {
    "flowcore".to_string()
}

#[task]
async fn double(n: i64) -> i64 {
    n * 2
}

fn main() {
    let mut flow = Flow::new("mismatch");
    let name = flow.add(name());
    flow.add(double(name));
}
