// The JavaScript request handler the Node.js host offers the server guest as plugin 0: the
// same `eddy:http` request and response records a plugin component gets, as plain objects
// (`list<u8>` is a Uint8Array, header fields are [name, Uint8Array] pairs).

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Answers one request with JSON describing it; `/wait?ms=N` answers after N ms, as a handler
 * that awaits another service would (its promise does not hold the server's other requests).
 */
export function handle(request) {
  const wait = /^\/wait$/.test(request.path) && /(?:^|&)ms=(\d+)/.exec(request.query);
  if (wait) {
    return new Promise((resolve) => setTimeout(() => resolve(describe(request)), Number(wait[1])));
  }
  return describe(request);
}

/** The request as JSON. */
function describe(request) {
  const body = JSON.stringify({
    method: request.method,
    path: request.path,
    query: request.query,
    version: request.version,
    headers: request.headers.map(([name, value]) => [name, decoder.decode(value)]),
    body: decoder.decode(request.body),
    remote_ip: request.remoteIp,
    host_runtime: `node ${process.version}`,
  });
  return {
    status: 200,
    headers: [["content-type", encoder.encode("application/json")]],
    body: encoder.encode(body),
  };
}
