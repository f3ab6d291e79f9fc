// Logs: the function's log lines as they are written (server-sent events), filtered by level,
// request id and text, with pause and follow. The DOM keeps at most MAX_ROWS lines so the page
// stays fast under a flood; the store keeps more, for when a filter changes.

import { h, fill, clock } from "./dom.js";

const MAX_ROWS = 2000;
const LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
const RANK = Object.fromEntries(LEVELS.map((l, i) => [l, i]));

// lambdakit's and awslambdaric's text records: "[LEVEL]\t<timestamp>\t<request id>\t<message>".
// The row shows the time, level and request id in columns of their own, so only the message.
const TEXT_RECORD = /^\[[A-Z]+\]\t[^\t]*\t[^\t]*\t/;

export function messageOf(log) {
  return log.level && log.stream !== "platform" ? log.text.replace(TEXT_RECORD, "") : log.text;
}

function row(log, onRequest) {
  return h("div", { class: `logline stream-${log.stream} level-${log.level || "none"}` },
    h("span", { class: "t" }, clock(log.time)),
    h("span", { class: "lvl" }, log.level || ""),
    log.request_id
      ? h("button", { type: "button", class: "link rid short", title: `Show only ${log.request_id}`,
          onclick: () => onRequest(log.request_id) }, log.request_id.slice(0, 8))
      : h("span", { class: "rid short" }),
    h("span", { class: "msg", title: log.text === messageOf(log) ? null : log.text }, messageOf(log)));
}

class LogsView {
  constructor(el, { store, fn }) {
    this.store = store;
    this.name = fn.name;
    this.pending = [];
    this.paused = false;
    this.ready = false;
    this.frame = 0;
    this.build(el);
    this.offs = [
      store.on("logs", (batch) => this.take(batch)),
      store.on("dropped", ({ logs }) => this.note(`${logs} lines were dropped by the server: this page fell behind.`)),
    ];
    store.logsFor(this.name).then(() => {
      this.ready = true;
      this.redraw();
    }, (error) => this.note(`Cannot load the logs: ${error.message}`));
  }

  build(el) {
    const control = (element) => {
      element.addEventListener("input", () => this.redraw());
      return element;
    };
    this.level = control(h("select", { "aria-label": "Level" },
      h("option", { value: "" }, "All levels"),
      LEVELS.map((l) => h("option", { value: l }, `${l} and above`))));
    this.requestId = control(h("input", { type: "search", "aria-label": "Request ID", placeholder: "request id", spellcheck: false }));
    this.search = control(h("input", { type: "search", "aria-label": "Search", placeholder: "text", spellcheck: false }));
    this.pause = h("button", { type: "button", "aria-pressed": "false", onclick: () => this.togglePause() }, "Pause");
    this.follow = h("input", { type: "checkbox", checked: true });
    this.count = h("span", { class: "muted small", role: "status", "aria-label": "Log status" });
    this.lines = h("div", { class: "loglines tail", role: "log", "aria-label": "Log lines", tabindex: 0 });
    this.lines.addEventListener("scroll", () => {
      const atBottom = this.lines.scrollHeight - this.lines.scrollTop - this.lines.clientHeight < 8;
      if (!this.autoScrolling) this.follow.checked = atBottom;
    });
    fill(el, h("div", { class: "toolbar wrap" }, this.level, this.requestId, this.search, this.pause,
      h("label", {}, this.follow, " Follow"), h("span", { class: "grow" }), this.count), this.lines);
  }

  matches(log) {
    if (log.function !== this.name) return false;
    const level = this.level.value;
    if (level && !(log.level && RANK[log.level] >= RANK[level])) return false;
    const rid = this.requestId.value.trim().toLowerCase();
    if (rid && !(log.request_id || "").toLowerCase().includes(rid)) return false;
    const text = this.search.value.toLowerCase();
    return !text || log.text.toLowerCase().includes(text);
  }

  redraw() {
    if (!this.ready) return;
    this.pending = [];
    const shown = this.store.logs.get(this.name).filter((l) => this.matches(l)).slice(-MAX_ROWS);
    this.lines.replaceChildren(...shown.map((l) => row(l, (rid) => this.filterRequest(rid))));
    this.status();
    this.scroll();
  }

  filterRequest(rid) {
    this.requestId.value = rid;
    this.redraw();
  }

  take(batch) {
    if (!this.ready) return; // the store keeps them; redraw() shows them
    for (const log of batch) if (this.matches(log)) this.pending.push(log);
    if (this.pending.length > MAX_ROWS) this.pending.splice(0, this.pending.length - MAX_ROWS);
    if (this.paused) return this.status();
    this.frame ||= requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    if (this.paused || !this.pending.length) return;
    const rows = this.pending.map((l) => row(l, (rid) => this.filterRequest(rid)));
    this.pending = [];
    this.lines.append(...rows);
    const extra = this.lines.childElementCount - MAX_ROWS;
    for (let n = 0; n < extra; n++) this.lines.firstElementChild.remove();
    this.status();
    this.scroll();
  }

  scroll() {
    if (!this.follow.checked) return;
    this.autoScrolling = true;
    this.lines.scrollTop = this.lines.scrollHeight;
    requestAnimationFrame(() => (this.autoScrolling = false));
  }

  togglePause() {
    this.paused = !this.paused;
    this.pause.setAttribute("aria-pressed", String(this.paused));
    fill(this.pause, this.paused ? "Resume" : "Pause");
    if (!this.paused) this.flush();
    this.status();
  }

  status() {
    const shown = this.lines.childElementCount;
    const waiting = this.paused && this.pending.length ? ` · ${this.pending.length} new while paused` : "";
    fill(this.count, `${shown} line${shown === 1 ? "" : "s"}${shown >= MAX_ROWS ? " (the newest)" : ""}${waiting}`);
  }

  note(text) {
    this.lines.append(h("div", { class: "logline note", role: "alert" }, text));
  }

  close() {
    this.offs.forEach((off) => off());
    cancelAnimationFrame(this.frame);
  }
}

export function mount(el, context) {
  const view = new LogsView(el, context);
  return () => view.close();
}
