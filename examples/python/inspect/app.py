"""A plugin handler in Python that answers every request with JSON describing it.

The same document as the Rust `examples/inspect` (httpbin-style, Tornado's argument rules):
method, uri, path, query, version, headers, body, arguments (query, then urlencoded or
multipart body fields), files, cookies, remote_ip, protocol, host, server_name (the TLS
SNI name, from the `eddy:http/connection` import).

    examples/python/build examples/python/inspect
    cargo run --release -- serve --handler target/python/inspect.wasm
    curl -F field=value -F upload=@README.md 'http://127.0.0.1:8888/form?x=1'
"""

import json
from urllib.parse import parse_qsl

from wit_world import exports
from wit_world.imports import connection
from wit_world.imports.types import Request, Response


def text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


def header(request: Request, name: str) -> str:
    for key, value in request.headers:
        if key.lower() == name:
            return text(value)
    return ""


def parameters(value: str) -> tuple[str, dict[str, str]]:
    """Splits `form-data; name="a"` into the value and its parameters."""
    first, *rest = value.split(";")
    params = {}
    for item in rest:
        key, _, val = item.strip().partition("=")
        if len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params[key.strip().lower()] = val
    return first.strip().lower(), params


def multipart(body: bytes, boundary: str, arguments: list, files: list) -> None:
    """Tornado's `parse_multipart_form_data`: fields become arguments, uploads files."""
    if len(boundary) >= 2 and boundary[0] == boundary[-1] == '"':
        boundary = boundary[1:-1]
    delimiter = b"--" + boundary.encode()
    end = body.rfind(delimiter + b"--")
    if end == -1:
        return
    for part in body[:end].split(delimiter + b"\r\n"):
        head_end = part.find(b"\r\n\r\n")
        if head_end == -1 or not part.endswith(b"\r\n"):
            continue
        headers = {}
        for line in text(part[:head_end]).split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition, params = parameters(headers.get("content-disposition", ""))
        if disposition != "form-data" or not params.get("name"):
            continue
        value = part[head_end + 4 : -2]
        if params.get("filename"):
            content_type = headers.get("content-type", "application/unknown")
            files.append(
                {
                    "field": params["name"],
                    "filename": params["filename"],
                    "content_type": content_type,
                    "size": len(value),
                }
            )
        else:
            arguments.append([params["name"], text(value)])


def cookies(request: Request) -> list:
    found: dict[str, str] = {}
    for key, value in request.headers:
        if key.lower() != "cookie":
            continue
        for chunk in text(value).split(";"):
            name, _, val = chunk.partition("=") if "=" in chunk else ("", "", chunk)
            name, val = name.strip(), val.strip()
            if not name and not val:
                continue
            if len(val) >= 2 and val[0] == val[-1] == '"':
                val = val[1:-1]
            found[name] = val
    return [[name, value] for name, value in found.items()]


def describe(request: Request) -> dict:
    arguments = [[k, v] for k, v in parse_qsl(request.query, keep_blank_values=True)]
    files: list = []
    content_type, params = parameters(header(request, "content-type"))
    if content_type == "application/x-www-form-urlencoded":
        form = parse_qsl(text(request.body), keep_blank_values=True)
        arguments += [[k, v] for k, v in form]
    elif content_type == "multipart/form-data" and "boundary" in params:
        multipart(request.body, params["boundary"], arguments, files)
    return {
        "method": request.method,
        "uri": request.uri,
        "path": request.path,
        "query": request.query,
        "version": request.version,
        "headers": [[name, text(value)] for name, value in request.headers],
        "body_len": len(request.body),
        "body": text(request.body),
        "arguments": arguments,
        "files": files,
        "cookies": cookies(request),
        "remote_ip": request.remote_ip,
        "protocol": request.protocol,
        "host": request.host,
        "server_name": connection.server_name() if request.protocol == "https" else None,
    }


class Handler(exports.Handler):
    """The `eddy:http/handler` export."""

    def handle(self, request: Request) -> Response:
        # Tornado's json_encode: `</` is escaped so the JSON can sit inside a <script>.
        body = json.dumps(describe(request), ensure_ascii=False).replace("</", "<\\/")
        headers = [("content-type", b"application/json; charset=UTF-8")]
        return Response(200, headers, body.encode())
