//! Tests: caching of task results (`cache_for`): hits across runs, keys from the
//! arguments (values, handles, mapped items, a key function, a shared key), expiry on
//! paused time, what is not cached, the call-site overrides and the process cache.
//!
//! Tests of one binary run in parallel and share the process-wide cache, so most tests
//! give their runs a cache of their own; the ones that use the process-wide cache use
//! task functions no other test uses.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use flowcore::StateKind::*;
use flowcore::{BuildError, Cache, Flow, Handle, RunReport, Signal, each, task};

use crate::run;
use crate::tracing_events::capture;

/// Counts the runs of a body. It is not part of a cache key: every `Calls` hashes alike.
#[derive(Clone, Default)]
struct Calls(Arc<AtomicU32>);

impl Calls {
    fn bump(&self) -> u32 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn get(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Hash for Calls {
    fn hash<H: Hasher>(&self, _state: &mut H) {}
}

async fn run_with(flow: &Flow, cache: &Cache) -> RunReport {
    match flow.runner().cache(cache).run().await {
        Ok(report) => report,
        Err(error) => panic!("flow `{}` does not build: {error}", flow.name()),
    }
}

/// When a `Cached` task's entry expires, from its message: `Result from the cache (key
/// 3f2a9c1e…, expires in 9m 58s).`
fn expires_in<T>(report: &RunReport, task: Handle<T>) -> &str {
    let message = report.state(task).message();
    let expires = message
        .strip_prefix("Result from the cache (key ")
        .and_then(|rest| rest.split_once("…, expires in "))
        .and_then(|(_, expires)| expires.strip_suffix(")."));
    match expires {
        Some(expires) => expires,
        None => panic!("not a cache hit's message: {message}"),
    }
}

/// Used only by `a_later_run_reuses_the_result_as_cached`, which uses the process cache.
#[task(cache_for = "10m")]
async fn exchange_rate(currency: &'static str, calls: Calls) -> u64 {
    calls.bump();
    currency.len() as u64 * 100
}

#[task]
async fn convert(rate: u64, amount: u64) -> u64 {
    rate * amount
}

#[tokio::test(start_paused = true)]
async fn a_later_run_reuses_the_result_as_cached() {
    let calls = Calls::default();
    let mut flow = Flow::new("rates");
    let rate = flow.add(exchange_rate("EUR", calls.clone()));
    let converted = flow.add(convert(rate, 2));

    let first = run(&flow).await;
    first
        .check(rate)
        .is(Success)
        .went_through(&[Running, Success])
        .result(&300);
    assert_eq!(calls.get(), 1);

    let second = run(&flow).await;
    second
        .check(rate)
        .is(Cached)
        .went_through(&[Running, Cached])
        .attempts(1)
        .result(&300);
    assert_eq!(expires_in(&second, rate), "10m");
    let message = second.state(rate).message();
    assert_eq!(calls.get(), 1, "the body ran again");
    second.check(converted).is(Success).result(&600);
    assert_eq!(
        second.flow_state(),
        &flowcore::State::success("All reference tasks succeeded.")
    );
    assert!(
        second
            .to_string()
            .contains("exchange_rate  Cached   1         Result from the cache")
    );

    // The key is the same for every run of the process: the entry is the same one.
    let third = run(&flow).await;
    assert_eq!(third.state(rate).message(), message);
}

#[task(cache_for = "1h")]
async fn square(x: u64, calls: Calls) -> u64 {
    calls.bump();
    x * x
}

#[task(cache_for = "1h")]
async fn cube(x: u64, calls: Calls) -> u64 {
    calls.bump();
    x * x * x
}

#[tokio::test]
async fn different_arguments_and_functions_have_different_keys() {
    let cache = Cache::new();
    let calls = Calls::default();
    let mut flow = Flow::new("powers");
    flow.add(square(2, calls.clone()));
    flow.add(square(3, calls.clone()));
    run_with(&flow, &cache).await.check_flow(Success);
    assert_eq!(calls.get(), 2);
    assert_eq!(cache.len(), 2);

    let mut flow = Flow::new("powers-again");
    let two = flow.add(square(2, calls.clone()));
    let four = flow.add(square(4, calls.clone()));
    let cubed = flow.add(cube(2, calls.clone()));
    let report = run_with(&flow, &cache).await;
    report.check(two).is(Cached).result(&4);
    report.check(four).is(Success).result(&16);
    report.check(cubed).is(Success).result(&8);
    assert_eq!(calls.get(), 4);
    assert_eq!(cache.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn an_entry_expires_after_cache_for() {
    let cache = Cache::new();
    let calls = Calls::default();
    let mut flow = Flow::new("expiry");
    let squared = flow.add(square(5, calls.clone()));

    run_with(&flow, &cache).await.check(squared).is(Success);
    tokio::time::advance(Duration::from_secs(59 * 60 + 59)).await;
    let report = run_with(&flow, &cache).await;
    report.check(squared).is(Cached);
    assert_eq!(expires_in(&report, squared), "1s");
    assert_eq!(calls.get(), 1);

    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(cache.is_empty());
    run_with(&flow, &cache)
        .await
        .check(squared)
        .is(Success)
        .result(&25);
    assert_eq!(calls.get(), 2);
    // The new result is kept for a full `cache_for` from when it was stored.
    let report = run_with(&flow, &cache).await;
    report.check(squared).is(Cached);
    assert_eq!(expires_in(&report, squared), "1h");
    assert_eq!(calls.get(), 2);
}

/// Fails on its first run, then succeeds.
#[task(cache_for = "1h")]
async fn fails_once(calls: Calls) -> Result<u32, String> {
    match calls.bump() {
        1 => Err("first run fails".to_string()),
        run => Ok(run),
    }
}

#[task(cache_for = "1h")]
async fn always_skips(calls: Calls) -> Result<u32, Signal> {
    calls.bump();
    Err(Signal::skip("nothing to do"))
}

#[tokio::test]
async fn failures_and_skips_are_not_cached() {
    let cache = Cache::new();
    let calls = Calls::default();
    let mut flow = Flow::new("failures");
    let task = flow.add(fails_once(calls.clone()));
    run_with(&flow, &cache)
        .await
        .check(task)
        .is(Failed)
        .message("first run fails");
    assert!(cache.is_empty());
    run_with(&flow, &cache)
        .await
        .check(task)
        .is(Success)
        .result(&2);
    run_with(&flow, &cache)
        .await
        .check(task)
        .is(Cached)
        .result(&2);
    assert_eq!(calls.get(), 2);

    let skips = Calls::default();
    let mut flow = Flow::new("skips");
    let task = flow.add(always_skips(skips.clone()));
    for _ in 0..2 {
        run_with(&flow, &cache).await.check(task).is(Skipped);
    }
    assert_eq!(skips.get(), 2);
}

/// Fails its first attempt, and succeeds on the retry.
#[task(cache_for = "1h", max_retries = 1)]
async fn flaky_fetch(id: u32, calls: Calls) -> Result<u32, String> {
    if calls.bump() == 1 {
        return Err("timeout".to_string());
    }
    Ok(id)
}

#[tokio::test]
async fn a_success_after_retries_is_cached() {
    let cache = Cache::new();
    let calls = Calls::default();
    let mut flow = Flow::new("retried");
    let task = flow.add(flaky_fetch(9, calls.clone()));
    run_with(&flow, &cache)
        .await
        .check(task)
        .is(Success)
        .attempts(2);
    run_with(&flow, &cache)
        .await
        .check(task)
        .is(Cached)
        .attempts(1)
        .result(&9);
    assert_eq!(calls.get(), 2);
}

#[task(cache_for = "1h")]
async fn signals_success(word: &'static str, calls: Calls) -> Result<String, Signal> {
    calls.bump();
    Err(Signal::success("done early").with_value(word.to_uppercase()))
}

#[task(cache_for = "1h")]
async fn unit_task(calls: Calls) {
    calls.bump();
}

#[tokio::test]
async fn a_success_signal_with_a_value_and_a_unit_output_are_cached() {
    let cache = Cache::new();
    let calls = Calls::default();
    let mut flow = Flow::new("signals");
    let word = flow.add(signals_success("hi", calls.clone()));
    let unit = flow.add(unit_task(calls.clone()));
    let first = run_with(&flow, &cache).await;
    first.check(word).is(Success).message("done early");
    first.check(unit).is(Success);
    let second = run_with(&flow, &cache).await;
    second.check(word).is(Cached).result(&"HI".to_string());
    second.check(unit).is(Cached).result(&());
    assert_eq!(calls.get(), 2);
}

/// Returns how many times it ran, so that a refreshed entry can be told apart.
#[task(cache_for = "1h")]
async fn counter(name: &'static str, calls: Calls) -> u32 {
    let _ = name;
    calls.bump()
}

#[tokio::test]
async fn refresh_cache_runs_the_body_and_replaces_the_entry() {
    let cache = Cache::new();
    let calls = Calls::default();
    let mut flow = Flow::new("cached");
    let cached = flow.add(counter("refresh", calls.clone()));
    let mut refresh = Flow::new("refresh");
    let refreshed = refresh.add(counter("refresh", calls.clone()).refresh_cache());

    run_with(&flow, &cache)
        .await
        .check(cached)
        .is(Success)
        .result(&1);
    run_with(&refresh, &cache)
        .await
        .check(refreshed)
        .is(Success)
        .result(&2);
    run_with(&flow, &cache)
        .await
        .check(cached)
        .is(Cached)
        .result(&2);
    assert_eq!(calls.get(), 2);
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn no_cache_neither_reads_nor_writes() {
    let cache = Cache::new();
    let calls = Calls::default();
    let mut uncached = Flow::new("uncached");
    let task = uncached.add(counter("no_cache", calls.clone()).no_cache());
    run_with(&uncached, &cache)
        .await
        .check(task)
        .is(Success)
        .result(&1);
    assert!(cache.is_empty());

    let mut flow = Flow::new("cached");
    let cached = flow.add(counter("no_cache", calls.clone()));
    run_with(&flow, &cache)
        .await
        .check(cached)
        .is(Success)
        .result(&2);
    run_with(&uncached, &cache)
        .await
        .check(task)
        .is(Success)
        .result(&3);
    run_with(&flow, &cache)
        .await
        .check(cached)
        .is(Cached)
        .result(&2);

    // `cache_for` after `no_cache` turns caching back on; a zero duration turns it off.
    let mut flow = Flow::new("overrides");
    let back_on = flow.add(
        counter("no_cache", calls.clone())
            .no_cache()
            .cache_for(Duration::from_secs(60)),
    );
    let zero = flow.add(counter("zero", calls.clone()).cache_for(Duration::ZERO));
    let report = run_with(&flow, &cache).await;
    report.check(back_on).is(Cached).result(&2);
    report.check(zero).is(Success);
    assert_eq!(cache.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn cache_for_at_the_call_site_overrides_the_attribute() {
    let cache = Cache::new();
    let calls = Calls::default();
    let mut flow = Flow::new("short");
    let squared = flow.add(square(6, calls.clone()).cache_for(Duration::from_secs(90)));
    run_with(&flow, &cache).await.check(squared).is(Success);
    let report = run_with(&flow, &cache).await;
    report.check(squared).is(Cached);
    assert_eq!(expires_in(&report, squared), "1m 30s");
    tokio::time::advance(Duration::from_secs(90)).await;
    run_with(&flow, &cache).await.check(squared).is(Success);
    assert_eq!(calls.get(), 2);
}

#[task]
async fn plain(x: u32) -> u32 {
    x
}

#[tokio::test]
async fn only_a_task_declared_with_cache_for_can_be_cached() {
    let mut flow = Flow::new("not-cacheable");
    flow.add(
        plain(1)
            .name("for_a_minute")
            .cache_for(Duration::from_secs(60)),
    );
    flow.add(plain(2).name("refreshed").refresh_cache());
    let error = flow.validate().unwrap_err();
    assert_eq!(
        error,
        BuildError::NotCacheable {
            task: "for_a_minute".to_string()
        }
    );
    assert_eq!(
        error.to_string(),
        "task `for_a_minute` cannot be cached: only a task declared with `#[task(cache_for = \"..\")]` computes a cache key from its arguments, so `cache_for` and `refresh_cache` need that attribute"
    );
    assert!(flow.run().await.is_err());

    let mut flow = Flow::new("no-cache-is-harmless");
    let task = flow.add(plain(3).no_cache());
    run(&flow).await.check(task).is(Success).result(&3);
}

#[task]
async fn source(n: u64) -> u64 {
    n
}

#[tokio::test]
async fn an_argument_bound_to_a_handle_keys_on_the_upstream_value() {
    let cache = Cache::new();
    let calls = Calls::default();
    let mut flow = Flow::new("handles");
    let n = flow.add(source(7));
    let squared = flow.add(square(n, calls.clone()));
    run_with(&flow, &cache)
        .await
        .check(squared)
        .is(Success)
        .result(&49);

    // Another flow whose upstream gives the same value hits the same entry.
    let mut other = Flow::new("handles-again");
    let other_n = other.add(source(7));
    let same = other.add(square(other_n, calls.clone()));
    run_with(&other, &cache)
        .await
        .check(same)
        .is(Cached)
        .result(&49);
    assert_eq!(calls.get(), 1);

    // Another upstream value is another key.
    let report = flow
        .runner()
        .cache(&cache)
        .with_result(n, 8)
        .run()
        .await
        .unwrap();
    report.check(squared).is(Success).result(&64);
    assert_eq!(calls.get(), 2);
}

#[task]
async fn failing_source() -> Result<u64, String> {
    Err("source offline".to_string())
}

#[tokio::test]
async fn the_trigger_is_decided_before_the_cache_is_read() {
    let cache = Cache::new();
    let calls = Calls::default();
    let mut flow = Flow::new("warm");
    flow.add(square(11, calls.clone()));
    run_with(&flow, &cache).await.check_flow(Success);

    // The entry of `square(11)` exists, but an upstream failed: the trigger fails it.
    let mut flow = Flow::new("upstream-failed");
    let failed = flow.add(failing_source());
    let squared = flow.add(square(11, calls.clone()).after(failed));
    let report = run_with(&flow, &cache).await;
    report.check(squared).is(TriggerFailed).attempts(0);
    assert_eq!(calls.get(), 1);
}

#[task]
async fn items(values: Vec<u64>) -> Vec<u64> {
    values
}

#[tokio::test]
async fn a_mapped_cached_task_caches_each_item() {
    let cache = Cache::new();
    let calls = Calls::default();
    let mut flow = Flow::new("mapped");
    let values = flow.add(items(vec![1, 2, 3]));
    let squares = flow.map(square(each(values), calls.clone()));

    let first = run_with(&flow, &cache).await;
    first
        .check(squares)
        .is(Mapped)
        .message("Mapped over 3 items: 3 Success.")
        .result(&vec![1, 4, 9]);
    assert_eq!(calls.get(), 3);

    let second = run_with(&flow, &cache).await;
    second
        .check(squares)
        .is(Mapped)
        .message("Mapped over 3 items: 3 Cached.")
        .result(&vec![1, 4, 9]);
    assert_eq!(calls.get(), 3);
    // A mapped reference task is judged by its children, and `Cached` is a success.
    assert_eq!(
        second.flow_state().message(),
        "All reference tasks succeeded."
    );

    let report = flow
        .runner()
        .cache(&cache)
        .with_result(values, vec![3, 4])
        .run()
        .await
        .unwrap();
    let kinds: Vec<_> = report
        .children(squares)
        .iter()
        .map(|state| state.kind())
        .collect();
    assert_eq!(kinds, [Cached, Success]);
    report.check(squares).result(&vec![9, 16]);
    assert_eq!(calls.get(), 4);
}

#[task(cache_for = "1h", cache_key = "caching-tests-shared-rate")]
async fn rate_from_bank(currency: &'static str, calls: Calls) -> u64 {
    calls.bump();
    currency.len() as u64
}

#[task(cache_for = "1h", cache_key = "caching-tests-shared-rate")]
async fn rate_from_exchange(currency: &'static str, calls: Calls) -> u64 {
    calls.bump();
    currency.len() as u64 + 1000
}

#[tokio::test]
async fn tasks_with_the_same_cache_key_share_entries() {
    let cache = Cache::new();
    let calls = Calls::default();
    let mut flow = Flow::new("shared");
    let bank = flow.add(rate_from_bank("USD", calls.clone()));
    let exchange = flow.add(rate_from_exchange("USD", calls.clone()).after(bank));
    let report = run_with(&flow, &cache).await;
    report.check(bank).is(Success).result(&3);
    // The second task reads what the first stored.
    report.check(exchange).is(Cached).result(&3);
    assert_eq!(calls.get(), 1);
}

/// A request whose trace id must not be part of its cache key (and is not `Hash`).
#[derive(Clone)]
struct Request {
    id: u32,
    trace: f64,
}

fn request_key(request: &Request, calls: &Calls) -> u32 {
    let _ = calls;
    request.id
}

#[task(cache_for = "1h", cache_key_fn = request_key)]
async fn handle_request(request: Request, calls: Calls) -> String {
    calls.bump();
    format!("response {} ({})", request.id, request.trace)
}

#[tokio::test]
async fn cache_key_fn_computes_the_key_from_the_arguments() {
    let cache = Cache::new();
    let calls = Calls::default();
    let mut flow = Flow::new("requests");
    let first = flow.add(handle_request(Request { id: 1, trace: 0.5 }, calls.clone()));
    let same = flow.add(handle_request(Request { id: 1, trace: 0.7 }, calls.clone()).after(first));
    let other = flow.add(handle_request(Request { id: 2, trace: 0.5 }, calls.clone()).after(same));
    let report = run_with(&flow, &cache).await;
    report
        .check(first)
        .is(Success)
        .result(&"response 1 (0.5)".to_string());
    report
        .check(same)
        .is(Cached)
        .result(&"response 1 (0.5)".to_string());
    report.check(other).is(Success);
    assert_eq!(calls.get(), 2);
}

/// Used only by `a_direct_call_does_not_use_the_cache`, which uses the process cache.
#[task(cache_for = "1h")]
async fn called_directly(calls: Calls) -> u32 {
    calls.bump()
}

#[tokio::test]
async fn a_direct_call_does_not_use_the_cache() {
    let calls = Calls::default();
    assert_eq!(called_directly(calls.clone()).call().await.unwrap(), 1);
    assert_eq!(called_directly(calls.clone()).call().await.unwrap(), 2);
}

#[tokio::test]
async fn clear_forgets_every_entry() {
    let cache = Cache::new();
    let calls = Calls::default();
    let mut flow = Flow::new("clear");
    let squared = flow.add(square(12, calls.clone()));
    run_with(&flow, &cache).await;
    assert_eq!(cache.len(), 1);
    cache.clear();
    assert!(cache.is_empty());
    run_with(&flow, &cache).await.check(squared).is(Success);
    assert_eq!(calls.get(), 2);
}

#[tokio::test]
async fn cache_decisions_are_logged_in_the_task_span() {
    let cache = Cache::new();
    let mut flow = Flow::new("logged");
    flow.add(square(13, Calls::default()));
    let span = "flow_run{flow=logged} > task_run{task=square} > ";
    let events = capture(async {
        run_with(&flow, &cache).await;
    })
    .await;
    let cache_events: Vec<&str> = events
        .iter()
        .filter_map(|event| event.strip_prefix(span))
        .filter(|event| event.contains("cache"))
        .collect();
    assert_eq!(cache_events.len(), 2, "{events:#?}");
    assert!(cache_events[0].starts_with("cache miss: running the body key="));
    assert!(cache_events[1].starts_with("result stored in the cache key="));
    assert!(
        cache_events[1].ends_with(" expires_in=3600s"),
        "{}",
        cache_events[1]
    );

    let events = capture(async {
        run_with(&flow, &cache).await;
    })
    .await;
    let transitions: Vec<&str> = events
        .iter()
        .filter_map(|event| event.strip_prefix(span))
        .collect();
    assert_eq!(transitions.len(), 2, "{events:#?}");
    assert_eq!(
        transitions[0],
        "task state changed state=Running reason=Starting task run."
    );
    assert!(
        transitions[1]
            .starts_with("task state changed state=Cached reason=Result from the cache (key "),
        "{}",
        transitions[1]
    );
}
