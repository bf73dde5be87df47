use flowcore::{Flow, task};

#[task]
async fn fetch() -> String {
    "record".to_string()
}

#[task(trigger = always_run)]
async fn report(record: Option<String>) -> String {
    record.unwrap_or_else(|| "nothing fetched".to_string())
}

fn main() {
    let mut flow = Flow::new("option_argument_from_handle");
    let record = flow.add(fetch());
    let _report = flow.add(report(record));
}
