"""Tornado's hello world for `bench/run http`: one process, one `RequestHandler`.

    python3 bench/tornado_hello.py 127.0.0.1:0   # prints `listening on ADDR` to stderr
"""

import asyncio
import sys

import tornado.httpserver
import tornado.netutil
import tornado.web


class Hello(tornado.web.RequestHandler):
    def get(self):
        self.write("Hello, world!")


async def main(host, port):
    app = tornado.web.Application([(r"/.*", Hello)])
    # Port 0 lets the kernel pick; the bench reads the address back from this line.
    sockets = tornado.netutil.bind_sockets(port, host, backlog=4096)
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    addr = sockets[0].getsockname()
    print(f"listening on {addr[0]}:{addr[1]}", file=sys.stderr, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    host, _, port = sys.argv[1].rpartition(":")
    asyncio.run(main(host, int(port)))
