"""A standard `wasi:http/proxy` component in Python: the `wasi:http/incoming-handler` export.

Unlike the `eddy:http/plugin` handlers beside it, this one speaks the standard WASI HTTP
interface, so the same component runs under `wasmtime serve` and other wasi:http hosts.
It answers with the method and path, and echoes the request body.

    examples/python/build -w wasi:http/proxy examples/python/proxy
    cargo run --release -- serve --handler target/python/proxy.wasm
    curl -d 'some body' http://127.0.0.1:8888/echo
"""

from wit_world import exports
from wit_world.imports.types import (
    Fields,
    IncomingBody,
    IncomingRequest,
    Method_Other,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)
from wit_world.imports.streams import StreamError_Closed
from componentize_py_types import Ok, Err


def method_name(request: IncomingRequest) -> str:
    method = request.method()
    if isinstance(method, Method_Other):
        return method.value
    return type(method).__name__.removeprefix("Method_").upper()


def read_body(request: IncomingRequest) -> bytes:
    body = request.consume()
    stream = body.stream()
    chunks = []
    while True:
        try:
            chunks.append(stream.blocking_read(65536))
        except Err as error:
            if isinstance(error.value, StreamError_Closed):
                break
            raise
    stream.__exit__(None, None, None)
    IncomingBody.finish(body)
    return b"".join(chunks)


class IncomingHandler(exports.IncomingHandler):
    """The `wasi:http/incoming-handler` export."""

    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        head = f"{method_name(request)} {request.path_with_query()}\n".encode()
        payload = head + read_body(request)
        response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
        response.set_status_code(200)
        body = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        stream = body.write()
        # blocking-write-and-flush takes at most 4096 bytes at a time.
        for start in range(0, len(payload), 4096):
            stream.blocking_write_and_flush(payload[start : start + 4096])
        stream.__exit__(None, None, None)
        OutgoingBody.finish(body, None)
