"""A plugin handler in Python: answers every request with a greeting and the path.

Build and serve it (from the repository root):

    examples/python/build examples/python/hello
    cargo run --release -- serve --handler target/python/hello.wasm
    curl http://127.0.0.1:8888/world      # Hello from Python, /world
"""

from wit_world import exports
from wit_world.imports.types import Request, Response


class Handler(exports.Handler):
    """The `eddy:http/handler` export: one request in, one response out."""

    def handle(self, request: Request) -> Response:
        body = f"Hello from Python, {request.path}\n".encode()
        return Response(200, [("content-type", b"text/plain; charset=utf-8")], body)
