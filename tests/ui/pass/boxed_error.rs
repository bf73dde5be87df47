use flowcore::{Flow, task};

#[task]
async fn read(path: String) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    if path.is_empty() {
        return Err("no path given".into());
    }
    Ok(path)
}

fn main() {
    let mut flow = Flow::new("boxed_error");
    let _text: flowcore::Handle<String> = flow.add(read("input.csv".to_string()));
}
