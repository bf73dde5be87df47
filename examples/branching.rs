//! Conditional branching: a switch on a file's format with a default branch, an if/else on
//! its size inside one branch, and merges that join the branches again. Untaken branches
//! end `Skipped`, and so does everything downstream of them.
//!
//! Run with: `cargo run -p flowcore-examples --example branching`

use flowcore::{Flow, task};

#[task]
async fn detect_format(file: String) -> String {
    file.rsplit_once('.')
        .map_or(String::new(), |(_, extension)| extension.to_lowercase())
}

#[task]
async fn parse_csv(file: String, size: u64) -> Vec<u64> {
    println!("  parsing {file} as CSV");
    (1..=size.min(4)).collect()
}

#[task]
async fn parse_json(file: String, size: u64) -> Vec<u64> {
    println!("  parsing {file} as JSON");
    (1..=size.min(3)).map(|n| n * 100).collect()
}

#[task]
async fn reject(file: String, format: String) -> Result<Vec<u64>, String> {
    Err(format!("{file}: no parser for {format:?} files"))
}

#[task]
async fn is_large(size: u64) -> bool {
    size > 1_000
}

#[task]
async fn load_in_batches(rows: Vec<u64>) -> String {
    format!("{} rows loaded in batches", rows.len())
}

#[task]
async fn load_at_once(rows: Vec<u64>) -> String {
    format!("{} rows loaded at once", rows.len())
}

#[task]
async fn summarize(rows: Vec<u64>) -> u64 {
    rows.iter().sum()
}

fn import() -> Flow {
    let mut flow = Flow::new("import");
    let file = flow.input::<String>("file");
    let size = flow.input_or("size", 10_u64);
    let format = flow.add(detect_format(file));

    // One branch per format; files of any other format are rejected.
    let (csv, json, _rejected) = flow.switch(format, |formats| {
        let csv = formats.case("csv", |flow| {
            let rows = flow.add(parse_csv(file, size));
            // Inside the CSV branch: large files are loaded in batches.
            let large = flow.add(is_large(size));
            let (batches, at_once) = flow.if_else(
                large,
                |flow| flow.add(load_in_batches(rows)),
                |flow| flow.add(load_at_once(rows)),
            );
            let loaded = flow.merge([batches, at_once]);
            (rows, loaded)
        });
        let json = formats.case("json", |flow| flow.add(parse_json(file, size)));
        let rejected = formats.default(|flow| flow.add(reject(file, format)));
        (csv, json, rejected)
    });
    let (csv_rows, loaded) = csv;
    flow.output("loaded", loaded);

    // Runs with whichever parser ran, and is skipped when none did.
    let rows = flow.merge([csv_rows, json]);
    flow.add(summarize(rows));
    flow
}

#[tokio::main]
async fn main() -> Result<(), flowcore::BuildError> {
    let flow = import();
    let runs: [(&str, u64); 4] = [
        ("orders.csv", 10),
        ("orders.csv", 50_000),
        ("orders.json", 10),
        ("orders.xml", 10),
    ];
    for (file, size) in runs {
        println!("{file}, {size} rows:");
        let runner = flow.runner().input("file", file.to_string());
        let report = runner.input("size", size).run().await?;
        println!("{report}");
    }
    Ok(())
}
