use flowcore::{Flow, task};

#[task(
    name = "load_rows",
    max_retries = 3,
    retry_delay = "1m30s",
    timeout = "2h",
    trigger = some_successful(at_least = 1, at_most = 0.5),
    skip_on_upstream_skip = false,
)]
async fn load() -> u32 {
    1
}

fn main() {
    let mut flow = Flow::new("all_options");
    let _rows = flow.add(load());
}
