//! Plugin calls the host left waiting: each request awaits its call's answer, which the
//! host delivers later through the `plugin-results` export.
//!
//! The guest is single-threaded: the table lives in thread-local storage. An answer for a
//! call whose request is gone (its connection closed and its task was dropped) is dropped.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use eddy_guest::http::Response;

use crate::bindings::PluginError;

/// A plugin's answer to one request.
pub type Answer = Result<Response, PluginError>;

/// What is known of one waiting call.
enum Slot {
    /// No answer yet; the waker of the request's task, once it was polled.
    Waiting(Option<Waker>),
    /// The answer arrived before the task looked.
    Answered(Answer),
}

thread_local! {
    static CALLS: RefCell<HashMap<u64, Slot>> = RefCell::new(HashMap::new());
}

/// The answer of call `call`, once the host delivers it.
pub struct PendingAnswer {
    call: u64,
}

impl PendingAnswer {
    /// Waits for the answer of `call` (an id from `plugins.start`).
    pub fn new(call: u64) -> Self {
        CALLS.with(|calls| calls.borrow_mut().insert(call, Slot::Waiting(None)));
        Self { call }
    }
}

impl Future for PendingAnswer {
    type Output = Answer;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Answer> {
        CALLS.with(|calls| {
            let mut calls = calls.borrow_mut();
            match calls.remove(&self.call) {
                Some(Slot::Answered(answer)) => Poll::Ready(answer),
                _ => {
                    calls.insert(self.call, Slot::Waiting(Some(cx.waker().clone())));
                    Poll::Pending
                }
            }
        })
    }
}

impl Drop for PendingAnswer {
    fn drop(&mut self) {
        CALLS.with(|calls| calls.borrow_mut().remove(&self.call));
    }
}

/// Hands the answer of `call` to the request waiting for it, if there still is one.
pub fn complete(call: u64, answer: Answer) {
    let waker = CALLS.with(|calls| {
        let mut calls = calls.borrow_mut();
        match calls.get_mut(&call) {
            Some(slot @ Slot::Waiting(_)) => {
                let Slot::Waiting(waker) = std::mem::replace(slot, Slot::Answered(answer)) else {
                    return None;
                };
                waker
            }
            _ => None,
        }
    });
    if let Some(waker) = waker {
        waker.wake();
    }
}
