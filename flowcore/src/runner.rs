//! The runner: drives a flow run on tokio, starting each task as soon as its upstream tasks finish.
//!
//! One coordinator (the future of `Flow::run`) owns every task's state and result; task
//! attempts run as tokio tasks and send their outcome back over a channel. Readiness is counted:
//! each finished task decrements its downstream tasks' counters, and a task whose counter
//! reaches zero is decided at once (skip propagation, trigger, then run).

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::time::Duration;

use futures::FutureExt;
use futures::future::Either;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::{Instrument, Span};

use crate::context::TaskContext;
use crate::error::{BoxError, MissingInput};
use crate::pipeline;
use crate::reference::final_state;
use crate::report::{PAUSED_BY_BODY, RESUMED, RunReport};
use crate::signal::{Signal, SignalKind};
use crate::state::{State, StateKind};
use crate::task::{AnyValue, Values, panic_message};
use crate::trigger::{Trigger, Verdict};

/// How one attempt of a task's body ended.
enum Outcome {
    Value(AnyValue),
    Error(BoxError),
    Panic(String),
    TimedOut(Duration),
}

/// What attempts tell the coordinator.
enum Event {
    /// A delayed attempt (a retry, a timed pause) started running.
    Started {
        task: u32,
        run_count: u32,
        span: TaskSpan,
    },
    /// An attempt ended.
    Done(Completion),
}

/// What an attempt sends back to the coordinator when it ends.
struct Completion {
    task: u32,
    run_count: u32,
    outcome: Outcome,
    span: TaskSpan,
}

const SUCCEEDED: State = State::fixed(StateKind::Success, "Task run succeeded.");
const STARTING: State = State::fixed(StateKind::Running, "Starting task run.");

impl RunReport {
    /// Runs until no task can make progress.
    ///
    /// The coordinator runs as a tokio task of its own, on the runtime's workers, so that
    /// on a multi-thread runtime it sits next to the attempts instead of on the thread
    /// that awaits the run (for `#[tokio::main]`, a thread outside the workers, which
    /// would make every completion cross threads). Dropping this future aborts it.
    pub(crate) async fn drive(&mut self) {
        let mut report = std::mem::replace(self, RunReport::placeholder(self));
        // The caller's span stays the parent of the flow run's span.
        let caller = Span::current();
        let coordinator = AbortOnDrop(tokio::spawn(
            async move {
                report.drive_here().await;
                report
            }
            .instrument(caller),
        ));
        *self = coordinator.await;
    }

    /// Runs until no task can make progress, on the current task.
    async fn drive_here(&mut self) {
        let span = tracing::info_span!("flow_run", flow = %self.flow.name);
        self.drive_in_span().instrument(span).await;
    }

    async fn drive_in_span(&mut self) {
        self.flow_state = State::fixed(StateKind::Running, "Running flow.");
        tracing::info!(state = "Running", "flow state changed");
        let mut attempts = Attempts::new(self.states.len());
        loop {
            while let Some(task) = self.ready.pop() {
                self.decide(task, &mut attempts);
            }
            match attempts.next().await {
                Some(Event::Done(done)) => self.complete(done, &mut attempts),
                Some(Event::Started {
                    task,
                    run_count,
                    span,
                }) => self.set_state(task, STARTING.with_run_count(run_count), &span),
                None => break,
            }
        }
        self.flow_state = self.final_flow_state();
        if self.flow_state.is_failed() {
            tracing::warn!(
                state = self.flow_state.kind().as_str(),
                reason = self.flow_state.message(),
                "flow state changed"
            );
        } else {
            tracing::info!(
                state = self.flow_state.kind().as_str(),
                reason = self.flow_state.message(),
                "flow state changed"
            );
        }
    }

    fn final_flow_state(&self) -> State {
        if self.n_unfinished == 0 {
            let states = &self.states;
            let nodes = &self.flow.nodes;
            return final_state(
                self.graph
                    .reference
                    .iter()
                    .map(|&task| (&*nodes[task as usize].name, &states[task as usize])),
            );
        }
        let mut message = String::from("Waiting for approval of");
        let paused = self.task_states().filter(|(_, state)| state.is_paused());
        for (i, (name, _)) in paused.enumerate() {
            message.push_str(if i == 0 { " `" } else { ", `" });
            message.push_str(name);
            message.push('`');
        }
        message.push('.');
        State::new(StateKind::Paused, message)
    }

    /// Decides a task whose upstream tasks have all finished (or that was approved).
    fn decide(&mut self, task: u32, attempts: &mut Attempts) {
        let idx = task as usize;
        let node = &self.flow.nodes[idx];
        let span = TaskSpan::new(tracing::info_span!("task_run", task = %node.name));
        if let Some(overrides) = &mut self.overrides
            && let Some((state, value)) = overrides.states.remove(&task)
        {
            self.finish(task, state, value, &span);
            return;
        }
        let flags = self.flags[idx];
        if flags & PAUSED_BY_BODY != 0 {
            self.flags[idx] &= !PAUSED_BY_BODY;
            self.start_attempt(task, None, span, attempts);
            return;
        }
        let upstream = self.graph.upstream.of(task);
        let options = &node.options;
        let verdict =
            if matches!(options.trigger, Trigger::AllSuccessful) && options.skip_on_upstream_skip {
                pipeline::before_run_default(upstream.iter().map(|&up| &self.states[up as usize]))
            } else {
                let states: Vec<&State> = upstream
                    .iter()
                    .map(|&up| &self.states[up as usize])
                    .collect();
                pipeline::before_run(
                    &options.trigger,
                    options.skip_on_upstream_skip,
                    &states,
                    flags & RESUMED != 0,
                )
            };
        match verdict {
            Verdict::Run => self.start_attempt(task, None, span, attempts),
            Verdict::TriggerFailed(message) => {
                tracing::warn!(
                    parent: span.get(),
                    trigger = options.trigger.name(),
                    upstream = %UpstreamStates { report: self, task },
                    "trigger did not pass"
                );
                self.finish(
                    task,
                    State::new(StateKind::TriggerFailed, message),
                    None,
                    &span,
                );
            }
            Verdict::Skip(message) => {
                self.finish(task, State::new(StateKind::Skipped, message), None, &span)
            }
            Verdict::Pause(message) => {
                self.set_state(task, State::new(StateKind::Paused, message), &span)
            }
        }
    }

    /// Starts an attempt now, or at `start_at` (a retry or a timed pause).
    fn start_attempt(
        &mut self,
        task: u32,
        start_at: Option<Instant>,
        span: TaskSpan,
        attempts: &mut Attempts,
    ) {
        let idx = task as usize;
        let node = &self.flow.nodes[idx];
        let run_count = self.states[idx].run_count() + 1;
        let resumed = self.flags[idx] & RESUMED != 0;
        self.flags[idx] &= !RESUMED;
        let context = TaskContext {
            task_name: node.name.clone(),
            attempt: run_count,
            resumed,
            map_index: None,
            started_at: start_at.unwrap_or_else(Instant::now),
            run: self.run.clone(),
        };
        let timeout = node.options.timeout;
        if start_at.is_none() {
            self.set_state(task, STARTING.with_run_count(run_count), &span);
        }
        let launch = Launch {
            attempts,
            attempt: Attempt {
                task,
                run_count,
                context,
                span: span.clone(),
            },
            timeout,
            start_at,
        };
        let node = &self.flow.nodes[idx];
        let values = Values {
            results: &self.results,
            states: &self.states,
            nodes: &self.flow.nodes,
            task,
            direct_call: "",
        };
        // Reading the inputs runs user code (a hand-written `Task::run`, `Clone` impls):
        // a panic there fails the task.
        let body = match &self.overrides {
            Some(overrides) => overrides.stubs.get(&task).unwrap_or(&node.task),
            None => &node.task,
        };
        let started = std::panic::catch_unwind(AssertUnwindSafe(|| body.start(&values, launch)));
        if let Err(panic) = started {
            let done = Completion {
                task,
                run_count,
                outcome: Outcome::Panic(panic_message(&*panic)),
                span,
            };
            self.complete(done, attempts);
        }
    }

    /// Applies how an attempt ended.
    fn complete(&mut self, done: Completion, attempts: &mut Attempts) {
        let Completion {
            task,
            run_count,
            outcome,
            span,
        } = done;
        match outcome {
            Outcome::Value(value) => self.finish(
                task,
                SUCCEEDED.with_run_count(run_count),
                Some(value),
                &span,
            ),
            Outcome::Panic(message) => {
                let state = State::failed(format!("Task panicked: {message}"));
                self.fail(task, run_count, state, span, attempts);
            }
            Outcome::TimedOut(limit) => {
                let state =
                    State::timed_out(format!("Task timed out after {limit:?} during execution."));
                self.fail(task, run_count, state, span, attempts);
            }
            Outcome::Error(error) => match error.downcast::<Signal>() {
                Ok(signal) => self.apply_signal(task, run_count, *signal, span, attempts),
                Err(error) if error.is::<MissingInput>() => {
                    // Retrying cannot give the missing input a value.
                    let state = State::failed(error.to_string()).with_run_count(run_count);
                    self.finish(task, state, None, &span);
                }
                Err(error) => {
                    let state = State::failed(error_message(&*error));
                    self.fail(task, run_count, state, span, attempts);
                }
            },
        }
    }

    /// A failed attempt: retry while attempts remain, else finish with `failed`.
    fn fail(
        &mut self,
        task: u32,
        run_count: u32,
        failed: State,
        span: TaskSpan,
        attempts: &mut Attempts,
    ) {
        let options = &self.flow.nodes[task as usize].options;
        let (max_retries, delay) = (options.max_retries, options.retry_delay);
        let failed = failed.with_run_count(run_count);
        if pipeline::should_retry(run_count, max_retries) {
            transition(&span, &failed);
            self.log.push((task, failed.kind()));
            let retrying = pipeline::retrying(run_count, max_retries, delay, Instant::now());
            let start_at = retrying.start_time();
            self.set_state(task, retrying, &span);
            self.start_attempt(task, start_at, span, attempts);
        } else {
            self.finish(task, failed, None, &span);
        }
    }

    fn apply_signal(
        &mut self,
        task: u32,
        run_count: u32,
        signal: Signal,
        span: TaskSpan,
        attempts: &mut Attempts,
    ) {
        let idx = task as usize;
        let Signal {
            kind,
            message,
            delay,
            value,
        } = signal;
        match kind {
            SignalKind::Success => {
                let node = &self.flow.nodes[idx];
                let (type_id, type_name) = node.task.output_type();
                let value: Option<AnyValue> = match value {
                    Some(value) if (*value).type_id() == type_id => Some(value),
                    Some(_) => {
                        let message = format!(
                            "SUCCESS signal carried a value that is not the task's output type `{type_name}`"
                        );
                        let state = State::failed(message).with_run_count(run_count);
                        return self.finish(task, state, None, &span);
                    }
                    None => node.task.unit_output(),
                };
                let state = State::new(StateKind::Success, message).with_run_count(run_count);
                self.finish(task, state, value, &span);
            }
            SignalKind::Fail => self.fail(
                task,
                run_count,
                State::new(StateKind::Failed, message),
                span,
                attempts,
            ),
            SignalKind::Retry => {
                let options = &self.flow.nodes[idx].options;
                if pipeline::should_retry(run_count, options.max_retries) {
                    let delay = delay.unwrap_or(options.retry_delay);
                    let retrying = State::new(StateKind::Retrying, message)
                        .with_run_count(run_count)
                        .with_start_time(Instant::now() + delay);
                    let start_at = retrying.start_time();
                    self.set_state(task, retrying, &span);
                    self.start_attempt(task, start_at, span, attempts);
                } else {
                    let message = format!(
                        "{message} (RETRY signal after attempt {run_count} of {}; no retries left)",
                        options.max_retries + 1
                    );
                    self.finish(
                        task,
                        State::failed(message).with_run_count(run_count),
                        None,
                        &span,
                    );
                }
            }
            SignalKind::Skip => {
                let state = State::new(StateKind::Skipped, message).with_run_count(run_count);
                self.finish(task, state, None, &span);
            }
            SignalKind::Pause => {
                let mut paused = State::new(StateKind::Paused, message).with_run_count(run_count);
                match delay {
                    Some(delay) => {
                        let start_at = Instant::now() + delay;
                        paused = paused.with_start_time(start_at);
                        self.flags[idx] |= RESUMED;
                        self.set_state(task, paused, &span);
                        self.start_attempt(task, Some(start_at), span, attempts);
                    }
                    None => {
                        self.flags[idx] |= PAUSED_BY_BODY;
                        self.set_state(task, paused, &span);
                    }
                }
            }
        }
    }

    fn set_state(&mut self, task: u32, state: State, span: &TaskSpan) {
        transition(span, &state);
        self.log.push((task, state.kind()));
        self.states[task as usize] = state;
    }

    /// Records a finished state and readies the downstream tasks whose last upstream this was.
    fn finish(&mut self, task: u32, state: State, value: Option<AnyValue>, span: &TaskSpan) {
        debug_assert!(state.is_finished());
        let idx = task as usize;
        self.set_state(task, state, span);
        self.results[idx] = value;
        self.n_unfinished -= 1;
        for &down in self.graph.downstream.of(task) {
            let remaining = &mut self.remaining[down as usize];
            *remaining -= 1;
            if *remaining == 0 {
                self.ready.push(down);
            }
        }
    }
}

/// A spawned task that is aborted when this handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<T> {
        Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(value) => value,
            // The coordinator only panics on a bug of its own; show it where the run is awaited.
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => {
                panic!("the flow run was cancelled because its tokio runtime is shutting down")
            }
        })
    }
}

/// The attempts in flight: tokio tasks that send their completion back over a channel.
///
/// Dropping it aborts every attempt still running, so a dropped run leaves nothing behind.
struct Attempts {
    sender: mpsc::UnboundedSender<Event>,
    receiver: mpsc::UnboundedReceiver<Event>,
    /// The running attempt of each task, to abort it.
    running: Vec<Option<AbortHandle>>,
    in_flight: usize,
}

impl Attempts {
    fn new(n_tasks: usize) -> Attempts {
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut running = Vec::with_capacity(n_tasks);
        running.resize_with(n_tasks, || None);
        Attempts {
            sender,
            receiver,
            running,
            in_flight: 0,
        }
    }

    fn spawn(&mut self, task: u32, attempt: impl Future<Output = Completion> + Send + 'static) {
        let sender = self.sender.clone();
        // Combinators rather than an `async` block keep the spawned future small: a
        // block would hold `attempt` twice (as captured and as awaited).
        let handle = tokio::spawn(attempt.map(move |done| {
            // The receiver is gone only when the run was dropped; nobody is left to tell.
            let _ = sender.send(Event::Done(done));
        }));
        self.running[task as usize] = Some(handle.abort_handle());
        self.in_flight += 1;
    }

    /// The next event of an attempt, or `None` when none is running.
    async fn next(&mut self) -> Option<Event> {
        if self.in_flight == 0 {
            return None;
        }
        // This holds a sender, so the channel stays open while attempts are in flight.
        let event = self.receiver.recv().await?;
        if let Event::Done(done) = &event {
            self.in_flight -= 1;
            self.running[done.task as usize] = None;
        }
        Some(event)
    }
}

impl Drop for Attempts {
    fn drop(&mut self) {
        if self.in_flight > 0 {
            for handle in self.running.iter().flatten() {
                handle.abort();
            }
        }
    }
}

/// What a task needs to spawn an attempt: [`ErasedTask::start`] passes it the attempt's
/// future, so the future's concrete type reaches the spawn without being boxed.
///
/// [`ErasedTask::start`]: crate::task::ErasedTask::start
pub(crate) struct Launch<'a> {
    attempts: &'a mut Attempts,
    attempt: Attempt,
    timeout: Option<Duration>,
    start_at: Option<Instant>,
}

impl Launch<'_> {
    /// Spawns the attempt that runs `fut`.
    pub(crate) fn spawn<F>(self, fut: F)
    where
        F: Future<Output = Result<AnyValue, BoxError>> + Send + 'static,
    {
        let Launch {
            attempts,
            attempt,
            timeout,
            start_at,
        } = self;
        let task = attempt.task;
        if timeout.is_none() && start_at.is_none() {
            // The common case gets a smaller future, without room for timers.
            attempts.spawn(task, attempt.run(fut));
        } else {
            let started = attempts.sender.clone();
            attempts.spawn(task, attempt.run_timed(fut, timeout, start_at, started));
        }
    }
}

/// One attempt of a task's body, as a tokio task.
struct Attempt {
    task: u32,
    run_count: u32,
    context: TaskContext,
    span: TaskSpan,
}

impl Attempt {
    /// Runs the body with its context, catching a panic.
    fn run<F>(self, fut: F) -> impl Future<Output = Completion> + Send + 'static
    where
        F: Future<Output = Result<AnyValue, BoxError>> + Send + 'static,
    {
        let Attempt {
            task,
            run_count,
            context,
            span,
        } = self;
        let body = context.scope(AssertUnwindSafe(fut).catch_unwind());
        // Built from combinators, not an `async` block, so the future holds each part once.
        let body = match span.0.as_deref() {
            Some(enabled) => Either::Left(body.instrument(enabled.clone())),
            None => Either::Right(body),
        };
        body.map(move |result| Completion {
            task,
            run_count,
            outcome: outcome(result),
            span,
        })
    }

    /// Waits for the start time, then runs the body with its timeout.
    async fn run_timed<F: Future<Output = Result<AnyValue, BoxError>>>(
        self,
        fut: F,
        timeout: Option<Duration>,
        start_at: Option<Instant>,
        started: mpsc::UnboundedSender<Event>,
    ) -> Completion {
        let Attempt {
            task,
            run_count,
            context,
            span,
        } = self;
        let run = async {
            if let Some(start_at) = start_at {
                tokio::time::sleep_until(start_at).await;
                let span = span.clone();
                let _ = started.send(Event::Started {
                    task,
                    run_count,
                    span,
                });
            }
            let body = context.scope(AssertUnwindSafe(fut).catch_unwind());
            match timeout {
                None => outcome(body.await),
                Some(limit) => match tokio::time::timeout(limit, body).await {
                    Ok(result) => outcome(result),
                    Err(_) => Outcome::TimedOut(limit),
                },
            }
        };
        let outcome = span.in_span(pin!(run)).await;
        Completion {
            task,
            run_count,
            outcome,
            span,
        }
    }
}

fn outcome(result: Result<Result<AnyValue, BoxError>, Box<dyn Any + Send>>) -> Outcome {
    match result {
        Ok(Ok(value)) => Outcome::Value(value),
        Ok(Err(error)) => Outcome::Error(error),
        Err(panic) => Outcome::Panic(panic_message(&*panic)),
    }
}

/// A task run's tracing span, boxed when enabled and absent when no subscriber wants it,
/// so that an attempt's future stays small.
#[derive(Clone)]
struct TaskSpan(Option<Box<Span>>);

static NO_SPAN: Span = Span::none();

impl TaskSpan {
    fn new(span: Span) -> TaskSpan {
        TaskSpan((!span.is_none()).then(|| Box::new(span)))
    }

    fn get(&self) -> &Span {
        self.0.as_deref().unwrap_or(&NO_SPAN)
    }

    /// Polls `fut` inside the span, without moving the span into it.
    async fn in_span<F: Future>(&self, mut fut: Pin<&mut F>) -> F::Output {
        std::future::poll_fn(|cx| {
            let _entered = self.get().enter();
            fut.as_mut().poll(cx)
        })
        .await
    }
}

/// Emits the tracing event of a state change, in the task's span.
fn transition(span: &TaskSpan, state: &State) {
    let kind = state.kind().as_str();
    if state.is_failed() {
        tracing::warn!(parent: span.get(), state = kind, reason = state.message(), "task state changed");
    } else {
        tracing::debug!(parent: span.get(), state = kind, reason = state.message(), "task state changed");
    }
}

/// An error's message followed by its sources: `outer: inner: root`.
fn error_message(error: &(dyn Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// The upstream tasks of a task and their states, formatted only when a subscriber wants them.
struct UpstreamStates<'a> {
    report: &'a RunReport,
    task: u32,
}

impl fmt::Display for UpstreamStates<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &up) in self.report.graph.upstream.of(self.task).iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let name = &self.report.flow.nodes[up as usize].name;
            write!(f, "{sep}{name}: {}", self.report.states[up as usize].kind())?;
        }
        Ok(())
    }
}
