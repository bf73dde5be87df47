//! Flow inputs and outputs: typed inputs given a value per run, and named outputs read back
//! from the report.
//!
//! An input is a node of the flow, so a task takes it like any upstream task's output: by
//! its [`Handle`]. The node never runs: before a run starts, its value (given to the run,
//! or the default) is checked and stored as the node's result, and the node is `Success`.

use std::any::{Any, TypeId};
use std::fmt;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crate::block::Block;
use crate::error::{BoxError, BuildError, OutputError};
use crate::flow::{Flow, FlowData, NO_ITEMS, Node};
use crate::task::{AnyValue, Args, Handle, Task, TaskCall, TaskFuture, TaskId, Values};

/// A validator of an input's value.
type Validator<T> = Box<dyn Fn(&T) -> Result<(), String> + Send + Sync>;

/// A typed flow input: its name, an optional default and optional validators, for
/// [`Flow::add_input`]. Without a default the input is required: every run must give it
/// a value ([`RunBuilder::input`](crate::RunBuilder::input)).
///
/// [`Flow::input`] and [`Flow::input_or`] are shorthands for inputs without validators.
///
/// # Examples
///
/// ```
/// use flowcore::{BuildError, Flow, Input, task};
///
/// #[task]
/// async fn square(n: u32) -> u32 {
///     n * n
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut flow = Flow::new("squares");
/// let n = flow.add_input(
///     Input::new("n")
///         .default(3_u32)
///         .validate(|n| if *n <= 1000 { Ok(()) } else { Err(format!("{n} is above 1000")) }),
/// );
/// let squared = flow.add(square(n));
///
/// let report = flow.run().await.unwrap();
/// assert_eq!(report.result(squared), Some(&9));
///
/// let error = flow.runner().input("n", 5000_u32).run().await.unwrap_err();
/// assert_eq!(
///     error,
///     BuildError::InvalidInput { name: "n".to_string(), message: "5000 is above 1000".to_string() }
/// );
/// # }
/// ```
pub struct Input<T> {
    name: String,
    default: Option<T>,
    validators: Vec<Validator<T>>,
}

impl<T> fmt::Debug for Input<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("name", &self.name)
            .field("type", &std::any::type_name::<T>())
            .field("required", &self.default.is_none())
            .field("n_validators", &self.validators.len())
            .finish()
    }
}

impl<T: Clone + Send + Sync + 'static> Input<T> {
    /// A required input named `name`, of type `T`.
    ///
    /// # Examples
    ///
    /// See [`Input`].
    pub fn new(name: impl Into<String>) -> Input<T> {
        Input {
            name: name.into(),
            default: None,
            validators: Vec::new(),
        }
    }

    /// The value the input takes when a run does not give one; the input is then optional.
    ///
    /// # Examples
    ///
    /// See [`Input`].
    pub fn default(mut self, value: T) -> Input<T> {
        self.default = Some(value);
        self
    }

    /// Checks the input's value, given or default, before every run: an `Err` stops the
    /// run before any task runs, with [`BuildError::InvalidInput`] carrying the message.
    /// Several validators all apply, in the order they were added. A validator that
    /// panics rejects the value.
    ///
    /// # Examples
    ///
    /// See [`Input`].
    pub fn validate<F>(mut self, validator: F) -> Input<T>
    where
        F: Fn(&T) -> Result<(), String> + Send + Sync + 'static,
    {
        self.validators.push(Box::new(validator));
        self
    }
}

/// What the flow keeps of an input, type-erased.
pub(crate) trait InputSpec: Send + Sync + 'static {
    fn value_type(&self) -> (TypeId, &'static str);
    /// Whether the input has a default value.
    fn has_default(&self) -> bool;
    /// A copy of the default value, if the input has one.
    fn default_value(&self) -> Option<AnyValue>;
    /// Runs the validators on a value of the input's type.
    fn check(&self, value: &(dyn Any + Send)) -> Result<(), String>;
}

impl<T: Clone + Send + Sync + 'static> InputSpec for Input<T> {
    fn value_type(&self) -> (TypeId, &'static str) {
        (TypeId::of::<T>(), std::any::type_name::<T>())
    }

    fn has_default(&self) -> bool {
        self.default.is_some()
    }

    fn default_value(&self) -> Option<AnyValue> {
        self.default
            .as_ref()
            .map(|value| Box::new(value.clone()) as AnyValue)
    }

    fn check(&self, value: &(dyn Any + Send)) -> Result<(), String> {
        let Some(value) = value.downcast_ref::<T>() else {
            return Err(format!(
                "the value is not a `{}`",
                std::any::type_name::<T>()
            ));
        };
        self.validators
            .iter()
            .try_for_each(|validator| validator(value))
    }
}

/// An input of a flow: its name, its node and what it accepts.
#[derive(Clone)]
pub(crate) struct InputDecl {
    pub(crate) name: Arc<str>,
    pub(crate) task: u32,
    spec: Arc<dyn InputSpec>,
}

impl InputDecl {
    /// The type of the input's values.
    pub(crate) fn value_type(&self) -> (TypeId, &'static str) {
        self.spec.value_type()
    }

    /// Whether every run must give the input a value (it has no default).
    pub(crate) fn is_required(&self) -> bool {
        !self.spec.has_default()
    }
}

/// An output of a flow: its name, the task whose result it is, and that result's type.
#[derive(Clone)]
pub(crate) struct OutputDecl {
    pub(crate) name: String,
    pub(crate) task: u32,
    pub(crate) value_type: (TypeId, &'static str),
}

impl OutputDecl {
    /// The output `name` among `outputs`.
    pub(crate) fn find<'a>(
        outputs: &'a [OutputDecl],
        name: &str,
    ) -> Result<&'a OutputDecl, OutputError> {
        outputs
            .iter()
            .find(|output| output.name == name)
            .ok_or_else(|| OutputError::Unknown {
                name: name.to_string(),
                outputs: outputs.iter().map(|output| output.name.clone()).collect(),
            })
    }

    /// The output `name` among `outputs`, checked to be a `T`.
    pub(crate) fn find_typed<'a, T: 'static>(
        outputs: &'a [OutputDecl],
        name: &str,
    ) -> Result<&'a OutputDecl, OutputError> {
        let output = OutputDecl::find(outputs, name)?;
        let (declared_id, declared) = output.value_type;
        if declared_id != TypeId::of::<T>() {
            return Err(OutputError::WrongType {
                name: name.to_string(),
                declared,
                requested: std::any::type_name::<T>(),
            });
        }
        Ok(output)
    }
}

/// The body of an input's node. It never runs, since a run gives the node its value
/// before it starts; if it did, it would fail rather than panic.
struct InputBody<T> {
    name: Arc<str>,
    _output: PhantomData<fn() -> T>,
}

impl<T: Send + 'static> Task for InputBody<T> {
    type Output = T;

    fn run(&self, _values: &Values<'_>) -> TaskFuture<T> {
        let error: BoxError = format!("flow input `{}` was not given a value", self.name).into();
        Box::pin(std::future::ready(Err(error)))
    }
}

impl Flow {
    /// Declares a required input named `name`, of type `T`, and returns the handle a task
    /// takes it by. Every run must give it a value with
    /// [`RunBuilder::input`](crate::RunBuilder::input).
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{BuildError, Flow, task};
    ///
    /// #[task]
    /// async fn greet(name: String) -> String {
    ///     format!("hello, {name}")
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("greet");
    /// let name = flow.input::<String>("name");
    /// let greeting = flow.add(greet(name));
    ///
    /// let report = flow.runner().input("name", "Ada".to_string()).run().await.unwrap();
    /// assert_eq!(report.result(greeting).map(String::as_str), Some("hello, Ada"));
    ///
    /// assert_eq!(
    ///     flow.run().await.unwrap_err(),
    ///     BuildError::InputRequired { name: "name".to_string(), expected: "alloc::string::String" }
    /// );
    /// # }
    /// ```
    pub fn input<T: Clone + Send + Sync + 'static>(
        &mut self,
        name: impl Into<String>,
    ) -> Handle<T> {
        self.add_input(Input::new(name))
    }

    /// Declares an input named `name` that takes `default` when a run does not give it a
    /// value, and returns the handle a task takes it by.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, task};
    ///
    /// #[task]
    /// async fn double(n: u32) -> u32 {
    ///     n * 2
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("double");
    /// let n = flow.input_or("n", 10_u32);
    /// let doubled = flow.add(double(n));
    ///
    /// assert_eq!(flow.run().await.unwrap().result(doubled), Some(&20));
    /// let report = flow.runner().input("n", 4_u32).run().await.unwrap();
    /// assert_eq!(report.result(doubled), Some(&8));
    /// # }
    /// ```
    pub fn input_or<T: Clone + Send + Sync + 'static>(
        &mut self,
        name: impl Into<String>,
        default: T,
    ) -> Handle<T> {
        self.add_input(Input::new(name).default(default))
    }

    /// Declares an input (see [`Input`]) and returns the handle a task takes it by.
    ///
    /// The input is a node of the flow: it is listed in the report with the other tasks,
    /// `Success` with the message `Input given to the run.` or `Input default used.`, and
    /// [`RunReport::result`](crate::RunReport::result) reads its value. Input and task
    /// names share one namespace: an input named like another input or task is a
    /// [`BuildError::DuplicateInput`].
    ///
    /// # Examples
    ///
    /// See [`Input`].
    pub fn add_input<T: Clone + Send + Sync + 'static>(&mut self, input: Input<T>) -> Handle<T> {
        let data = self.data_mut();
        let index = data.nodes.len() as u32;
        let name: Arc<str> = Arc::from(input.name.as_str());
        if name.is_empty() {
            data.errors.push(BuildError::EmptyName);
        } else if data.index_of(&name).is_some() {
            data.errors.push(BuildError::DuplicateInput {
                name: name.to_string(),
            });
        } else {
            data.names.insert(name.clone(), index);
        }
        let body = InputBody::<T> {
            name: name.clone(),
            _output: PhantomData,
        };
        let call = TaskCall::new(name.to_string(), Args::new(), body);
        data.nodes.push(Node {
            name: name.clone(),
            options: call.options,
            task: call.task,
            edges: Vec::new(),
            after: Vec::new(),
            block: Block::Main,
            mapped: false,
            items: NO_ITEMS,
        });
        data.inputs.push(InputDecl {
            name,
            task: index,
            spec: Arc::new(input),
        });
        Handle::new(TaskId {
            flow: data.id,
            index,
        })
    }

    /// The names of the flow's inputs, in the order they were declared.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::Flow;
    ///
    /// let mut flow = Flow::new("inputs");
    /// flow.input::<String>("table");
    /// flow.input_or("limit", 100_u32);
    /// assert_eq!(flow.input_names().collect::<Vec<_>>(), ["table", "limit"]);
    /// ```
    pub fn input_names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.data().inputs.iter().map(|input| &*input.name)
    }

    /// Declares the output `name`: the result of `task`, read back with
    /// [`RunReport::output`](crate::RunReport::output).
    ///
    /// A duplicate name ([`BuildError::DuplicateOutput`]) or a task of another flow
    /// ([`BuildError::ForeignOutput`]) is a build error.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, task};
    ///
    /// #[task]
    /// async fn total(numbers: Vec<i64>) -> i64 {
    ///     numbers.iter().sum()
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut flow = Flow::new("sum");
    /// let total = flow.add(total(vec![1, 2, 3]));
    /// flow.output("total", total);
    /// assert_eq!(flow.output_names().collect::<Vec<_>>(), ["total"]);
    ///
    /// let report = flow.run().await.unwrap();
    /// assert_eq!(report.output::<i64>("total"), Ok(Some(&6)));
    /// # }
    /// ```
    pub fn output<T: 'static>(&mut self, name: impl Into<String>, task: Handle<T>) {
        let name = name.into();
        let task = task.id();
        let data = self.data_mut();
        let error = if name.is_empty() {
            Some(BuildError::EmptyName)
        } else if task.flow != data.id {
            Some(BuildError::ForeignOutput { name: name.clone() })
        } else if data.outputs.iter().any(|output| output.name == name) {
            Some(BuildError::DuplicateOutput { name: name.clone() })
        } else {
            None
        };
        match error {
            Some(error) => data.errors.push(error),
            None => data.outputs.push(OutputDecl {
                name,
                task: task.index,
                value_type: (TypeId::of::<T>(), std::any::type_name::<T>()),
            }),
        }
    }

    /// The names of the flow's outputs, in the order they were declared.
    ///
    /// # Examples
    ///
    /// See [`Flow::output`].
    pub fn output_names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.data()
            .outputs
            .iter()
            .map(|output| output.name.as_str())
    }
}

/// A value given to a run for an input, by name.
pub(crate) struct GivenInput {
    pub(crate) name: String,
    pub(crate) value: AnyValue,
    pub(crate) type_name: &'static str,
}

/// An input's value for one run: its node, the value, and whether the run gave it.
pub(crate) struct InputValue {
    pub(crate) task: u32,
    pub(crate) value: AnyValue,
    pub(crate) given: bool,
}

/// Checks the values given to a run against the flow's inputs and completes them with the
/// defaults: unknown names and wrong types first, then missing values, then validators,
/// each in declaration order. A later value for the same input replaces an earlier one.
pub(crate) fn resolve(
    data: &FlowData,
    given: Vec<GivenInput>,
) -> Result<Vec<InputValue>, BuildError> {
    let mut values: Vec<Option<AnyValue>> = Vec::with_capacity(data.inputs.len());
    values.resize_with(data.inputs.len(), || None);
    for GivenInput {
        name,
        value,
        type_name,
    } in given
    {
        let Some(slot) = data.inputs.iter().position(|input| *input.name == *name) else {
            return Err(BuildError::UnknownInput {
                name,
                inputs: data
                    .inputs
                    .iter()
                    .map(|input| input.name.to_string())
                    .collect(),
            });
        };
        let (expected_id, expected) = data.inputs[slot].spec.value_type();
        if (*value).type_id() != expected_id {
            return Err(BuildError::InputType {
                name,
                expected,
                given: type_name,
            });
        }
        values[slot] = Some(value);
    }
    let mut resolved = Vec::with_capacity(data.inputs.len());
    for (input, value) in data.inputs.iter().zip(values) {
        let given = value.is_some();
        let Some(value) = value.or_else(|| input.spec.default_value()) else {
            return Err(BuildError::InputRequired {
                name: input.name.to_string(),
                expected: input.spec.value_type().1,
            });
        };
        // A validator is user code: a panic in it rejects the value.
        let checked = std::panic::catch_unwind(AssertUnwindSafe(|| input.spec.check(&*value)))
            .unwrap_or_else(|panic| {
                Err(format!(
                    "its validator panicked: {}",
                    crate::task::panic_message(&*panic)
                ))
            });
        if let Err(message) = checked {
            return Err(BuildError::InvalidInput {
                name: input.name.to_string(),
                message,
            });
        }
        resolved.push(InputValue {
            task: input.task,
            value,
            given,
        });
    }
    Ok(resolved)
}
