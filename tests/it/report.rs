//! Tests: the run report's table, lookups by name, and the graph exports.

use expect_test::expect;
use flowcore::{Flow, StateKind, Trigger, task};

use crate::run;

#[task]
async fn extract() -> Vec<u32> {
    vec![3, 1, 2]
}

#[task]
async fn transform(rows: Vec<u32>) -> Result<Vec<u32>, String> {
    if rows.len() > 2 {
        Err(format!("{} rows is too many", rows.len()))
    } else {
        Ok(rows)
    }
}

#[task(trigger = all_finished)]
async fn notify(rows: Option<Vec<u32>>) -> bool {
    rows.is_some()
}

fn etl() -> Flow {
    let mut flow = Flow::new("etl");
    let rows = flow.add(extract());
    let clean = flow.add(transform(rows));
    let load = flow.add(transform(clean).name("load"));
    flow.add(notify(clean).after(load));
    flow
}

#[tokio::test]
async fn the_report_renders_a_stable_table() {
    let report = run(&etl()).await;
    expect![[r#"
        flow `etl`: Success (All reference tasks succeeded.)
        task       state          attempts  message
        extract    Success        1         Task run succeeded.
        transform  Failed         1         3 rows is too many
        load       TriggerFailed  0         Trigger was "all_successful" but some of the upstream tasks failed.
        notify     Success        1         Task run succeeded.
    "#]]
    .assert_eq(&report.to_string());
    assert_eq!(
        report.state_of("load").map(|state| state.kind()),
        Some(StateKind::TriggerFailed)
    );
    assert_eq!(report.state_of("nope"), None);
    assert_eq!(report.flow_name(), "etl");
}

#[tokio::test]
async fn graphs_export_as_mermaid_and_dot() {
    let flow = etl();
    expect![[r#"
        flowchart TD
            t0["extract"]
            t1["transform"]
            t2["load"]
            t3["notify (all_finished)"]
            t0 -->|rows| t1
            t1 -->|rows| t2
            t1 -->|rows| t3
            t2 -.-> t3
    "#]]
    .assert_eq(&flow.to_mermaid());
    expect![[r#"
        digraph "etl" {
            t0 [label="extract"];
            t1 [label="transform"];
            t2 [label="load"];
            t3 [label="notify (all_finished)"];
            t0 -> t1 [label="rows"];
            t1 -> t2 [label="rows"];
            t1 -> t3 [label="rows"];
            t2 -> t3 [style=dashed];
        }
    "#]]
    .assert_eq(&flow.to_dot());
}

#[tokio::test]
async fn names_with_quotes_are_escaped_in_exports() {
    let mut flow = Flow::new("say \"hi\"");
    flow.add(
        extract()
            .name("a \"quoted\" | name")
            .trigger(Trigger::AnyFailed),
    );
    assert!(
        flow.to_dot()
            .contains(r#"t0 [label="a \"quoted\" | name (any_failed)"];"#)
    );
    assert!(flow.to_dot().starts_with(r#"digraph "say \"hi\"" {"#));
    assert!(
        flow.to_mermaid()
            .contains("t0[\"a #quot;quoted#quot; #124; name (any_failed)\"]")
    );
}
