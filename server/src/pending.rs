//! Plugin calls the host left waiting, and what the host says about them later (through the
//! `plugin-results` export): a whole answer, or a response head, body pieces and an end; and,
//! for a request body that streams, when the host has room for more of it.
//!
//! The guest is single-threaded: the table lives in thread-local storage. A call whose
//! request is dropped (its connection closed) is cancelled with the host, and whatever the
//! host still says about it is dropped.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::task::{Poll, Waker};

use eddy_guest::http::{HeaderMap, Response};

use crate::bindings::{self, PluginError};

/// A plugin's answer to one request.
pub type Answer = Result<Response, PluginError>;

/// What the host says about a waiting call.
pub enum Event {
    /// The call finished with a whole answer.
    Answer(Answer),
    /// The response head; the body follows.
    Head {
        /// The status code.
        status: u16,
        /// The header fields, without framing ones.
        headers: HeaderMap,
        /// The body's declared length, if any.
        length: Option<u64>,
    },
    /// The next piece of the body.
    Body(Vec<u8>),
    /// The body is complete (`None`) or broke off (`Some(reason)`).
    End(Option<String>),
    /// The host has room for more of the request body.
    Window,
}

/// What is known of one waiting call.
#[derive(Default)]
struct Slot {
    /// Events the request's task has not taken yet.
    events: VecDeque<Event>,
    /// The task waiting for an event.
    waker: Option<Waker>,
    /// A `window` came and was not taken yet.
    window: bool,
    /// The task waiting for room for the request body.
    window_waker: Option<Waker>,
    /// The host said the last of the call (its answer or its end).
    over: bool,
}

thread_local! {
    static CALLS: RefCell<HashMap<u64, Slot>> = RefCell::new(HashMap::new());
}

/// A waiting call, as the request's task holds it; dropping it cancels the call with the
/// host unless the host already said the last of it.
pub struct Call {
    id: u64,
}

impl Call {
    /// Follows call `id` (an id from `plugins.start`).
    pub fn new(id: u64) -> Self {
        CALLS.with(|calls| calls.borrow_mut().insert(id, Slot::default()));
        Self { id }
    }

    /// The call's id, for the body imports.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The next event about the call (other than `Window`).
    pub async fn next(&self) -> Event {
        poll_fn(|cx| {
            CALLS.with(|calls| {
                let mut calls = calls.borrow_mut();
                let Some(slot) = calls.get_mut(&self.id) else {
                    return Poll::Ready(Event::End(Some("the call is gone".into())));
                };
                match slot.events.pop_front() {
                    Some(event) => Poll::Ready(event),
                    None => {
                        slot.waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }
            })
        })
        .await
    }

    /// Waits until the host has room for more of the request body.
    pub async fn window(&self) {
        poll_fn(|cx| {
            CALLS.with(|calls| {
                let mut calls = calls.borrow_mut();
                let Some(slot) = calls.get_mut(&self.id) else {
                    return Poll::Ready(());
                };
                if std::mem::take(&mut slot.window) {
                    return Poll::Ready(());
                }
                slot.window_waker = Some(cx.waker().clone());
                Poll::Pending
            })
        })
        .await;
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let slot = CALLS.with(|calls| calls.borrow_mut().remove(&self.id));
        if slot.is_some_and(|slot| !slot.over) {
            bindings::cancel(self.id);
        }
    }
}

/// Hands `event` to the request waiting on call `call`, if there still is one.
pub fn deliver(call: u64, event: Event) {
    let waker = CALLS.with(|calls| {
        let mut calls = calls.borrow_mut();
        let slot = calls.get_mut(&call)?;
        if let Event::Window = event {
            slot.window = true;
            return slot.window_waker.take();
        }
        slot.over |= matches!(event, Event::Answer(_) | Event::End(_));
        slot.events.push_back(event);
        slot.waker.take()
    });
    if let Some(waker) = waker {
        waker.wake();
    }
}
