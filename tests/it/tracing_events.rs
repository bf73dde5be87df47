//! Tests: every state transition is a tracing event inside a flow-run span and a task-run span.

use std::cell::RefCell;
use std::fmt::Write;
use std::sync::Once;

use flowcore::{Flow, task};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use crate::run;

thread_local! {
    /// The events captured on this thread, while a test captures.
    static CAPTURED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Collects every event of a capturing thread as `span{fields} > span{fields} > message key=value ...`.
///
/// It is installed once as the global subscriber: a scoped subscriber misses events when
/// other tests on other threads register the same callsites first.
struct Capture;

/// Runs `f` on this thread with events captured, and returns them.
pub(crate) async fn capture<F: Future<Output = ()>>(f: F) -> Vec<String> {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(Capture);
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
    CAPTURED.with(|captured| *captured.borrow_mut() = Some(Vec::new()));
    f.await;
    CAPTURED.with(|captured| captured.borrow_mut().take().unwrap_or_default())
}

#[derive(Default)]
struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let sep = if self.0.is_empty() { "" } else { " " };
        if field.name() == "message" {
            let _ = write!(self.0, "{sep}{value:?}");
        } else {
            let _ = write!(self.0, "{sep}{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let sep = if self.0.is_empty() { "" } else { " " };
        let _ = write!(self.0, "{sep}{}={value}", field.name());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if CAPTURED.with(|captured| captured.borrow().is_none()) {
            return;
        }
        let mut line = String::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let fields = extensions
                    .get::<Fields>()
                    .map_or("", |fields| fields.0.as_str());
                let _ = write!(line, "{}{{{}}} > ", span.name(), fields);
            }
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        line.push_str(&fields.0);
        CAPTURED.with(|captured| {
            if let Some(lines) = captured.borrow_mut().as_mut() {
                lines.push(line);
            }
        });
    }
}

#[task(max_retries = 1)]
async fn failing() -> Result<u32, String> {
    Err("no luck".to_string())
}

#[task]
async fn downstream(value: u32) -> u32 {
    value
}

#[tokio::test]
async fn transitions_are_events_in_flow_and_task_spans() {
    let mut flow = Flow::new("traced");
    let failed = flow.add(failing());
    flow.add(downstream(failed));
    let lines = capture(async {
        run(&flow).await;
    })
    .await;
    let failing_lines: Vec<&str> = lines
        .iter()
        .filter(|line| line.contains("task_run{task=failing}"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        failing_lines,
        [
            "flow_run{flow=traced} > task_run{task=failing} > task state changed state=Running reason=Starting task run.",
            "flow_run{flow=traced} > task_run{task=failing} > task state changed state=Failed reason=no luck",
            "flow_run{flow=traced} > task_run{task=failing} > task state changed state=Retrying reason=Retrying Task (after attempt 1 of 2)",
            "flow_run{flow=traced} > task_run{task=failing} > task state changed state=Running reason=Starting task run.",
            "flow_run{flow=traced} > task_run{task=failing} > task state changed state=Failed reason=no luck",
        ]
    );
    let downstream_lines: Vec<&str> = lines
        .iter()
        .filter(|line| line.contains("task_run{task=downstream}"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        downstream_lines,
        [
            "flow_run{flow=traced} > task_run{task=downstream} > trigger did not pass trigger=all_successful upstream=failing: Failed",
            "flow_run{flow=traced} > task_run{task=downstream} > task state changed state=TriggerFailed reason=Trigger was \"all_successful\" but some of the upstream tasks failed.",
        ]
    );
    assert_eq!(
        lines.first().map(String::as_str),
        Some("flow_run{flow=traced} > flow state changed state=Running")
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some(
            "flow_run{flow=traced} > flow state changed state=Failed reason=Some reference tasks failed: `downstream` (TriggerFailed)."
        )
    );
}

#[tokio::test]
async fn a_task_bodys_own_events_are_in_its_task_span() {
    #[task]
    async fn work() -> u32 {
        tracing::info!("working");
        1
    }
    let mut flow = Flow::new("body-events");
    flow.add(work());
    let lines = capture(async {
        run(&flow).await;
    })
    .await;
    assert!(
        lines
            .iter()
            .any(|line| line == "flow_run{flow=body-events} > task_run{task=work} > working"),
        "{lines:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_aborted_attempt_drops_its_body_in_its_task_span() {
    use std::time::Duration;

    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            tracing::info!("guard dropped");
        }
    }
    #[task]
    async fn hold_forever() {
        let _guard = Guard;
        std::future::pending::<()>().await;
    }
    let mut flow = Flow::new("aborted");
    flow.add(hold_forever());
    flow.set_timeout(Duration::from_secs(1));
    let lines = capture(async {
        run(&flow).await;
        // The aborted attempt is dropped when the runtime next gets to it.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        lines
            .iter()
            .any(|line| line
                == "flow_run{flow=aborted} > task_run{task=hold_forever} > guard dropped"),
        "{lines:#?}"
    );
}
