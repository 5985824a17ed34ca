"""Drives eddy with h11 as a strict client: every response on one kept-alive connection
must parse without a protocol error, and its framing must match what was asked.

usage: python3 h11_strict.py HOST PORT
"""
import socket
import sys

import h11


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    sock = socket.create_connection((host, port), timeout=10)
    conn = h11.Connection(our_role=h11.CLIENT)
    requests = [
        ("GET", "/users/ada", None),
        ("HEAD", "/users/ada", None),
        ("POST", "/greet", b"name=h11"),
        ("GET", "/api/items/42", None),
        ("DELETE", "/api/items/42", None),
        ("GET", "/old", None),
        ("GET", "/missing", None),
        ("PUT", "/greet", b""),
    ]
    for method, target, body in requests:
        headers = [("Host", host)]
        if body is not None:
            headers += [("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", str(len(body)))]
        data = conn.send(h11.Request(method=method, target=target, headers=headers))
        if body is not None:
            data += conn.send(h11.Data(data=body))
        data += conn.send(h11.EndOfMessage())
        sock.sendall(data)
        status, got = None, b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(sock.recv(65536))
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                names = {name.lower() for name, _ in event.headers}
                assert b"date" in names and b"server" in names, event.headers
            elif isinstance(event, h11.Data):
                got += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        print(method, target, status, len(got))
        conn.start_next_cycle()
    print("strict ok")


if __name__ == "__main__":
    main()
