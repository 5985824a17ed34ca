//! A tornado.web-style router: an [`Application`] maps path regexes to [`RequestHandler`]s
//! whose methods (`get`, `post`, …) fill a [`Context`] (Tornado's `RequestHandler` output
//! side: `write`, `set_status`, `set_header`, `redirect`, JSON).
//!
//! Routes match the whole path (Tornado appends `$`), first match wins; groups are
//! percent-decoded and passed positionally (`path_args`) or by name (`path_kwargs`). No match
//! is a 404 page, a method the handler does not implement a 405, and HEAD runs `get` with the
//! body dropped by the encoder.

use regex::Regex;

use super::handler::Handler;
use super::json::Json;
use super::query::percent_decode;
use super::request::Request;
use super::response::Response;

/// The methods a [`RequestHandler`] may implement; each defaults to 405.
#[allow(unused_variables)]
pub trait RequestHandler {
    /// `GET` (and `HEAD`, unless [`RequestHandler::head`] is implemented).
    fn get(&self, cx: &mut Context<'_>) {
        cx.send_error(405);
    }
    /// `HEAD`: `get` by default; the body is never sent.
    fn head(&self, cx: &mut Context<'_>) {
        self.get(cx);
    }
    /// `POST`.
    fn post(&self, cx: &mut Context<'_>) {
        cx.send_error(405);
    }
    /// `PUT`.
    fn put(&self, cx: &mut Context<'_>) {
        cx.send_error(405);
    }
    /// `DELETE`.
    fn delete(&self, cx: &mut Context<'_>) {
        cx.send_error(405);
    }
    /// `PATCH`.
    fn patch(&self, cx: &mut Context<'_>) {
        cx.send_error(405);
    }
    /// `OPTIONS`.
    fn options(&self, cx: &mut Context<'_>) {
        cx.send_error(405);
    }
}

/// One request being answered by a [`RequestHandler`].
pub struct Context<'a> {
    /// The request.
    pub request: &'a Request,
    /// Unnamed groups of the route, percent-decoded.
    pub path_args: Vec<String>,
    /// Named groups of the route, percent-decoded.
    pub path_kwargs: Vec<(String, String)>,
    response: Response,
}

impl<'a> Context<'a> {
    fn new(request: &'a Request) -> Self {
        Self {
            request,
            path_args: Vec::new(),
            path_kwargs: Vec::new(),
            response: Response::new(200),
        }
    }

    /// Appends to the body.
    pub fn write(&mut self, chunk: impl AsRef<[u8]>) {
        self.response.body.extend_from_slice(chunk.as_ref());
    }

    /// Writes `value` as the JSON body with a JSON content type (Tornado's `write(dict)`).
    pub fn write_json(&mut self, value: &Json) {
        self.set_header("Content-Type", "application/json; charset=UTF-8");
        self.write(value.to_string());
    }

    /// Sets the status code.
    pub fn set_status(&mut self, status: u16) {
        self.response.status = status;
    }

    /// Replaces header `name`.
    pub fn set_header(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        self.response.headers.set(name, value);
    }

    /// Adds a value to header `name`.
    pub fn add_header(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        self.response.headers.add(name, value);
    }

    /// Redirects to `url` (301 when `permanent`, else 302), discarding any body.
    pub fn redirect(&mut self, url: &str, permanent: bool) {
        self.response.status = if permanent { 301 } else { 302 };
        self.response.body.clear();
        self.set_header("Location", url);
    }

    /// Replaces the response with Tornado's error page for `status`.
    pub fn send_error(&mut self, status: u16) {
        self.response = Response::error(status);
    }

    /// A named route group, if matched.
    pub fn kwarg(&self, name: &str) -> Option<&str> {
        self.path_kwargs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The request argument `name` (query or body), if sent.
    pub fn argument(&self, name: &str) -> Option<String> {
        self.request.argument(name)
    }

    /// The status set so far.
    pub fn status(&self) -> u16 {
        self.response.status
    }
}

struct Route {
    pattern: Regex,
    handler: Box<dyn RequestHandler>,
}

/// Routes requests to [`RequestHandler`]s by path (Tornado's `Application`).
#[derive(Default)]
pub struct Application {
    routes: Vec<Route>,
}

impl Application {
    /// An application with no routes (every request is a 404).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route: `pattern` must match the whole path.
    ///
    /// # Errors
    /// `pattern` is not a valid regex.
    pub fn route(
        mut self,
        pattern: &str,
        handler: impl RequestHandler + 'static,
    ) -> Result<Self, regex::Error> {
        let anchored = format!("^(?:{pattern})$");
        self.routes.push(Route {
            pattern: Regex::new(&anchored)?,
            handler: Box::new(handler),
        });
        Ok(self)
    }

    fn dispatch(&self, request: &Request) -> Response {
        let mut cx = Context::new(request);
        let Some((route, captures)) = self
            .routes
            .iter()
            .find_map(|route| route.pattern.captures(&request.path).map(|c| (route, c)))
        else {
            return Response::error(404);
        };
        let decode = |text: &str| {
            String::from_utf8_lossy(&percent_decode(text.as_bytes(), false)).into_owned()
        };
        let names: Vec<Option<&str>> = route.pattern.capture_names().skip(1).collect();
        for (index, name) in names.iter().enumerate() {
            let Some(group) = captures.get(index + 1) else {
                continue;
            };
            match name {
                Some(name) => cx
                    .path_kwargs
                    .push(((*name).to_owned(), decode(group.as_str()))),
                None => cx.path_args.push(decode(group.as_str())),
            }
        }
        let handler = &route.handler;
        match request.method.as_str() {
            "GET" => handler.get(&mut cx),
            "HEAD" => handler.head(&mut cx),
            "POST" => handler.post(&mut cx),
            "PUT" => handler.put(&mut cx),
            "DELETE" => handler.delete(&mut cx),
            "PATCH" => handler.patch(&mut cx),
            "OPTIONS" => handler.options(&mut cx),
            _ => cx.send_error(405),
        }
        cx.response
    }
}

impl Handler for Application {
    fn handle(&self, request: &Request) -> Response {
        self.dispatch(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::Version;
    use crate::headers::HeaderMap;
    use crate::request::RequestParts;

    fn request(method: &str, uri: &str) -> Request {
        Request::new(RequestParts {
            method: method.into(),
            uri: uri.into(),
            version: Version::Http11,
            headers: HeaderMap::new(),
            body: Vec::new(),
            remote_ip: "127.0.0.1".into(),
            protocol: "http".into(),
            host: "x".into(),
            server_name: None,
            start_time: 0,
        })
    }

    struct User;
    impl RequestHandler for User {
        fn get(&self, cx: &mut Context<'_>) {
            let id = cx.path_args.first().cloned().unwrap_or_default();
            let tab = cx.kwarg("tab").unwrap_or("").to_owned();
            cx.write(format!("user {id} tab {tab}"));
        }
    }

    struct Moved;
    impl RequestHandler for Moved {
        fn get(&self, cx: &mut Context<'_>) {
            cx.redirect("/new", true);
        }
    }

    fn app() -> Application {
        Application::new()
            .route(r"/user/([^/]+)/(?P<tab>\w+)", User)
            .and_then(|app| app.route("/old", Moved))
            .expect("valid routes")
    }

    #[test]
    fn groups_are_decoded_positionally_and_by_name() {
        let response = app().handle(&request("GET", "/user/a%20b/posts?x=1"));
        assert_eq!(
            (response.status, response.body),
            (200, b"user a b tab posts".to_vec())
        );
    }

    #[test]
    fn routes_match_the_whole_path() {
        assert_eq!(app().handle(&request("GET", "/old/more")).status, 404);
        assert_eq!(app().handle(&request("GET", "/x/old")).status, 404);
    }

    #[test]
    fn unimplemented_methods_are_405_and_head_runs_get() {
        assert_eq!(app().handle(&request("POST", "/old")).status, 405);
        assert_eq!(app().handle(&request("BREW", "/old")).status, 405);
        let head = app().handle(&request("HEAD", "/old"));
        assert_eq!(
            (head.status, head.headers.get("Location")),
            (301, Some(&b"/new"[..]))
        );
    }
}
