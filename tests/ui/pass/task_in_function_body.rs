use flowcore::{Flow, task};

fn main() {
    #[task]
    async fn local() -> u8 {
        7
    }

    let mut flow = Flow::new("task_in_function_body");
    let _local = flow.add(local());
}
