//! The run report: the flow's final state, every task's state, typed results and outputs,
//! approval of paused tasks.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::block::Block;
use crate::context::{RunId, RunInfo};
use crate::error::{OutputError, ResumeError};
use crate::flow::FlowData;
use crate::graph::Graph;
use crate::inputs::{InputValue, OutputDecl};
use crate::map::{ChildName, MapInfo};
use crate::overrides::Overrides;
use crate::state::{State, StateKind};
use crate::task::{AnyValue, Handle, TaskId};
use rustc_hash::FxHashMap;

/// A task's flag: it was approved (or its timed pause elapsed), so its next attempt is resumed.
pub(crate) const RESUMED: u8 = 1;
/// A task's flag: its body paused it, so approval re-runs the body rather than the trigger.
pub(crate) const PAUSED_BY_BODY: u8 = 2;

const INPUT_GIVEN: State = State::fixed(StateKind::Success, "Input given to the run.");
const INPUT_DEFAULT: State = State::fixed(StateKind::Success, "Input default used.");

/// The outcome of a flow run: the flow's state, each task's state, and each task's result.
///
/// A run that stopped because tasks wait for approval has the flow state `Paused`;
/// [`RunReport::approve`] and [`RunReport::resume`] continue the same run.
///
/// `Display` renders a table of tasks (inputs included), states and messages, with no
/// timestamps or ids (not even the run id), so it is stable across runs.
///
/// # Examples
///
/// ```
/// use flowcore::{Flow, StateKind, task};
///
/// #[task]
/// async fn answer() -> u32 {
///     42
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut flow = Flow::new("report");
/// let answer = flow.add(answer());
/// let report = flow.run().await.unwrap();
/// assert_eq!(report.state(answer).kind(), StateKind::Success);
/// assert_eq!(report.result(answer), Some(&42));
/// assert_eq!(
///     report.to_string(),
///     "flow `report`: Success (All reference tasks succeeded.)\n\
///      task    state    attempts  message\n\
///      answer  Success  1         Task run succeeded.\n"
/// );
/// # }
/// ```
pub struct RunReport {
    pub(crate) flow: Arc<FlowData>,
    pub(crate) graph: Arc<Graph>,
    /// Per slot: the flow's tasks first, then the children of mapped tasks as they map.
    pub(crate) states: Vec<State>,
    pub(crate) results: Vec<Option<AnyValue>>,
    /// Upstream tasks not yet finished, per task.
    pub(crate) remaining: Vec<u32>,
    pub(crate) flags: Vec<u8>,
    /// Tasks whose upstream tasks have all finished and that wait to be decided.
    pub(crate) ready: Vec<u32>,
    pub(crate) n_unfinished: usize,
    /// Unfinished tasks per block (main, `errors`, `finally`).
    pub(crate) block_unfinished: [u32; 3],
    /// The block that runs now; the later ones wait for it to finish.
    pub(crate) phase: Block,
    /// The main tasks' outcome, once they have all finished.
    pub(crate) main_outcome: Option<State>,
    /// The flow's state when the run timed out or was cancelled.
    pub(crate) interrupted: Option<State>,
    /// The run's time limit, and when it ends (set when the run starts).
    pub(crate) timeout: Option<Duration>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) cancel: Option<CancellationToken>,
    pub(crate) flow_state: State,
    /// Every state change of the run, in order: the task and the state it entered.
    pub(crate) log: Vec<(u32, StateKind)>,
    /// The run's concurrency slots, when the flow has a limit.
    pub(crate) run_slots: Option<Arc<tokio::sync::Semaphore>>,
    /// The slots of each mapped task that limits how many of its children run at once.
    pub(crate) task_slots: FxHashMap<u32, Arc<tokio::sync::Semaphore>>,
    /// The children of each mapped task that has mapped.
    pub(crate) maps: FxHashMap<u32, MapInfo>,
    /// For each child slot (slot minus the number of tasks): its task and item index.
    pub(crate) children: Vec<(u32, u32)>,
    /// Preset states and stubs, when the run was made with [`Flow::runner`](crate::Flow::runner).
    pub(crate) overrides: Option<Box<Overrides>>,
    /// The run's id and the flow's metadata, shared with every attempt's context.
    pub(crate) run: Arc<RunInfo>,
}

impl RunReport {
    /// A run about to start, with its inputs already `Success` with their values.
    pub(crate) fn new(
        flow: Arc<FlowData>,
        graph: Arc<Graph>,
        run: Arc<RunInfo>,
        inputs: Vec<InputValue>,
    ) -> RunReport {
        let n_tasks = flow.nodes.len();
        let mut states = vec![State::pending(); n_tasks];
        let mut results = Vec::with_capacity(n_tasks);
        results.resize_with(n_tasks, || None);
        let mut block_unfinished = [0u32; 3];
        // Tasks of `errors` and `finally` wait for one more thing: their block's turn.
        let mut remaining: Vec<u32> = (0..n_tasks as u32)
            .map(|task| {
                let block = flow.nodes[task as usize].block;
                block_unfinished[block as usize] += 1;
                graph.upstream.of(task).len() as u32 + u32::from(block != Block::Main)
            })
            .collect();
        let mut log = Vec::with_capacity(n_tasks * 2);
        let n_inputs = inputs.len();
        // Inputs are main tasks that have their value before the run starts.
        block_unfinished[Block::Main as usize] -= n_inputs as u32;
        for InputValue { task, value, given } in inputs {
            let state = if given { INPUT_GIVEN } else { INPUT_DEFAULT };
            log.push((task, state.kind()));
            states[task as usize] = state;
            results[task as usize] = Some(value);
            for &down in graph.downstream.of(task) {
                remaining[down as usize] -= 1;
            }
        }
        let ready = (0..n_tasks as u32)
            .rev()
            .filter(|&task| remaining[task as usize] == 0 && !states[task as usize].is_finished())
            .collect();
        RunReport {
            states,
            results,
            remaining,
            flags: vec![0; n_tasks],
            ready,
            n_unfinished: n_tasks - n_inputs,
            block_unfinished,
            phase: Block::Main,
            main_outcome: None,
            interrupted: None,
            timeout: flow.timeout,
            deadline: None,
            cancel: None,
            flow_state: State::pending(),
            log,
            run_slots: None,
            task_slots: FxHashMap::default(),
            maps: FxHashMap::default(),
            children: Vec::new(),
            overrides: None,
            flow,
            graph,
            run,
        }
    }

    /// An empty report of the same flow, to stand in while the real one is being driven.
    pub(crate) fn placeholder(report: &RunReport) -> RunReport {
        RunReport {
            flow: report.flow.clone(),
            graph: report.graph.clone(),
            states: Vec::new(),
            results: Vec::new(),
            remaining: Vec::new(),
            flags: Vec::new(),
            ready: Vec::new(),
            n_unfinished: 0,
            block_unfinished: [0; 3],
            phase: Block::Main,
            main_outcome: None,
            interrupted: None,
            timeout: None,
            deadline: None,
            cancel: None,
            flow_state: State::pending(),
            log: Vec::new(),
            run_slots: None,
            task_slots: FxHashMap::default(),
            maps: FxHashMap::default(),
            children: Vec::new(),
            overrides: None,
            run: report.run.clone(),
        }
    }

    /// The task a slot runs (itself, or a child's mapped task) and the child's item index.
    pub(crate) fn task_of(&self, slot: u32) -> (u32, Option<u32>) {
        let n_tasks = self.flow.nodes.len() as u32;
        if slot < n_tasks {
            (slot, None)
        } else {
            let (task, index) = self.children[(slot - n_tasks) as usize];
            (task, Some(index))
        }
    }

    /// A slot's name: its task's, with `[i]` for a child.
    pub(crate) fn name_of(&self, slot: u32) -> ChildName<'_> {
        let (task, index) = self.task_of(slot);
        ChildName {
            task: &self.flow.nodes[task as usize].name,
            index,
        }
    }

    /// The slot named `name`: a task's name, or `task[i]` for a mapped task's child.
    pub(crate) fn slot_named(&self, name: &str) -> Option<u32> {
        if let Some(task) = self.flow.index_of(name) {
            return Some(task);
        }
        let (task, index) = name.strip_suffix(']')?.rsplit_once('[')?;
        let map = self.maps.get(&self.flow.index_of(task)?)?;
        let index: u32 = index.parse().ok()?;
        (index < map.len).then_some(map.first + index)
    }

    /// The flow's state once the run returned: by the reference tasks when every task
    /// finished (`Success` or `Failed`; `Warning` when tasks failed as allowed; `Failed`
    /// also when an `errors` or `finally` task failed), `TimedOut` or `Cancelled` when
    /// the run was interrupted, or `Paused` when tasks wait for approval.
    pub fn flow_state(&self) -> &State {
        &self.flow_state
    }

    /// The flow's name.
    pub fn flow_name(&self) -> &str {
        &self.flow.name
    }

    /// The run's id: unique among the runs of this process, kept by a resumed run, and
    /// the same as the one tasks read from [`TaskContext::run_id`](crate::TaskContext::run_id).
    /// It is not part of `Display`, which stays the same from run to run.
    ///
    /// # Examples
    ///
    /// See [`RunId`].
    pub fn run_id(&self) -> RunId {
        self.run.id
    }

    /// The output `name` declared with [`Flow::output`](crate::Flow::output): its task's
    /// result, or `None` when the task produced no value (it failed or was skipped).
    ///
    /// # Errors
    ///
    /// [`OutputError::Unknown`] when the flow declares no output `name`, and
    /// [`OutputError::WrongType`] when `T` is not the output's type.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, task};
    ///
    /// #[task]
    /// async fn parse(text: String) -> Result<i64, std::num::ParseIntError> {
    ///     text.parse()
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("parse");
    /// let text = flow.input::<String>("text");
    /// let number = flow.add(parse(text));
    /// flow.output("number", number);
    ///
    /// let report = flow.runner().input("text", "42".to_string()).run().await.unwrap();
    /// assert_eq!(report.output::<i64>("number"), Ok(Some(&42)));
    ///
    /// let report = flow.runner().input("text", "forty-two".to_string()).run().await.unwrap();
    /// assert_eq!(report.output::<i64>("number"), Ok(None));
    /// # }
    /// ```
    pub fn output<T: 'static>(&self, name: &str) -> Result<Option<&T>, OutputError> {
        let output = OutputDecl::find_typed::<T>(&self.flow.outputs, name)?;
        let value = self
            .results
            .get(output.task as usize)
            .and_then(Option::as_ref);
        Ok(value.and_then(|value| value.downcast_ref::<T>()))
    }

    /// The names of the flow's outputs, in the order they were declared.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, task};
    ///
    /// #[task]
    /// async fn answer() -> u32 {
    ///     42
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("outputs");
    /// let answer = flow.add(answer());
    /// flow.output("answer", answer);
    /// flow.output("same_answer", answer);
    /// let report = flow.run().await.unwrap();
    /// for name in report.output_names() {
    ///     assert_eq!(report.output::<u32>(name), Ok(Some(&42)));
    /// }
    /// assert_eq!(report.output_names().len(), 2);
    /// # }
    /// ```
    pub fn output_names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.flow.outputs.iter().map(|output| output.name.as_str())
    }

    fn index(&self, task: TaskId) -> usize {
        assert!(
            task.flow == self.flow.id,
            "a handle of another flow was used with the report of flow `{}`",
            self.flow.name
        );
        task.index as usize
    }

    /// The state of a task.
    ///
    /// # Panics
    ///
    /// When `task` belongs to another flow.
    pub fn state(&self, task: impl Into<TaskId>) -> &State {
        &self.states[self.index(task.into())]
    }

    /// The state of the task named `name` (`task[i]` for a mapped task's child), if there is one.
    pub fn state_of(&self, name: &str) -> Option<&State> {
        let slot = self.slot_named(name)?;
        Some(&self.states[slot as usize])
    }

    /// The task's output, when it succeeded with a value.
    ///
    /// # Panics
    ///
    /// When `task` belongs to another flow.
    pub fn result<T: 'static>(&self, task: Handle<T>) -> Option<&T> {
        let index = self.index(task.id());
        self.results[index].as_ref()?.downcast_ref::<T>()
    }

    /// The states of a mapped task's children, in item order; empty for a task that is
    /// not mapped or has not mapped yet.
    ///
    /// # Panics
    ///
    /// When `task` belongs to another flow.
    pub fn children(&self, task: impl Into<TaskId>) -> &[State] {
        let index = self.index(task.into()) as u32;
        match self.maps.get(&index) {
            Some(map) => &self.states[map.slots()],
            None => &[],
        }
    }

    /// The output of child `index` of a mapped task, when that child succeeded with a value.
    ///
    /// # Panics
    ///
    /// When `task` belongs to another flow.
    pub fn child_result<T: 'static>(&self, task: Handle<Vec<T>>, index: usize) -> Option<&T> {
        if let Some(all) = self.result(task) {
            return all.get(index);
        }
        let map = self.maps.get(&task.id().index)?;
        let slot = map.slots().nth(index)?;
        self.results[slot].as_ref()?.downcast_ref::<T>()
    }

    /// Every task's name and state, in the order the tasks were added (a mapped task's
    /// children are in [`RunReport::children`]).
    pub fn task_states(&self) -> impl ExactSizeIterator<Item = (&str, &State)> + '_ {
        self.flow
            .nodes
            .iter()
            .zip(&self.states)
            .map(|(node, state)| (&*node.name, state))
    }

    /// The states a task entered during the run, in order (Pending, its state before
    /// the run, is not listed). A task retried once after a failure went through
    /// `Running, Failed, Retrying, Running, Success`.
    ///
    /// # Panics
    ///
    /// When `task` belongs to another flow.
    pub fn transitions(&self, task: impl Into<TaskId>) -> Vec<StateKind> {
        let index = self.index(task.into()) as u32;
        self.log
            .iter()
            .filter(|(task, _)| *task == index)
            .map(|(_, kind)| *kind)
            .collect()
    }

    /// Every state change of the run in the order they happened, as task names and
    /// states; a mapped task's children are named `task[i]`.
    pub fn transition_log(&self) -> impl ExactSizeIterator<Item = (Cow<'_, str>, StateKind)> + '_ {
        self.log
            .iter()
            .map(|&(slot, kind)| (self.name_of(slot).to_cow(), kind))
    }

    /// Approves the paused task `name` (`task[i]` for a mapped task's child), so that
    /// [`RunReport::resume`] runs it.
    ///
    /// A task paused by the `manual_only` trigger then runs its body; a task paused by a
    /// `PAUSE` signal runs its body again with
    /// [`TaskContext::is_resumed`](crate::TaskContext::is_resumed) true.
    ///
    /// # Errors
    ///
    /// [`ResumeError`] when no task has this name or the task is not paused.
    pub fn approve(&mut self, name: &str) -> Result<(), ResumeError> {
        let task = self
            .slot_named(name)
            .ok_or_else(|| ResumeError::UnknownTask {
                name: name.to_string(),
            })?;
        let state = self.states[task as usize].kind();
        if state != StateKind::Paused {
            return Err(ResumeError::NotPaused {
                name: name.to_string(),
                state,
            });
        }
        self.flags[task as usize] |= RESUMED;
        if !self.ready.contains(&task) {
            self.ready.push(task);
        }
        Ok(())
    }

    /// Continues the run after [`RunReport::approve`], until every task has finished or
    /// the tasks left wait for approval again; the report is updated in place.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future aborts the tasks that are running and leaves the report
    /// without tasks: the interrupted run cannot be continued.
    pub async fn resume(&mut self) {
        self.drive().await;
    }
}

impl fmt::Debug for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunReport")
            .field("flow", &self.flow.name)
            .field("flow_state", &self.flow_state)
            .field("task_states", &self.task_states().collect::<Vec<_>>())
            .finish()
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "flow `{}`: {} ({})",
            self.flow.name,
            self.flow_state.kind(),
            self.flow_state.message()
        )?;
        let name_width = self
            .task_states()
            .map(|(name, _)| name.chars().count())
            .max()
            .unwrap_or(0)
            .max("task".len());
        let state_width = self
            .states
            .iter()
            .map(|state| state.kind().as_str().len())
            .max()
            .unwrap_or(0)
            .max("state".len());
        writeln!(
            f,
            "{:name_width$}  {:state_width$}  attempts  message",
            "task", "state"
        )?;
        for (name, state) in self.task_states() {
            let line = format!(
                "{name:name_width$}  {:state_width$}  {:<8}  {}",
                state.kind().as_str(),
                state.run_count(),
                state.message()
            );
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}
