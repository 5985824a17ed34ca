"""Tornado's side of `bench/run upstream`: an `async def get` that fetches an upstream with
`AsyncHTTPClient` and answers with its status, and a hello for bystanders. One process.

    python3 bench/tornado_upstream.py 127.0.0.1:0 200   # max_clients; prints `listening on ADDR`

    GET /outbound?to=HOST:PORT   fetches http://HOST:PORT/, answers `status: 200`
    GET /hello                   answers `Hello, world!`
"""

import asyncio
import sys

import tornado.httpclient
import tornado.httpserver
import tornado.netutil
import tornado.web


class Fetch(tornado.web.RequestHandler):
    async def get(self):
        client = tornado.httpclient.AsyncHTTPClient()
        response = await client.fetch(f"http://{self.get_argument('to')}/")
        self.write(f"status: {response.code}")


class Hello(tornado.web.RequestHandler):
    def get(self):
        self.write("Hello, world!")


async def main(host, port, max_clients):
    # The default of 10 fetches at once would queue the rest; allow as many as the bench sends.
    tornado.httpclient.AsyncHTTPClient.configure(None, max_clients=max_clients)
    app = tornado.web.Application([(r"/outbound", Fetch), (r"/.*", Hello)])
    sockets = tornado.netutil.bind_sockets(port, host, backlog=4096)
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    addr = sockets[0].getsockname()
    print(f"listening on {addr[0]}:{addr[1]}", file=sys.stderr, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    host, _, port = sys.argv[1].rpartition(":")
    asyncio.run(main(host, int(port), int(sys.argv[2])))
