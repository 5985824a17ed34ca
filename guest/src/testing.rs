//! A fake [`Host`] for native unit tests: records every call and lets a test decide how many
//! bytes each `send` takes.

use std::cell::RefCell;
use std::rc::Rc;

use crate::host::{ConnId, ErrorCode, Event, Host, Instant, Level, SocketError, TimerId};
use crate::runtime;

/// What the fake host saw.
#[derive(Default)]
pub struct Record {
    /// Bytes taken by `send`, per connection, in order.
    pub sent: Vec<(ConnId, Vec<u8>)>,
    /// Every read-interest change.
    pub interest: Vec<(ConnId, bool)>,
    /// Closed connections.
    pub closed: Vec<ConnId>,
    /// How many bytes the next sends take (`None`: all of them).
    pub send_budget: Option<usize>,
    /// Number of `send` calls.
    pub send_calls: usize,
    /// The next connection id `connect` returns.
    pub next_conn: ConnId,
    /// Armed timers.
    pub timers: Vec<(TimerId, Instant)>,
    /// Cancelled timers.
    pub cancelled: Vec<TimerId>,
    /// The exit code passed to `stop`.
    pub stopped: Option<u8>,
    /// What `wall_time` answers.
    pub wall: (u64, u32),
    /// Number of `wall_time` calls.
    pub wall_reads: usize,
}

/// A host that records calls instead of performing them.
#[derive(Clone, Default)]
pub struct FakeHost(pub Rc<RefCell<Record>>);

impl FakeHost {
    /// Installs a fresh fake host for this test thread and returns it.
    pub fn install() -> Self {
        let host = Self::default();
        host.0.borrow_mut().next_conn = 1000;
        host.0.borrow_mut().wall = (784_111_777, 0);
        runtime::install(Rc::new(host.clone()), Vec::new()).expect("no options");
        host
    }

    /// Bytes sent on `conn`, concatenated.
    pub fn sent_on(&self, conn: ConnId) -> Vec<u8> {
        self.0
            .borrow()
            .sent
            .iter()
            .filter(|(c, _)| *c == conn)
            .flat_map(|(_, b)| b.clone())
            .collect()
    }

    /// The read interest last set for `conn`.
    pub fn interest(&self, conn: ConnId) -> bool {
        self.0
            .borrow()
            .interest
            .iter()
            .rev()
            .find(|(c, _)| *c == conn)
            .is_some_and(|(_, on)| *on)
    }

    /// Whether `conn` was closed.
    pub fn was_closed(&self, conn: ConnId) -> bool {
        self.0.borrow().closed.contains(&conn)
    }
}

/// Delivers events at time 0.
pub fn deliver(events: impl IntoIterator<Item = Event>) {
    runtime::handle_events(0, events);
}

/// Shorthand for a `received` event.
pub fn received(conn: ConnId, bytes: &[u8]) -> Event {
    Event::Received {
        conn,
        bytes: bytes.to_vec(),
    }
}

impl Host for FakeHost {
    fn send(&self, conn: ConnId, bytes: &[u8]) -> Result<usize, SocketError> {
        let mut record = self.0.borrow_mut();
        record.send_calls += 1;
        if record.closed.contains(&conn) {
            return Err(SocketError {
                code: ErrorCode::UnknownConnection,
                message: "closed".into(),
            });
        }
        let taken = record
            .send_budget
            .map_or(bytes.len(), |budget| budget.min(bytes.len()));
        if let Some(budget) = record.send_budget.as_mut() {
            *budget -= taken;
        }
        record.sent.push((conn, bytes[..taken].to_vec()));
        Ok(taken)
    }

    fn set_read_interest(&self, conn: ConnId, on: bool) {
        self.0.borrow_mut().interest.push((conn, on));
    }

    fn set_nodelay(&self, _conn: ConnId, _on: bool) -> Result<(), SocketError> {
        Ok(())
    }

    fn close(&self, conn: ConnId) {
        self.0.borrow_mut().closed.push(conn);
    }

    fn connect(&self, address: &str) -> Result<ConnId, SocketError> {
        if address.starts_with("denied") {
            return Err(SocketError {
                code: ErrorCode::NotPermitted,
                message: format!("{address} not allowed"),
            });
        }
        let mut record = self.0.borrow_mut();
        record.next_conn += 1;
        Ok(record.next_conn)
    }

    fn connect_tls(&self, address: &str, _server_name: &str) -> Result<ConnId, SocketError> {
        self.connect(address)
    }

    fn start_tls(&self, _conn: ConnId, _server_name: Option<&str>) -> Result<(), SocketError> {
        Ok(())
    }

    fn tls_info(&self, _conn: ConnId) -> Option<crate::host::TlsInfo> {
        None
    }

    fn set_timer(&self, deadline: Instant) -> TimerId {
        let mut record = self.0.borrow_mut();
        let id = record.timers.len() as TimerId + 1;
        record.timers.push((id, deadline));
        id
    }

    fn cancel_timer(&self, timer: TimerId) {
        self.0.borrow_mut().cancelled.push(timer);
    }

    fn now(&self) -> Instant {
        0
    }

    fn wall_time(&self) -> (u64, u32) {
        let mut record = self.0.borrow_mut();
        record.wall_reads += 1;
        record.wall
    }

    fn log(&self, _level: Level, _message: &str) {}

    fn access(&self, _entry: crate::host::AccessEntry) {}

    fn write_stdout(&self, _bytes: &[u8]) {}

    fn stop(&self, code: u8) {
        self.0.borrow_mut().stopped = Some(code);
    }
}
