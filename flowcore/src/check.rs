//! Assertions on a run report, for tests: short to write, and saying what the run did when they fail.

use std::fmt::{self, Debug};
use std::marker::PhantomData;

use crate::report::RunReport;
use crate::state::StateKind;
use crate::task::{Handle, TaskId};

/// A way to name a task of a report: its [`Handle`], its [`TaskId`] or its name.
pub trait TaskRef {
    /// The task's output type when the reference knows it (a `Handle<T>`), else [`Untyped`].
    type Output: 'static;

    /// The task's index in the report's flow.
    ///
    /// # Panics
    ///
    /// When the report's flow has no such task.
    #[doc(hidden)]
    fn index_in(&self, report: &RunReport) -> u32;
}

/// The output type of a task named by [`TaskId`] or by name: [`TaskCheck::result_as`]
/// names the type to compare results.
#[derive(Debug)]
pub struct Untyped;

impl<T: 'static> TaskRef for Handle<T> {
    type Output = T;

    #[track_caller]
    fn index_in(&self, report: &RunReport) -> u32 {
        self.id().index_in(report)
    }
}

impl TaskRef for TaskId {
    type Output = Untyped;

    #[track_caller]
    fn index_in(&self, report: &RunReport) -> u32 {
        assert!(
            self.flow == report.flow.id,
            "the task is not part of flow `{}`: its handle comes from another flow",
            report.flow.name
        );
        self.index
    }
}

impl TaskRef for &str {
    type Output = Untyped;

    #[track_caller]
    fn index_in(&self, report: &RunReport) -> u32 {
        match report.slot_named(self) {
            Some(index) => index,
            None => panic!("flow `{}` has no task named `{self}`", report.flow.name),
        }
    }
}

impl RunReport {
    /// Assertions on one task's outcome, chained; each panics with a message that names
    /// the task and says what was expected and what the run did.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, StateKind::*, task};
    ///
    /// #[task(max_retries = 1)]
    /// async fn flaky() -> Result<u32, String> {
    ///     Err("down".to_string())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("checks");
    /// let task = flow.add(flaky());
    /// let report = flow.run().await.unwrap();
    /// report
    ///     .check(task)
    ///     .is(Failed)
    ///     .message("down")
    ///     .attempts(2)
    ///     .went_through(&[Running, Failed, Retrying, Running, Failed]);
    /// report.check("flaky").is(Failed);
    /// report.check_flow(Failed);
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// When the flow has no such task.
    #[track_caller]
    #[must_use = "a check asserts only through its methods, such as `is`"]
    pub fn check<R: TaskRef>(&self, task: R) -> TaskCheck<'_, R::Output> {
        TaskCheck {
            report: self,
            task: task.index_in(self),
            _output: PhantomData,
        }
    }

    /// Asserts the flow's final state.
    ///
    /// # Panics
    ///
    /// When the flow's state is another kind; the message lists every task's state.
    #[track_caller]
    pub fn check_flow(&self, kind: StateKind) -> &RunReport {
        let state = self.flow_state();
        assert!(
            state.kind() == kind,
            "flow `{}`: expected {kind}, but it ended {} ({:?})\n{self}",
            self.flow.name,
            state.kind(),
            state.message()
        );
        self
    }
}

/// Assertions on one task of a run; see [`RunReport::check`].
pub struct TaskCheck<'r, T = Untyped> {
    report: &'r RunReport,
    task: u32,
    _output: PhantomData<fn() -> T>,
}

impl<T: 'static> Debug for TaskCheck<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskCheck")
            .field("task", &self.name())
            .finish()
    }
}

impl<'r, T: 'static> TaskCheck<'r, T> {
    fn name(&self) -> crate::map::ChildName<'r> {
        self.report.name_of(self.task)
    }

    fn what_happened(&self) -> String {
        let state = &self.report.states[self.task as usize];
        let transitions: Vec<&str> = self
            .report
            .transitions(TaskId {
                flow: self.report.flow.id,
                index: self.task,
            })
            .into_iter()
            .map(StateKind::as_str)
            .collect();
        format!(
            "it ended {} ({:?}) after {} attempt(s), going through [{}]",
            state.kind(),
            state.message(),
            state.run_count(),
            transitions.join(", ")
        )
    }

    /// Asserts the kind of the task's state.
    #[track_caller]
    pub fn is(self, kind: StateKind) -> TaskCheck<'r, T> {
        let actual = self.report.states[self.task as usize].kind();
        assert!(
            actual == kind,
            "task `{}`: expected {kind}, but {}",
            self.name(),
            self.what_happened()
        );
        self
    }

    /// Asserts the message of the task's state.
    #[track_caller]
    pub fn message(self, message: &str) -> TaskCheck<'r, T> {
        let actual = self.report.states[self.task as usize].message();
        assert!(
            actual == message,
            "task `{}`: expected the message {message:?}, but {}",
            self.name(),
            self.what_happened()
        );
        self
    }

    /// Asserts how many attempts of the body started.
    #[track_caller]
    pub fn attempts(self, attempts: u32) -> TaskCheck<'r, T> {
        let actual = self.report.states[self.task as usize].run_count();
        assert!(
            actual == attempts,
            "task `{}`: expected {attempts} attempt(s), but {}",
            self.name(),
            self.what_happened()
        );
        self
    }

    /// Asserts the states the task entered during the run, in order.
    #[track_caller]
    pub fn went_through(self, kinds: &[StateKind]) -> TaskCheck<'r, T> {
        let actual = self.report.transitions(TaskId {
            flow: self.report.flow.id,
            index: self.task,
        });
        assert!(
            actual == kinds,
            "task `{}`: expected the transitions {kinds:?}, but {}",
            self.name(),
            self.what_happened()
        );
        self
    }

    /// Asserts the task's result; for a task named by handle, of the handle's type.
    #[track_caller]
    pub fn result(self, expected: &T) -> TaskCheck<'r, T>
    where
        T: PartialEq + Debug,
    {
        self.result_as(expected)
    }

    /// Asserts the task's result, of type `U` (for a task named by name or [`TaskId`]).
    #[track_caller]
    pub fn result_as<U: PartialEq + Debug + 'static>(self, expected: &U) -> TaskCheck<'r, T> {
        let value = self.report.results[self.task as usize].as_ref();
        match value.map(|value| value.downcast_ref::<U>()) {
            Some(Some(actual)) => assert!(
                actual == expected,
                "task `{}`: expected the result {expected:?}, but it was {actual:?}",
                self.name()
            ),
            Some(None) => panic!(
                "task `{}`: expected a result of type `{}`, but its result has another type",
                self.name(),
                std::any::type_name::<U>()
            ),
            None => panic!(
                "task `{}`: expected the result {expected:?}, but it has none: {}",
                self.name(),
                self.what_happened()
            ),
        }
        self
    }
}
