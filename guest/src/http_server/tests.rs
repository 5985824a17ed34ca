//! The HTTP server driven through a [`FakeHost`]: requests go in as `received` events, time
//! passes only when a test fires a timer, and responses are read back from the sent bytes.

use std::time::Duration;

use eddy_http::{Request, Response};

use super::reader::CONTINUE;
use super::{HttpServer, STALL_GRACE, Whole};
use crate::host::{ConnId, Event};
use crate::listen;
use crate::testing::{FakeHost, deliver, received};
use eddy_options::{ByteSize, HttpOptions};

const IDLE: Duration = Duration::from_secs(1);
const HEADER: Duration = Duration::from_secs(2);
const BODY: Duration = Duration::from_secs(3);
/// Checked for progress every quarter: every 5 s.
const WRITE: Duration = Duration::from_secs(20);

/// Answers with the method, the path and the body size.
fn describe(request: &Request) -> Response {
    Response::text(
        200,
        format!(
            "{} {} {}\n",
            request.method,
            request.path,
            request.body.len()
        ),
    )
}

/// Installs a fake host and serves [`describe`] with a distinct time-out per phase.
fn serve() -> FakeHost {
    let host = FakeHost::install();
    let options = HttpOptions {
        idle_timeout: IDLE,
        header_timeout: HEADER,
        body_timeout: BODY,
        write_timeout: WRITE,
        ..HttpOptions::default()
    };
    listen(HttpServer::new(options, Whole(describe)));
    host
}

fn accept(conn: ConnId) {
    deliver([Event::Accepted {
        conn,
        listener: 0,
        peer: "127.0.0.1:9".into(),
    }]);
}

/// Moves the clock to `after` from the start and delivers the host timer armed last, as
/// the host would when it is due: every guest timer due by then fires.
#[track_caller]
fn fire(host: &FakeHost, after: Duration) {
    let deadline = u64::try_from(after.as_nanos()).expect("a short duration");
    let (id, _) = *host
        .0
        .borrow()
        .timers
        .last()
        .expect("a host timer is armed");
    crate::runtime::handle_events(deadline, [Event::Timer(id)]);
}

fn sent_text(host: &FakeHost, conn: ConnId) -> String {
    String::from_utf8(host.sent_on(conn)).expect("utf8")
}

#[test]
fn idle_timeout_closes_a_kept_alive_connection() {
    let host = serve();
    accept(1);
    deliver([received(1, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")]);
    assert!(sent_text(&host, 1).ends_with("GET /a 0\n"));
    assert!(!host.was_closed(1), "kept alive");
    fire(&host, IDLE);
    assert!(host.was_closed(1));
}

#[test]
fn header_timeout_closes_a_connection_whose_head_is_incomplete() {
    let host = serve();
    accept(1);
    deliver([received(1, b"GET /a HTTP/1.1\r\nHo")]);
    deliver([received(1, b"st: x\r\n")]);
    assert!(!host.was_closed(1));
    fire(&host, HEADER);
    assert!(host.was_closed(1));
    assert_eq!(host.sent_on(1), b"", "a slow head gets no answer");
}

#[test]
fn body_timeout_closes_a_connection_whose_body_is_incomplete() {
    let host = serve();
    accept(1);
    deliver([received(
        1,
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n123",
    )]);
    assert!(!host.was_closed(1));
    fire(&host, BODY);
    assert!(host.was_closed(1));
    assert_eq!(host.sent_on(1), b"");
}

#[test]
fn write_timeout_cuts_a_client_that_takes_no_bytes() {
    let host = serve();
    host.0.borrow_mut().send_budget = Some(0);
    accept(1);
    deliver([received(1, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")]);
    for _ in 0..3 {
        fire(&host, WRITE / 4);
        assert!(
            !host.was_closed(1),
            "stalled for less than the write timeout"
        );
    }
    fire(&host, WRITE / 4);
    assert!(host.was_closed(1), "stalled for the whole write timeout");
}

#[test]
fn write_timeout_spares_a_slow_but_steady_reader() {
    let host = serve();
    host.0.borrow_mut().send_budget = Some(0);
    accept(1);
    deliver([received(1, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")]);
    for _ in 0..3 {
        fire(&host, WRITE / 4);
    }
    // The client takes a few bytes: the stall starts over.
    host.0.borrow_mut().send_budget = Some(8);
    deliver([Event::Writable(1)]);
    for _ in 0..3 {
        fire(&host, WRITE / 4);
        assert!(!host.was_closed(1));
    }
    host.0.borrow_mut().send_budget = None;
    deliver([Event::Writable(1)]);
    assert!(sent_text(&host, 1).ends_with("GET /a 0\n"));
    assert!(!host.was_closed(1));
}

#[test]
fn draining_closes_idle_connections_and_refuses_new_ones() {
    let host = serve();
    accept(1);
    accept(2);
    deliver([received(1, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")]);
    deliver([received(2, b"GET /b HTTP/1.1\r\nHo")]);
    deliver([Event::Draining]);
    assert!(host.was_closed(1), "idle after its response");
    assert!(!host.was_closed(2), "a request in progress may finish");
    deliver([received(2, b"st: x\r\n\r\n")]);
    let answer = sent_text(&host, 2);
    assert!(answer.contains("Connection: close\r\n"), "{answer}");
    assert!(answer.ends_with("GET /b 0\n"));
    assert!(host.was_closed(2));
    accept(3);
    assert!(host.was_closed(3), "accepted while draining");
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_read() {
    let host = serve();
    accept(1);
    deliver([received(
        1,
        b"POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )]);
    assert_eq!(host.sent_on(1), CONTINUE);
    deliver([received(1, b"hello")]);
    let sent = sent_text(&host, 1);
    assert!(sent.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
    assert!(sent.ends_with("POST /up 5\n"));
}

#[test]
fn pipelined_requests_are_answered_in_order_at_every_split() {
    let pipeline: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
        POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
        GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
    for split in 1..=pipeline.len() {
        let host = serve();
        let conn = 100 + split as ConnId;
        accept(conn);
        deliver([received(conn, &pipeline[..split])]);
        if split < pipeline.len() {
            deliver([received(conn, &pipeline[split..])]);
        }
        let sent = sent_text(&host, conn);
        let answers: Vec<&str> = sent
            .split("HTTP/1.1 200 OK\r\n")
            .skip(1)
            .map(|response| response.rsplit("\r\n\r\n").next().unwrap_or_default())
            .collect();
        assert_eq!(
            answers,
            ["GET /a 0\n", "POST /b 3\n", "GET /c 0\n"],
            "split {split}"
        );
        assert!(!host.was_closed(conn), "split {split}: kept alive");
    }
}

/// Installs a fake host and answers every request with 1,500 bytes, under a response budget
/// of 1,000 bytes.
fn serve_large() -> FakeHost {
    let host = FakeHost::install();
    let options = HttpOptions {
        write_timeout: WRITE,
        response_budget: ByteSize(1000),
        ..HttpOptions::default()
    };
    listen(HttpServer::new(
        options,
        Whole(|_: &Request| Response::text(200, vec![b'x'; 1500])),
    ));
    host
}

/// Whether anything was offered to the host on `conn`.
fn offered(host: &FakeHost, conn: ConnId) -> bool {
    host.0.borrow().sent.iter().any(|(c, _)| *c == conn)
}

/// Delivers `events` at `at` from the start.
fn deliver_at(at: Duration, events: impl IntoIterator<Item = Event>) {
    let now = u64::try_from(at.as_nanos()).expect("a short duration");
    crate::runtime::handle_events(now, events);
}

#[test]
fn past_the_response_budget_answers_wait_and_a_stalled_client_is_cut() {
    let host = serve_large();
    host.0.borrow_mut().send_budget = Some(0);
    accept(1);
    deliver([received(1, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")]);
    assert!(offered(&host, 1), "the first answer fits an empty budget");
    accept(2);
    deliver([received(2, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")]);
    assert!(!offered(&host, 2), "the second waits for room");
    fire(&host, STALL_GRACE / 2);
    assert!(!host.was_closed(1), "not stalled long enough yet");
    assert!(!offered(&host, 2));
    fire(&host, STALL_GRACE + Duration::from_millis(300));
    assert!(host.was_closed(1), "the client that took nothing is cut");
    assert!(offered(&host, 2), "and the waiting answer goes out");
    host.0.borrow_mut().send_budget = None;
    deliver_at(STALL_GRACE * 2, [Event::Writable(2)]);
    assert!(sent_text(&host, 2).ends_with(&"x".repeat(1500)));
}

#[test]
fn a_client_that_takes_bytes_is_spared_until_it_stalls() {
    let host = serve_large();
    host.0.borrow_mut().send_budget = Some(0);
    accept(1);
    deliver([received(1, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")]);
    accept(2);
    deliver([received(2, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")]);
    fire(&host, Duration::from_millis(300));
    host.0.borrow_mut().send_budget = Some(100);
    deliver_at(Duration::from_millis(900), [Event::Writable(1)]);
    fire(&host, STALL_GRACE + Duration::from_millis(300));
    assert!(!host.was_closed(1), "it took bytes within the grace");
    assert!(!offered(&host, 2));
    fire(&host, STALL_GRACE * 2 + Duration::from_millis(600));
    assert!(host.was_closed(1), "then it stalled for the grace");
    assert!(offered(&host, 2));
    host.0.borrow_mut().send_budget = None;
    deliver_at(STALL_GRACE * 3, [Event::Writable(2)]);
    assert!(sent_text(&host, 2).ends_with(&"x".repeat(1500)));
}
