//! Tornado's `PeriodicCallback`: run a callback every period, skipping the runs a slow callback
//! (or a late timer) missed instead of bunching them, so the schedule stays aligned to its start.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::executor;
use crate::host::Instant;
use crate::runtime;
use crate::timer::sleep_until;

/// The boxed callback: called once per run, its future awaited before the next run is planned.
type Callback = Box<dyn FnMut() -> Pin<Box<dyn Future<Output = ()>>>>;

/// The deadlines of a periodic task: start + k × period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Schedule {
    /// The deadline last planned (at first, the start time).
    next: Instant,
    /// The period in nanoseconds, never 0.
    period: u64,
}

impl Schedule {
    fn starting_at(now: Instant, period: u64) -> Self {
        Self { next: now, period }
    }

    /// Plans the next deadline after `now` (Tornado's `_update_next`): the last one plus the
    /// smallest whole number of periods that lands strictly in the future.
    fn advance(&mut self, now: Instant) -> Instant {
        if self.next <= now {
            let missed = (now - self.next) / self.period;
            self.next = self
                .next
                .saturating_add(missed.saturating_add(1).saturating_mul(self.period));
        } else {
            // The timer fired early or the clock stepped back: still move on by one period,
            // so a deadline is never run twice.
            self.next = self.next.saturating_add(self.period);
        }
        self.next
    }
}

/// Whether the periodic task runs.
enum Run {
    /// Never started, or `stop` was called; `start` leaves it for `Running`.
    Stopped,
    /// `start` spawned task number `task`; `stop` (or a new `start` after it) ends it.
    Running {
        /// The task that may run the callback; older tasks see the mismatch and end.
        task: u64,
        /// Wakes that task while it sleeps, so that `stop` disarms its timer at once.
        waiter: Option<Waker>,
    },
}

struct Shared {
    /// The period in nanoseconds, never 0.
    period: u64,
    callback: RefCell<Callback>,
    run: RefCell<Run>,
    /// How many tasks `start` spawned: the next one's number.
    tasks: Cell<u64>,
}

impl Shared {
    /// Whether `task` is the running one; if so, `waker` wakes it on `stop`.
    fn is_current(&self, task: u64, waker: Option<&Waker>) -> bool {
        match &mut *self.run.borrow_mut() {
            Run::Running {
                task: current,
                waiter,
            } if *current == task => {
                if let Some(waker) = waker {
                    *waiter = Some(waker.clone());
                }
                true
            }
            _ => false,
        }
    }
}

/// A callback run every `period` on the event loop (Tornado's `PeriodicCallback`).
///
/// The period is measured from the start of one run to the start of the next. A run that
/// overruns (an async callback still busy, or a timer delivered late) skips the runs it missed:
/// the next one is at the start time plus a whole number of periods, never bunched.
///
/// Clones are handles to the same task. Dropping every handle does not stop it; call
/// [`stop`](Self::stop).
///
/// ```no_run
/// use std::time::Duration;
/// let report = eddy_guest::PeriodicCallback::new(Duration::from_secs(10), || async {
///     eddy_guest::log(eddy_guest::Level::Info, "still here");
/// });
/// report.start();
/// ```
#[derive(Clone)]
pub struct PeriodicCallback {
    shared: Rc<Shared>,
}

impl PeriodicCallback {
    /// A stopped periodic callback; `callback` returns the future of one run (write
    /// `|| async { … }`, or return `std::future::ready(())` after synchronous work).
    ///
    /// # Panics
    /// If `period` is zero.
    pub fn new<F, Fut>(period: Duration, mut callback: F) -> Self
    where
        F: FnMut() -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let period = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        assert!(period > 0, "a PeriodicCallback needs a positive period");
        let callback: Callback = Box::new(move || Box::pin(callback()));
        Self {
            shared: Rc::new(Shared {
                period,
                callback: RefCell::new(callback),
                run: RefCell::new(Run::Stopped),
                tasks: Cell::new(0),
            }),
        }
    }

    /// Starts running: the first run is one period from now. Does nothing if already running.
    pub fn start(&self) {
        if self.is_running() {
            return;
        }
        let task = self.shared.tasks.get() + 1;
        self.shared.tasks.set(task);
        *self.shared.run.borrow_mut() = Run::Running { task, waiter: None };
        let schedule = Schedule::starting_at(runtime::now(), self.shared.period);
        executor::spawn(run(self.shared.clone(), task, schedule));
    }

    /// Stops running: the pending timer is disarmed. A run in progress finishes, and is the
    /// last.
    pub fn stop(&self) {
        let previous = std::mem::replace(&mut *self.shared.run.borrow_mut(), Run::Stopped);
        if let Run::Running {
            waiter: Some(waker),
            ..
        } = previous
        {
            waker.wake();
        }
    }

    /// Whether it was started and not stopped since.
    pub fn is_running(&self) -> bool {
        matches!(*self.shared.run.borrow(), Run::Running { .. })
    }
}

/// The task `start` spawns: sleep to the next deadline, run, plan the next, until stopped.
async fn run(shared: Rc<Shared>, task: u64, mut schedule: Schedule) {
    loop {
        let mut sleep = sleep_until(schedule.advance(runtime::now()));
        let due = std::future::poll_fn(|cx| {
            if !shared.is_current(task, Some(cx.waker())) {
                return Poll::Ready(false);
            }
            Pin::new(&mut sleep).poll(cx).map(|()| true)
        })
        .await;
        if !due {
            return; // stopped: dropping `sleep` disarms the timer
        }
        let one_run = (shared.callback.borrow_mut())();
        one_run.await;
        if !shared.is_current(task, None) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{Event, TimerId};
    use crate::testing::FakeHost;

    const MS: u64 = 1_000_000;
    const PERIOD: Duration = Duration::from_millis(10);

    /// The timer armed last: (id, deadline).
    fn last_timer(host: &FakeHost) -> (TimerId, Instant) {
        *host.0.borrow().timers.last().expect("a timer is armed")
    }

    fn timer_count(host: &FakeHost) -> usize {
        host.0.borrow().timers.len()
    }

    /// Delivers timer `id` at `now`, as the host would.
    fn fire(now: Instant, id: TimerId) {
        runtime::handle_events(now, [Event::Timer(id)]);
    }

    /// A callback that records the time of each run.
    fn recording() -> (PeriodicCallback, Rc<RefCell<Vec<Instant>>>) {
        let runs = Rc::new(RefCell::new(Vec::new()));
        let seen = runs.clone();
        let callback = PeriodicCallback::new(PERIOD, move || {
            seen.borrow_mut().push(runtime::now());
            std::future::ready(())
        });
        (callback, runs)
    }

    #[test]
    fn schedule_moves_by_whole_periods_past_now() {
        let mut schedule = Schedule::starting_at(0, 10);
        assert_eq!(schedule.advance(0), 10, "the first run is one period away");
        assert_eq!(schedule.advance(10), 20, "on time");
        assert_eq!(schedule.advance(23), 30, "a little late");
        assert_eq!(
            schedule.advance(65),
            70,
            "late by three periods: 40, 50, 60 skipped"
        );
        assert_eq!(
            schedule.advance(80),
            90,
            "exactly on a deadline: the next is later"
        );
        assert_eq!(
            schedule.advance(50),
            100,
            "the clock stepped back: one period on"
        );
    }

    #[test]
    fn runs_every_period_from_its_start() {
        let host = FakeHost::install();
        runtime::handle_events(5 * MS, []);
        let (callback, runs) = recording();
        callback.start();
        runtime::run_rounds();
        assert!(callback.is_running());
        for deadline in [15, 25, 35] {
            let (id, at) = last_timer(&host);
            assert_eq!(at, deadline * MS);
            fire(at, id);
        }
        assert_eq!(*runs.borrow(), [15 * MS, 25 * MS, 35 * MS]);
        assert_eq!(last_timer(&host).1, 45 * MS);
    }

    #[test]
    fn a_callback_that_overruns_by_three_periods_runs_once_and_stays_aligned() {
        let host = FakeHost::install();
        let runs = Rc::new(RefCell::new(Vec::new()));
        let seen = runs.clone();
        let callback = PeriodicCallback::new(PERIOD, move || {
            let seen = seen.clone();
            async move {
                seen.borrow_mut().push(runtime::now());
                if seen.borrow().len() == 1 {
                    // The first run takes three periods and a half.
                    crate::timer::sleep(Duration::from_millis(35)).await;
                }
            }
        });
        callback.start();
        runtime::run_rounds();
        let (id, at) = last_timer(&host);
        assert_eq!(at, 10 * MS);
        fire(at, id);
        let (busy, busy_until) = last_timer(&host);
        assert_eq!(busy_until, 45 * MS, "the callback's own sleep");
        let armed = timer_count(&host);
        fire(busy_until, busy);
        assert_eq!(timer_count(&host), armed + 1, "one timer for the next run");
        let (id, at) = last_timer(&host);
        assert_eq!(
            at,
            50 * MS,
            "20, 30 and 40 are skipped; 50 keeps the start's alignment (not 55)"
        );
        fire(at, id);
        assert_eq!(
            *runs.borrow(),
            [10 * MS, 50 * MS],
            "ran once, not 3 more times"
        );
        assert_eq!(last_timer(&host).1, 60 * MS);
    }

    #[test]
    fn a_late_timer_skips_the_runs_it_missed() {
        let host = FakeHost::install();
        let (callback, runs) = recording();
        callback.start();
        runtime::run_rounds();
        let (id, _) = last_timer(&host);
        fire(43 * MS, id);
        assert_eq!(*runs.borrow(), [43 * MS]);
        assert_eq!(last_timer(&host).1, 50 * MS);
    }

    #[test]
    fn stop_disarms_the_timer_and_start_begins_again_from_now() {
        let host = FakeHost::install();
        let (callback, runs) = recording();
        callback.start();
        runtime::run_rounds();
        let (old, _) = last_timer(&host);
        callback.stop();
        runtime::run_rounds();
        assert!(!callback.is_running());
        fire(10 * MS, old);
        assert!(runs.borrow().is_empty(), "a stopped callback does not run");

        runtime::handle_events(100 * MS, []);
        callback.start();
        callback.start(); // already running: no second task
        runtime::run_rounds();
        let (id, at) = last_timer(&host);
        assert_eq!(at, 110 * MS);
        fire(at, id);
        assert_eq!(*runs.borrow(), [110 * MS]);
        assert_eq!(last_timer(&host).1, 120 * MS);
        assert_eq!(host.0.borrow().timers.len(), 3, "one timer per planned run");
    }

    #[test]
    fn a_callback_can_stop_itself() {
        let host = FakeHost::install();
        let handle: Rc<RefCell<Option<PeriodicCallback>>> = Rc::default();
        let runs = Rc::new(Cell::new(0));
        let (me, count) = (handle.clone(), runs.clone());
        let callback = PeriodicCallback::new(PERIOD, move || {
            count.set(count.get() + 1);
            if let Some(me) = me.borrow().as_ref() {
                me.stop();
            }
            std::future::ready(())
        });
        *handle.borrow_mut() = Some(callback.clone());
        callback.start();
        runtime::run_rounds();
        let (id, at) = last_timer(&host);
        let armed = timer_count(&host);
        fire(at, id);
        assert_eq!(runs.get(), 1);
        assert!(!callback.is_running());
        assert_eq!(timer_count(&host), armed, "no next run is planned");
        handle.borrow_mut().take();
    }

    #[test]
    #[should_panic(expected = "positive period")]
    fn a_zero_period_is_a_bug() {
        PeriodicCallback::new(Duration::ZERO, || std::future::ready(()));
    }
}
