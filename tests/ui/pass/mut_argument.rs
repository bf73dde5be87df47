use flowcore::{Flow, task};

#[task]
async fn sorted(mut values: Vec<i32>) -> Vec<i32> {
    values.sort_unstable();
    values
}

fn main() {
    let mut flow = Flow::new("mut_argument");
    let _sorted = flow.add(sorted(vec![3, 1, 2]));
}
