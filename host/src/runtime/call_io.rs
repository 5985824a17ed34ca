//! What a plugin call tells the server guest once `start` has answered `pending`: the events
//! of every call of a worker go into one outbox, in order, and reach the guest in one
//! `plugin-results.deliver` call per loop turn.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::task::Waker;

use super::calls::CallId;
use super::pipe::Pipe;
use super::server_wit::exports::eddy::http::plugin_results::{CallEvent, CallUpdate};

/// The events calls made since the guest last heard of them, in order.
#[derive(Clone, Default)]
pub struct Outbox(Rc<RefCell<Vec<CallUpdate>>>);

impl Outbox {
    /// Adds an event of call `call`.
    pub fn push(&self, call: CallId, event: CallEvent) {
        self.0.borrow_mut().push(CallUpdate { call, event });
    }

    /// Moves every event to the end of `into`.
    pub fn drain_into(&self, into: &mut Vec<CallUpdate>) {
        into.append(&mut self.0.borrow_mut());
    }

    /// Whether no event waits for delivery.
    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }
}

/// The pipes of a worker's calls, by call: the guest's body imports find them here.
pub type Pipes = Rc<RefCell<HashMap<CallId, Pipe>>>;

/// One call's side of the outbox and of its pipe.
pub struct CallIo {
    id: CallId,
    outbox: Outbox,
    /// The call's pipe, made when first needed (most calls answer whole and need none) and
    /// registered in `pipes` then.
    pipe: OnceCell<Pipe>,
    pipes: Pipes,
    waker: Waker,
    head_sent: Cell<bool>,
    ended: Cell<bool>,
}

impl CallIo {
    /// The events of call `id`, woken by `waker`; its pipe, once made, is registered in
    /// `pipes`.
    pub fn new(id: CallId, outbox: Outbox, pipes: Pipes, waker: Waker) -> Self {
        Self {
            id,
            outbox,
            pipe: OnceCell::new(),
            pipes,
            waker,
            head_sent: Cell::new(false),
            ended: Cell::new(false),
        }
    }

    /// Tells the guest `event`.
    pub fn emit(&self, event: CallEvent) {
        match event {
            CallEvent::Head(_) => self.head_sent.set(true),
            CallEvent::End(_) => self.ended.set(true),
            _ => {}
        }
        self.outbox.push(self.id, event);
    }

    /// Whether the response head went out: from then on, a failure ends the body instead of
    /// answering 500.
    pub fn head_sent(&self) -> bool {
        self.head_sent.get()
    }

    /// Whether the streamed body's end went out: the guest has heard the last of the call.
    pub fn ended(&self) -> bool {
        self.ended.get()
    }

    /// The call's pipe (made and registered now if it was not yet).
    pub fn pipe(&self) -> &Pipe {
        self.pipe.get_or_init(|| {
            let pipe = Pipe::new(self.waker.clone());
            self.pipes.borrow_mut().insert(self.id, pipe.clone());
            pipe
        })
    }

    /// Whether the call has a pipe yet.
    pub fn has_pipe(&self) -> bool {
        self.pipe.get().is_some()
    }
}
