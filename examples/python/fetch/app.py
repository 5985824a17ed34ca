"""A `wasi:http` handler in Python that waits on another HTTP service: it fetches
`http://<to>/` (the `to` query parameter) and answers with the upstream's status and body.

It is written the plain way, with blocking calls (`pollable.block()`, `blocking_read`). Under
Eddy each of those waits suspends only this request's call: the worker serves everyone else
meanwhile, and other requests to this plugin run on other instances (up to
`--max-plugin-calls`). The upstream must be allowed with `--allow-http-outbound`.

    examples/python/build -w wasi:http/proxy examples/python/fetch
    cargo run --release -- serve --handler target/python/fetch.wasm \\
        --allow-http-outbound 127.0.0.1:9000
    curl 'http://127.0.0.1:8888/?to=127.0.0.1:9000'
"""

from urllib.parse import parse_qs, urlsplit

from wit_world import exports
from wit_world.imports import outgoing_handler
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    OutgoingBody,
    OutgoingRequest,
    OutgoingResponse,
    ResponseOutparam,
    Scheme_Http,
)
from wit_world.imports.streams import StreamError_Closed
from componentize_py_types import Ok, Err


def fetch(authority: str) -> tuple[int, bytes]:
    """GET http://<authority>/: the status and the whole body."""
    request = OutgoingRequest(Fields())
    request.set_scheme(Scheme_Http())
    request.set_authority(authority)
    request.set_path_with_query("/")
    future = outgoing_handler.handle(request, None)
    # The wait that suspends this call (and only this call) until the answer comes.
    future.subscribe().block()
    answer = future.get()
    if answer is None or isinstance(answer.value, Err) or isinstance(answer, Err):
        return 502, f"upstream failed: {answer}".encode()
    response = answer.value.value
    status = response.status()
    body = response.consume()
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
    return status, b"".join(chunks)


class IncomingHandler(exports.IncomingHandler):
    """The `wasi:http/incoming-handler` export."""

    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        query = parse_qs(urlsplit(request.path_with_query() or "/").query)
        to = query.get("to", [""])[0]
        if to:
            status, body = fetch(to)
            text = f"upstream {status}: ".encode() + body
        else:
            text = b"ask with ?to=HOST:PORT\n"
        response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
        response.set_status_code(200)
        outgoing = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        stream = outgoing.write()
        stream.blocking_write_and_flush(text)
        stream.__exit__(None, None, None)
        OutgoingBody.finish(outgoing, None)
