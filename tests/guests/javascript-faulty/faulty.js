// A misbehaving JavaScript plugin for the language tests. By the last path segment:
// `throw` throws (the server must answer 500 and carry on), `now` answers Date.now(),
// anything else `ok N`, where N counts the requests this instance answered.

const encoder = new TextEncoder();
let answered = 0;

function text(body) {
  return { status: 200, headers: [["content-type", encoder.encode("text/plain")]], body: encoder.encode(body) };
}

export const handler = {
  handle(request) {
    const action = request.path.split("/").pop();
    if (action === "throw") {
      throw new Error("asked to throw");
    }
    if (action === "now") {
      return text(String(Date.now()));
    }
    answered += 1;
    return text(`ok ${answered}`);
  },
};
