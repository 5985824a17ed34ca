//! A small single-threaded executor: the futures of one guest instance, polled when woken.
//!
//! The guest is single-threaded and is only ever running inside a host call, so the executor is
//! a task table plus a ready queue in thread-local storage. `run_ready` polls until nothing is
//! ready; the runtime calls it inside every `handle-events`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// One slot of the task table.
struct Slot {
    /// The future, or `None` while it is being polled or after it finished.
    task: Option<Task>,
    /// Bumped when the slot is reused, so a stale waker cannot wake the new task.
    generation: u32,
    /// Whether the task is already in the ready queue.
    queued: bool,
    /// The task's waker, made once per task rather than once per poll.
    waker: Waker,
}

#[derive(Default)]
struct Executor {
    slots: Vec<Slot>,
    free: Vec<usize>,
    ready: VecDeque<(usize, u32)>,
}

thread_local! {
    static EXECUTOR: RefCell<Executor> = RefCell::new(Executor::default());
}

/// Wakes one task by slot and generation.
struct TaskWaker {
    slot: usize,
    generation: u32,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        schedule(self.slot, self.generation);
    }
}

fn schedule(slot: usize, generation: u32) {
    EXECUTOR.with(|executor| {
        let mut executor = executor.borrow_mut();
        let Some(entry) = executor.slots.get_mut(slot) else {
            return;
        };
        if entry.generation != generation || entry.queued {
            return;
        }
        entry.queued = true;
        executor.ready.push_back((slot, generation));
    });
}

/// Runs `future` to completion in the background; it is first polled by the next `run_ready`.
pub fn spawn(future: impl Future<Output = ()> + 'static) {
    let task: Task = Box::pin(future);
    let (slot, generation) = EXECUTOR.with(|executor| {
        let mut executor = executor.borrow_mut();
        let slot = match executor.free.pop() {
            Some(slot) => {
                let entry = &mut executor.slots[slot];
                entry.generation = entry.generation.wrapping_add(1);
                // A wake of the slot's previous task may still be queued: it must not keep
                // the new task from being queued.
                entry.queued = false;
                entry.task = Some(task);
                entry.waker = task_waker(slot, entry.generation);
                slot
            }
            None => {
                let slot = executor.slots.len();
                executor.slots.push(Slot {
                    task: Some(task),
                    generation: 0,
                    queued: false,
                    waker: task_waker(slot, 0),
                });
                slot
            }
        };
        (slot, executor.slots[slot].generation)
    });
    schedule(slot, generation);
}

fn task_waker(slot: usize, generation: u32) -> Waker {
    Waker::from(Arc::new(TaskWaker { slot, generation }))
}

/// Polls ready tasks until none is ready; returns how many polls it made.
pub fn run_ready() -> usize {
    let mut polls = 0;
    while let Some((slot, generation)) = next_ready() {
        let Some((mut task, waker)) = take_task(slot, generation) else {
            continue;
        };
        let mut cx = Context::from_waker(&waker);
        polls += 1;
        let finished = task.as_mut().poll(&mut cx).is_ready();
        EXECUTOR.with(|executor| {
            let mut executor = executor.borrow_mut();
            if finished {
                executor.free.push(slot);
            } else {
                executor.slots[slot].task = Some(task);
            }
        });
    }
    polls
}

fn next_ready() -> Option<(usize, u32)> {
    EXECUTOR.with(|executor| executor.borrow_mut().ready.pop_front())
}

fn take_task(slot: usize, generation: u32) -> Option<(Task, Waker)> {
    EXECUTOR.with(|executor| {
        let mut executor = executor.borrow_mut();
        let entry = &mut executor.slots[slot];
        if entry.generation != generation {
            // A stale wake of an earlier task in this slot; the flag is the new task's.
            return None;
        }
        entry.queued = false;
        Some((entry.task.take()?, entry.waker.clone()))
    })
}

/// Whether any task is ready to be polled.
pub fn has_ready() -> bool {
    EXECUTOR.with(|executor| !executor.borrow().ready.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::task::Poll;

    #[test]
    fn spawned_task_runs_on_next_run_ready() {
        let hit = Rc::new(Cell::new(false));
        let seen = hit.clone();
        spawn(async move { seen.set(true) });
        assert!(!hit.get());
        assert_eq!(run_ready(), 1);
        assert!(hit.get());
        assert_eq!(run_ready(), 0, "a finished task is not polled again");
    }

    #[test]
    fn a_task_spawned_into_a_slot_with_a_stale_wake_still_runs() {
        let ran = Rc::new(Cell::new(false));
        // A wakes itself during its last poll, so a stale wake of its slot stays queued;
        // B, queued before that wake, spawns C, which takes A's freed slot.
        spawn(std::future::poll_fn(|cx| {
            cx.waker().wake_by_ref();
            Poll::Ready(())
        }));
        let seen = ran.clone();
        spawn(async move {
            spawn(async move { seen.set(true) });
        });
        run_ready();
        assert!(ran.get(), "the task in the reused slot ran");
    }

    #[test]
    fn pending_task_waits_for_its_waker() {
        let waker_slot: Rc<RefCell<Option<Waker>>> = Rc::default();
        let done = Rc::new(Cell::new(false));
        let (slot, flag) = (waker_slot.clone(), done.clone());
        spawn(async move {
            std::future::poll_fn(|cx| {
                if slot.borrow().is_some() {
                    return Poll::Ready(());
                }
                *slot.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            })
            .await;
            flag.set(true);
        });
        run_ready();
        assert!(!done.get());
        assert_eq!(run_ready(), 0, "nothing is ready until woken");
        waker_slot
            .borrow()
            .as_ref()
            .expect("waker stored")
            .wake_by_ref();
        run_ready();
        assert!(done.get());
    }
}
