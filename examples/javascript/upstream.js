// A standard `wasi:http` handler in JavaScript that waits on another HTTP service: it fetches
// `http://<to>/` (the `to` query parameter) with `fetch()` and answers with the upstream's
// status and body. Under Eddy the `await` suspends only this request's call: the worker serves
// everyone else meanwhile. The upstream must be allowed with --allow-http-outbound.
//
//   examples/javascript/build -w wasi:http/proxy examples/javascript/upstream.js
//   cargo run --release -- serve --handler target/javascript/upstream.wasm --isolation request \
//     --allow-http-outbound 127.0.0.1:9000
//   curl 'http://127.0.0.1:8888/?to=127.0.0.1:9000'

addEventListener("fetch", (event) =>
  event.respondWith(
    (async () => {
      const to = new URL(event.request.url).searchParams.get("to");
      if (!to) {
        return new Response("ask with ?to=HOST:PORT\n");
      }
      const upstream = await fetch(`http://${to}/`);
      const body = await upstream.text();
      return new Response(`upstream ${upstream.status}: ${body}`, {
        headers: { "content-type": "text/plain" },
      });
    })(),
  ),
);
