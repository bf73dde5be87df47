//! The `#[task]` attribute of flowcore. Use it as `flowcore::task`; this crate is an implementation detail.

mod args;
mod expand;

use proc_macro::TokenStream;

/// Turns an `async fn` into a task constructor.
///
/// The annotated function keeps its name and visibility; calling it no longer runs the
/// body but returns a [`TaskCall`](../flowcore/struct.TaskCall.html), which
/// [`Flow::add`](../flowcore/struct.Flow.html#method.add) adds to a flow. Each argument
/// accepts either a plain value of its type or the `Handle` of an upstream task with that
/// output type (which records a data edge); a `Handle<T>` also fits an `Option<T>`
/// argument, which then receives `None` when the upstream task produced no value.
/// Argument types are `Clone + Send + Sync + 'static`, since every attempt gets fresh
/// copies; outputs are `Send + 'static`.
///
/// The body may return:
/// - a plain value `T`: the task's output is `T`;
/// - a `Result<T, E>` (any type named `Result`, such as `std::io::Result<T>` or
///   `anyhow::Result<T>`), where `E` converts into `Box<dyn Error + Send + Sync>`: an
///   `Err` fails the task with the error's message, and a `Signal` error sets the state
///   it asks for;
/// - a `Signal`: the output is `()`.
///
/// # Options
///
/// | option | example | meaning |
/// |---|---|---|
/// | `name` | `name = "extract"` | the task's name (default: the function's name) |
/// | `max_retries` | `max_retries = 3` | retries after a failed attempt (default 0) |
/// | `retry_delay` | `retry_delay = "2s"` | wait before a retry; units ns, us, ms, s, m, h, d, combinable (`"1m30s"`) |
/// | `retry_backoff` | `retry_backoff = exponential(initial = "1s", factor = 2.0, max = "1m")` | wait `initial`, then `factor` times longer before each further retry, at most `max` (instead of `retry_delay`) |
/// | `retry_jitter` | `retry_jitter = full` | spread each retry's delay `d`: `none` (default), `full` (0 to `d`), `proportional(0.25)` (`d` ± 25%); deterministic per task and retry |
/// | `retry_if` | `retry_if = is_transient` | a function `fn(&(dyn std::error::Error + 'static)) -> bool`: only the body errors it accepts are retried |
/// | `timeout` | `timeout = "30s"` | an attempt running longer ends `TimedOut` |
/// | `trigger` | `trigger = always_run` | `all_successful` (default), `all_failed`, `any_successful`, `any_failed`, `all_finished`, `always_run`, `manual_only`, `not_all_skipped`, `some_successful(at_least = 2, at_most = 0.5)`, `some_failed(...)`, `custom(path::to::function)` |
/// | `skip_on_upstream_skip` | `skip_on_upstream_skip = false` | whether a skipped upstream task skips this one (default true) |
/// | `cache_for` | `cache_for = "10m"` | cache the task's results for this long: a later attempt with the same key takes the result (`Cached`) instead of running the body |
/// | `cache_key` | `cache_key = "rates"` | the name the key hashes instead of the function's module path and name; tasks with the same `cache_key` share entries (needs `cache_for`) |
/// | `cache_key_fn` | `cache_key_fn = rate_key` | a function taking the arguments by reference and returning a `Hash` value, hashed into the key instead of the arguments (needs `cache_for`) |
/// | `crate` | `crate = my::reexport::flowcore` | the path to flowcore, when it is re-exported |
///
/// Durations, backoffs, jitters and triggers are checked at compile time. The same options
/// can be set at the call site with `TaskCall`'s methods, which override the attribute's,
/// except `cache_key` and `cache_key_fn`, which make the key; a call can change how long
/// results are kept (`cache_for`), refresh the entry (`refresh_cache`) or skip the cache
/// (`no_cache`).
///
/// # Examples
///
/// ```
/// use flowcore::{Flow, StateKind, task};
///
/// #[task(max_retries = 2, retry_delay = "10ms", timeout = "1s")]
/// async fn fetch(id: u32) -> Result<String, std::io::Error> {
///     Ok(format!("record {id}"))
/// }
///
/// #[task(trigger = always_run)]
/// async fn report(record: Option<String>) -> String {
///     record.unwrap_or_else(|| "nothing fetched".to_string())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut flow = Flow::new("records");
/// let record = flow.add(fetch(7));
/// let summary = flow.add(report(record));
/// let report = flow.run().await.unwrap();
/// assert_eq!(report.result(summary).map(String::as_str), Some("record 7"));
/// assert_eq!(report.flow_state().kind(), StateKind::Success);
/// # }
/// ```
///
/// A retry policy: exponential backoff with jitter, retrying timeouts only.
///
/// ```
/// use std::error::Error;
/// use flowcore::task;
///
/// fn timed_out(error: &(dyn Error + 'static)) -> bool {
///     error
///         .downcast_ref::<std::io::Error>()
///         .is_some_and(|error| error.kind() == std::io::ErrorKind::TimedOut)
/// }
///
/// #[task(
///     max_retries = 5,
///     retry_backoff = exponential(initial = "1s", factor = 2.0, max = "1m"),
///     retry_jitter = full,
///     retry_if = timed_out,
/// )]
/// async fn fetch(id: u32) -> Result<String, std::io::Error> {
///     Ok(format!("record {id}"))
/// }
/// # let _ = fetch(1);
/// ```
///
/// Caching: the key hashes the function's identity, its output type and every argument's
/// value (for an argument bound to a handle, the upstream task's output), so arguments
/// must implement `Hash` (or `cache_key_fn` says what to hash) and the output must be
/// `Clone + Send + Sync + 'static`; both are checked at compile time. See `flowcore::Cache`.
///
/// ```
/// use flowcore::{Flow, StateKind, task};
///
/// #[task(cache_for = "10m")]
/// async fn exchange_rate(currency: String) -> Result<f64, std::io::Error> {
///     Ok(if currency == "EUR" { 1.0 } else { 1.08 })
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut flow = Flow::new("rates");
/// let rate = flow.add(exchange_rate("USD".to_string()));
/// assert_eq!(flow.run().await.unwrap().state(rate).kind(), StateKind::Success);
/// // A later run in the same process reuses the result.
/// assert_eq!(flow.run().await.unwrap().state(rate).kind(), StateKind::Cached);
/// # }
/// ```
///
/// The equivalent without the macro is a hand-written `flowcore::Task` added with
/// `TaskCall::new`; see the `Task` trait's documentation.
#[proc_macro_attribute]
pub fn task(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::task(args.into(), item.into()).into()
}
