//! Tests: the seed's Spark cluster scenario, with and without `always_run` and reference tasks.

use flowcore::{Flow, Handle, StateKind, Trigger, task};

use crate::run;

#[task]
async fn create_cluster() -> String {
    "spark-cluster-1".to_string()
}

#[task]
async fn run_spark_job(cluster: String, succeed: bool) -> Result<u64, String> {
    if succeed {
        Ok(42)
    } else {
        Err(format!("job on {cluster} failed"))
    }
}

#[task]
async fn tear_down_cluster(cluster: String) -> String {
    format!("{cluster} torn down")
}

struct Spark {
    flow: Flow,
    submitted: Handle<u64>,
    torn_down: Handle<String>,
}

fn spark(succeed: bool, trigger: Trigger, reference_job: bool) -> Spark {
    let mut flow = Flow::new("spark");
    let cluster = flow.add(create_cluster());
    let submitted = flow.add(run_spark_job(cluster, succeed));
    let torn_down = flow.add(tear_down_cluster(cluster).after(submitted).trigger(trigger));
    if reference_job {
        flow.set_reference_tasks([submitted]);
    }
    Spark {
        flow,
        submitted,
        torn_down,
    }
}

#[tokio::test]
async fn with_the_default_trigger_a_failed_job_leaves_the_cluster_running() {
    let spark = spark(false, Trigger::AllSuccessful, false);
    let report = run(&spark.flow).await;
    assert_eq!(report.state(spark.submitted).kind(), StateKind::Failed);
    assert_eq!(
        report.state(spark.torn_down).kind(),
        StateKind::TriggerFailed
    );
    assert_eq!(report.flow_state().kind(), StateKind::Failed);
}

#[tokio::test]
async fn always_run_tears_the_cluster_down_but_hides_the_failure() {
    let spark = spark(false, Trigger::ALWAYS_RUN, false);
    let report = run(&spark.flow).await;
    assert_eq!(report.state(spark.submitted).kind(), StateKind::Failed);
    assert_eq!(report.state(spark.torn_down).kind(), StateKind::Success);
    assert_eq!(
        report.result(spark.torn_down).map(String::as_str),
        Some("spark-cluster-1 torn down")
    );
    // The terminal task succeeded, so by default the flow does too: the problem reference tasks solve.
    assert_eq!(report.flow_state().kind(), StateKind::Success);
}

#[tokio::test]
async fn the_job_as_reference_task_fails_the_flow_after_teardown() {
    let spark = spark(false, Trigger::ALWAYS_RUN, true);
    let report = run(&spark.flow).await;
    assert_eq!(report.state(spark.torn_down).kind(), StateKind::Success);
    assert_eq!(report.flow_state().kind(), StateKind::Failed);
    assert_eq!(
        report.flow_state().message(),
        "Some reference tasks failed: `run_spark_job` (Failed)."
    );
}

#[tokio::test]
async fn a_successful_job_succeeds_everything() {
    let spark = spark(true, Trigger::ALWAYS_RUN, true);
    let report = run(&spark.flow).await;
    assert_eq!(report.result(spark.submitted), Some(&42));
    assert_eq!(report.state(spark.torn_down).kind(), StateKind::Success);
    assert_eq!(report.flow_state().kind(), StateKind::Success);
    assert_eq!(
        report.flow_state().message(),
        "All reference tasks succeeded."
    );
}
