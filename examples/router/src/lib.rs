//! A tornado.web-style `Application` as a plugin: a few routes with positional and named
//! groups, a JSON endpoint, a form and a redirect.
//!
//! ```sh
//! cargo run --release -- serve --handler target/guests/router.wasm
//! curl http://127.0.0.1:8888/users/ada%20l
//! curl http://127.0.0.1:8888/api/items/7
//! curl -d name=Ada http://127.0.0.1:8888/greet
//! ```

use eddy_plugin::{Application, Context, Json, RequestHandler};

/// `GET /`: a short index.
struct Index;

impl RequestHandler for Index {
    fn get(&self, cx: &mut Context<'_>) {
        cx.write("routes: /users/NAME, /api/items/ID, /greet (GET form, POST name), /old\n");
    }
}

/// `GET /users/(name)`: a positional group, percent-decoded.
struct User;

impl RequestHandler for User {
    fn get(&self, cx: &mut Context<'_>) {
        let name = cx.path_args.first().cloned().unwrap_or_default();
        cx.set_header("Content-Type", "text/plain; charset=UTF-8");
        cx.write(format!("Hello, {name}!\n"));
    }
}

/// `GET /api/items/(?P<id>\d+)`: a named group and a JSON response.
struct Item;

impl RequestHandler for Item {
    fn get(&self, cx: &mut Context<'_>) {
        let id: i64 = cx.kwarg("id").and_then(|id| id.parse().ok()).unwrap_or(0);
        cx.write_json(&Json::object([
            ("id", Json::Int(id)),
            ("name", Json::str(format!("item {id}"))),
        ]));
    }

    fn delete(&self, cx: &mut Context<'_>) {
        cx.set_status(204);
    }
}

/// `/greet`: a form on GET, a greeting on POST (urlencoded or multipart).
struct Greet;

impl RequestHandler for Greet {
    fn get(&self, cx: &mut Context<'_>) {
        cx.write(r#"<form method="post"><input name="name"><button>Greet</button></form>"#);
    }

    fn post(&self, cx: &mut Context<'_>) {
        match cx.argument("name").filter(|name| !name.is_empty()) {
            Some(name) => cx.write_json(&Json::object([(
                "greeting",
                Json::str(format!("Hello, {name}!")),
            )])),
            None => cx.send_error(400),
        }
    }
}

/// `/old`: a permanent redirect.
struct Old;

impl RequestHandler for Old {
    fn get(&self, cx: &mut Context<'_>) {
        cx.redirect("/", true);
    }
}

fn application() -> Application {
    let app = Application::new()
        .route("/", Index)
        .and_then(|app| app.route("/users/([^/]+)", User))
        .and_then(|app| app.route(r"/api/items/(?P<id>\d+)", Item))
        .and_then(|app| app.route("/greet", Greet))
        .and_then(|app| app.route("/old", Old));
    // The patterns above are constants; a typo would fail every request of the test suite.
    app.unwrap_or_default()
}

eddy_plugin::export_handler!(application());
