//! The run's blocks in the coordinator: opening `errors` and `finally` in turn, the final
//! state, and stopping a run that timed out or was cancelled.

use std::pin::{Pin, pin};

use futures::future::Either;
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;

use crate::block::{Block, TaskFailure};
use crate::map::ChildName;
use crate::reference::{final_state, with_blocks};
use crate::report::RunReport;
use crate::state::{State, StateKind};

use super::attempt::{Attempts, Event, TaskSpan};

/// Why a run stopped before its tasks finished.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Interrupt {
    TimedOut,
    Cancelled,
}

/// A failed state turned `Warning`, for a task allowed to fail.
pub(super) fn allowed_failure(failed: State) -> State {
    let message = format!("{}: {} (failure allowed)", failed.kind(), failed.message());
    State::new(StateKind::Warning, message).with_run_count(failed.run_count())
}

/// The next attempt event, or an interruption: the time limit elapsed or the run was
/// cancelled. Events come first when both are ready.
pub(super) async fn next_or_interrupt(
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

/// The interruption that is due now, without waiting: the time limit has passed or the
/// run was cancelled.
pub(super) fn interrupted_now(
    timer: &Option<Pin<Box<Sleep>>>,
    cancel: Option<&CancellationToken>,
) -> Option<Interrupt> {
    if timer
        .as_ref()
        .is_some_and(|timer| timer.deadline() <= tokio::time::Instant::now())
    {
        Some(Interrupt::TimedOut)
    } else if cancel.is_some_and(CancellationToken::is_cancelled) {
        Some(Interrupt::Cancelled)
    } else {
        None
    }
}

impl RunReport {
    /// The main tasks' outcome: how the run was interrupted, or the reference tasks' verdict.
    pub(super) fn main_outcome(&self) -> State {
        if let Some(interrupted) = &self.interrupted {
            return interrupted.clone();
        }
        // A mapped reference task is judged by its children, named only if one failed.
        let (nodes, states, maps) = (&self.flow.nodes, &self.states, &self.maps);
        let reference = self.graph.reference.iter().flat_map(move |&task| {
            let name = &*nodes[task as usize].name;
            let (first, len, mapped) = match maps.get(&task) {
                Some(map) => (map.first, map.len, true),
                None => (task, 1, false),
            };
            (0..len).map(move |index| {
                let name = ChildName {
                    task: name,
                    index: mapped.then_some(index),
                };
                (name, &states[(first + index) as usize])
            })
        });
        final_state(reference)
    }

    pub(super) fn final_flow_state(&self) -> State {
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

    /// Opens the blocks after the one that just finished: `errors` once the main tasks
    /// are done (its tasks run only if the main outcome is a failure), then `finally`.
    pub(super) fn advance(&mut self) {
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
    pub(super) fn failures(&self) -> Vec<TaskFailure> {
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
    ///
    /// The attempts that ended before the interruption was noticed keep their outcome:
    /// the events already sent are applied first.
    pub(super) fn interrupt(&mut self, interrupt: Interrupt, attempts: &mut Attempts) {
        // A task whose attempt failed meanwhile is not retried: it is cancelled below.
        attempts.stopping = true;
        while let Some(event) = attempts.try_next() {
            self.apply_event(event, attempts);
        }
        attempts.stopping = false;
        let (cancelled, last_block) = match interrupt {
            // The block that runs now, as if the events had been taken before the time
            // was up; `finally` is not covered.
            Interrupt::TimedOut => (
                State::fixed(
                    StateKind::Cancelled,
                    "The flow run timed out before this task finished.",
                ),
                self.phase.min(Block::Errors),
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
        // All aborted first: on a multi-thread runtime the attempts go on meanwhile.
        for &task in &to_cancel {
            attempts.abort(task);
        }
        for task in to_cancel {
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
