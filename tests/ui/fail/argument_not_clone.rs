use flowcore::{Flow, task};

struct NotClone;

#[task]
async fn t(x: NotClone) {
    let _ = x;
}

fn main() {
    let mut flow = Flow::new("not_clone");
    flow.add(t(NotClone));
}
