//! A plugin that answers every request with JSON describing the request as the server parsed
//! it (httpbin-style): method, uri, path, query, version, headers, body, arguments, files,
//! remote_ip, protocol, host, server_name (SNI). The debugging tool, and what the black-box tests run against.
//!
//! ```sh
//! cargo run --release -- serve --handler target/guests/inspect.wasm
//! curl -F field=value -F upload=@README.md http://127.0.0.1:8888/form?x=1
//! ```

use eddy_plugin::{Json, Request, Response};

fn text(bytes: &[u8]) -> Json {
    Json::str(String::from_utf8_lossy(bytes))
}

fn pairs<'a>(items: impl Iterator<Item = (&'a str, &'a [u8])>) -> Json {
    Json::Array(
        items
            .map(|(name, value)| Json::Array(vec![Json::str(name), text(value)]))
            .collect(),
    )
}

fn inspect(request: &Request) -> Response {
    let files = request.files().iter().map(|(field, file)| {
        Json::object([
            ("field", Json::str(field.as_str())),
            ("filename", Json::str(file.filename.as_str())),
            ("content_type", Json::str(file.content_type.as_str())),
            ("size", Json::from(file.body.len())),
        ])
    });
    let body = Json::object([
        ("method", Json::str(request.method.as_str())),
        ("uri", Json::str(request.uri.as_str())),
        ("path", Json::str(request.path.as_str())),
        ("query", Json::str(request.query.as_str())),
        ("version", Json::str(request.version.as_str())),
        ("headers", pairs(request.headers.iter())),
        ("body_len", Json::from(request.body.len())),
        ("body", text(&request.body)),
        ("arguments", pairs(request.arguments())),
        ("files", Json::Array(files.collect())),
        (
            "cookies",
            Json::Array(
                request
                    .cookies()
                    .into_iter()
                    .map(|(k, v)| Json::Array(vec![k.into(), v.into()]))
                    .collect(),
            ),
        ),
        ("remote_ip", Json::str(request.remote_ip.as_str())),
        ("protocol", Json::str(request.protocol.as_str())),
        ("host", Json::str(request.host.as_str())),
        (
            "server_name",
            request.server_name.as_deref().map_or(Json::Null, Json::str),
        ),
    ]);
    Response::json(200, &body)
}

eddy_plugin::export_handler!(inspect);
