// The landing view: every function with its environments and its latest invocations.

import { h, fill, badge, clock, ms, throttle } from "./dom.js";

const NUMERIC = new Set(["Memory", "Timeout", "Invocations", "Errors"]);

function lastOf(store, name) {
  let last = null;
  let count = 0;
  let errors = 0;
  for (const invocation of store.invocations.values()) {
    if (invocation.function !== name) continue;
    count++;
    if (!["success", "running"].includes(invocation.status)) errors++;
    last = invocation;
  }
  return { last, count, errors };
}

function row(store, fn, link) {
  const { last, count, errors } = lastOf(store, fn.name);
  const states = fn.environments.map((e) => badge(e.state));
  return h(
    "tr",
    {},
    h("th", { scope: "row" }, h("a", { href: link(fn.name, "test") }, fn.name)),
    h("td", {}, fn.runtime),
    h("td", {}, fn.handler),
    h("td", { class: "num" }, `${fn.memory_mb} MB`),
    h("td", { class: "num" }, `${fn.timeout_s} s`),
    h("td", {}, states.length ? states : h("span", { class: "muted" }, "none")),
    h("td", { class: "num" }, String(count)),
    h("td", { class: "num" }, errors ? h("span", { class: "bad" }, String(errors)) : "0"),
    h("td", {}, last ? [badge(last.status), " ", clock(last.started), " ", ms(last.duration_ms)] : "–"),
  );
}

export function mount(el, { store, link }) {
  const body = h("tbody");
  const draw = () =>
    fill(body, [...store.functions.values()].map((fn) => row(store, fn, link)));
  draw();
  const table = h(
    "table",
    { class: "grid", "aria-label": "Functions overview" },
    h(
      "thead",
      {},
      h("tr", {}, ["Function", "Runtime", "Handler", "Memory", "Timeout", "Environments",
        "Invocations", "Errors", "Last"].map((t) =>
        h("th", { scope: "col", class: NUMERIC.has(t) ? "num" : null }, t))),
    ),
    body,
  );
  const e = store.emulator;
  fill(
    el,
    h("h1", {}, "Functions"),
    h("dl", { class: "pairs small emulator", "aria-label": "Emulator" },
      h("dt", {}, "Invoke API"), h("dd", {}, h("code", {}, `http://${location.host}`)),
      e.api_port ? [h("dt", {}, "APIs"), h("dd", {}, `port ${e.api_port}`)] : null,
      h("dt", {}, "Sandbox"), h("dd", {}, e.sandbox),
      h("dt", {}, "Memory limits"), h("dd", {}, e.memory_limits)),
    store.functions.size
      ? h("div", { class: "scroll" }, table)
      : h("p", { class: "muted" }, "This emulator serves no functions."),
  );
  const later = throttle(draw, 300);
  const offs = [store.on("invocation", later), store.on("environment", later)];
  return () => offs.forEach((off) => off());
}
