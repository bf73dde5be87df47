use flowcore::{Flow, Signal, task};

#[task]
async fn check(ready: bool) -> flowcore::Signal {
    match ready {
        true => Signal::success("ready"),
        false => Signal::skip("not ready"),
    }
}

fn main() {
    let mut flow = Flow::new("returns_signal");
    let _checked: flowcore::Handle<()> = flow.add(check(true));
}
