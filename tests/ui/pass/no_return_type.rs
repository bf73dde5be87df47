use flowcore::{Flow, task};

#[task]
async fn notify(message: String) {
    let _ = message;
}

fn main() {
    let mut flow = Flow::new("no_return_type");
    let _notified: flowcore::Handle<()> = flow.add(notify("hello".to_string()));
}
