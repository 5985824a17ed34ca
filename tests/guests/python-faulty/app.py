"""A misbehaving Python plugin for the language tests. By the last path segment:

- `raise`: raises an exception (the server must answer 500 and carry on);
- `exit`: calls sys.exit(3) (the same: one 500, then a fresh instance);
- `passwd`: tries to open /etc/passwd and answers what happened (the sandbox has no files);
- `time`: answers time.time() (the host's wall clock, unless --frozen-clocks);
- anything else: `ok N`, where N counts the requests this instance answered.
"""

import sys
import time

from wit_world import exports
from wit_world.imports.types import Request, Response

answered = 0


def text(body: str) -> Response:
    return Response(200, [("content-type", b"text/plain")], body.encode())


class Handler(exports.Handler):
    def handle(self, request: Request) -> Response:
        global answered
        action = request.path.rsplit("/", 1)[-1]
        if action == "raise":
            raise RuntimeError("asked to raise")
        if action == "exit":
            sys.exit(3)
        if action == "passwd":
            try:
                with open("/etc/passwd") as file:
                    return text("opened: " + file.read(64))
            except OSError as error:
                return text(f"denied: {type(error).__name__}: {error}")
        if action == "time":
            return text(repr(time.time()))
        answered += 1
        return text(f"ok {answered}")
