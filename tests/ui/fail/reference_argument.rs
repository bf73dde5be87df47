use flowcore::task;

#[task]
async fn shout(x: &str) -> String {
    x.to_uppercase()
}

fn main() {}
