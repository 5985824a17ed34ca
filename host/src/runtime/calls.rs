//! The plugin calls of one worker that are waiting: futures the worker's loop polls when
//! their wakers say they can go on, never blocking the loop.
//!
//! A call is polled once when it starts (most calls finish then). One that waits is kept
//! here under an id. Its waker may be called from any thread (tokio's timers and sockets
//! live on the io runtime's thread): it queues the id and wakes the loop through the
//! worker's one loop waker, once per empty-to-non-empty change of the queue. Each turn of
//! the loop polls the calls queued at its start once each: a call that yields (a CPU-heavy
//! plugin at an epoch tick) wakes itself at once, and polling it again in the same turn
//! would starve the sockets.

use std::collections::HashMap;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// Names one waiting call; never reused within a worker.
pub type CallId = u64;

/// A call as the loop polls it.
pub type CallFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// The longest one turn of the loop spends polling calls (one epoch tick: a call that
/// computes runs at most that long before it yields): the sockets are served between.
pub const POLL_BUDGET: Duration = Duration::from_millis(10);

/// The ids of calls woken since the loop last looked, and how to wake the loop.
struct ReadyQueue {
    ids: Mutex<Vec<CallId>>,
    loop_waker: Waker,
}

impl ReadyQueue {
    fn push(&self, id: CallId) {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        ids.push(id);
        if ids.len() == 1 {
            drop(ids);
            self.loop_waker.wake_by_ref();
        }
    }

    fn take(&self, into: &mut Vec<CallId>) {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *ids, into);
    }

    fn is_empty(&self) -> bool {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }
}

/// The waker of one call: queues its id at most once until it is polled again.
struct CallWaker {
    id: CallId,
    queued: AtomicBool,
    ready: Arc<ReadyQueue>,
}

impl Wake for CallWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.ready.push(self.id);
        }
    }
}

/// A call's id and waker, before the call starts.
pub struct Reserved {
    id: CallId,
    waker: Arc<CallWaker>,
}

impl Reserved {
    /// The call's id.
    pub fn id(&self) -> CallId {
        self.id
    }

    /// What wakes the call.
    pub fn waker(&self) -> Waker {
        Waker::from(self.waker.clone())
    }
}

/// One waiting call.
struct Waiting<T> {
    future: CallFuture<T>,
    waker: Arc<CallWaker>,
}

/// The waiting calls of one worker.
pub struct Calls<T> {
    waiting: HashMap<CallId, Waiting<T>>,
    ready: Arc<ReadyQueue>,
    next_id: CallId,
    /// The ids taken from the queue and not polled yet: this turn's, or those the last turn
    /// had no time left for.
    turn: Vec<CallId>,
}

impl<T> Calls<T> {
    /// No calls yet; wakes of calls wake the loop through `loop_waker`.
    pub fn new(loop_waker: Waker) -> Self {
        Self {
            waiting: HashMap::new(),
            ready: Arc::new(ReadyQueue {
                ids: Mutex::new(Vec::new()),
                loop_waker,
            }),
            next_id: 0,
            turn: Vec::new(),
        }
    }

    /// An id for a call about to start, and the waker that will wake it: the call's future
    /// may need both before it is made.
    pub fn reserve(&mut self) -> Reserved {
        self.next_id += 1;
        Reserved {
            id: self.next_id,
            waker: Arc::new(CallWaker {
                id: self.next_id,
                queued: AtomicBool::new(false),
                ready: self.ready.clone(),
            }),
        }
    }

    /// Polls `future` once: its output when it finished, or the id it waits under.
    pub fn start(&mut self, reserved: Reserved, mut future: CallFuture<T>) -> Result<T, CallId> {
        let Reserved { id, waker } = reserved;
        let as_waker = Waker::from(waker.clone());
        match future.as_mut().poll(&mut Context::from_waker(&as_waker)) {
            Poll::Ready(output) => Ok(output),
            Poll::Pending => {
                self.waiting.insert(id, Waiting { future, waker });
                Err(id)
            }
        }
    }

    /// Drops a waiting call (its request is gone); whether it was waiting.
    pub fn cancel(&mut self, id: CallId) -> bool {
        self.waiting.remove(&id).is_some()
    }

    /// Whether a waiting call was woken and waits for a poll.
    pub fn has_ready(&self) -> bool {
        !self.turn.is_empty() || !self.ready.is_empty()
    }

    /// How many calls wait.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Polls each call woken before this turn once, until the turn's time is spent
    /// ([`POLL_BUDGET`]: the calls not reached go first next turn); the ones that finished
    /// are appended to `done` with their ids.
    pub fn poll_ready(&mut self, done: &mut Vec<(CallId, T)>) {
        if self.turn.is_empty() {
            self.ready.take(&mut self.turn);
        }
        let started = Instant::now();
        let mut polled = 0;
        while let Some(&id) = self.turn.get(polled) {
            polled += 1;
            let Some(call) = self.waiting.get_mut(&id) else {
                // Woken during its first poll and finished there, or cancelled.
                continue;
            };
            // A wake from now on queues the call for the next turn.
            call.waker.queued.store(false, Ordering::Release);
            let waker = Waker::from(call.waker.clone());
            if let Poll::Ready(output) = call.future.as_mut().poll(&mut Context::from_waker(&waker))
            {
                self.waiting.remove(&id);
                done.push((id, output));
            }
            if started.elapsed() >= POLL_BUDGET {
                break;
            }
        }
        self.turn.drain(..polled);
    }

    /// Keeps `future` without polling it now and queues it for the next turn: for a call
    /// started when this turn's time is spent.
    pub fn start_later(&mut self, reserved: Reserved, future: CallFuture<T>) -> CallId {
        let Reserved { id, waker } = reserved;
        self.waiting.insert(
            id,
            Waiting {
                future,
                waker: waker.clone(),
            },
        );
        waker.wake_by_ref();
        id
    }
}

/// `future`'s output, or `None` once `deadline` passes first. The timer is only made when the
/// future waits: a call that finishes at its first poll never touches tokio's timer wheel.
pub async fn within<F: Future>(deadline: std::time::Instant, future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut sleep: Option<Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        let sleep =
            sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
        sleep.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Runs `future` to its end on this thread, parking it meanwhile: for the plugin imports of
/// guests that wait for their plugins (`plugins.call`, `dispatch`), and for start-up.
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let _context = super::io_runtime::enter();
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts the loop's wakes.
    #[derive(Default)]
    struct LoopWakes(AtomicUsize);

    impl Wake for LoopWakes {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A future that is pending until `polls` polls have passed, waking itself each time.
    fn yielding(polls: usize) -> CallFuture<usize> {
        let mut left = polls;
        Box::pin(std::future::poll_fn(move |cx| {
            if left == 0 {
                return Poll::Ready(polls);
            }
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }))
    }

    #[test]
    fn a_call_that_finishes_at_once_is_never_kept() {
        let wakes = Arc::new(LoopWakes::default());
        let mut calls = Calls::new(Waker::from(wakes.clone()));
        let reserved = calls.reserve();
        assert_eq!(calls.start(reserved, Box::pin(async { 7 })).ok(), Some(7));
        assert_eq!(calls.len(), 0);
        assert!(!calls.has_ready());
    }

    #[test]
    fn a_yielding_call_is_polled_once_per_turn() {
        let wakes = Arc::new(LoopWakes::default());
        let mut calls = Calls::new(Waker::from(wakes.clone()));
        let reserved = calls.reserve();
        let id = calls.start(reserved, yielding(3)).expect_err("waits");
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "the loop is woken once");
        let mut done = Vec::new();
        for turn in 1..=2 {
            assert!(calls.has_ready());
            calls.poll_ready(&mut done);
            assert!(done.is_empty(), "turn {turn}: one poll per turn");
        }
        calls.poll_ready(&mut done);
        assert_eq!(done, vec![(id, 3)]);
        assert!(calls.len() == 0 && !calls.has_ready());
    }

    #[test]
    fn wakes_from_another_thread_queue_the_call_once() {
        let wakes = Arc::new(LoopWakes::default());
        let mut calls = Calls::new(Waker::from(wakes.clone()));
        let (sender, receiver) = std::sync::mpsc::channel::<Waker>();
        let mut fired = false;
        let future: CallFuture<&str> = Box::pin(std::future::poll_fn(move |cx| {
            if fired {
                return Poll::Ready("woken");
            }
            fired = true;
            sender.send(cx.waker().clone()).expect("send the waker");
            Poll::Pending
        }));
        let reserved = calls.reserve();
        let id = calls.start(reserved, future).expect_err("waits");
        let waker = receiver.recv().expect("the waker");
        std::thread::spawn(move || {
            waker.wake_by_ref();
            waker.wake();
        })
        .join()
        .expect("the waking thread");
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        let mut done = Vec::new();
        calls.poll_ready(&mut done);
        assert_eq!(done, vec![(id, "woken")]);
    }

    #[test]
    fn within_gives_up_at_the_deadline_and_not_before() {
        let soon = std::time::Instant::now() + Duration::from_millis(20);
        assert_eq!(block_on(within(soon, async { 1 })), Some(1));
        let late = block_on(within(soon, async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            2
        }));
        assert_eq!(late, None);
        assert!(std::time::Instant::now() < soon + Duration::from_secs(1));
    }

    #[test]
    fn a_turn_stops_polling_once_its_time_is_spent() {
        let wakes = Arc::new(LoopWakes::default());
        let mut calls = Calls::new(Waker::from(wakes.clone()));
        let slow = || -> CallFuture<()> {
            Box::pin(async {
                std::thread::sleep(POLL_BUDGET);
            })
        };
        for _ in 0..3 {
            let reserved = calls.reserve();
            calls.start_later(reserved, slow());
        }
        let mut done = Vec::new();
        calls.poll_ready(&mut done);
        assert_eq!(done.len(), 1, "one call spent the turn");
        assert!(calls.has_ready(), "the others go next turn");
        calls.poll_ready(&mut done);
        calls.poll_ready(&mut done);
        assert_eq!(done.len(), 3);
        assert!(!calls.has_ready());
    }

    #[test]
    fn a_cancelled_call_is_never_polled_again() {
        let wakes = Arc::new(LoopWakes::default());
        let mut calls = Calls::new(Waker::from(wakes.clone()));
        let reserved = calls.reserve();
        let id = calls.start(reserved, yielding(5)).expect_err("waits");
        assert!(calls.cancel(id));
        assert!(!calls.cancel(id));
        let mut done = Vec::new();
        calls.poll_ready(&mut done);
        assert!(done.is_empty() && calls.len() == 0);
    }

    #[test]
    fn block_on_waits_for_a_tokio_timer() {
        let started = std::time::Instant::now();
        block_on(async { tokio::time::sleep(Duration::from_millis(30)).await });
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
