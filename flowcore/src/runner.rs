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
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::Either;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::AbortHandle;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span};

use crate::block::{Block, TaskFailure};
use crate::cache::CacheHit;
use crate::context::TaskContext;
use crate::error::{BoxError, MissingInput};
use crate::flow::{NO_ITEMS, Node};
use crate::hooks::Transition;
use crate::limits::{Slots, tag_semaphores};
use crate::map::{ChildName, MapInfo};
use crate::pipeline;
use crate::reference::{final_state, with_blocks};
use crate::report::{PAUSED_BY_BODY, RESUMED, RunReport};
use crate::signal::{Signal, SignalKind};
use crate::state::{State, StateKind};
use crate::task::{AnyValue, NOT_MAPPED, Values, panic_message};
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
const QUEUED: State = State::fixed(StateKind::Queued, "Waiting for a concurrency slot.");
const ERRORS_NOT_RUN: State = State::fixed(
    StateKind::Skipped,
    "Not run: `errors` tasks run only when the main tasks failed.",
);
const FAILURES_LISTED: State =
    State::fixed(StateKind::Success, "Listed the main tasks that failed.");

/// Why a run stopped before its tasks finished.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Interrupt {
    TimedOut,
    Cancelled,
}

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
        let mut attempts = Attempts::new(self.states.len());
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
        loop {
            while let Some(task) = self.ready.pop() {
                self.decide(task, &mut attempts);
            }
            let interruptible = self.interrupted.is_none()
                && self.phase != Block::Finally
                && (timer.is_some() || self.cancel.is_some());
            let event = if interruptible {
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
            match event {
                Some(Event::Done(done)) => self.complete(done, &mut attempts),
                Some(Event::Started {
                    task,
                    run_count,
                    span,
                }) => self.set_state(task, STARTING.with_run_count(run_count), &span),
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

    /// The main tasks' outcome: how the run was interrupted, or the reference tasks' verdict.
    fn main_outcome(&self) -> State {
        if let Some(interrupted) = &self.interrupted {
            return interrupted.clone();
        }
        // A mapped reference task is judged by its children.
        let reference: Vec<(ChildName<'_>, &State)> = self
            .graph
            .reference
            .iter()
            .flat_map(|&task| self.slots_of(task))
            .map(|slot| (self.name_of(slot), &self.states[slot as usize]))
            .collect();
        final_state(reference.iter().map(|(name, state)| (*name, *state)))
    }

    /// The slots that stand for a task's outcome: its children once it has mapped, or itself.
    fn slots_of(&self, task: u32) -> std::ops::Range<u32> {
        match self.maps.get(&task) {
            Some(map) => map.first..map.first + map.len,
            None => task..task + 1,
        }
    }

    fn final_flow_state(&self) -> State {
        if self.n_unfinished == 0 {
            let main = match (&self.interrupted, &self.main_outcome) {
                (Some(interrupted), _) => interrupted.clone(),
                (None, Some(main)) => main.clone(),
                (None, None) => self.main_outcome(),
            };
            let (nodes, states) = (&self.flow.nodes, &self.states);
            let failed_after = self
                .graph
                .errors
                .iter()
                .chain(&self.graph.finally)
                .map(|&task| (&nodes[task as usize], &states[task as usize]))
                .filter(|(_, state)| state.is_failed())
                .map(|(node, state)| (&*node.name, node.block, state.kind()));
            let warnings: Vec<String> = (0..states.len() as u32)
                .take(if self.n_warnings > 0 { states.len() } else { 0 })
                .filter(|&slot| states[slot as usize].kind() == StateKind::Warning)
                .map(|slot| self.name_of(slot).to_string())
                .collect();
            return with_blocks(main, failed_after, warnings.iter().map(String::as_str));
        }
        let mut message = String::from("Waiting for approval of");
        let paused =
            (0..self.states.len() as u32).filter(|&slot| self.states[slot as usize].is_paused());
        for (i, slot) in paused.enumerate() {
            message.push_str(if i == 0 { " `" } else { ", `" });
            message.push_str(&self.name_of(slot).to_string());
            message.push('`');
        }
        message.push('.');
        State::new(StateKind::Paused, message)
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
        let verdict =
            if matches!(options.trigger, Trigger::AllSuccessful) && options.skip_on_upstream_skip {
                pipeline::before_run_default(upstream.iter().flat_map(expand))
            } else {
                let states: Vec<&State> = upstream.iter().flat_map(expand).collect();
                pipeline::before_run(
                    &options.trigger,
                    options.skip_on_upstream_skip,
                    &states,
                    flags & RESUMED != 0,
                )
            };
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
                    trigger = self.flow.nodes[node_index as usize].options.trigger.name(),
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
        let name = self.name_of(slot);
        match name.index {
            None => std::borrow::Cow::Borrowed(name.task),
            Some(_) => std::borrow::Cow::Owned(name.to_string()),
        }
    }

    /// The concurrency slots an attempt of `task` (or of one of its children) needs:
    /// the run's, the mapped task's for a child, then its tags'; `None` without limits.
    fn slots(&mut self, task: u32, child: bool) -> Option<Slots> {
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

    /// A mapped task whose upstream tasks have finished: skip propagation, then one
    /// child per item, or `Failed` when a collection to map over is missing.
    fn map(&mut self, task: u32, span: TaskSpan, attempts: &mut Attempts) {
        let node = &self.flow.nodes[task as usize];
        let upstream = self.graph.upstream.of(task);
        if node.options.skip_on_upstream_skip
            && upstream
                .iter()
                .any(|&up| self.states[up as usize].is_skipped())
        {
            let skipped = State::fixed(StateKind::Skipped, pipeline::UPSTREAM_SKIPPED);
            return self.finish(task, skipped, None, &span);
        }
        let mut len = (node.items != NO_ITEMS).then_some(node.items as usize);
        for edge in &node.edges {
            let Some(count) = edge.each else { continue };
            let up = edge.upstream;
            let items = match self.maps.get(&up) {
                Some(map) if edge.batch == 0 => Some(map.len as usize),
                _ => self.results[up as usize].as_deref().and_then(count),
            };
            let items = match edge.batch {
                0 => items,
                size => items.map(|items| items.div_ceil(size as usize)),
            };
            let Some(items) = items else {
                let message = format!(
                    "No upstream states can be mapped over: `{}` is {} and has no items.",
                    self.flow.nodes[up as usize].name,
                    self.states[up as usize].kind()
                );
                return self.finish(task, State::failed(message), None, &span);
            };
            len = Some(len.map_or(items, |len| len.min(items)));
        }
        let len = len.unwrap_or(0).min(u32::MAX as usize / 2) as u32;
        let first = self.states.len() as u32;
        let total = first as usize + len as usize;
        self.states.resize(total, State::pending());
        self.results.resize_with(total, || None);
        self.remaining.resize(total, 0);
        self.flags.resize(total, 0);
        self.children.extend((0..len).map(|index| (task, index)));
        self.log.reserve(len as usize * 2);
        attempts.grow(total);
        let node = &self.flow.nodes[task as usize];
        if let Some(limit) = node
            .options
            .limits
            .as_ref()
            .and_then(|limits| limits.max_concurrency)
        {
            self.task_slots
                .entry(task)
                .or_insert_with(|| Arc::new(Semaphore::new(limit)));
        }
        self.maps.insert(
            task,
            MapInfo {
                first,
                len,
                pending: len,
            },
        );
        if len == 0 {
            return self.finish_map(task, &span);
        }
        let mapping = State::new(StateKind::Running, format!("Mapping over {len} items."));
        self.set_state(task, mapping, &span);
        // The ready list is a stack: push in reverse so children start in item order.
        self.ready.extend((first..first + len).rev());
    }

    /// A mapped task's child: skip propagation and trigger on its own upstream states.
    fn decide_child(&mut self, slot: u32, attempts: &mut Attempts) {
        let (task, index) = self.task_of(slot);
        let index = index.unwrap_or(0);
        let node = &self.flow.nodes[task as usize];
        let span =
            TaskSpan::new(tracing::info_span!("task_run", task = %node.name, map_index = index));
        let idx = slot as usize;
        let flags = self.flags[idx];
        if flags & PAUSED_BY_BODY != 0 {
            self.flags[idx] &= !PAUSED_BY_BODY;
            return self.start_attempt(slot, None, span, attempts);
        }
        let (states, maps) = (&self.states, &self.maps);
        // A mapped argument over a mapped task reads that task's child at the same index.
        let upstream_state = |&up: &u32| -> &State {
            let mapped = node
                .edges
                .iter()
                .any(|edge| edge.upstream == up && edge.each.is_some() && edge.batch == 0);
            match maps.get(&up) {
                Some(map) if mapped => &states[(map.first + index) as usize],
                _ => &states[up as usize],
            }
        };
        let upstream = self.graph.upstream.of(task);
        let options = &node.options;
        let verdict =
            if matches!(options.trigger, Trigger::AllSuccessful) && options.skip_on_upstream_skip {
                pipeline::before_run_default(upstream.iter().map(upstream_state))
            } else {
                let states: Vec<&State> = upstream.iter().map(upstream_state).collect();
                pipeline::before_run(
                    &options.trigger,
                    options.skip_on_upstream_skip,
                    &states,
                    flags & RESUMED != 0,
                )
            };
        self.apply_verdict(slot, verdict, span, attempts);
    }

    /// A mapped task whose children have all finished: `Mapped`, with their outputs as
    /// its value when every child has one.
    fn finish_map(&mut self, task: u32, span: &TaskSpan) {
        let map = self.maps[&task];
        let node = &self.flow.nodes[task as usize];
        let value = node.task.collect(&mut self.results[map.slots()]);
        let mut counts: Vec<(StateKind, u32)> = Vec::new();
        for state in &self.states[map.slots()] {
            match counts.iter_mut().find(|(kind, _)| *kind == state.kind()) {
                Some((_, count)) => *count += 1,
                None => counts.push((state.kind(), 1)),
            }
        }
        let mut message = format!(
            "Mapped over {} item{}",
            map.len,
            if map.len == 1 { "" } else { "s" }
        );
        for (i, (kind, count)) in counts.iter().enumerate() {
            message.push_str(if i == 0 { ": " } else { ", " });
            message.push_str(&format!("{count} {kind}"));
        }
        message.push('.');
        self.finish(task, State::new(StateKind::Mapped, message), value, span);
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
        let (node_index, map_index) = self.task_of(task);
        let node = &self.flow.nodes[node_index as usize];
        let run_count = self.states[idx].run_count() + 1;
        let resumed = self.flags[idx] & RESUMED != 0;
        self.flags[idx] &= !RESUMED;
        let context = TaskContext {
            task_name: node.name.clone(),
            attempt: run_count,
            resumed,
            map_index,
            started_at: start_at.unwrap_or_else(Instant::now),
            run: self.run.clone(),
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
            timeout,
            start_at,
            permits,
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
            self.n_warnings += 1;
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

    /// Opens the blocks after the one that just finished: `errors` once the main tasks
    /// are done (its tasks run only if the main outcome is a failure), then `finally`.
    fn advance(&mut self) {
        while self.block_unfinished[self.phase as usize] == 0 {
            let Some(next) = self.phase.next() else {
                return;
            };
            if self.phase == Block::Main {
                self.main_outcome = Some(self.main_outcome());
            }
            self.phase = next;
            let graph = self.graph.clone();
            let tasks = match next {
                Block::Errors => &graph.errors,
                _ => &graph.finally,
            };
            // The ready list is a stack: push in reverse so tasks start in the order added.
            for &task in tasks.iter().rev() {
                let remaining = &mut self.remaining[task as usize];
                *remaining -= 1;
                if *remaining == 0 {
                    self.ready.push(task);
                }
            }
        }
    }

    /// The main tasks that did not succeed, in the order they were added.
    fn failures(&self) -> Vec<TaskFailure> {
        (0..self.flow.nodes.len() as u32)
            .filter(|&task| self.flow.nodes[task as usize].block == Block::Main)
            .flat_map(|task| self.slots_of(task))
            .filter(|&slot| {
                let state = &self.states[slot as usize];
                state.is_failed() || state.kind() == StateKind::Cancelled
            })
            .map(|slot| TaskFailure {
                task: self.name_of(slot).to_string(),
                state: self.states[slot as usize].clone(),
            })
            .collect()
    }

    /// Stops the run's unfinished work: after a timeout, the block that runs (main tasks
    /// or `errors`); after a cancellation, everything but `finally`. Their tasks end
    /// `Cancelled` and the next blocks open.
    fn interrupt(&mut self, interrupt: Interrupt, attempts: &mut Attempts) {
        let (cancelled, last_block) = match interrupt {
            Interrupt::TimedOut => (
                State::fixed(
                    StateKind::Cancelled,
                    "The flow run timed out before this task finished.",
                ),
                self.phase,
            ),
            Interrupt::Cancelled => (
                State::fixed(
                    StateKind::Cancelled,
                    "The flow run was cancelled before this task finished.",
                ),
                Block::Errors,
            ),
        };
        // A mapped task that has mapped finishes with its children, so only they are
        // cancelled; the list of failed tasks is not work, and `finally` tasks may read it.
        let to_cancel: Vec<u32> = (0..self.states.len() as u32)
            .filter(|&slot| {
                self.node(slot).block <= last_block
                    && !self.states[slot as usize].is_finished()
                    && !self.maps.contains_key(&slot)
                    && self.flow.failures != Some(slot)
            })
            .collect();
        let mut flow_state = match (interrupt, self.timeout) {
            (Interrupt::TimedOut, Some(limit)) => State::new(
                StateKind::TimedOut,
                format!("Flow run timed out after {limit:?}"),
            ),
            (Interrupt::TimedOut, None) => State::new(StateKind::TimedOut, "Flow run timed out"),
            (Interrupt::Cancelled, _) => State::new(StateKind::Cancelled, "Flow run was cancelled"),
        };
        // Interrupted while `errors` ran: the main tasks' outcome comes first.
        let main = self.main_outcome.as_ref().map_or("", State::message);
        let message = format!(
            "{main}{}{}; {} unfinished task{} cancelled.",
            if main.is_empty() { "" } else { " " },
            flow_state.message(),
            to_cancel.len(),
            if to_cancel.len() == 1 {
                " was"
            } else {
                "s were"
            }
        );
        flow_state = State::new(flow_state.kind(), message);
        tracing::warn!(
            state = flow_state.kind().as_str(),
            reason = flow_state.message(),
            "flow run interrupted"
        );
        self.interrupted = Some(flow_state);
        for task in to_cancel {
            attempts.abort(task);
            let run_count = self.states[task as usize].run_count();
            let span = TaskSpan::new(tracing::info_span!("task_run", task = %self.name_of(task)));
            self.finish(
                task,
                cancelled.clone().with_run_count(run_count),
                None,
                &span,
            );
        }
    }
}

/// A failed state turned `Warning`, for a task allowed to fail.
fn allowed_failure(failed: State) -> State {
    let message = format!("{}: {} (failure allowed)", failed.kind(), failed.message());
    State::new(StateKind::Warning, message).with_run_count(failed.run_count())
}

/// The next attempt event, or an interruption: the time limit elapsed or the run was
/// cancelled. Events come first when both are ready.
async fn next_or_interrupt(
    attempts: &mut Attempts,
    timer: &mut Option<Pin<Box<Sleep>>>,
    cancel: Option<&CancellationToken>,
) -> Either<Option<Event>, Interrupt> {
    let timed_out = async {
        match timer {
            Some(timer) => timer.as_mut().await,
            None => std::future::pending().await,
        }
    };
    let cancelled = async {
        match cancel {
            Some(cancel) => cancel.cancelled().await,
            None => std::future::pending().await,
        }
    };
    let interrupted = async {
        match futures::future::select(pin!(timed_out), pin!(cancelled)).await {
            Either::Left(_) => Interrupt::TimedOut,
            Either::Right(_) => Interrupt::Cancelled,
        }
    };
    match futures::future::select(pin!(attempts.next()), pin!(interrupted)).await {
        Either::Left((event, _)) => Either::Left(event),
        Either::Right((interrupt, _)) => Either::Right(interrupt),
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
        loop {
            if self.in_flight == 0 {
                return None;
            }
            // This holds a sender, so the channel stays open while attempts are in flight.
            let event = self.receiver.recv().await?;
            let task = match &event {
                Event::Done(done) => done.task,
                Event::Started { task, .. } => *task,
            };
            let running = &mut self.running[task as usize];
            if running.is_none() {
                // Sent by an attempt that was aborted after it sent this.
                continue;
            }
            if let Event::Done(_) = &event {
                self.in_flight -= 1;
                *running = None;
            }
            return Some(event);
        }
    }

    /// Makes room for the attempts of `n_slots` tasks and children.
    fn grow(&mut self, n_slots: usize) {
        self.running.resize_with(n_slots, || None);
    }

    /// Aborts the running attempt of `task`, if any; its events are ignored from now on.
    fn abort(&mut self, task: u32) {
        if let Some(handle) = self.running[task as usize].take() {
            handle.abort();
            self.in_flight -= 1;
        }
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
    permits: Permits,
}

/// The concurrency slots of an attempt: none needed, taken already, or to wait for.
enum Permits {
    None,
    Held(Vec<OwnedSemaphorePermit>),
    Wait(Slots),
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
            permits,
        } = self;
        let task = attempt.task;
        if timeout.is_none() && start_at.is_none() && matches!(permits, Permits::None) {
            // The common case gets a smaller future, without room for timers or slots.
            attempts.spawn(task, attempt.run(fut));
        } else {
            let started = attempts.sender.clone();
            let timing = Timing {
                timeout,
                start_at,
                permits,
            };
            attempts.spawn(task, attempt.run_timed(fut, timing, started));
        }
    }
}

/// What an attempt waits for before its body runs, and how long the body may take.
struct Timing {
    timeout: Option<Duration>,
    start_at: Option<Instant>,
    permits: Permits,
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

    /// Waits for the start time and the concurrency slots, then runs the body with its
    /// timeout.
    async fn run_timed<F: Future<Output = Result<AnyValue, BoxError>>>(
        self,
        fut: F,
        timing: Timing,
        started: mpsc::UnboundedSender<Event>,
    ) -> Completion {
        let Attempt {
            task,
            run_count,
            context,
            span,
        } = self;
        let Timing {
            timeout,
            start_at,
            permits,
        } = timing;
        let run = async {
            let mut waited = false;
            if let Some(start_at) = start_at {
                tokio::time::sleep_until(start_at).await;
                waited = true;
            }
            let _slots = match permits {
                Permits::None => Vec::new(),
                Permits::Held(permits) => permits,
                Permits::Wait(slots) => {
                    waited = true;
                    slots.acquire().await
                }
            };
            if waited {
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
