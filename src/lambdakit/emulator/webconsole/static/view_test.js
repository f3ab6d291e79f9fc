// Test: a JSON event editor, the function's saved/project/sample events, and the real Invoke
// API (buffered, with the log tail) or InvokeWithResponseStream rendered as chunks arrive.

import { h, fill, badge, fromBase64, pretty } from "./dom.js";
import { api, invoke, invokeStream, errorOf } from "./api.js";
import { checkJson } from "./jsoncheck.js";
import { EventStreamDecoder } from "./eventstream.js";

const NAME = /^[A-Za-z0-9._-]{1,100}$/; // the AWS console's rule for test event names
const SOURCES = [["saved", "Saved events"], ["project", "Project events"], ["sample", "Samples"]];
const draftKey = (fn) => `lambdakit.console.draft.${fn}`;
const modeKey = (fn) => `lambdakit.console.mode.${fn}`;

/** "REPORT RequestId: …\tDuration: 1.2 ms\t…" -> {Duration: "1.2 ms", …}. */
export function parseReport(text) {
  const line = text.split("\n").find((l) => l.startsWith("REPORT RequestId:"));
  if (!line) return null;
  return Object.fromEntries(
    line.split("\t").map((part) => part.split(": ")).filter((kv) => kv.length === 2)
      .map(([k, v]) => [k.trim(), v.trim()]),
  );
}

function reportLine(report) {
  if (!report) return null;
  const keys = ["Duration", "Billed Duration", "Init Duration", "Max Memory Used", "Memory Size"];
  return h("ul", { class: "facts", "aria-label": "Report" },
    keys.filter((k) => report[k]).map((k) => h("li", {}, h("span", { class: "muted" }, k), " ", report[k])));
}

class TestView {
  constructor(el, { store, fn }) {
    this.fn = fn;
    this.store = store;
    this.running = null; // AbortController of the invocation in flight
    this.build(el);
    this.refreshEvents();
  }

  build(el) {
    const name = this.fn.name;
    this.picker = h("select", { "aria-label": "Test event", onchange: () => this.pick() });
    this.nameInput = h("input", { type: "text", "aria-label": "Event name", placeholder: "event name",
      maxLength: 100, pattern: "[A-Za-z0-9._\\-]{1,100}", spellcheck: false });
    this.saveButton = h("button", { type: "button", onclick: () => this.save() }, "Save");
    this.deleteButton = h("button", { type: "button", onclick: () => this.remove(), disabled: true }, "Delete");
    this.fileNote = h("p", { class: "muted small" });
    this.editor = h("textarea", {
      "aria-label": "Event JSON", spellcheck: false, rows: 18, class: "code",
      value: localStorage.getItem(draftKey(name)) ?? "{}",
      oninput: () => this.changed(),
      onkeydown: (event) => this.key(event),
    });
    this.validity = h("p", { class: "validity", role: "status", "aria-label": "Event validity" });
    const stored = localStorage.getItem(modeKey(name));
    const streamed = stored ? stored === "stream" : this.fn.url?.invoke_mode === "RESPONSE_STREAM";
    const radio = (value, label, checked) =>
      h("label", {}, h("input", { type: "radio", name: "mode", value, checked,
        onchange: () => localStorage.setItem(modeKey(name), value) }), ` ${label}`);
    this.modes = h("fieldset", { class: "modes" }, h("legend", {}, "Invocation mode"),
      radio("buffered", "Buffered", !streamed), radio("stream", "Streamed", streamed));
    this.invokeButton = h("button", { type: "button", class: "primary", onclick: () => this.invoke(),
      title: "Ctrl+Enter / ⌘+Enter" }, "Invoke");
    this.cancelButton = h("button", { type: "button", hidden: true, onclick: () => this.running?.abort() }, "Cancel");
    this.result = h("section", { class: "result", "aria-label": "Result", "aria-live": "polite" },
      h("p", { class: "muted" }, "Invoke the function to see its response and log tail here. Ctrl+Enter (⌘+Enter) invokes from the editor."));
    fill(el, h("div", { class: "test-grid" },
      h("section", { class: "editor-pane", "aria-label": "Test event" },
        h("div", { class: "toolbar wrap" }, this.modes, h("span", { class: "grow" }), this.cancelButton, this.invokeButton),
        h("div", { class: "toolbar" }, this.picker),
        this.editor,
        h("div", { class: "toolbar" }, this.validity, h("span", { class: "grow" }),
          h("button", { type: "button", onclick: () => this.format() }, "Format")),
        h("div", { class: "toolbar" }, this.nameInput, this.saveButton, this.deleteButton),
        this.fileNote),
      this.result));
    this.changed();
  }

  key(event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      this.invoke();
    } else if (event.key === "Tab" && !event.shiftKey && !event.ctrlKey && !event.altKey) {
      // Two spaces, as Format indents; Esc then Tab still leaves the editor (WCAG 2.1.2).
      if (this.escaped) return;
      event.preventDefault();
      this.editor.setRangeText("  ", this.editor.selectionStart, this.editor.selectionEnd, "end");
      this.changed();
    }
    this.escaped = event.key === "Escape";
  }

  changed() {
    localStorage.setItem(draftKey(this.fn.name), this.editor.value);
    const check = checkJson(this.editor.value);
    this.editor.setAttribute("aria-invalid", String(!check.ok));
    fill(this.validity, check.ok ? "Valid JSON"
      : `Line ${check.line}, column ${check.column}: ${check.message}`);
    this.validity.classList.toggle("bad", !check.ok);
    return check;
  }

  format() {
    const check = this.changed();
    if (!check.ok) {
      this.editor.focus();
      this.editor.setSelectionRange(check.offset, check.offset);
      return;
    }
    this.editor.value = JSON.stringify(check.value, null, 2);
    this.changed();
  }

  async refreshEvents(select) {
    let listing;
    try {
      listing = await api.events(this.fn.name);
    } catch (error) {
      fill(this.fileNote, `Test events unavailable: ${error.message}`);
      return;
    }
    const groups = SOURCES.map(([source, label]) => {
      const events = listing.events.filter((e) => e.source === source);
      return events.length
        ? h("optgroup", { label }, events.map((e) => h("option", { value: `${source}:${e.name}` }, e.name)))
        : null;
    });
    fill(this.picker, h("option", { value: "" }, "Choose a test event…"), groups);
    this.picker.value = select || "";
    this.deleteButton.disabled = !this.picker.value.startsWith("saved:");
    fill(this.fileNote, "Saved events are written to ", h("code", {}, listing.file));
  }

  async pick() {
    const value = this.picker.value;
    this.deleteButton.disabled = !value.startsWith("saved:");
    if (!value) return;
    const [source, ...rest] = value.split(":");
    const name = rest.join(":");
    try {
      const { event } = await api.event(this.fn.name, name, source);
      this.editor.value = JSON.stringify(event, null, 2);
      this.nameInput.value = source === "saved" ? name : name.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 100);
      this.changed();
    } catch (error) {
      this.say(`Cannot load ${name}: ${error.message}`, true);
    }
  }

  say(text, bad = false) {
    fill(this.fileNote, h("span", { class: bad ? "bad" : "ok", role: bad ? "alert" : null }, text));
  }

  async save() {
    const name = this.nameInput.value.trim();
    if (!NAME.test(name)) {
      this.say("Event names are 1-100 letters, digits, '.', '_' or '-'.", true);
      this.nameInput.focus();
      return;
    }
    const check = this.changed();
    if (!check.ok) return this.say(`Not saved: line ${check.line}, column ${check.column}: ${check.message}`, true);
    try {
      await api.saveEvent(this.fn.name, name, this.editor.value);
      await this.refreshEvents(`saved:${name}`);
      this.say(`Saved “${name}”.`);
    } catch (error) {
      this.say(`Not saved: ${error.message}`, true);
    }
  }

  async remove() {
    const value = this.picker.value;
    if (!value.startsWith("saved:")) return;
    const name = value.slice("saved:".length);
    try {
      await api.deleteEvent(this.fn.name, name);
      await this.refreshEvents();
      this.say(`Deleted “${name}”.`);
    } catch (error) {
      this.say(`Not deleted: ${error.message}`, true);
    }
  }

  async invoke() {
    const check = this.changed();
    if (!check.ok) {
      this.editor.focus();
      return;
    }
    if (this.running) this.running.abort();
    const controller = new AbortController();
    this.running = controller;
    this.invokeButton.disabled = true;
    this.cancelButton.hidden = false;
    const streamed = this.modes.querySelector("input:checked").value === "stream";
    const started = performance.now();
    try {
      if (streamed) await this.invokeStreamed(controller.signal, started);
      else await this.invokeBuffered(controller.signal, started);
    } catch (error) {
      const text = error.name === "AbortError" ? "Cancelled." : `Invocation failed: ${error.message}`;
      this.result.append(h("p", { class: "bad", role: "alert" }, text));
    } finally {
      if (this.running === controller) this.running = null;
      this.invokeButton.disabled = false;
      this.cancelButton.hidden = true;
    }
  }

  summary(state, requestId, extra) {
    return h("div", { class: "summary" }, badge(state.label, state.kind),
      requestId ? h("code", { class: "rid", "aria-label": "Request ID" }, requestId) : null, extra);
  }

  async invokeBuffered(signal, started) {
    fill(this.result, h("p", { class: "muted" }, "Invoking…"));
    const response = await invoke(this.fn.name, this.editor.value, signal);
    const elapsed = performance.now() - started;
    const requestId = response.headers.get("x-amzn-RequestId");
    if (!response.ok) return this.serviceError(response, requestId);
    const body = await response.text();
    const functionError = response.headers.get("X-Amz-Function-Error");
    const tail = response.headers.get("X-Amz-Log-Result");
    const logs = tail ? fromBase64(tail) : "";
    const state = functionError ? { label: `error (${functionError})`, kind: "error" } : { label: "succeeded", kind: "success" };
    fill(this.result,
      this.summary(state, requestId, h("span", { class: "muted" }, `${Math.round(elapsed)} ms round trip`)),
      reportLine(parseReport(logs)),
      h("h3", {}, functionError ? "Error" : "Response"),
      h("pre", { class: `code ${functionError ? "bad" : ""}`, "aria-label": "Response" }, pretty(body)),
      h("h3", {}, "Log tail"),
      h("pre", { class: "code logtail", "aria-label": "Log output" }, logs || "(no log lines)"));
  }

  async serviceError(response, requestId) {
    const error = await errorOf(response);
    fill(this.result,
      this.summary({ label: `${response.status} ${error.type || "error"}`, kind: "error" }, requestId),
      h("pre", { class: "code bad", "aria-label": "Response", role: "alert" }, error.message));
  }

  async invokeStreamed(signal, started) {
    fill(this.result, h("p", { class: "muted" }, "Invoking (streamed)…"));
    const response = await invokeStream(this.fn.name, this.editor.value, signal);
    const requestId = response.headers.get("x-amzn-RequestId");
    if (!response.ok) return this.serviceError(response, requestId);
    const stats = h("span", { class: "muted", "aria-label": "Stream progress" }, "waiting for the first chunk…");
    const output = h("pre", { class: "code stream", "aria-label": "Response", "aria-busy": "true" });
    const logs = h("pre", { class: "code logtail", "aria-label": "Log output" }, "(arrives with the end of the stream)");
    const head = h("div", {});
    fill(this.result, head, h("h3", {}, "Response stream"), output, h("h3", {}, "Log tail"), logs);
    fill(head, this.summary({ label: "streaming", kind: "running" }, requestId, stats));
    const decoder = new EventStreamDecoder();
    const text = new TextDecoder();
    let chunks = 0;
    let bytes = 0;
    let first = null;
    let complete = null;
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const message of decoder.feed(value)) {
        const type = message.headers[":event-type"] || message.headers[":exception-type"];
        if (message.headers[":message-type"] === "exception") {
          complete = { ErrorCode: type, ErrorDetails: new TextDecoder().decode(message.payload) };
        } else if (type === "PayloadChunk") {
          const at = performance.now() - started;
          first ??= at;
          chunks++;
          bytes += message.payload.length;
          output.append(h("span", { class: "chunk", title: `chunk ${chunks} at +${Math.round(at)} ms` },
            text.decode(message.payload, { stream: true })));
          fill(stats, `${chunks} chunk${chunks > 1 ? "s" : ""} · ${bytes} bytes · first after ${Math.round(first)} ms`);
        } else if (type === "InvokeComplete") {
          complete = JSON.parse(new TextDecoder().decode(message.payload) || "{}");
        }
      }
    }
    output.setAttribute("aria-busy", "false");
    const total = Math.round(performance.now() - started);
    const failed = !complete || complete.ErrorCode;
    const label = !complete ? "cut short" : complete.ErrorCode ? `error (${complete.ErrorCode})` : "succeeded";
    fill(head, this.summary({ label, kind: failed ? "error" : "success" }, requestId,
      h("span", { class: "muted", "aria-label": "Stream progress" },
        `${chunks} chunk${chunks === 1 ? "" : "s"} · ${bytes} bytes · ${total} ms`)));
    if (complete?.ErrorDetails) output.after(h("pre", { class: "code bad", "aria-label": "Error" }, pretty(complete.ErrorDetails)));
    const tail = complete?.LogResult ? fromBase64(complete.LogResult) : "";
    fill(logs, tail || "(no log lines)");
    const report = reportLine(parseReport(tail));
    if (report) head.append(report);
  }
}

export function mount(el, context) {
  const view = new TestView(el, context);
  return () => view.running?.abort();
}
