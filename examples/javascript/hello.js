// A plugin handler in JavaScript: the `eddy:http/handler` export, one request in, one
// response out. Build and serve it (from the repository root):
//
//   examples/javascript/build examples/javascript/hello.js
//   cargo run --release -- serve --handler target/javascript/hello.wasm
//   curl http://127.0.0.1:8888/world      # Hello from JavaScript, /world
//
// componentize-js maps the WIT records to plain objects: `list<u8>` is a Uint8Array, header
// fields are [name, Uint8Array] pairs, `u64` is a BigInt.

const encoder = new TextEncoder();

export const handler = {
  handle(request) {
    return {
      status: 200,
      headers: [["content-type", encoder.encode("text/plain; charset=utf-8")]],
      body: encoder.encode(`Hello from JavaScript, ${request.path}\n`),
    };
  },
};
