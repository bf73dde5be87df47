//! Caching of task results: the key a cached task's attempt computes from its arguments,
//! the process-wide store (or a run's own), and the attempt that looks a result up before
//! running the body and stores it after a success.
//!
//! Only tasks declared with `#[task(cache_for = "..")]` are cached. The runner knows
//! nothing of the store: a hit ends the attempt with a [`CacheHit`] error, which
//! `complete` turns into a `Cached` state with the value.

use std::any::{Any, TypeId};
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rustc_hash::FxHashMap;
use tokio::time::Instant;

use crate::context::with_run;
use crate::error::{BoxError, MissingInput};
use crate::runner::Launch;
use crate::signal::{Signal, SignalKind};
use crate::state::{State, StateKind};
use crate::task::{self, AnyValue, ErasedTask, TaskFuture, Values};

/// How a task uses the cache, from its attribute and its call.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct CacheOptions {
    /// How long a stored result stays valid.
    pub(crate) expiry: Duration,
    pub(crate) mode: CacheMode,
}

/// Whether an attempt reads and writes the cache.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum CacheMode {
    /// Look the result up; on a miss run the body and store its result.
    Use,
    /// Run the body without looking up, and store its result.
    Refresh,
    /// Neither look up nor store.
    Off,
}

impl CacheOptions {
    /// What an attempt does: `None` when it neither reads nor writes the cache, else
    /// whether it skips the lookup and how long its result is kept.
    fn policy(self) -> Option<(bool, Duration)> {
        match self.mode {
            CacheMode::Off => None,
            _ if self.expiry.is_zero() => None,
            CacheMode::Use => Some((false, self.expiry)),
            CacheMode::Refresh => Some((true, self.expiry)),
        }
    }
}

/// A cache key: 128 bits of the task's identity, its output type and its arguments.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey(u128);

impl fmt::Display for CacheKey {
    /// The key's first 32 bits in hex, enough to tell entries apart in a message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}…", self.0 >> 96)
    }
}

/// Hashes the parts of a cache key. Two SipHash hashers with fixed keys, one of them
/// primed differently, give a 128-bit key that is the same for the same parts for as
/// long as the process runs.
#[derive(Debug)]
pub struct CacheHasher {
    low: DefaultHasher,
    high: DefaultHasher,
}

impl CacheHasher {
    /// A hasher for the key of a task whose identity is `identity` and output type `T`.
    fn new<T: 'static>(identity: &str) -> CacheHasher {
        let mut hasher = CacheHasher {
            low: DefaultHasher::new(),
            high: DefaultHasher::new(),
        };
        hasher.high.write_u8(0x5c);
        identity.hash(&mut hasher);
        TypeId::of::<T>().hash(&mut hasher);
        hasher
    }

    fn key(&self) -> CacheKey {
        CacheKey(u128::from(self.high.finish()) << 64 | u128::from(self.low.finish()))
    }
}

impl Hasher for CacheHasher {
    fn finish(&self) -> u64 {
        self.low.finish()
    }

    fn write(&mut self, bytes: &[u8]) {
        self.low.write(bytes);
        self.high.write(bytes);
    }
}

/// One argument (or the value of a `cache_key_fn`) of a cached task, hashed into its key.
#[diagnostic::on_unimplemented(
    message = "`{Self}` must implement `Hash` to be part of a cached task's key",
    label = "the arguments of a task with `cache_for` are hashed into its cache key",
    note = "derive or implement `Hash` for `{Self}`, or compute the key with `cache_key_fn = path::to::function`, which takes the arguments by reference and returns a value that implements `Hash`"
)]
pub trait CacheKeyPart {
    /// Adds this value to the key.
    fn hash_part(&self, hasher: &mut CacheHasher);
}

impl<T: Hash + ?Sized> CacheKeyPart for T {
    fn hash_part(&self, hasher: &mut CacheHasher) {
        self.hash(hasher);
    }
}

/// The output of a cached task: the cache keeps a copy and hands out clones.
#[diagnostic::on_unimplemented(
    message = "the output `{Self}` of a cached task must be `Clone + Send + Sync + 'static`",
    label = "the cache keeps a copy of this output and gives clones to later runs",
    note = "a task with `cache_for` stores its output in a cache shared by the process's runs"
)]
pub trait CacheValue: Clone + Send + Sync + 'static {}

impl<T: Clone + Send + Sync + 'static> CacheValue for T {}

/// A store of cached task results, shared by the runs that use it.
///
/// Runs use the process-wide cache, [`Cache::global`], unless given another one with
/// [`RunBuilder::cache`](crate::RunBuilder::cache); a cache of its own keeps a test's
/// entries apart from the other tests of the same binary. A `Cache` is a handle: clones
/// share the store.
///
/// Only tasks declared with `#[task(cache_for = "..")]` use a cache; the others never
/// hash or look anything up. A cached task's key is a 128-bit hash of:
///
/// - its identity: the function's module path and name, or its `cache_key` (tasks with
///   the same `cache_key` share entries); not the task's name in the flow, nor the flow;
/// - its output type;
/// - its arguments' values, in order, as the attempt receives them (for an argument
///   bound to a handle, the upstream task's output; for a mapped task, the child's
///   item), or what its `cache_key_fn` returns for them.
///
/// When a task's upstream tasks have finished, skip propagation and the trigger decide
/// first, as for any task; only an attempt that starts reads the cache. If the key has a
/// stored result that has not expired, the body does not run: the task goes from
/// `Running` to [`Cached`](crate::StateKind::Cached), with a clone of the result, and its
/// downstream tasks receive that clone. Otherwise the body runs, and a success (its
/// value, or the value of a `SUCCESS` signal) is stored for the task's `cache_for`,
/// counted from when it is stored, replacing an older entry. Failures, skips, pauses and
/// timeouts are not stored, and a retried task stores the success of its last attempt.
///
/// Two attempts with the same key that run at the same time both run their body (the
/// later success stays). Direct calls ([`TaskCall::call`](crate::TaskCall::call)),
/// stubbed bodies and preset results ([`Flow::runner`](crate::Flow::runner)) do not use
/// the cache. Nothing is persisted: entries live as long as the process, and expired
/// ones are dropped as new ones are stored.
///
/// # Examples
///
/// ```
/// use flowcore::{Cache, Flow, StateKind, task};
///
/// #[task(cache_for = "10m")]
/// async fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut flow = Flow::new("squares");
/// let squared = flow.add(square(12));
/// let cache = Cache::new();
///
/// let first = flow.runner().cache(&cache).run().await.unwrap();
/// assert_eq!(first.state(squared).kind(), StateKind::Success);
/// assert_eq!(cache.len(), 1);
///
/// let second = flow.runner().cache(&cache).run().await.unwrap();
/// assert_eq!(second.state(squared).kind(), StateKind::Cached);
/// assert_eq!(second.result(squared), Some(&144));
/// assert!(second.state(squared).message().ends_with("expires in 10m)."));
///
/// cache.clear();
/// let third = flow.runner().cache(&cache).run().await.unwrap();
/// assert_eq!(third.state(squared).kind(), StateKind::Success);
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Cache {
    store: Arc<Mutex<Store>>,
}

static GLOBAL: LazyLock<Cache> = LazyLock::new(Cache::new);

impl Cache {
    /// An empty cache, apart from the process-wide one.
    ///
    /// # Examples
    ///
    /// See [`Cache`].
    pub fn new() -> Cache {
        Cache::default()
    }

    /// The process-wide cache, which runs use unless given another one.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::Cache;
    ///
    /// // Forget every cached result, for example between two benchmarks.
    /// Cache::global().clear();
    /// ```
    pub fn global() -> &'static Cache {
        &GLOBAL
    }

    /// Removes every entry: the next attempt of each cached task runs its body.
    ///
    /// # Examples
    ///
    /// See [`Cache`].
    pub fn clear(&self) {
        let entries = {
            let mut store = self.lock();
            store.sweep_at = SWEEP_MIN;
            std::mem::take(&mut store.entries)
        };
        // The values' `Drop` runs outside the lock.
        drop(entries);
    }

    /// How many entries have not expired, by tokio's clock.
    ///
    /// # Examples
    ///
    /// See [`Cache`].
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.lock()
            .entries
            .values()
            .filter(|entry| entry.is_valid(now))
            .count()
    }

    /// Whether no entry is valid: see [`Cache::len`].
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The store, even when a panic poisoned its lock: entries are inserted and removed
    /// whole, so the map is never half-changed. No user code runs while it is held.
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry of `key`, if it is valid at `now`.
    fn get(&self, key: CacheKey, now: Instant) -> Option<Entry> {
        self.lock()
            .entries
            .get(&key)
            .filter(|entry| entry.is_valid(now))
            .cloned()
    }

    /// Stores `value` under `key` until `expires_at` (`None`: for as long as the process runs).
    fn insert(
        &self,
        key: CacheKey,
        value: Arc<dyn Any + Send + Sync>,
        expires_at: Option<Instant>,
    ) {
        let now = Instant::now();
        let mut removed: Vec<Entry> = Vec::new();
        {
            let mut store = self.lock();
            if store.entries.len() >= store.sweep_at {
                // Amortised: the threshold doubles with what is left after a sweep.
                removed.extend(
                    store
                        .entries
                        .extract_if(|_, entry| !entry.is_valid(now))
                        .map(|(_, entry)| entry),
                );
                store.sweep_at = (store.entries.len() * 2).max(SWEEP_MIN);
            }
            removed.extend(store.entries.insert(key, Entry { value, expires_at }));
        }
        // The values' `Drop` runs outside the lock.
        drop(removed);
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("entries", &self.lock().entries.len())
            .finish()
    }
}

/// Below this many entries, the store is not swept for expired ones.
const SWEEP_MIN: usize = 64;

struct Store {
    entries: FxHashMap<CacheKey, Entry>,
    /// Sweep expired entries when an insert finds this many.
    sweep_at: usize,
}

impl Default for Store {
    fn default() -> Store {
        Store {
            entries: FxHashMap::default(),
            sweep_at: SWEEP_MIN,
        }
    }
}

#[derive(Clone)]
struct Entry {
    value: Arc<dyn Any + Send + Sync>,
    expires_at: Option<Instant>,
}

impl Entry {
    fn is_valid(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|expires_at| now < expires_at)
    }
}

/// The cache of the run the current attempt belongs to (the process-wide one by default).
fn current_cache() -> Cache {
    with_run(|run| run.cache.clone())
        .flatten()
        .unwrap_or_else(|| Cache::global().clone())
}

/// A cache hit: the attempt ends with this error, which the runner turns into a `Cached`
/// state with the value. Never seen by users.
pub(crate) struct CacheHit {
    value: Box<dyn Any + Send + Sync>,
    key: CacheKey,
    /// How long the entry stays valid, `None` when it does not expire.
    remaining: Option<Duration>,
}

impl CacheHit {
    /// The state and the result of the task whose attempt `run_count` hit the cache.
    pub(crate) fn finish(self, run_count: u32) -> (State, AnyValue) {
        let expires = match self.remaining {
            Some(remaining) => format!("expires in {}", Remaining(remaining)),
            None => "does not expire".to_string(),
        };
        let message = format!("Result from the cache (key {}, {expires}).", self.key);
        let state = State::new(StateKind::Cached, message).with_run_count(run_count);
        (state, self.value)
    }
}

impl fmt::Debug for CacheHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheHit")
            .field("key", &self.key)
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for CacheHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "result found in the cache under key {}", self.key)
    }
}

impl std::error::Error for CacheHit {}

/// A duration as its two largest units, rounded down: `9m 58s`, `2h`, `1d 3h`, `250ms`.
struct Remaining(Duration);

impl fmt::Display for Remaining {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        if secs == 0 {
            return match self.0.as_millis() {
                0 => f.write_str("less than 1ms"),
                millis => write!(f, "{millis}ms"),
            };
        }
        let units = [
            (secs / 86_400, "d"),
            (secs / 3_600 % 24, "h"),
            (secs / 60 % 60, "m"),
            (secs % 60, "s"),
        ];
        let first = units
            .iter()
            .position(|&(count, _)| count > 0)
            .unwrap_or(units.len() - 1);
        let (count, unit) = units[first];
        write!(f, "{count}{unit}")?;
        match units.get(first + 1) {
            Some(&(count, unit)) if count > 0 => write!(f, " {count}{unit}"),
            _ => Ok(()),
        }
    }
}

/// One attempt of a cached task: a valid entry ends it as a [`CacheHit`]; otherwise the
/// body runs, and its success is stored.
async fn attempt<T, F>(
    key: CacheKey,
    refresh: bool,
    expiry: Duration,
    body: F,
) -> Result<AnyValue, BoxError>
where
    T: CacheValue,
    F: Future<Output = Result<AnyValue, BoxError>>,
{
    let cache = current_cache();
    if !refresh {
        let now = Instant::now();
        let hit = cache.get(key, now).and_then(|entry| {
            // The output type is part of the key, so only a collision of two keys could
            // give a value of another type; it counts as a miss.
            let value = entry.value.downcast_ref::<T>()?.clone();
            let remaining = entry.expires_at.map(|at| at.saturating_duration_since(now));
            Some(CacheHit {
                value: Box::new(value),
                key,
                remaining,
            })
        });
        if let Some(hit) = hit {
            return Err(Box::new(hit));
        }
        tracing::debug!(key = %key, "cache miss: running the body");
    } else {
        tracing::debug!(key = %key, "cache refresh: running the body without a lookup");
    }
    let outcome = body.await;
    let value: Option<T> = match &outcome {
        Ok(value) => value.downcast_ref::<T>().cloned(),
        Err(error) => match error.downcast_ref::<Signal>() {
            Some(signal) if signal.kind == SignalKind::Success => match &signal.value {
                Some(value) => value.downcast_ref::<T>().cloned(),
                // A `SUCCESS` without a value gives a `()` task its output.
                None => (&() as &dyn Any).downcast_ref::<T>().cloned(),
            },
            _ => None,
        },
    };
    if let Some(value) = value {
        let expires_at = Instant::now().checked_add(expiry);
        cache.insert(key, Arc::new(value), expires_at);
        tracing::debug!(key = %key, expires_in = ?expiry, "result stored in the cache");
    }
    outcome
}

/// A task generated by `#[task(cache_for = "..")]`: like a plain generated task, but its
/// closure also hashes the arguments into a key when the attempt uses the cache.
pub(crate) struct CachedFnTask<T, F, Fut> {
    identity: &'static str,
    start: F,
    _output: PhantomData<fn() -> (T, Fut)>,
}

impl<T, F, Fut> CachedFnTask<T, F, Fut> {
    pub(crate) fn new(identity: &'static str, start: F) -> CachedFnTask<T, F, Fut> {
        CachedFnTask {
            identity,
            start,
            _output: PhantomData,
        }
    }
}

impl<T, F, Fut> ErasedTask for CachedFnTask<T, F, Fut>
where
    T: CacheValue,
    F: Fn(&Values<'_>, Option<&mut CacheHasher>) -> Result<Fut, MissingInput>
        + Send
        + Sync
        + 'static,
    Fut: Future<Output = Result<AnyValue, BoxError>> + Send + 'static,
{
    fn start(&self, values: &Values<'_>, launch: Launch<'_>) {
        let missing =
            |missing: MissingInput| std::future::ready(Err(Box::new(missing) as BoxError));
        let Some((refresh, expiry)) = values.cache_options().and_then(CacheOptions::policy) else {
            return match (self.start)(values, None) {
                Ok(fut) => launch.spawn(fut),
                Err(error) => launch.spawn(missing(error)),
            };
        };
        let mut hasher = CacheHasher::new::<T>(self.identity);
        match (self.start)(values, Some(&mut hasher)) {
            Ok(fut) => launch.spawn(attempt::<T, _>(hasher.key(), refresh, expiry, fut)),
            Err(error) => launch.spawn(missing(error)),
        }
    }

    /// A direct call does not use the cache, like it uses no other option.
    fn start_boxed(&self, values: &Values<'_>) -> TaskFuture<AnyValue> {
        match (self.start)(values, None) {
            Ok(fut) => Box::pin(fut),
            Err(missing) => Box::pin(std::future::ready(Err(Box::new(missing) as BoxError))),
        }
    }

    fn output_type(&self) -> (TypeId, &'static str) {
        (TypeId::of::<T>(), std::any::type_name::<T>())
    }

    fn unit_output(&self) -> Option<AnyValue> {
        task::unit_output::<T>()
    }

    fn collect(&self, children: &mut [Option<AnyValue>]) -> Option<AnyValue> {
        task::collect::<T>(children)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn cacheable(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_time_shows_its_two_largest_units() {
        let text = |secs: u64| Remaining(Duration::from_secs(secs)).to_string();
        assert_eq!(text(598), "9m 58s");
        assert_eq!(text(600), "10m");
        assert_eq!(text(3_661), "1h 1m");
        assert_eq!(text(3_600), "1h");
        assert_eq!(text(90_000), "1d 1h");
        assert_eq!(text(59), "59s");
        assert_eq!(Remaining(Duration::from_millis(250)).to_string(), "250ms");
        assert_eq!(
            Remaining(Duration::from_nanos(10)).to_string(),
            "less than 1ms"
        );
    }

    fn key_of(identity: &str, parts: &[&dyn Fn(&mut CacheHasher)]) -> CacheKey {
        let mut hasher = CacheHasher::new::<u32>(identity);
        for part in parts {
            part(&mut hasher);
        }
        hasher.key()
    }

    #[test]
    fn keys_depend_on_identity_output_type_and_arguments() {
        let a = key_of("m::f", &[&|h| 1_u32.hash_part(h)]);
        assert_eq!(a, key_of("m::f", &[&|h| 1_u32.hash_part(h)]));
        assert_ne!(a, key_of("m::g", &[&|h| 1_u32.hash_part(h)]));
        assert_ne!(a, key_of("m::f", &[&|h| 2_u32.hash_part(h)]));
        let mut other_output = CacheHasher::new::<u64>("m::f");
        1_u32.hash_part(&mut other_output);
        assert_ne!(a, other_output.key());
        // Strings hash with a terminator, so moving a character between arguments
        // changes the key.
        let ab_c = key_of("m::f", &[&|h| "ab".hash_part(h), &|h| "c".hash_part(h)]);
        let a_bc = key_of("m::f", &[&|h| "a".hash_part(h), &|h| "bc".hash_part(h)]);
        assert_ne!(ab_c, a_bc);
        // The two halves differ.
        assert_ne!(a.0 >> 64, a.0 & u128::from(u64::MAX));
    }

    #[test]
    fn expired_entries_are_misses_and_are_swept() {
        let cache = Cache::new();
        let now = Instant::now();
        let value: Arc<dyn Any + Send + Sync> = Arc::new(1_u32);
        cache.insert(CacheKey(1), value.clone(), Some(now));
        cache.insert(CacheKey(2), value.clone(), None);
        assert!(cache.get(CacheKey(1), now).is_none());
        assert!(cache.get(CacheKey(2), now).is_some());
        assert_eq!(cache.len(), 1);
        for key in 3..(SWEEP_MIN as u128 + 3) {
            cache.insert(CacheKey(key), value.clone(), Some(now));
        }
        // The sweep dropped the expired entries and kept the valid one.
        assert!(cache.lock().entries.len() < SWEEP_MIN);
        assert!(cache.get(CacheKey(2), now).is_some());
        cache.clear();
        assert!(cache.is_empty());
    }
}
