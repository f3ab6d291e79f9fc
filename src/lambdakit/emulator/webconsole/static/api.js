// The console's HTTP API (relative to the page, which is served at /_lambdakit/console/) and
// the real Lambda Invoke API on the same origin.

export const BASE = new URL("./", location.href).pathname.replace(/\/$/, "");

export class ApiError extends Error {
  constructor(status, message, type = null) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    message = body.message || body.Message || message;
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(response.status, message, response.headers.get("x-amzn-ErrorType"));
}

/** GET/PUT/POST/DELETE a console API path ("api/overview"); JSON in, JSON (or null) out. */
export async function call(path, { method = "GET", body, raw = false } = {}) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.body = raw ? body : JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(`${BASE}/${path}`, init);
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

const enc = encodeURIComponent;

export const api = {
  overview: () => call("api/overview"),
  invocations: (fn, limit = 1000) =>
    call(`api/invocations?limit=${limit}${fn ? `&function=${enc(fn)}` : ""}`),
  invocation: (rid) => call(`api/invocations/${enc(rid)}`),
  logs: (fn, limit = 2000) => call(`api/logs?function=${enc(fn)}&limit=${limit}`),
  events: (fn) => call(`api/functions/${enc(fn)}/events`),
  event: (fn, name, source) =>
    call(`api/functions/${enc(fn)}/events/${enc(name)}?source=${enc(source)}`),
  saveEvent: (fn, name, text) =>
    call(`api/functions/${enc(fn)}/events/${enc(name)}`, { method: "PUT", body: text, raw: true }),
  deleteEvent: (fn, name) =>
    call(`api/functions/${enc(fn)}/events/${enc(name)}`, { method: "DELETE" }),
  async: () => call("api/async"),
  replay: (id) => call("api/async/replay", { method: "POST", body: { id } }),
};

/** POST the Invoke API (buffered), asking for the log tail as the AWS console does. */
export async function invoke(fn, payload, signal) {
  return fetch(`/2015-03-31/functions/${enc(fn)}/invocations`, {
    method: "POST",
    headers: { "X-Amz-Log-Type": "Tail", "Content-Type": "application/json" },
    body: payload,
    signal,
  });
}

/** POST InvokeWithResponseStream; the body is AWS event-stream framing (eventstream.js). */
export async function invokeStream(fn, payload, signal) {
  return fetch(`/2021-11-15/functions/${enc(fn)}/response-streaming-invocations`, {
    method: "POST",
    headers: { "X-Amz-Log-Type": "Tail", "Content-Type": "application/json" },
    body: payload,
    signal,
  });
}

export { errorOf };
