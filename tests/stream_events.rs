//! Peer half-close and reset reach the guest: the close callback runs after the pending read,
//! and `read_until_close` returns the bytes that were left.

mod util;

use std::net::Shutdown;
use std::time::Duration;

use util::Guest::Component;
use util::{Eddy, write_all};

#[test]
fn half_close_runs_close_callback_after_read_until_close_returns_the_rest() {
    let server = Eddy::serve_guest(Component("probe"), &[]);
    let mut conn = server.connect();
    let local = conn.local_addr().expect("addr");
    write_all(&mut conn, b"partial ");
    write_all(&mut conn, b"request");
    conn.shutdown(Shutdown::Write).expect("half-close");
    let out = server.wait_stdout(&format!("closed {local}"));
    let rest = format!("rest {local} partial request\n");
    let closed = format!("closed {local}\n");
    let (rest_at, closed_at) = (out.find(&rest), out.find(&closed));
    assert!(
        rest_at.is_some(),
        "read_until_close did not return the rest:\n{out}"
    );
    assert!(
        rest_at < closed_at,
        "the close callback must run after the read resolves:\n{out}"
    );
}

#[test]
fn reset_is_delivered_with_the_bytes_before_it() {
    let server = Eddy::serve_guest(Component("probe"), &[]);
    let mut conn = server.connect();
    let local = conn.local_addr().expect("addr");
    write_all(&mut conn, b"abc");
    std::thread::sleep(Duration::from_millis(200));
    socket2::SockRef::from(&conn)
        .set_linger(Some(Duration::ZERO))
        .expect("linger");
    drop(conn); // SO_LINGER 0: the kernel sends RST
    let out = server.wait_stdout(&format!("closed {local}"));
    assert!(out.contains(&format!("rest {local} abc\n")), "{out}");
}
