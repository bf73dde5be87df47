//! Concurrency limits: a cap on a run's attempts, on a mapped task's children, and per tag
//! across every flow of the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A task's limits, boxed in its options since few tasks have them.
#[derive(Clone, Debug, Default)]
pub(crate) struct TaskLimits {
    /// At most this many children of the (mapped) task run at once.
    pub(crate) max_concurrency: Option<usize>,
    /// Tags whose process-wide limits the task counts against.
    pub(crate) tags: Vec<Arc<str>>,
}

/// A process-wide limit of one tag: a semaphore and the number of permits it stands for.
struct TagLimit {
    semaphore: Arc<Semaphore>,
    limit: usize,
}

fn tags() -> &'static Mutex<HashMap<Arc<str>, TagLimit>> {
    static TAGS: OnceLock<Mutex<HashMap<Arc<str>, TagLimit>>> = OnceLock::new();
    TAGS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Limits how many attempts of tasks tagged `tag` (with
/// [`TaskCall::tag`](crate::TaskCall::tag)) run at once, across every run of every flow in
/// this process: for example at most 2 tasks that talk to one database. Tags without a
/// limit are unlimited.
///
/// Changing a limit applies to attempts that start afterwards; attempts already running
/// keep their slot. A limit of 0 holds every tagged task back until the limit is raised.
///
/// # Examples
///
/// ```
/// use flowcore::{Flow, set_tag_limit, task};
///
/// #[task]
/// async fn query(id: u32) -> u32 {
///     id
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// set_tag_limit("warehouse", 2);
/// let mut flow = Flow::new("tagged");
/// for id in 0..5 {
///     flow.add(query(id).tag("warehouse"));
/// }
/// let report = flow.run().await.unwrap();
/// assert!(report.flow_state().is_successful());
/// # }
/// ```
pub fn set_tag_limit(tag: &str, limit: usize) {
    let mut tags = tags()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match tags.get_mut(tag) {
        Some(existing) => {
            if limit > existing.limit {
                existing.semaphore.add_permits(limit - existing.limit);
            } else {
                let fewer = existing.limit - limit;
                let forgotten = existing.semaphore.forget_permits(fewer);
                // Permits held by running attempts come back later: swap in a fresh
                // semaphore for the attempts that start from now on.
                if forgotten < fewer {
                    existing.semaphore = Arc::new(Semaphore::new(limit));
                }
            }
            existing.limit = limit;
        }
        None => {
            tags.insert(
                Arc::from(tag),
                TagLimit {
                    semaphore: Arc::new(Semaphore::new(limit)),
                    limit,
                },
            );
        }
    }
}

/// Removes the limit of `tag`: its tasks run without waiting for one another.
pub fn remove_tag_limit(tag: &str) {
    let mut tags = tags()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    tags.remove(tag);
}

/// The semaphores of the tags that have a limit, in tag order.
pub(crate) fn tag_semaphores(task_tags: &[Arc<str>]) -> Vec<Arc<Semaphore>> {
    if task_tags.is_empty() {
        return Vec::new();
    }
    let tags = tags()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut sorted: Vec<&Arc<str>> = task_tags.iter().collect();
    sorted.sort();
    sorted.dedup();
    sorted
        .into_iter()
        .filter_map(|tag| tags.get(tag).map(|limit| limit.semaphore.clone()))
        .collect()
}

/// The slots an attempt needs before it runs, in a fixed order (the run's, the task's,
/// then its tags' in tag order), so that attempts waiting for several cannot deadlock.
#[derive(Default)]
pub(crate) struct Slots {
    pub(crate) semaphores: Vec<Arc<Semaphore>>,
}

impl Slots {
    /// Takes every slot now, or none.
    pub(crate) fn try_acquire(&self) -> Option<Vec<OwnedSemaphorePermit>> {
        let mut permits = Vec::with_capacity(self.semaphores.len());
        for semaphore in &self.semaphores {
            permits.push(semaphore.clone().try_acquire_owned().ok()?);
        }
        Some(permits)
    }

    /// Waits for every slot, in order.
    pub(crate) async fn acquire(self) -> Vec<OwnedSemaphorePermit> {
        let mut permits = Vec::with_capacity(self.semaphores.len());
        for semaphore in self.semaphores {
            // The semaphores are never closed.
            if let Ok(permit) = semaphore.acquire_owned().await {
                permits.push(permit);
            }
        }
        permits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_limits_grow_and_shrink() {
        set_tag_limit("limits-unit-a", 2);
        let semaphore = tag_semaphores(&[Arc::from("limits-unit-a")]).remove(0);
        assert_eq!(semaphore.available_permits(), 2);
        set_tag_limit("limits-unit-a", 5);
        assert_eq!(semaphore.available_permits(), 5);
        set_tag_limit("limits-unit-a", 1);
        assert_eq!(semaphore.available_permits(), 1);
        remove_tag_limit("limits-unit-a");
        assert!(tag_semaphores(&[Arc::from("limits-unit-a")]).is_empty());
    }

    #[test]
    fn shrinking_below_the_slots_in_use_takes_effect_for_new_attempts() {
        set_tag_limit("limits-unit-b", 2);
        let tag = [Arc::from("limits-unit-b")];
        let held = Slots {
            semaphores: tag_semaphores(&tag),
        }
        .try_acquire()
        .unwrap();
        set_tag_limit("limits-unit-b", 0);
        let slots = Slots {
            semaphores: tag_semaphores(&tag),
        };
        assert!(slots.try_acquire().is_none());
        drop(held);
        assert!(slots.try_acquire().is_none());
        remove_tag_limit("limits-unit-b");
    }

    #[test]
    fn tags_are_taken_in_order_once_and_unlimited_tags_are_free() {
        set_tag_limit("limits-unit-c", 1);
        set_tag_limit("limits-unit-d", 1);
        let tags = [
            Arc::from("limits-unit-d"),
            Arc::from("no-limit"),
            Arc::from("limits-unit-c"),
            Arc::from("limits-unit-d"),
        ];
        let semaphores = tag_semaphores(&tags);
        assert_eq!(semaphores.len(), 2);
        let c = tag_semaphores(&[Arc::from("limits-unit-c")]).remove(0);
        assert!(Arc::ptr_eq(&semaphores[0], &c));
        remove_tag_limit("limits-unit-c");
        remove_tag_limit("limits-unit-d");
    }
}
