//! Conditional branching, after Prefect 1's control flow: condition tasks that compare an
//! upstream value ([`Flow::case`]), blocks of tasks gated by a condition ([`Flow::when`]),
//! [`Flow::switch`] with a default branch, [`Flow::if_else`], and [`Flow::merge`] to join
//! the branches again.
//!
//! Nothing here is new to the engine: a condition is an ordinary task that ends `Success`
//! or `SKIP`s, a branch task has an order-only edge from it, and skip propagation skips
//! the untaken branches; a merge is an ordinary task with the `not_all_skipped` trigger
//! and `skip_on_upstream_skip` off.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::block::Block;
use crate::error::{BoxError, BuildError};
use crate::flow::{Flow, FlowData};
use crate::signal::Signal;
use crate::task::{Arg, Args, Handle, Task, TaskCall, TaskFuture, TaskId, Values};
use crate::trigger::Trigger;

/// The name of a switch's default condition: Rust's wildcard pattern.
const DEFAULT_CASE: &str = "case(_)";

/// The message of a merge none of whose branches had a value.
const NO_BRANCH_VALUE: &str = "No branch had a value to merge.";

impl Flow {
    /// Adds a condition task, Prefect 1's `CompareValue`: it takes the value of `value`
    /// and ends `Success` when it equals `expected`, or `Skipped` with the message
    /// `Provided value "<value>" did not match "<expected>"` when it does not.
    ///
    /// Give it to the branch's tasks as an order-only upstream ([`TaskCall::after`], or
    /// [`Flow::when`] for a whole block): when the condition skips, skip propagation
    /// skips them and every task downstream of them that keeps `skip_on_upstream_skip`
    /// on (see [`Flow::switch`] for the whole picture).
    ///
    /// The task is named `case(<expected>)` (with `-2`, `-3`, ... when that is taken),
    /// values shown with their `Debug` form, strings and chars without quotes. It is
    /// added to the block of `value`'s task. Its own trigger and skip propagation are the
    /// defaults: when `value`'s task fails, the condition ends `TriggerFailed`, and so do
    /// its branches; when it is skipped, the condition and its branches are skipped.
    /// `value`'s task must have a value (it fails with [`MissingInput`](crate::MissingInput)
    /// otherwise): there is no truthiness, compare typed values.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, StateKind, task};
    ///
    /// #[task]
    /// async fn detect_format(file: &'static str) -> &'static str {
    ///     file.rsplit('.').next().unwrap_or_default()
    /// }
    ///
    /// #[task]
    /// async fn parse_csv(file: &'static str) -> String {
    ///     format!("rows of {file}")
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("import");
    /// let format = flow.add(detect_format("orders.json"));
    /// let is_csv = flow.case(format, "csv");
    /// let parsed = flow.add(parse_csv("orders.json").after(is_csv));
    ///
    /// let report = flow.run().await.unwrap();
    /// assert_eq!(report.state(is_csv).kind(), StateKind::Skipped);
    /// assert_eq!(report.state(is_csv).message(), r#"Provided value "json" did not match "csv""#);
    /// assert_eq!(report.state(parsed).kind(), StateKind::Skipped);
    /// assert_eq!(report.state_of("case(csv)"), Some(report.state(is_csv)));
    /// // A skip counts as a success.
    /// assert_eq!(report.flow_state().kind(), StateKind::Success);
    /// # }
    /// ```
    pub fn case<T>(&mut self, value: Handle<T>, expected: impl Into<T>) -> Handle<()>
    where
        T: PartialEq + fmt::Debug + Clone + Send + Sync + 'static,
    {
        let expected = expected.into();
        let name = format!("case({})", describe(&expected));
        let mut args = Args::new();
        let value_arg = args.bind("value", value);
        let compare = Compare {
            value: value_arg,
            expected: Arc::new(expected),
        };
        let block = self.data().block_of([value.id()]);
        self.add_to(block, TaskCall::new(name, args, compare))
    }

    /// Adds the tasks `block` adds as a branch gated by `condition`, with Prefect 1's rule
    /// for a `case` block: each task added in the block that has no upstream task added
    /// in the same block gets an order-only edge from `condition`; the others depend on
    /// those and follow them through skip propagation. Returns what `block` returns.
    ///
    /// `condition` is usually a [`Flow::case`], but any task that ends `Skipped` to turn
    /// a branch off will do. Inputs declared in the block are not gated (they have their
    /// value before the run starts), nor is [`Flow::failed_tasks`]. Blocks nest: a
    /// condition added in an outer block is gated by the outer condition, so the inner
    /// branch runs only when both match.
    ///
    /// A task in the block with `skip_on_upstream_skip(false)` is not skipped by the
    /// condition: a skipped upstream counts as a success for its trigger, so it runs
    /// (as in Prefect 1; a [`Flow::merge`] added in a block whose branches are outside it
    /// runs for the same reason).
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, StateKind, task};
    ///
    /// #[task]
    /// async fn row_count() -> u64 {
    ///     250_000
    /// }
    ///
    /// #[task]
    /// async fn is_large(rows: u64) -> bool {
    ///     rows > 100_000
    /// }
    ///
    /// #[task]
    /// async fn partition(rows: u64) -> Vec<u64> {
    ///     vec![rows / 2, rows - rows / 2]
    /// }
    ///
    /// #[task]
    /// async fn count_parts(parts: Vec<u64>) -> usize {
    ///     parts.len()
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("load");
    /// let rows = flow.add(row_count());
    /// let large = flow.add(is_large(rows));
    /// let large = flow.case(large, true);
    /// let parts = flow.when(large, |flow| {
    ///     // Gated by `case(true)`: its only upstream, `row_count`, is outside the block.
    ///     let parts = flow.add(partition(rows));
    ///     // Not gated: it depends on `partition`, so it is skipped with it.
    ///     flow.add(count_parts(parts))
    /// });
    ///
    /// let report = flow.run().await.unwrap();
    /// assert_eq!(report.result(parts), Some(&2));
    ///
    /// let small = flow.runner().with_result(rows, 10_u64).run().await.unwrap();
    /// assert_eq!(small.state(large).kind(), StateKind::Skipped);
    /// assert_eq!(small.state(parts).kind(), StateKind::Skipped);
    /// # }
    /// ```
    pub fn when<R>(
        &mut self,
        condition: impl Into<TaskId>,
        block: impl FnOnce(&mut Flow) -> R,
    ) -> R {
        let condition = condition.into();
        let start = self.len();
        let out = block(self);
        let data = self.data_mut();
        let gated = data.ungated(start, condition.index);
        let Some(&first) = gated.first() else {
            return out;
        };
        if condition.flow != data.id || condition.index as usize >= start {
            data.errors.push(BuildError::ForeignTask {
                task: data.nodes[first as usize].name.to_string(),
                place: "the condition of `Flow::when`".to_string(),
            });
            return out;
        }
        for task in gated {
            data.nodes[task as usize].after.push(condition.index);
        }
        out
    }

    /// Adds a switch on `value`: in `cases`, each [`Switch::case`] adds a branch that runs
    /// when the value equals the case's, and [`Switch::default`] one that runs when it
    /// equals none of them (Kestra's `defaults`). Returns what `cases` returns. Prefect
    /// 1's `switch` and `case`.
    ///
    /// Each case is a condition task ([`Flow::case`], named `case(<value>)`) and a block
    /// of tasks gated by it ([`Flow::when`]); the default is a condition named `case(_)`
    /// that skips, with `Provided value "<value>" matched case "<case>"`, when a case
    /// matched. So in a run:
    ///
    /// - the matching branch runs and the others end `Skipped`, with the message of skip
    ///   propagation, and so does every task downstream of them that keeps
    ///   `skip_on_upstream_skip` on; with no match and no default, every branch is skipped;
    /// - cases are compared one by one, so two cases with equal values both run;
    /// - when `value`'s task fails, the conditions end `TriggerFailed` and so do the
    ///   branches (their trigger sees a failed upstream), which fails the flow; when it
    ///   is skipped, every branch is skipped, the default's too;
    /// - `Skipped` counts as a success, for triggers and for the flow's final state: a
    ///   flow whose untaken branches are skipped succeeds.
    ///
    /// A skip from a condition is an ordinary skip, and skip propagation comes before the
    /// trigger: a task downstream of both an untaken branch and a failed task is
    /// `Skipped`, not `TriggerFailed`, and a flow whose terminal tasks were all skipped
    /// succeeds even if a task before them failed. Prefect's PIN 15 proposed to make
    /// `Skipped` a non-success to change this and was declined; flowcore keeps Prefect's
    /// rule. Keep "is this branch relevant?" (a condition) apart from "should this task
    /// run?" (a trigger): join branches with [`Flow::merge`], keep tasks that must always
    /// run outside the branches, and make the tasks that decide the flow's outcome
    /// [reference tasks](Flow::set_reference_tasks).
    ///
    /// A switch on a mapped task's handle compares its whole `Vec`; Prefect's
    /// `mapped=True`, a switch per item, is not supported.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, StateKind, task};
    ///
    /// #[task]
    /// async fn parse_csv(file: String) -> usize {
    ///     file.len()
    /// }
    ///
    /// #[task]
    /// async fn parse_json(file: String) -> usize {
    ///     file.len() * 10
    /// }
    ///
    /// #[task]
    /// async fn reject(file: String) -> Result<usize, String> {
    ///     Err(format!("{file}: unknown format"))
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("import");
    /// let file = flow.input::<String>("file");
    /// let format = flow.input::<String>("format");
    /// let (csv, json, rejected) = flow.switch(format, |formats| {
    ///     let csv = formats.case("csv", |flow| flow.add(parse_csv(file)));
    ///     let json = formats.case("json", |flow| flow.add(parse_json(file)));
    ///     (csv, json, formats.default(|flow| flow.add(reject(file))))
    /// });
    /// let rows = flow.merge([csv, json]);
    ///
    /// let run = |format: &str| {
    ///     let runner = flow.runner().input("file", "a.json".to_string());
    ///     runner.input("format", format.to_string()).run()
    /// };
    /// let report = run("json").await.unwrap();
    /// assert_eq!(report.state(csv).kind(), StateKind::Skipped);
    /// assert_eq!(report.state(rejected).kind(), StateKind::Skipped);
    /// assert_eq!(report.result(rows), Some(&60));
    /// assert_eq!(report.flow_state().kind(), StateKind::Success);
    ///
    /// let report = run("xml").await.unwrap();
    /// assert_eq!(report.state(rejected).kind(), StateKind::Failed);
    /// assert_eq!(report.state(rows).kind(), StateKind::Skipped);
    /// assert_eq!(report.flow_state().kind(), StateKind::Failed);
    /// # }
    /// ```
    pub fn switch<T, R>(
        &mut self,
        value: Handle<T>,
        cases: impl FnOnce(&mut Switch<'_, T>) -> R,
    ) -> R
    where
        T: PartialEq + fmt::Debug + Clone + Send + Sync + 'static,
    {
        let mut switch = Switch {
            flow: self,
            value,
            cases: Vec::new(),
            all_cases: Arc::new(OnceLock::new()),
        };
        let out = cases(&mut switch);
        // The defaults read the cases when they run, so they see those added after them.
        let Switch {
            cases, all_cases, ..
        } = switch;
        let _ = all_cases.set(cases);
        out
    }

    /// Adds two branches on `condition`: the tasks `then` adds run when it is `true`, the
    /// ones `otherwise` adds when it is `false`, and the others end `Skipped`. Returns
    /// what the two closures return. Prefect 1's `ifelse`.
    ///
    /// It is a [`Flow::switch`] on the two values, with conditions named `case(true)` and
    /// `case(false)`; the same rules apply. The condition is a typed `bool`, so there is
    /// no truthiness (Prefect's `as_bool`, Kestra's `If` that takes `0` and `""` for
    /// false): turn another value into a `bool` with a task of your own. For one branch
    /// only, use [`Flow::case`] with [`Flow::when`].
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, StateKind, task};
    ///
    /// #[task]
    /// async fn is_weekend(day: u32) -> bool {
    ///     day % 7 >= 5
    /// }
    ///
    /// #[task]
    /// async fn full_backup() -> &'static str {
    ///     "full"
    /// }
    ///
    /// #[task]
    /// async fn incremental_backup() -> &'static str {
    ///     "incremental"
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("backup");
    /// let day = flow.input_or("day", 5_u32);
    /// let weekend = flow.add(is_weekend(day));
    /// let (full, incremental) = flow.if_else(
    ///     weekend,
    ///     |flow| flow.add(full_backup()),
    ///     |flow| flow.add(incremental_backup()),
    /// );
    /// let done = flow.merge([full, incremental]);
    ///
    /// let report = flow.run().await.unwrap();
    /// assert_eq!(report.state(incremental).kind(), StateKind::Skipped);
    /// assert_eq!(report.result(done), Some(&"full"));
    ///
    /// let report = flow.runner().input("day", 2_u32).run().await.unwrap();
    /// assert_eq!(report.state(full).kind(), StateKind::Skipped);
    /// assert_eq!(report.result(done), Some(&"incremental"));
    /// # }
    /// ```
    pub fn if_else<A, B>(
        &mut self,
        condition: Handle<bool>,
        then: impl FnOnce(&mut Flow) -> A,
        otherwise: impl FnOnce(&mut Flow) -> B,
    ) -> (A, B) {
        self.switch(condition, |switch| {
            let then = switch.case(true, then);
            (then, switch.case(false, otherwise))
        })
    }

    /// Adds a task that joins branches: its value is the value of the first of `branches`
    /// that has one, in the order given. Prefect 1's `merge`.
    ///
    /// Its trigger is [`Trigger::NotAllSkipped`] and `skip_on_upstream_skip` is off, so:
    ///
    /// - it runs when at least one branch ran and none failed, skipped branches counting
    ///   as successes;
    /// - it ends `Skipped` (`All upstreams were skipped`) when every branch was skipped,
    ///   or when `branches` is empty;
    /// - it ends `TriggerFailed` when a branch failed (`Failed`, `TriggerFailed`,
    ///   `TimedOut`, ...).
    ///
    /// A branch has no value when it was skipped, or ended a success without one (a
    /// `Warning` from [`TaskCall::allow_failure`], a SUCCESS signal without a value).
    /// When no branch has one, the merge ends `Success` without a value, with the message
    /// `No branch had a value to merge.`; take it as an `Option<T>` downstream to run
    /// then too.
    ///
    /// The task is named `merge` (with `-2`, `-3`, ... when that is taken) and is added to
    /// the latest block among those of `branches`.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, State, StateKind, task};
    ///
    /// #[task]
    /// async fn is_member(customer: u32) -> bool {
    ///     customer % 2 == 0
    /// }
    ///
    /// #[task]
    /// async fn member_price() -> u32 {
    ///     80
    /// }
    ///
    /// #[task]
    /// async fn list_price() -> u32 {
    ///     100
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("pricing");
    /// let customer = flow.input_or("customer", 7_u32);
    /// let member = flow.add(is_member(customer));
    /// let (member_price, list_price) = flow.if_else(
    ///     member,
    ///     |flow| flow.add(member_price()),
    ///     |flow| flow.add(list_price()),
    /// );
    /// let price = flow.merge([member_price, list_price]);
    ///
    /// // One branch ran: its value.
    /// let report = flow.run().await.unwrap();
    /// assert_eq!(report.result(price), Some(&100));
    ///
    /// // No branch ran: skipped.
    /// let skipped = State::skipped("no customer today");
    /// let report = flow.runner().with_state(member, skipped).run().await.unwrap();
    /// assert_eq!(report.state(price).kind(), StateKind::Skipped);
    /// assert_eq!(report.state(price).message(), "All upstreams were skipped");
    ///
    /// // A branch failed: the merge's trigger fails.
    /// let failed = State::failed("price list missing");
    /// let report = flow.runner().with_state(list_price, failed).run().await.unwrap();
    /// assert_eq!(report.state(price).kind(), StateKind::TriggerFailed);
    /// # }
    /// ```
    pub fn merge<T, I>(&mut self, branches: I) -> Handle<T>
    where
        T: Clone + Send + Sync + 'static,
        I: IntoIterator<Item = Handle<T>>,
    {
        let branches: Vec<Handle<T>> = branches.into_iter().collect();
        let block = self
            .data()
            .block_of(branches.iter().map(|handle| handle.id()));
        let mut args = Args::new();
        let branches = args.bind("branches", branches);
        let call = TaskCall::new("merge", args, Merge { branches })
            .trigger(Trigger::NotAllSkipped)
            .skip_on_upstream_skip(false);
        self.add_to(block, call)
    }
}

/// The switch [`Flow::switch`] gives its closure: [`Switch::case`] adds a branch per
/// value, and [`Switch::default`] one for the values that match no case.
///
/// The closures of the branches get the flow to add their tasks to.
///
/// # Examples
///
/// See [`Flow::switch`].
pub struct Switch<'f, T> {
    flow: &'f mut Flow,
    value: Handle<T>,
    /// The cases added so far.
    cases: Vec<T>,
    /// Every case of the switch, for its defaults; set when the switch is complete.
    all_cases: Arc<OnceLock<Vec<T>>>,
}

impl<T: fmt::Debug> fmt::Debug for Switch<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Switch")
            .field("flow", &self.flow.name())
            .field("value", &self.value)
            .field("cases", &self.cases)
            .finish_non_exhaustive()
    }
}

impl<T> Switch<'_, T>
where
    T: PartialEq + fmt::Debug + Clone + Send + Sync + 'static,
{
    /// Adds a branch that runs when the switch's value equals `expected`: a condition
    /// task named `case(<expected>)` ([`Flow::case`]) and the tasks `block` adds, gated
    /// by it as [`Flow::when`] says. Returns what `block` returns.
    ///
    /// # Examples
    ///
    /// See [`Flow::switch`].
    pub fn case<R>(&mut self, expected: impl Into<T>, block: impl FnOnce(&mut Flow) -> R) -> R {
        let expected = expected.into();
        let condition = self.flow.case(self.value, expected.clone());
        self.cases.push(expected);
        self.flow.when(condition, block)
    }

    /// Adds the branch that runs when the switch's value equals none of its cases (those
    /// added before this one and after it): a condition task named `case(_)`, which skips
    /// with `Provided value "<value>" matched case "<case>"` when a case matched, and the
    /// tasks `block` adds, gated by it as [`Flow::when`] says. Returns what `block`
    /// returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, StateKind, task};
    ///
    /// #[task]
    /// async fn status() -> u16 {
    ///     404
    /// }
    ///
    /// #[task]
    /// async fn log(what: &'static str) -> &'static str {
    ///     what
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("status");
    /// let status = flow.add(status());
    /// let (unexpected, not_found) = flow.switch(status, |statuses| {
    ///     // Added first, it still sees the cases added after it.
    ///     let unexpected = statuses.default(|flow| flow.add(log("unexpected")));
    ///     statuses.case(200_u16, |flow| flow.add(log("ok")));
    ///     (unexpected, statuses.case(404_u16, |flow| flow.add(log("not found"))))
    /// });
    ///
    /// let report = flow.run().await.unwrap();
    /// assert_eq!(report.state(unexpected).kind(), StateKind::Skipped);
    /// assert_eq!(report.state_of("case(_)").unwrap().message(), r#"Provided value "404" matched case "404""#);
    /// assert_eq!(report.result(not_found), Some(&"not found"));
    /// # }
    /// ```
    pub fn default<R>(&mut self, block: impl FnOnce(&mut Flow) -> R) -> R {
        let mut args = Args::new();
        let value = args.bind("value", self.value);
        let otherwise = Otherwise {
            value,
            cases: Arc::clone(&self.all_cases),
        };
        let block_of_value = self.flow.data().block_of([self.value.id()]);
        let call = TaskCall::new(DEFAULT_CASE, args, otherwise);
        let condition = self.flow.add_to(block_of_value, call);
        self.flow.when(condition, block)
    }
}

impl FlowData {
    /// The latest block among the tasks of this flow in `tasks`; `Main` when there are none.
    fn block_of(&self, tasks: impl IntoIterator<Item = TaskId>) -> Block {
        tasks
            .into_iter()
            .filter(|task| task.flow == self.id)
            .filter_map(|task| self.nodes.get(task.index as usize))
            .map(|node| node.block)
            .max()
            .unwrap_or(Block::Main)
    }

    /// The tasks added from index `start` on that have no upstream task added from
    /// `start` on and no edge from `condition` yet: those a block's condition gates.
    /// Inputs and the failed-tasks task are neither gated nor count as upstream tasks.
    fn ungated(&self, start: usize, condition: u32) -> Vec<u32> {
        let end = self.nodes.len();
        let member: Vec<bool> = (start..end)
            .map(|task| {
                let task = task as u32;
                self.input_at(task).is_none() && self.failures != Some(task)
            })
            .collect();
        let in_block = |task: u32| {
            (task as usize)
                .checked_sub(start)
                .and_then(|offset| member.get(offset).copied())
                .unwrap_or(false)
        };
        (start..end)
            .map(|task| task as u32)
            .filter(|&task| in_block(task))
            .filter(|&task| {
                let node = &self.nodes[task as usize];
                let mut upstream = node
                    .edges
                    .iter()
                    .map(|edge| edge.upstream)
                    .chain(node.after.iter().copied());
                !upstream.any(|up| up == condition || in_block(up))
            })
            .collect()
    }
}

/// Prefect's `CompareValue`: `Success` when the value equals `expected`, `SKIP` otherwise.
struct Compare<T> {
    value: Arg<T>,
    expected: Arc<T>,
}

impl<T> Task for Compare<T>
where
    T: PartialEq + fmt::Debug + Clone + Send + Sync + 'static,
{
    type Output = ();

    fn run(&self, values: &Values<'_>) -> TaskFuture<()> {
        let value = values.get(&self.value);
        let expected = Arc::clone(&self.expected);
        Box::pin(async move {
            let value = value?;
            if value == *expected {
                return Ok(());
            }
            let message = format!(
                "Provided value \"{}\" did not match \"{}\"",
                describe(&value),
                describe(&*expected)
            );
            Err(BoxError::from(Signal::skip(message)))
        })
    }
}

/// A switch's default condition: `SKIP` when the value equals one of the cases.
struct Otherwise<T> {
    value: Arg<T>,
    /// Set when the switch is complete, before the flow can run.
    cases: Arc<OnceLock<Vec<T>>>,
}

impl<T> Task for Otherwise<T>
where
    T: PartialEq + fmt::Debug + Clone + Send + Sync + 'static,
{
    type Output = ();

    fn run(&self, values: &Values<'_>) -> TaskFuture<()> {
        let value = values.get(&self.value);
        let cases = Arc::clone(&self.cases);
        Box::pin(async move {
            let value = value?;
            let cases = cases.get().map_or(&[][..], Vec::as_slice);
            match cases.iter().find(|case| **case == value) {
                None => Ok(()),
                Some(case) => {
                    let message = format!(
                        "Provided value \"{}\" matched case \"{}\"",
                        describe(&value),
                        describe(case)
                    );
                    Err(BoxError::from(Signal::skip(message)))
                }
            }
        })
    }
}

/// Prefect's `Merge`: the first branch's value that is present.
struct Merge<T> {
    branches: Arg<Vec<Option<T>>>,
}

impl<T: Clone + Send + Sync + 'static> Task for Merge<T> {
    type Output = T;

    fn run(&self, values: &Values<'_>) -> TaskFuture<T> {
        let branches = values.get(&self.branches);
        Box::pin(async move {
            match branches?.into_iter().flatten().next() {
                Some(value) => Ok(value),
                None => Err(BoxError::from(Signal::success(NO_BRANCH_VALUE))),
            }
        })
    }
}

/// A value as condition names and messages show it: its `Debug` form, without the quotes
/// of a string or char.
fn describe<T: fmt::Debug + 'static>(value: &T) -> Cow<'_, str> {
    let any = value as &dyn Any;
    if let Some(text) = any.downcast_ref::<String>() {
        Cow::Borrowed(text)
    } else if let Some(text) = any.downcast_ref::<&'static str>() {
        Cow::Borrowed(text)
    } else if let Some(text) = any.downcast_ref::<Cow<'static, str>>() {
        Cow::Borrowed(text)
    } else if let Some(text) = any.downcast_ref::<Arc<str>>() {
        Cow::Borrowed(text)
    } else if let Some(text) = any.downcast_ref::<Box<str>>() {
        Cow::Borrowed(text)
    } else if let Some(c) = any.downcast_ref::<char>() {
        Cow::Owned(c.to_string())
    } else {
        Cow::Owned(format!("{value:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    enum Format {
        Csv,
    }

    #[test]
    fn values_are_described_without_the_quotes_of_text() {
        assert_eq!(describe(&"csv"), "csv");
        assert_eq!(describe(&"csv".to_string()), "csv");
        assert_eq!(describe(&Cow::<'static, str>::Borrowed("csv")), "csv");
        assert_eq!(describe(&Arc::<str>::from("csv")), "csv");
        assert_eq!(describe(&Box::<str>::from("csv")), "csv");
        assert_eq!(describe(&'c'), "c");
        assert_eq!(describe(&true), "true");
        assert_eq!(describe(&-3_i64), "-3");
        assert_eq!(describe(&Format::Csv), "Csv");
        assert_eq!(describe(&Some("csv")), "Some(\"csv\")");
        assert_eq!(describe(&vec![1, 2]), "[1, 2]");
    }
}
