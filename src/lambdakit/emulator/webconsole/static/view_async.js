// Async: events waiting for a retry, dead letters and destination records of Event
// invocations, each with a Replay button that submits its event again.

import { h, fill, clock, age, pretty, throttle } from "./dom.js";
import { api } from "./api.js";

function eventCell(text) {
  return h("details", {}, h("summary", {}, "Event"), h("pre", { class: "code" }, pretty(text)));
}

/** "running" (an attempt is under way), or when the next attempt comes: "in 1.2 s", with its
 * wall-clock time as the title. The element keeps its time, for ``tick`` to count down. */
function nextAttempt(epochMs) {
  if (epochMs === null || epochMs === undefined) return h("span", { class: "muted" }, "running");
  return h("span", { title: clock(epochMs), "data-at": String(epochMs) }, until(epochMs));
}

function until(epochMs, now = Date.now()) {
  const s = (epochMs - now) / 1000;
  if (s <= 0) return "now";
  return s < 60 ? `in ${s.toFixed(1)} s` : `at ${clock(epochMs)}`;
}

function tick(el) {
  for (const span of el.querySelectorAll("[data-at]")) span.textContent = until(Number(span.dataset.at));
}

function section(title, columns, rows, empty) {
  return h("section", { "aria-label": title }, h("h2", {}, title),
    rows.length
      ? h("div", { class: "scroll" }, h("table", { class: "grid", "aria-label": title },
          h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c)))))))
      : h("p", { class: "muted" }, empty));
}

export function mount(el, { store, fn }) {
  const body = h("div", {});
  const note = h("p", { role: "status", class: "small" });
  const replay = async (id, button) => {
    button.disabled = true;
    try {
      const { request_id } = await api.replay(id);
      fill(note, `Replayed ${id} as request ${request_id}.`);
    } catch (error) {
      fill(note, h("span", { class: "bad" }, `Replay of ${id} failed: ${error.message}`));
    } finally {
      button.disabled = false;
    }
  };
  const replayButton = (id) => {
    const button = h("button", { type: "button", "aria-label": `Replay ${id}` }, "Replay");
    button.addEventListener("click", () => replay(id, button));
    return button;
  };
  const draw = async () => {
    let data;
    try {
      data = await api.async();
    } catch (error) {
      return fill(body, h("p", { class: "bad" }, `Cannot load the async state: ${error.message}`));
    }
    const mine = (list) => list.filter((item) => item.function === fn.name);
    fill(body,
      section("Pending retries", ["Attempt", "Next attempt", "Age", "Event", ""],
        mine(data.pending).map((p) => [String(p.attempt), nextAttempt(p.next_attempt),
          `${Math.round(p.age_s)} s`, eventCell(p.event), replayButton(p.id)]),
        "No event is waiting for a retry."),
      section("Dead letters", ["Time", "Target", "Error", "Event", ""],
        mine(data.dead_letters).map((d) => [h("span", { title: clock(d.time) }, `${age(d.time)} ago`),
          h("code", {}, d.target), d.error || "–", eventCell(d.event), replayButton(d.id)]),
        "No dead letters."),
      section("Destination records", ["Time", "Condition", "Target", "Record", ""],
        mine(data.destinations).map((d) => [h("span", { title: clock(d.time) }, `${age(d.time)} ago`),
          d.condition, h("code", {}, d.target), eventCell(d.event), replayButton(d.id)]),
        "No destination records."));
  };
  fill(el, h("p", { class: "muted small" },
    "Event (asynchronous) invocations of this function: retries the emulator will still make, " +
    "events sent to the dead-letter queue, and records sent to the OnSuccess/OnFailure destinations."),
  note, body);
  draw();
  const later = throttle(draw, 300);
  const off = store.on("async", later);
  const ticker = setInterval(() => tick(body), 500); // the "in 1.2 s" countdowns
  return () => {
    off();
    clearInterval(ticker);
  };
}
