//! The run report: the flow's final state, every task's state, typed results and outputs,
//! approval of paused tasks.

use std::any::TypeId;
use std::fmt;
use std::sync::Arc;

use crate::context::{RunId, RunInfo};
use crate::error::{OutputError, ResumeError};
use crate::flow::FlowData;
use crate::graph::Graph;
use crate::inputs::InputValue;
use crate::overrides::Overrides;
use crate::state::{State, StateKind};
use crate::task::{AnyValue, Handle, TaskId};

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
    pub(crate) states: Vec<State>,
    pub(crate) results: Vec<Option<AnyValue>>,
    /// Upstream tasks not yet finished, per task.
    pub(crate) remaining: Vec<u32>,
    pub(crate) flags: Vec<u8>,
    /// Tasks whose upstream tasks have all finished and that wait to be decided.
    pub(crate) ready: Vec<u32>,
    pub(crate) n_unfinished: usize,
    pub(crate) flow_state: State,
    /// Every state change of the run, in order: the task and the state it entered.
    pub(crate) log: Vec<(u32, StateKind)>,
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
        let mut remaining: Vec<u32> = (0..n_tasks as u32)
            .map(|task| graph.upstream.of(task).len() as u32)
            .collect();
        let mut log = Vec::with_capacity(n_tasks * 2);
        let n_inputs = inputs.len();
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
            flow_state: State::pending(),
            log,
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
            flow_state: State::pending(),
            log: Vec::new(),
            overrides: None,
            run: report.run.clone(),
        }
    }

    /// The flow's state: `Success` or `Failed` by the reference tasks once every task
    /// finished, or `Paused` when tasks wait for approval.
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
        let outputs = &self.flow.outputs;
        let Some(output) = outputs.iter().find(|output| output.name == name) else {
            return Err(OutputError::Unknown {
                name: name.to_string(),
                outputs: outputs.iter().map(|output| output.name.clone()).collect(),
            });
        };
        let (declared_id, declared) = output.value_type;
        if declared_id != TypeId::of::<T>() {
            return Err(OutputError::WrongType {
                name: name.to_string(),
                declared,
                requested: std::any::type_name::<T>(),
            });
        }
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

    /// The state of the task named `name`, if there is one.
    pub fn state_of(&self, name: &str) -> Option<&State> {
        let task = self.flow.index_of(name)?;
        Some(&self.states[task as usize])
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

    /// Every task's name and state, in the order the tasks were added.
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

    /// Every state change of the run in the order they happened, as task names and states.
    pub fn transition_log(&self) -> impl ExactSizeIterator<Item = (&str, StateKind)> + '_ {
        self.log
            .iter()
            .map(|(task, kind)| (&*self.flow.nodes[*task as usize].name, *kind))
    }

    /// Approves the paused task `name`, so that [`RunReport::resume`] runs it.
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
            .flow
            .index_of(name)
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
