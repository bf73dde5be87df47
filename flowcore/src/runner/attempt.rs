//! Attempts: each attempt of a task body as a tokio task, its timers and concurrency slots,
//! and what it sends back to the coordinator.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, Waker, ready};
use std::time::Duration;

use futures::FutureExt;
use futures::future::CatchUnwind;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;
use tokio::task::futures::TaskLocalFuture;
use tokio::time::Instant;
use tracing::{Instrument, Span};

use crate::context::{RunInfo, TaskContext};
use crate::error::BoxError;
use crate::limits::Slots;
use crate::task::{AnyValue, panic_message};

use super::eager::EagerWindow;
use super::mailbox::Mailbox;

/// How one attempt of a task's body ended.
pub(super) enum Outcome {
    Value(AnyValue),
    Error(BoxError),
    Panic(String),
    TimedOut(Duration),
}

/// What attempts tell the coordinator.
pub(super) enum Event {
    /// A delayed attempt (a retry, a timed pause) started running.
    Started {
        task: u32,
        run_count: u32,
        span: TaskSpan,
    },
    /// An attempt ended.
    Done(Completion),
}

/// What an attempt sends back to the coordinator when it ends.
pub(super) struct Completion {
    pub(super) task: u32,
    pub(super) run_count: u32,
    pub(super) outcome: Outcome,
    pub(super) span: TaskSpan,
}

/// A spawned task that is aborted when this handle is dropped.
pub(super) struct AbortOnDrop<T>(pub(super) tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<T> {
        Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(value) => value,
            // The coordinator only panics on a bug of its own; show it where the run is awaited.
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => {
                panic!("the flow run was cancelled because its tokio runtime is shutting down")
            }
        })
    }
}

/// What every attempt of one drive of a run holds, through its [`TaskContext`]: the run,
/// and the mailbox its events go to. One `Arc` for both, so that starting an attempt
/// touches one shared reference count.
pub(crate) struct AttemptsShared {
    pub(crate) run: Arc<RunInfo>,
    events: Mailbox<Event>,
}

impl AttemptsShared {
    fn send(&self, event: Event) {
        self.events.send(event);
    }
}

/// The attempts in flight: tokio tasks that send their completion to the coordinator's
/// mailbox, attempts that ended when the coordinator first polled them (see
/// [`Attempts::eager`]), and at most one attempt the coordinator polls itself.
///
/// Dropping it aborts every attempt still running, so a dropped run leaves nothing behind.
pub(super) struct Attempts {
    pub(super) shared: Arc<AttemptsShared>,
    /// Events taken from `shared` in one batch, not yet handled.
    taken: VecDeque<Event>,
    /// The attempt in flight of each task, to abort it and to tell its events from those
    /// of an attempt that was aborted.
    running: Vec<Running>,
    /// Set while the coordinator polls each attempt (without timers or slots) once when it
    /// starts it, and spawns it only if it did not end then: always on a current-thread
    /// runtime, which could run nothing else meanwhile anyway, and on a multi-thread one
    /// while bodies are short (see `Eagerness`) and the run cannot be interrupted. An
    /// attempt that ends at once then costs no spawn and no wake. Each such poll counts
    /// against the coordinator's cooperative budget, so that it still yields to the
    /// runtime every ~128 attempts.
    pub(super) eager: bool,
    /// The eager polls of the coordinator's current window of decisions.
    pub(super) window: EagerWindow,
    /// Set while a run that is being interrupted takes the events already sent: no
    /// attempt starts then (a failed attempt is not retried, a paused one not resumed).
    pub(super) stopping: bool,
    /// The attempt polled by the coordinator instead of spawned, see [`Attempts::may_inline`].
    inline: Option<Inline>,
    /// Set by the coordinator while it decides a task when no other task is ready. An
    /// attempt started then without timers or slots, while no other attempt is in flight,
    /// is the only one the run can run, and is polled by the coordinator itself: nothing
    /// else could run beside it (every other task waits for it), and a sequence of tasks
    /// then costs no spawn, no wake and no trip between workers per task.
    pub(super) may_inline: bool,
    in_flight: usize,
}

/// Where a task's attempt in flight runs.
enum Running {
    /// No attempt in flight (or it was aborted: its events are dropped).
    Idle,
    /// A tokio task. Its `JoinHandle` is kept, not an `AbortHandle`, which would cost one
    /// more reference count per attempt.
    Spawned(JoinHandle<()>),
    /// Ended when the coordinator first polled it; its completion is in the mailbox.
    Polled,
}

/// An attempt polled by the coordinator.
struct Inline {
    task: u32,
    /// `None` once it ended: its completion is then in the mailbox.
    future: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Drop for Inline {
    fn drop(&mut self) {
        // An aborted body's drop code runs here, in the coordinator, rather than in a
        // tokio task: a panic in it must not unwind out of the run.
        if let Some(future) = self.future.take() {
            let dropped = std::panic::catch_unwind(AssertUnwindSafe(move || drop(future)));
            if dropped.is_err() {
                tracing::warn!("an aborted task's body panicked while it was dropped");
            }
        }
    }
}

impl Attempts {
    pub(super) fn new(n_tasks: usize, run: Arc<RunInfo>) -> Attempts {
        let mut running = Vec::with_capacity(n_tasks);
        running.resize_with(n_tasks, || Running::Idle);
        Attempts {
            shared: Arc::new(AttemptsShared {
                run,
                events: Mailbox::new(),
            }),
            taken: VecDeque::new(),
            running,
            eager: false,
            window: EagerWindow::default(),
            stopping: false,
            inline: None,
            may_inline: false,
            in_flight: 0,
        }
    }

    /// Spawns an attempt, which sends its completion itself.
    pub(super) fn spawn(&mut self, task: u32, attempt: impl Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(attempt);
        self.running[task as usize] = Running::Spawned(handle);
        self.in_flight += 1;
    }

    /// Polls an attempt once and spawns it only if it has not ended, see [`Attempts::eager`].
    fn poll_first(&mut self, task: u32, attempt: impl Future<Output = ()> + Send + 'static) {
        // Nothing is woken by this poll: if the attempt waits, its tokio task polls it
        // again at once, which registers that task's waker instead.
        let mut cx = std::task::Context::from_waker(Waker::noop());
        let Poll::Ready(coop) = tokio::task::coop::poll_proceed(&mut cx) else {
            // The coordinator ends its window and yields.
            self.window.spent = true;
            return self.spawn(task, attempt);
        };
        let mut attempt = Box::pin(attempt);
        self.window.poll_starts();
        let ended = attempt.as_mut().poll(&mut cx).is_ready();
        // The poll counts against the budget whether or not the body ended.
        coop.made_progress();
        if !self.window.poll_ended() {
            // Bodies are long: the rest of the window hands them to the runtime.
            self.eager = false;
        }
        if ended {
            self.running[task as usize] = Running::Polled;
            self.in_flight += 1;
        } else {
            self.spawn(task, attempt);
        }
    }

    /// Whether the coordinator polls `task`'s attempt itself.
    fn is_inline(&self, task: u32) -> bool {
        self.inline
            .as_ref()
            .is_some_and(|inline| inline.task == task)
    }

    /// Keeps an attempt to be polled by the coordinator; it sends its completion itself.
    fn run_inline(&mut self, task: u32, attempt: impl Future<Output = ()> + Send + 'static) {
        self.may_inline = false;
        self.inline = Some(Inline {
            task,
            future: Some(Box::pin(attempt)),
        });
        self.in_flight += 1;
    }

    /// The next event of an attempt, or `None` when none is running.
    pub(super) async fn next(&mut self) -> Option<Event> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<Event>> {
        // Like a channel's receiver, taking an event counts against the task's budget, so
        // that a stream of events cannot keep the coordinator from yielding.
        let coop = ready!(tokio::task::coop::poll_proceed(cx));
        if let Some(inline) = &mut self.inline
            && let Some(future) = &mut inline.future
            && future.as_mut().poll(cx).is_ready()
        {
            inline.future = None;
        }
        loop {
            if self.in_flight == 0 {
                return Poll::Ready(None);
            }
            match self.taken.pop_front() {
                Some(event) => {
                    if let Some(event) = self.accept(event) {
                        coop.made_progress();
                        return Poll::Ready(Some(event));
                    }
                }
                None => ready!(self.shared.events.poll_take(&mut self.taken, cx)),
            }
        }
    }

    /// The event, unless it was sent by an attempt that was aborted after it sent it.
    fn accept(&mut self, event: Event) -> Option<Event> {
        let task = match &event {
            Event::Done(done) => done.task,
            Event::Started { task, .. } => *task,
        };
        if self.is_inline(task) {
            if let Event::Done(_) = &event {
                self.inline = None;
                self.in_flight -= 1;
            }
            return Some(event);
        }
        let running = &mut self.running[task as usize];
        if matches!(running, Running::Idle) {
            return None;
        }
        if let Event::Done(_) = &event {
            self.in_flight -= 1;
            *running = Running::Idle;
        }
        Some(event)
    }

    /// The next event already sent, without waiting.
    pub(super) fn try_next(&mut self) -> Option<Event> {
        while self.in_flight > 0 {
            if self.taken.is_empty() && !self.shared.events.take(&mut self.taken) {
                return None;
            }
            let event = self.taken.pop_front()?;
            if let Some(event) = self.accept(event) {
                return Some(event);
            }
        }
        None
    }

    /// Makes room for the attempts of `n_slots` tasks and children.
    pub(super) fn grow(&mut self, n_slots: usize) {
        self.running.resize_with(n_slots, || Running::Idle);
    }

    /// Aborts the running attempt of `task`, if any; its events are ignored from now on.
    pub(super) fn abort(&mut self, task: u32) {
        if self.is_inline(task) {
            self.inline = None;
            self.in_flight -= 1;
        } else {
            match std::mem::replace(&mut self.running[task as usize], Running::Idle) {
                Running::Idle => {}
                Running::Spawned(handle) => {
                    handle.abort();
                    self.in_flight -= 1;
                }
                Running::Polled => self.in_flight -= 1,
            }
        }
    }
}

impl Drop for Attempts {
    fn drop(&mut self) {
        if self.in_flight > 0 {
            for running in &self.running {
                if let Running::Spawned(handle) = running {
                    handle.abort();
                }
            }
        }
    }
}

/// What a task needs to spawn an attempt: [`ErasedTask::start`] passes it the attempt's
/// future, so the future's concrete type reaches the spawn without being boxed.
///
/// [`ErasedTask::start`]: crate::task::ErasedTask::start
pub(crate) struct Launch<'a> {
    pub(super) attempts: &'a mut Attempts,
    pub(super) attempt: Attempt,
    pub(super) timing: Timing,
}

/// The concurrency slots of an attempt: none needed, taken already, or to wait for.
pub(super) enum Permits {
    None,
    Held(Vec<OwnedSemaphorePermit>),
    Wait(Slots),
}

impl Launch<'_> {
    /// Spawns the attempt that runs `fut`.
    pub(crate) fn spawn<F>(self, fut: F)
    where
        F: Future<Output = Result<AnyValue, BoxError>> + Send + 'static,
    {
        let Launch {
            attempts,
            attempt,
            timing,
        } = self;
        let task = attempt.task;
        if timing.is_none() {
            // The common case gets a smaller future, without room for timers or slots.
            let attempt = attempt.run(fut);
            if attempts.may_inline && attempts.in_flight == 0 {
                attempts.run_inline(task, attempt);
            } else if attempts.eager {
                attempts.poll_first(task, attempt);
            } else {
                attempts.spawn(task, attempt);
            }
        } else {
            attempts.spawn(task, attempt.run_timed(fut, timing));
        }
    }
}

/// What an attempt waits for before its body runs, and how long the body may take.
pub(super) struct Timing {
    pub(super) timeout: Option<Duration>,
    pub(super) start_at: Option<Instant>,
    pub(super) permits: Permits,
}

impl Timing {
    /// No time limit, no start time and no slots: the attempt runs its body at once.
    fn is_none(&self) -> bool {
        self.timeout.is_none() && self.start_at.is_none() && matches!(self.permits, Permits::None)
    }
}

/// One attempt of a task's body, as a tokio task.
pub(super) struct Attempt {
    pub(super) task: u32,
    pub(super) run_count: u32,
    pub(super) context: TaskContext,
    pub(super) span: TaskSpan,
}

impl Attempt {
    /// Runs the body with its context, catching a panic, and sends how it ended.
    pub(super) fn run<F>(self, fut: F) -> AttemptFuture<F>
    where
        F: Future<Output = Result<AnyValue, BoxError>> + Send + 'static,
    {
        let Attempt {
            task,
            run_count,
            context,
            span,
        } = self;
        AttemptFuture {
            body: Body::Running {
                future: context.scope(AssertUnwindSafe(fut).catch_unwind()),
            },
            task,
            run_count,
            span,
        }
    }

    /// Waits for the start time and the concurrency slots, then runs the body with its
    /// timeout, and sends how it ended: once the body is dropped (in its context and span)
    /// and its slots are free, so that nothing of the attempt outlives its report.
    pub(super) async fn run_timed<F: Future<Output = Result<AnyValue, BoxError>>>(
        self,
        fut: F,
        timing: Timing,
    ) {
        let Attempt {
            task,
            run_count,
            context,
            span,
        } = self;
        let Timing {
            timeout,
            start_at,
            permits,
        } = timing;
        // Not the common path: one more reference to send with after the body is gone.
        let shared = context.shared.clone();
        let attempt = async {
            let mut waited = false;
            if let Some(start_at) = start_at {
                tokio::time::sleep_until(start_at).await;
                waited = true;
            }
            let slots = match permits {
                Permits::None => Vec::new(),
                Permits::Held(permits) => permits,
                Permits::Wait(slots) => {
                    waited = true;
                    slots.acquire().await
                }
            };
            if waited {
                shared.send(Event::Started {
                    task,
                    run_count,
                    span: span.clone(),
                });
            }
            let body = context.scope(AssertUnwindSafe(fut).catch_unwind());
            // The body (or the timeout holding it) is dropped at the end of this match.
            let outcome = match timeout {
                None => outcome(body.await),
                Some(limit) => match tokio::time::timeout(limit, body).await {
                    Ok(result) => outcome(result),
                    Err(_) => Outcome::TimedOut(limit),
                },
            };
            drop(slots);
            outcome
        };
        // `Instrumented` also enters the span to drop the attempt when it is aborted.
        let outcome = match span.0.as_deref() {
            Some(enabled) => attempt.instrument(enabled.clone()).await,
            None => attempt.await,
        };
        shared.send(Event::Done(Completion {
            task,
            run_count,
            outcome,
            span,
        }));
    }
}

/// The body of a caught panic.
type Panic = Box<dyn Any + Send>;

pin_project_lite::pin_project! {
    /// A body that can be dropped in place: when the attempt ends, and when it is
    /// aborted, inside its span.
    #[project = BodyProj]
    #[project_replace = BodyReplace]
    enum Body<F> {
        Running { #[pin] future: F },
        Dropped,
    }
}

pin_project_lite::pin_project! {
    /// An attempt without timers or slots: its body, polled in its span, then its
    /// completion sent. A hand-written future rather than an `async` block, which would
    /// hold the body twice (as captured and as pinned) and make every spawn copy more.
    pub(super) struct AttemptFuture<F> {
        #[pin]
        body: Body<TaskLocalFuture<TaskContext, CatchUnwind<AssertUnwindSafe<F>>>>,
        task: u32,
        run_count: u32,
        // Moved into the completion when the attempt ends.
        span: TaskSpan,
    }

    impl<F> PinnedDrop for AttemptFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Aborted before it ended: the body's drop code runs in the task's span (and,
            // through the task-local future, with its context).
            if let Some(span) = this.span.0.as_deref() {
                let _entered = span.enter();
                this.body.project_replace(Body::Dropped);
            }
        }
    }
}

impl<F> Future for AttemptFuture<F>
where
    F: Future<Output = Result<AnyValue, BoxError>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let BodyProj::Running { mut future } = this.body.as_mut().project() else {
            // Polled again after it ended: nothing left to do.
            return Poll::Ready(());
        };
        let result: Result<Result<AnyValue, BoxError>, Panic> = match this.span.0.as_deref() {
            Some(enabled) => {
                let _entered = enabled.enter();
                ready!(future.as_mut().poll(cx))
            }
            None => ready!(future.as_mut().poll(cx)),
        };
        let done = Completion {
            task: *this.task,
            run_count: *this.run_count,
            outcome: outcome(result),
            span: std::mem::replace(this.span, TaskSpan(None)),
        };
        send_done(future, done);
        this.body.project_replace(Body::Dropped);
        Poll::Ready(())
    }
}

/// Sends an attempt's completion through the context its body ran with.
fn send_done<F: Future>(body: Pin<&mut TaskLocalFuture<TaskContext, F>>, done: Completion) {
    // The context was given to the body's future when it was made, and is taken back
    // once, here.
    let context = body.take_value();
    debug_assert!(context.is_some(), "an attempt's context is taken twice");
    if let Some(context) = context {
        context.shared.send(Event::Done(done));
    }
}

pub(super) fn outcome(result: Result<Result<AnyValue, BoxError>, Box<dyn Any + Send>>) -> Outcome {
    match result {
        Ok(Ok(value)) => Outcome::Value(value),
        Ok(Err(error)) => Outcome::Error(error),
        Err(panic) => Outcome::Panic(panic_message(&*panic)),
    }
}

/// A task run's tracing span, boxed when enabled and absent when no subscriber wants it,
/// so that an attempt's future stays small.
#[derive(Clone)]
pub(super) struct TaskSpan(pub(super) Option<Box<Span>>);

pub(super) static NO_SPAN: Span = Span::none();

impl TaskSpan {
    pub(super) fn new(span: Span) -> TaskSpan {
        TaskSpan((!span.is_none()).then(|| Box::new(span)))
    }

    pub(super) fn get(&self) -> &Span {
        self.0.as_deref().unwrap_or(&NO_SPAN)
    }
}
