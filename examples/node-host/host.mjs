// Eddy's HTTP server guest under another host: Node.js instead of the `eddy` binary.
//
//   examples/node-host/build                      # jco transpile target/guests/http-server.wasm
//   node examples/node-host/host.mjs --listen 127.0.0.1:8888
//   curl -d hi http://127.0.0.1:8888/x
//
// The component is the unchanged `http-server` guest (the one `eddy serve` embeds), turned into
// ES modules by `jco transpile`. This file implements everything it imports, over Node's `net`
// sockets: `eddy:io/{types,net,timers,clock,log,process}` and `eddy:http/plugins` (plugin 0 is
// the JavaScript function in handler.mjs; when it returns a promise, the guest's request waits
// for it while everything else goes on, and the answer reaches the guest through its
// `eddy:http/plugin-results.deliver` export). The guest keeps all the HTTP logic: parsing,
// keep-alive, pipelining, chunked bodies, limits, timeouts.

import net from "node:net";
import path from "node:path";
import { readFile } from "node:fs/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { handle } from "./handler.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 && at + 1 < args.length ? args[at + 1] : fallback;
};
const listen = option("--listen", "127.0.0.1:8888");
const componentDir = path.resolve(option("--component", path.join(here, "../../target/node-host")));

// ---- the monotonic clock: nanoseconds since this host started ----------------------------
const started = process.hrtime.bigint();
const now = () => process.hrtime.bigint() - started;

// ---- the event batch: one `handle-events` call per turn of Node's event loop --------------
let guest;
let pending = [];
let scheduled = false;
function push(event) {
  pending.push(event);
  if (!scheduled) {
    scheduled = true;
    setImmediate(deliver);
  }
}
function deliver() {
  scheduled = false;
  const batch = pending;
  pending = [];
  if (batch.length > 0) {
    guest.handleEvents(now(), batch);
  }
}

// ---- connections ------------------------------------------------------------------------
/** conn-id (BigInt) → { socket, blocked } */
const connections = new Map();
let nextConn = 1n;

/** A `socket-error` as the WIT declares it, from a Node error. */
function socketError(error) {
  const codes = {
    ECONNREFUSED: "connection-refused",
    ECONNRESET: "connection-reset",
    ECONNABORTED: "connection-aborted",
    ETIMEDOUT: "timed-out",
    EPIPE: "connection-reset",
    EHOSTUNREACH: "unreachable",
    ENETUNREACH: "unreachable",
  };
  return { code: codes[error.code] ?? "other", message: error.message };
}

/** A result's error: jco turns a thrown object with `payload` into `err(payload)`. */
function fail(payload) {
  const error = new Error(typeof payload === "object" ? payload.message ?? payload.tag : payload);
  error.payload = payload;
  return error;
}

function watch(conn, socket) {
  socket.on("data", (bytes) => push({ tag: "received", val: { conn, bytes: new Uint8Array(bytes) } }));
  socket.on("end", () => connections.has(conn) && push({ tag: "end-of-stream", val: conn }));
  socket.on("error", (error) => {
    if (connections.has(conn)) {
      push({ tag: "failed", val: { conn, error: socketError(error) } });
    }
  });
}

const address = (host, port) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);

const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
  const conn = nextConn++;
  connections.set(conn, { socket, blocked: false });
  watch(conn, socket);
  push({
    tag: "accepted",
    val: {
      conn,
      listener: 0,
      peer: address(socket.remoteAddress, socket.remotePort),
      local: address(socket.localAddress, socket.localPort),
    },
  });
});

// ---- the imports ------------------------------------------------------------------------
const netImports = {
  send(conn, bytes) {
    const entry = connections.get(conn);
    if (!entry) {
      throw fail({ code: "unknown-connection", message: `no connection ${conn}` });
    }
    // Node buffers what the kernel does not take; once its buffer is over the high-water
    // mark, take nothing more until it drains, then say `writable`, as the eddy host does.
    if (entry.blocked) {
      return 0;
    }
    if (!entry.socket.write(Buffer.from(bytes))) {
      entry.blocked = true;
      entry.socket.once("drain", () => {
        entry.blocked = false;
        if (connections.has(conn)) {
          push({ tag: "writable", val: conn });
        }
      });
    }
    return bytes.length;
  },
  setReadInterest(conn, on) {
    const entry = connections.get(conn);
    if (entry) {
      on ? entry.socket.resume() : entry.socket.pause();
    }
  },
  setNodelay(conn, on) {
    const entry = connections.get(conn);
    if (!entry) {
      throw fail({ code: "unknown-connection", message: `no connection ${conn}` });
    }
    entry.socket.setNoDelay(on);
  },
  close(conn) {
    const entry = connections.get(conn);
    if (entry) {
      connections.delete(conn);
      // Written bytes still go out, then FIN; the socket is freed once that is done.
      entry.socket.end(() => entry.socket.destroy());
    }
  },
  connect(target) {
    const match = /^\[?([^\]]+)\]?:(\d+)$/.exec(target);
    if (!match) {
      throw fail({ code: "invalid-address", message: `not host:port: ${target}` });
    }
    const conn = nextConn++;
    const socket = net.connect({ host: match[1], port: Number(match[2]), allowHalfOpen: true });
    socket.pause();
    connections.set(conn, { socket, blocked: false });
    socket.once("connect", () => push({ tag: "connected", val: conn }));
    watch(conn, socket);
    return conn;
  },
  connectTls(target) {
    throw fail({ code: "not-permitted", message: `this host does not speak TLS (${target})` });
  },
  startTls(conn) {
    throw fail({ code: "not-permitted", message: `this host does not speak TLS (connection ${conn})` });
  },
  getTlsInfo(_conn) {
    return undefined;
  },
};

const timers = new Map();
let nextTimer = 1n;
const timerImports = {
  setTimer(deadline) {
    const id = nextTimer++;
    const delay = Number((deadline - now()) / 1000000n);
    timers.set(
      id,
      setTimeout(() => {
        timers.delete(id);
        push({ tag: "timer", val: id });
      }, Math.max(0, delay)),
    );
    return id;
  },
  cancelTimer(id) {
    clearTimeout(timers.get(id));
    timers.delete(id);
  },
};

const clockImports = {
  now,
  wallTime() {
    const ms = Date.now();
    return [BigInt(Math.floor(ms / 1000)), (ms % 1000) * 1000000];
  },
};

const logImports = {
  log(level, message) {
    console.error(`${level}: ${message}`);
  },
  access(entry) {
    console.error(
      `access: ${entry.remote} "${entry.method} ${entry.path}" ${entry.status} ${entry.bytes} ${entry.durationUs}us`,
    );
  },
};

const processImports = {
  writeStdout(bytes) {
    process.stdout.write(Buffer.from(bytes));
  },
  stop(code) {
    process.exit(code);
  },
};

const pluginImports = {
  call(plugin, request) {
    if (plugin !== 0) {
      throw fail({ tag: "unknown-plugin" });
    }
    try {
      return handle(request);
    } catch (error) {
      throw fail({ tag: "trapped", val: String(error?.stack ?? error) });
    }
  },
  // This host has no TLS listeners, so no request comes with a server name.
  callSecure(plugin, request, _serverName) {
    return pluginImports.call(plugin, request);
  },
  // One route, every path: everything goes to the JavaScript handler. The result sits inside
  // an option here, so it is a tagged value rather than a throw.
  dispatch(request, _serverName) {
    try {
      return { tag: "ok", val: handle(request) };
    } catch (error) {
      return trapped(error);
    }
  },
  // What the guest calls: a handler that answers at once is `ready`; one that returns a
  // promise is `pending`, and its answer is delivered with `plugin-results.deliver` when the
  // promise settles (the answers that settle in one turn of Node's event loop go together).
  start(request, _serverName) {
    let answer;
    try {
      answer = handle(request);
    } catch (error) {
      return { tag: "ready", val: trapped(error) };
    }
    if (!(answer instanceof Promise)) {
      return { tag: "ready", val: { tag: "ok", val: answer } };
    }
    const call = nextCall++;
    answer.then(
      (response) => settle(call, { tag: "ok", val: response }),
      (error) => settle(call, trapped(error)),
    );
    return { tag: "pending", val: call };
  },
  // This handler takes whole request bodies and answers whole: nothing streams.
  streamsBody(_path) {
    return false;
  },
  startStreaming(request, serverName) {
    return pluginImports.start(request, serverName);
  },
  writeBody(_call, _bytes) {
    return 0;
  },
  finishBody(_call, _complete) {},
  moreBody(_call, _room) {},
  cancel(call) {
    settled.delete(call);
    cancelled.add(call);
  },
};

/** A handler's exception as the guest sees it: the plugin `trapped` (a 500). */
function trapped(error) {
  return { tag: "err", val: { tag: "trapped", val: String(error?.stack ?? error) } };
}

let nextCall = 1n;
/** Answers settled since the last delivery, by call; calls the guest gave up on. */
const settled = new Map();
const cancelled = new Set();
let deliveryScheduled = false;

/** Queues the answer of call `call`; one `deliver` per turn of Node's event loop. */
function settle(call, answer) {
  if (cancelled.delete(call)) {
    return;
  }
  settled.set(call, answer);
  if (!deliveryScheduled) {
    deliveryScheduled = true;
    setImmediate(() => {
      deliveryScheduled = false;
      const updates = [...settled].map(([id, result]) => ({
        call: id,
        event: { tag: "answer", val: result },
      }));
      settled.clear();
      guest.results.deliver(now(), updates);
    });
  }
}

// ---- start ------------------------------------------------------------------------------
const { instantiate } = await import(pathToFileURL(path.join(componentDir, "http-server.js")));
const imports = {
  "eddy:io/types": {},
  "eddy:io/net": netImports,
  "eddy:io/timers": timerImports,
  "eddy:io/clock": clockImports,
  "eddy:io/log": logImports,
  "eddy:io/process": processImports,
  "eddy:http/types": {},
  "eddy:http/plugins": pluginImports,
};
const instance = await instantiate(
  async (name) => WebAssembly.compile(await readFile(path.join(componentDir, name))),
  imports,
);
guest = instance.guest;
guest.results = instance.pluginResults;
// One route for plugin 0: every path goes to the JavaScript handler.
guest.start([], [["route", ".*"]]);

const [host, port] = (() => {
  const at = listen.lastIndexOf(":");
  return [listen.slice(0, at).replace(/^\[|\]$/g, ""), Number(listen.slice(at + 1))];
})();
server.listen(port, host, () => {
  const bound = server.address();
  console.error(`listening on ${address(bound.address, bound.port)}`);
});
