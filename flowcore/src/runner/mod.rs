//! The runner: drives a flow run on tokio, starting each task as soon as its upstream tasks finish.
//!
//! One coordinator (the future of `Flow::run`) owns every task's state and result; task
//! attempts run as tokio tasks and send their outcome back to its mailbox (the attempt of a
//! task that is the only one that can run is polled by the coordinator itself, see
//! `Attempts::may_inline`, and while bodies are short every attempt is first polled by it,
//! see `Attempts::eager`). Readiness is counted:
//! each finished task decrements its downstream tasks' counters, and a task whose counter
//! reaches zero is ready; ready tasks are decided (skip propagation, trigger, then run) in
//! batches, in the order they became ready and within a batch in the order they were added.

mod attempt;
mod blocks;
mod eager;
mod mailbox;
mod mapping;

use std::error::Error;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures::future::Either;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tracing::{Instrument, Span};

use crate::block::Block;
use crate::cache::CacheHit;
use crate::context::TaskContext;
use crate::error::MissingInput;
use crate::flow::Node;
use crate::hooks::Transition;
use crate::limits::{Slots, tag_semaphores};
use crate::pipeline;
use crate::report::{PAUSED_BY_BODY, RESUMED, RunReport};
use crate::signal::{Signal, SignalKind};
use crate::state::{State, StateKind};
use crate::task::{AnyValue, NOT_MAPPED, Values, panic_message};
use crate::trigger::Verdict;

use self::attempt::{
    AbortOnDrop, Attempt, Attempts, Completion, Event, Outcome, Permits, TaskSpan, Timing,
};
pub(crate) use self::attempt::{AttemptsShared, Launch};
use self::blocks::{allowed_failure, interrupted_now, next_or_interrupt};
use self::eager::{EagerWindow, Eagerness};

/// How many ready tasks the coordinator decides before it lets the attempts it started
/// run and takes their events.
const DECISION_WINDOW: usize = 1024;

const SUCCEEDED: State = State::fixed(StateKind::Success, "Task run succeeded.");
const STARTING: State = State::fixed(StateKind::Running, "Starting task run.");
const QUEUED: State = State::fixed(StateKind::Queued, "Waiting for a concurrency slot.");
const ERRORS_NOT_RUN: State = State::fixed(
    StateKind::Skipped,
    "Not run: `errors` tasks run only when the main tasks failed.",
);
const FAILURES_LISTED: State =
    State::fixed(StateKind::Success, "Listed the main tasks that failed.");

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
        self.set_flow_state(State::fixed(StateKind::Running, "Running flow."));
        tracing::info!(state = "Running", "flow state changed");
        let mut attempts = Attempts::new(self.states.len(), self.run.clone());
        if self.phase == Block::Main && self.block_unfinished[Block::Main as usize] == 0 {
            self.advance();
        }
        if self.deadline.is_none()
            && let Some(timeout) = self.timeout
        {
            self.deadline = Some(Instant::now() + timeout);
        }
        if self.run_slots.is_none()
            && let Some(limit) = self.flow.max_concurrency
        {
            self.run_slots = Some(Arc::new(Semaphore::new(limit)));
        }
        let mut timer = self
            .deadline
            .map(|deadline| Box::pin(tokio::time::sleep_until(deadline)));
        // Set after a full window of decisions, and after an event that was waited for:
        // take the events already sent before deciding more.
        let mut draining = false;
        // The tasks being decided, lowest index on top. Tasks that become ready meanwhile
        // wait in `self.ready` for the next batch, so batches are decided in the order
        // they became ready, and each batch in the order its tasks were added: that
        // visits their state in memory order, and starts a mapped task's children in
        // item order.
        let mut batch: Vec<u32> = Vec::new();
        // On a multi-thread runtime a body that blocks its thread must not keep the run from
        // stopping at its time limit or cancellation: there an interruptible run spawns
        // every attempt, so that the coordinator stays free on another worker.
        let current_thread = matches!(
            tokio::runtime::Handle::current().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::CurrentThread
        );
        let mut eagerness = Eagerness::new();
        loop {
            if !draining {
                let interruptible = self.interruptible(&timer);
                let inline = current_thread || !interruptible;
                // A window that polls eagerly checks for an interruption before each
                // decision (an inline attempt is only made by one, or by a run that cannot
                // be interrupted).
                let eager = current_thread || (!interruptible && eagerness.allows());
                attempts.eager = eager;
                // On a multi-thread runtime, eager polls are timed, a window at a time.
                attempts.window = EagerWindow::new(!current_thread);
                let decided = self.decide_window(&mut batch, &mut attempts, inline, &timer);
                if !current_thread {
                    eagerness.window_ended(decided, &attempts.window);
                }
                if !batch.is_empty() || !self.ready.is_empty() {
                    // A run interrupted meanwhile stops here, before the attempts just
                    // started get to run. When attempts are polled as they start, the
                    // window itself stopped before the interruption; the events of the
                    // attempts that already ended are taken first (their bodies ran), and
                    // the run stops once they are.
                    if !eager && self.stop_if_due(&mut timer, &mut attempts) {
                        continue;
                    }
                    // Let the attempts just started run before starting more, so that a
                    // wide fan-out does not hold every attempt in memory at once.
                    tokio::task::yield_now().await;
                    draining = true;
                }
            }
            let event = if draining {
                match attempts.try_next() {
                    Some(event) => Some(event),
                    None => {
                        draining = false;
                        self.stop_if_due(&mut timer, &mut attempts);
                        continue;
                    }
                }
            } else if self.interruptible(&timer) {
                let cancel = self.cancel.clone();
                match next_or_interrupt(&mut attempts, &mut timer, cancel.as_ref()).await {
                    Either::Left(event) => event,
                    Either::Right(interrupt) => {
                        timer = None;
                        self.interrupt(interrupt, &mut attempts);
                        continue;
                    }
                }
            } else {
                attempts.next().await
            };
            // After an event, the others already sent are taken before any decision.
            draining = true;
            match event {
                Some(event) => self.apply_event(event, &mut attempts),
                None => break,
            }
        }
        let final_state = self.final_flow_state();
        self.set_flow_state(final_state);
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

    /// Applies what an attempt told the coordinator.
    fn apply_event(&mut self, event: Event, attempts: &mut Attempts) {
        match event {
            Event::Done(done) => self.complete(done, attempts),
            Event::Started {
                task,
                run_count,
                span,
            } => self.set_state(task, STARTING.with_run_count(run_count), &span),
        }
    }

    /// Decides up to [`DECISION_WINDOW`] ready tasks: those of `batch`, then the tasks that
    /// became ready since, as the next batch, lowest index first. With `inline`, a task
    /// that is the only one that can run gets an attempt polled by the coordinator.
    ///
    /// When attempts are polled as they start ([`Attempts::eager`]), the window also ends
    /// once the coordinator's cooperative budget is spent, and before a decision made after
    /// the run's time limit passed or it was cancelled, so that no body starts then.
    /// Returns how many tasks it decided.
    fn decide_window(
        &mut self,
        batch: &mut Vec<u32>,
        attempts: &mut Attempts,
        inline: bool,
        timer: &Option<Pin<Box<Sleep>>>,
    ) -> usize {
        let watch = attempts.eager && self.interruptible(timer);
        for decided in 0..DECISION_WINDOW {
            if attempts.window.spent
                || watch && interrupted_now(timer, self.cancel.as_ref()).is_some()
            {
                return decided;
            }
            if batch.is_empty() {
                if self.ready.is_empty() {
                    return decided;
                }
                std::mem::swap(batch, &mut self.ready);
                batch.sort_unstable_by(|a, b| b.cmp(a));
            }
            if let Some(task) = batch.pop() {
                attempts.may_inline = inline && batch.is_empty() && self.ready.is_empty();
                self.decide(task, attempts);
                attempts.may_inline = false;
            }
        }
        DECISION_WINDOW
    }

    /// Stops the run if its time limit has passed or it was cancelled, without waiting;
    /// says whether it stopped.
    fn stop_if_due(
        &mut self,
        timer: &mut Option<Pin<Box<Sleep>>>,
        attempts: &mut Attempts,
    ) -> bool {
        let due = self
            .interruptible(timer)
            .then(|| interrupted_now(timer, self.cancel.as_ref()))
            .flatten();
        match due {
            Some(interrupt) => {
                *timer = None;
                self.interrupt(interrupt, attempts);
                true
            }
            None => false,
        }
    }

    /// Whether a time limit or a cancellation can still stop the run: not once it was
    /// stopped, nor while `finally` runs.
    fn interruptible(&self, timer: &Option<Pin<Box<Sleep>>>) -> bool {
        self.interrupted.is_none()
            && self.phase != Block::Finally
            && (timer.is_some() || self.cancel.is_some())
    }

    /// Decides a task whose upstream tasks have all finished (or that was approved).
    fn decide(&mut self, task: u32, attempts: &mut Attempts) {
        let idx = task as usize;
        if self.states[idx].is_finished() {
            // Cancelled while it waited to be decided.
            return;
        }
        if idx >= self.flow.nodes.len() {
            return self.decide_child(task, attempts);
        }
        let node = &self.flow.nodes[idx];
        let span = TaskSpan::new(tracing::info_span!("task_run", task = %node.name));
        if let Some(overrides) = &mut self.overrides
            && let Some((state, value)) = overrides.states.remove(&task)
        {
            self.finish(task, state, value, &span);
            return;
        }
        if node.block == Block::Errors {
            if self.flow.failures == Some(task) {
                let failures = self.failures();
                self.finish(task, FAILURES_LISTED, Some(Box::new(failures)), &span);
                return;
            }
            if !self.main_outcome.as_ref().is_some_and(State::is_failed) {
                self.finish(task, ERRORS_NOT_RUN, None, &span);
                return;
            }
        }
        if node.mapped {
            return self.map(task, span, attempts);
        }
        let flags = self.flags[idx];
        if flags & PAUSED_BY_BODY != 0 {
            self.flags[idx] &= !PAUSED_BY_BODY;
            self.start_attempt(task, None, span, attempts);
            return;
        }
        let upstream = self.graph.upstream.of(task);
        let options = &node.options;
        // A mapped upstream task stands for its children.
        let (states, maps) = (&self.states, &self.maps);
        let expand = move |&up: &u32| -> &[State] {
            let state = &states[up as usize];
            match state.kind() {
                StateKind::Mapped => maps
                    .get(&up)
                    .map_or(std::slice::from_ref(state), |map| &states[map.slots()]),
                _ => std::slice::from_ref(state),
            }
        };
        let verdict = options.verdict(upstream.iter().flat_map(expand), flags & RESUMED != 0);
        self.apply_verdict(task, verdict, span, attempts);
    }

    /// Runs, fails, skips or pauses a task as its trigger (or skip propagation) decided.
    fn apply_verdict(
        &mut self,
        task: u32,
        verdict: Verdict,
        span: TaskSpan,
        attempts: &mut Attempts,
    ) {
        match verdict {
            Verdict::Run => self.start_attempt(task, None, span, attempts),
            Verdict::TriggerFailed(message) => {
                let (node_index, _) = self.task_of(task);
                tracing::warn!(
                    parent: span.get(),
                    trigger = self.flow.nodes[node_index as usize].options.trigger().name(),
                    upstream = %UpstreamStates { report: self, task: node_index },
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

    /// The name a retry's jitter is derived from: a child's includes its index, so that
    /// the children of a mapped task do not retry in lockstep.
    fn jitter_name(&self, slot: u32) -> std::borrow::Cow<'_, str> {
        self.name_of(slot).to_cow()
    }

    /// The concurrency slots an attempt of `task` (or of one of its children) needs:
    /// the run's, the mapped task's for a child, then its tags'; `None` without limits.
    fn slots(&self, task: u32, child: bool) -> Option<Slots> {
        let limits = self.flow.nodes[task as usize].options.limits.as_deref();
        if self.run_slots.is_none() && limits.is_none() {
            return None;
        }
        let mut semaphores: Vec<Arc<Semaphore>> = self.run_slots.iter().cloned().collect();
        if let Some(limits) = limits {
            if child && let Some(slots) = self.task_slots.get(&task) {
                semaphores.push(slots.clone());
            }
            semaphores.extend(tag_semaphores(&limits.tags));
        }
        (!semaphores.is_empty()).then_some(Slots { semaphores })
    }

    /// The task a slot runs: itself, or a child's mapped task.
    fn node(&self, slot: u32) -> &Node {
        &self.flow.nodes[self.task_of(slot).0 as usize]
    }

    /// Starts an attempt now, or at `start_at` (a retry or a timed pause).
    fn start_attempt(
        &mut self,
        task: u32,
        start_at: Option<Instant>,
        span: TaskSpan,
        attempts: &mut Attempts,
    ) {
        if attempts.stopping {
            // The run is being interrupted: the task stays unfinished and is cancelled.
            return;
        }
        let idx = task as usize;
        let (node_index, map_index) = self.task_of(task);
        let node = &self.flow.nodes[node_index as usize];
        let run_count = self.states[idx].run_count() + 1;
        let resumed = self.flags[idx] & RESUMED != 0;
        self.flags[idx] &= !RESUMED;
        let context = TaskContext {
            task: node_index,
            attempt: run_count,
            resumed,
            map_index,
            started_at: start_at.unwrap_or_else(Instant::now),
            shared: attempts.shared.clone(),
        };
        let timeout = node.options.timeout;
        let permits = match self.slots(node_index, map_index.is_some()) {
            None => Permits::None,
            Some(slots) if start_at.is_some() => Permits::Wait(slots),
            Some(slots) => match slots.try_acquire() {
                Some(permits) => Permits::Held(permits),
                None => Permits::Wait(slots),
            },
        };
        if start_at.is_none() {
            let state = match permits {
                Permits::Wait(_) => QUEUED,
                _ => STARTING,
            };
            self.set_state(task, state.with_run_count(run_count), &span);
        }
        let launch = Launch {
            attempts,
            attempt: Attempt {
                task,
                run_count,
                context,
                span: span.clone(),
            },
            timing: Timing {
                timeout,
                start_at,
                permits,
            },
        };
        let node = &self.flow.nodes[node_index as usize];
        let values = Values {
            results: &self.results,
            states: &self.states,
            nodes: &self.flow.nodes,
            task: node_index,
            map_index: map_index.unwrap_or(NOT_MAPPED),
            maps: Some(&self.maps),
            direct_call: "",
        };
        // Reading the inputs runs user code (a hand-written `Task::run`, `Clone` impls):
        // a panic there fails the task.
        let body = match &self.overrides {
            Some(overrides) => overrides.stubs.get(&node_index).unwrap_or(&node.task),
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
                self.fail(task, run_count, state, None, span, attempts);
            }
            Outcome::TimedOut(limit) => {
                let state =
                    State::timed_out(format!("Task timed out after {limit:?} during execution."));
                self.fail(task, run_count, state, None, span, attempts);
            }
            Outcome::Error(error) => match error.downcast::<Signal>() {
                Ok(signal) => self.apply_signal(task, run_count, *signal, span, attempts),
                Err(error) if error.is::<MissingInput>() => {
                    // Retrying cannot give the missing input a value.
                    let state = State::failed(error.to_string()).with_run_count(run_count);
                    self.finish(task, state, None, &span);
                }
                Err(error) => match error.downcast::<CacheHit>() {
                    Ok(hit) => {
                        let (state, value) = hit.finish(run_count);
                        self.finish(task, state, Some(value), &span);
                    }
                    Err(error) => {
                        let state = State::failed(error_message(&*error));
                        self.fail(task, run_count, state, Some(&*error), span, attempts);
                    }
                },
            },
        }
    }

    /// A failed attempt: retry while attempts remain and the task's `retry_if` accepts the
    /// body's `error` (signals, panics and timeouts have none), else finish with `failed`.
    fn fail(
        &mut self,
        task: u32,
        run_count: u32,
        failed: State,
        error: Option<&(dyn Error + 'static)>,
        span: TaskSpan,
        attempts: &mut Attempts,
    ) {
        let node = self.node(task);
        let (options, max_retries) = (&node.options, node.options.max_retries);
        let mut failed = failed.with_run_count(run_count);
        let mut retry = pipeline::should_retry(run_count, max_retries);
        if retry
            && let (Some(error), Some(policy)) = (error, options.retry.as_deref())
            && let Some(message) = policy.not_retried(
                error,
                failed.message(),
                run_count,
                u64::from(max_retries) + 1,
            )
        {
            failed = State::failed(message).with_run_count(run_count);
            retry = false;
        }
        if retry {
            let delay = options.retry_delay(&self.flow.name, &self.jitter_name(task), run_count);
            self.record(task, &failed, false, &span);
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
                let node = self.node(task);
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
                None,
                span,
                attempts,
            ),
            SignalKind::Retry => {
                let node = self.node(task);
                let options = &node.options;
                if pipeline::should_retry(run_count, options.max_retries) {
                    let delay = delay.unwrap_or_else(|| {
                        options.retry_delay(&self.flow.name, &self.jitter_name(task), run_count)
                    });
                    let retrying = State::new(StateKind::Retrying, message)
                        .with_run_count(run_count)
                        .with_start_time(pipeline::start_after(Instant::now(), delay));
                    let start_at = retrying.start_time();
                    self.set_state(task, retrying, &span);
                    self.start_attempt(task, start_at, span, attempts);
                } else {
                    let message = format!(
                        "{message} (RETRY signal after attempt {run_count} of {}; no retries left)",
                        u64::from(options.max_retries) + 1
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
        self.record(task, &state, state.is_finished(), span);
        self.states[task as usize] = state;
    }

    /// Logs a state change (tracing event, transition log) and calls the task's hooks;
    /// `last` says whether it is the task's final state.
    fn record(&mut self, task: u32, state: &State, last: bool, span: &TaskSpan) {
        transition(span, state);
        self.log.push((task, state.kind()));
        if self.flow.task_hooks {
            let (node, map_index) = self.task_of(task);
            let node = &self.flow.nodes[node as usize];
            if let Some(hooks) = &node.options.hooks {
                let change = Transition {
                    flow: &self.flow.name,
                    run_id: self.run.id,
                    task: Some(&node.name),
                    map_index,
                    state,
                };
                hooks.call(&change, last);
            }
        }
    }

    /// Sets the flow's state and calls the flow's hooks.
    fn set_flow_state(&mut self, state: State) {
        self.flow_state = state;
        if !self.flow.hooks.is_empty() {
            let state = &self.flow_state;
            let change = Transition {
                flow: &self.flow.name,
                run_id: self.run.id,
                task: None,
                map_index: None,
                state,
            };
            let last = state.is_finished();
            self.flow.hooks.call(&change, last);
        }
    }

    /// Records a finished state and readies the downstream tasks whose last upstream this
    /// was; the last task of the running block opens the next block.
    fn finish(&mut self, task: u32, mut state: State, value: Option<AnyValue>, span: &TaskSpan) {
        debug_assert!(state.is_finished());
        let idx = task as usize;
        let (node_index, map_index) = self.task_of(task);
        let node = &self.flow.nodes[node_index as usize];
        let block = node.block;
        if state.is_failed() && node.options.allow_failure {
            state = allowed_failure(state);
        }
        self.set_state(task, state, span);
        self.results[idx] = value;
        if map_index.is_some() {
            // A child: its mapped task finishes with its last child.
            let map = self
                .maps
                .get_mut(&node_index)
                .expect("a child's task has mapped");
            map.pending -= 1;
            if map.pending == 0 {
                let name = &self.flow.nodes[node_index as usize].name;
                let span = TaskSpan::new(tracing::info_span!("task_run", task = %name));
                self.finish_map(node_index, &span);
            }
            return;
        }
        self.n_unfinished -= 1;
        for &down in self.graph.downstream.of(task) {
            let remaining = &mut self.remaining[down as usize];
            *remaining -= 1;
            if *remaining == 0 {
                self.ready.push(down);
            }
        }
        let unfinished = &mut self.block_unfinished[block as usize];
        *unfinished -= 1;
        if *unfinished == 0 && block == self.phase {
            self.advance();
        }
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
