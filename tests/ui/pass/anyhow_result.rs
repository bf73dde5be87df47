use flowcore::{Flow, task};

#[task]
async fn parse(text: String) -> anyhow::Result<u64> {
    Ok(text.trim().parse()?)
}

fn main() {
    let mut flow = Flow::new("anyhow_result");
    let _number: flowcore::Handle<u64> = flow.add(parse(" 42 ".to_string()));
}
