use flowcore::{Flow, task};

mod rules {
    pub mod triggers {
        pub fn at_most_one_failure(upstream: &[&flowcore::State]) -> bool {
            upstream.iter().filter(|state| state.is_failed()).count() <= 1
        }
    }
}

#[task(trigger = custom(rules::triggers::at_most_one_failure))]
async fn summarize() -> String {
    "done".to_string()
}

fn main() {
    let mut flow = Flow::new("custom_trigger");
    let _summary = flow.add(summarize());
}
