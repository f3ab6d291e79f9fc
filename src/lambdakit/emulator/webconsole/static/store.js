// What the page knows: the emulator and its functions (GET api/overview), the recent
// invocations and log lines, kept current by the server-sent events of api/stream.
// Views subscribe to the store's events while they are on screen:
//   "overview"     the function list or configuration was (re)loaded
//   "environment"  detail {function, ...Environment}
//   "invocation"   detail Invocation (when it starts and when it ends)
//   "logs"         detail [Log] (a batch)
//   "async"        the async lists changed
//   "dropped"      detail {logs: n}: the server dropped lines this page was too slow to take
//   "connection"   detail "live" | "connecting" | "offline"

import { api, BASE } from "./api.js";

const MAX_INVOCATIONS = 1000; // the server keeps as many
const MAX_LOGS_PER_FUNCTION = 5000;

export class Store extends EventTarget {
  constructor() {
    super();
    this.emulator = null;
    this.functions = new Map(); // name -> Function
    this.invocations = new Map(); // request_id -> Invocation (insertion order: oldest first)
    this.logs = new Map(); // function name -> [Log] (oldest first, capped)
    this.loadedLogs = new Set(); // functions whose history was fetched
    this.connection = "connecting";
    this.source = null;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Subscribe; returns the function that unsubscribes. */
  on(type, handler) {
    const listener = (event) => handler(event.detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  async load() {
    const [overview, recent] = await Promise.all([api.overview(), api.invocations(null)]);
    this.emulator = overview.emulator;
    this.functions = new Map(overview.functions.map((f) => [f.name, f]));
    this.invocations = new Map();
    for (const invocation of recent.invocations.slice().reverse()) this.putInvocation(invocation);
    this.emit("overview");
  }

  connect() {
    this.source?.close();
    const source = new EventSource(`${BASE}/api/stream`);
    this.source = source;
    let wasOpen = false;
    source.onopen = () => {
      // After a reconnection, events were missed: reload what they would have told.
      if (wasOpen || this.connection === "offline") this.resync();
      wasOpen = true;
      this.setConnection("live");
    };
    source.onerror = () => {
      const closed = source.readyState === EventSource.CLOSED;
      this.setConnection(closed ? "offline" : "connecting");
      // EventSource gives up on an answer that is not a stream (the emulator restarting, say).
      if (closed) setTimeout(() => this.source === source && this.connect(), 3000);
    };
    const handle = (type, fn) =>
      source.addEventListener(type, (event) => fn.call(this, JSON.parse(event.data)));
    handle("invocation", this.onInvocation);
    handle("environment", this.onEnvironment);
    handle("logs", this.onLogs);
    handle("async", () => this.emit("async"));
    handle("dropped", (detail) => this.emit("dropped", detail));
  }

  setConnection(state) {
    if (state === this.connection) return;
    this.connection = state;
    this.emit("connection", state);
  }

  async resync() {
    this.loadedLogs.clear();
    this.logs.clear();
    try {
      await this.load();
    } catch {
      /* the stream's own retry brings us back */
    }
  }

  putInvocation(invocation) {
    const known = this.invocations.get(invocation.request_id);
    if (known) Object.assign(known, invocation);
    else this.invocations.set(invocation.request_id, invocation);
    while (this.invocations.size > MAX_INVOCATIONS) {
      this.invocations.delete(this.invocations.keys().next().value);
    }
    return known || invocation;
  }

  onInvocation(invocation) {
    this.emit("invocation", this.putInvocation(invocation));
  }

  onEnvironment(change) {
    const fn = this.functions.get(change.function);
    if (!fn) return;
    const { function: _name, ...environment } = change;
    const index = fn.environments.findIndex((e) => e.id === environment.id);
    if (environment.state === "gone") {
      if (index >= 0) fn.environments.splice(index, 1);
    } else if (index >= 0) fn.environments[index] = { ...fn.environments[index], ...environment };
    else fn.environments.push(environment);
    this.emit("environment", change);
  }

  onLogs(batch) {
    for (const log of batch) {
      const lines = this.logs.get(log.function);
      if (!lines) continue; // not followed yet: its history is fetched when a view asks
      lines.push(log);
      if (lines.length > MAX_LOGS_PER_FUNCTION * 1.2)
        lines.splice(0, lines.length - MAX_LOGS_PER_FUNCTION);
    }
    this.emit("logs", batch);
  }

  /** The function's recent log lines: fetched once, then kept current by the stream. */
  async logsFor(name) {
    if (!this.logs.has(name)) this.logs.set(name, []);
    if (!this.loadedLogs.has(name)) {
      this.loadedLogs.add(name);
      const { logs: history } = await api.logs(name, 2000);
      const live = this.logs.get(name);
      const last = history.length ? history[history.length - 1].seq : -Infinity;
      this.logs.set(name, [...history, ...live.filter((l) => l.seq > last)]);
    }
    return this.logs.get(name);
  }

  /** Invocations of one function, newest first. */
  invocationsOf(name) {
    const list = [];
    for (const invocation of this.invocations.values()) {
      if (invocation.function === name) list.push(invocation);
    }
    return list.reverse();
  }
}
