//! The mailbox attempts report to: any worker sends, the coordinator takes everything sent
//! so far in one step.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// Messages sent and not yet taken, behind one lock that is held only to push one message
/// or to swap the whole queue out.
///
/// Taking swaps the queue with the taker's (empty) buffer, so the coordinator pays for the
/// lock once per batch rather than once per message, and a sender wakes the coordinator
/// only when it waits: while the coordinator is busy, sending is a push.
pub(super) struct Mailbox<T> {
    inner: Mutex<Inner<T>>,
}

struct Inner<T> {
    sent: VecDeque<T>,
    /// The coordinator's waker, while it waits for a message.
    waiting: Option<Waker>,
}

impl<T> Mailbox<T> {
    pub(super) fn new() -> Mailbox<T> {
        Mailbox {
            inner: Mutex::new(Inner {
                sent: VecDeque::new(),
                waiting: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // Nothing that can panic runs while the lock is held (a push that cannot allocate
        // aborts the process), so a poisoned lock still holds a consistent queue.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a message, and wakes the coordinator if it waits for one.
    pub(super) fn send(&self, message: T) {
        let waiting = {
            let mut inner = self.lock();
            inner.sent.push_back(message);
            inner.waiting.take()
        };
        if let Some(waker) = waiting {
            waker.wake();
        }
    }

    /// Moves every message sent so far to the back of `into`, which must be empty; says
    /// whether there was any.
    pub(super) fn take(&self, into: &mut VecDeque<T>) -> bool {
        debug_assert!(into.is_empty(), "taking into a buffer not yet handled");
        std::mem::swap(&mut self.lock().sent, into);
        !into.is_empty()
    }

    /// Like [`Mailbox::take`], but when nothing was sent, arranges for `cx` to be woken by
    /// the next message.
    pub(super) fn poll_take(&self, into: &mut VecDeque<T>, cx: &mut Context<'_>) -> Poll<()> {
        debug_assert!(into.is_empty(), "taking into a buffer not yet handled");
        let mut inner = self.lock();
        if inner.sent.is_empty() {
            if !inner
                .waiting
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                inner.waiting = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        std::mem::swap(&mut inner.sent, into);
        Poll::Ready(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A waker, and how many times it was woken.
    fn counting_waker() -> (Waker, Arc<CountWakes>) {
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        (Waker::from(wakes.clone()), wakes)
    }

    #[test]
    fn taking_moves_every_message_sent_in_order() {
        let mailbox = Mailbox::new();
        let mut taken = VecDeque::new();
        assert!(!mailbox.take(&mut taken));
        mailbox.send(1);
        mailbox.send(2);
        assert!(mailbox.take(&mut taken));
        assert_eq!(taken.drain(..).collect::<Vec<_>>(), [1, 2]);
        assert!(!mailbox.take(&mut taken));
    }

    #[test]
    fn a_waiting_taker_is_woken_by_the_next_message_once() {
        let mailbox = Mailbox::new();
        let (waker, wakes) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut taken = VecDeque::new();
        assert!(mailbox.poll_take(&mut taken, &mut cx).is_pending());
        // Waiting again with the same waker does not register it twice.
        assert!(mailbox.poll_take(&mut taken, &mut cx).is_pending());
        mailbox.send('a');
        mailbox.send('b');
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert!(mailbox.poll_take(&mut taken, &mut cx).is_ready());
        assert_eq!(taken.drain(..).collect::<String>(), "ab");
    }

    #[test]
    fn a_taker_that_does_not_wait_is_not_woken() {
        let mailbox = Mailbox::new();
        let (waker, wakes) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut taken = VecDeque::new();
        mailbox.send(1);
        assert!(mailbox.poll_take(&mut taken, &mut cx).is_ready());
        taken.clear();
        mailbox.send(2);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn messages_sent_from_other_threads_all_arrive() {
        let mailbox = Arc::new(Mailbox::new());
        let senders: Vec<_> = (0..4)
            .map(|thread| {
                let mailbox = mailbox.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        mailbox.send(thread * 1000 + i);
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        let mut taken = VecDeque::new();
        while all.len() < 4000 {
            if mailbox.take(&mut taken) {
                all.extend(taken.drain(..));
            }
            std::thread::yield_now();
        }
        for sender in senders {
            sender.join().unwrap();
        }
        // Each sender's messages arrive in the order it sent them.
        for thread in 0..4 {
            let from: Vec<_> = all.iter().filter(|&&m| m / 1000 == thread).collect();
            assert!(from.windows(2).all(|pair| pair[0] < pair[1]));
            assert_eq!(from.len(), 1000);
        }
    }
}
