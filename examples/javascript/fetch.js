// A standard `wasi:http` handler in JavaScript, in the service-worker `fetch` event style that
// componentize-js (StarlingMonkey) turns into a `wasi:http/incoming-handler` export. The same
// component runs under `wasmtime serve` and other wasi:http hosts. Build and serve it:
//
//   examples/javascript/build -w wasi:http/proxy examples/javascript/fetch.js
//   cargo run --release -- serve --handler target/javascript/fetch.wasm --isolation request
//
// (componentize-js 0.23 answers one fetch event per instance: see docs/plugins.md.)
//   curl -d 'some body' http://127.0.0.1:8888/echo

addEventListener("fetch", (event) =>
  event.respondWith(
    (async () => {
      const request = event.request;
      const url = new URL(request.url);
      const body = await request.text();
      return new Response(`${request.method} ${url.pathname}${url.search}\n${body}`, {
        headers: { "content-type": "text/plain" },
      });
    })(),
  ),
);
