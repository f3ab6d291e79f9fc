// Configuration: the function as the emulator runs it, and its execution environments live.

import { h, fill, badge, age, clock } from "./dom.js";

function dl(pairs) {
  return h(
    "dl",
    { class: "pairs" },
    pairs
      .filter(([, value]) => value !== null && value !== undefined && value !== "")
      .map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
  );
}

function table(label, columns, rows, empty) {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      { class: "grid", "aria-label": label },
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))),
    ),
  );
}

function general(fn) {
  return dl([
    ["Runtime", fn.runtime],
    ["Handler", fn.handler],
    ["Architecture", fn.architecture],
    ["Package type", fn.package_type],
    ["Code", h("code", {}, fn.code)],
    ["Memory", `${fn.memory_mb} MB`],
    ["Timeout", `${fn.timeout_s} s`],
    ["Ephemeral storage", fn.ephemeral_storage_mb ? `${fn.ephemeral_storage_mb} MB` : null],
    ["Reserved concurrency", fn.reserved_concurrency ?? "unreserved"],
    ["Logical ID", fn.logical_id],
  ]);
}

function endpoints(fn) {
  const url = fn.url
    ? dl([
        ["URL", h("a", { href: fn.url.url, target: "_blank", rel: "noopener" }, fn.url.url)],
        ["Auth type", fn.url.auth_type],
        ["Invoke mode", fn.url.invoke_mode],
      ])
    : h("p", { class: "muted" }, "No function URL.");
  const routes = table(
    "API routes",
    ["API", "Method", "Path", "URL"],
    (fn.routes || []).map((r) => [r.api, r.method, h("code", {}, r.path), r.url ? h("code", {}, r.url) : "–"]),
    "No API routes.",
  );
  return [h("h3", {}, "Function URL"), url, h("h3", {}, "API routes"), routes];
}

function asyncConfig(fn) {
  const a = fn.async || {};
  return dl([
    ["Maximum retry attempts", a.maximum_retry_attempts ?? "2 (default)"],
    ["Maximum event age", a.maximum_event_age_s != null ? `${a.maximum_event_age_s} s` : "6 h (default)"],
    ["On success", a.on_success ?? "–"],
    ["On failure", a.on_failure ?? "–"],
    ["Dead-letter queue", a.dead_letter ?? "–"],
  ]);
}

function environments(fn) {
  return table(
    "Environments",
    ["Environment", "State", "Since", "Invocations", "PID"],
    fn.environments.map((e) => [
      h("code", {}, e.id),
      badge(e.state),
      h("span", { title: clock(e.since) }, age(e.since)),
      String(e.invocations),
      e.pid == null ? "–" : String(e.pid),
    ]),
    "No execution environment yet: the first invocation starts one (a cold start).",
  );
}

export function mount(el, { store, fn }) {
  const envs = h("div", { "aria-live": "polite" });
  const variables = Object.entries(fn.environment || {});
  const draw = () => fill(envs, environments(fn));
  draw();
  fill(
    el,
    h(
      "div",
      { class: "columns" },
      h("section", {}, h("h2", {}, "General"), general(fn)),
      h("section", {}, h("h2", {}, "Environments"), envs),
    ),
    h(
      "section",
      {},
      h("h2", {}, "Environment variables"),
      h("p", { class: "muted small" }, "Values of secret-looking names are masked."),
      table("Environment variables", ["Name", "Value"],
        variables.map(([k, v]) => [h("code", {}, k), h("code", {}, v)]), "No variables."),
    ),
    h(
      "div",
      { class: "columns" },
      h("section", {}, h("h2", {}, "Layers"),
        (fn.layers || []).length
          ? h("ul", {}, fn.layers.map((l) => h("li", {}, h("code", {}, l))))
          : h("p", { class: "muted" }, "No layers.")),
      h("section", {}, h("h2", {}, "Asynchronous invocation"), asyncConfig(fn)),
    ),
    h("section", {}, h("h2", {}, "Triggers"), endpoints(fn)),
  );
  const offEnv = store.on("environment", (change) => change.function === fn.name && draw());
  const ticker = setInterval(draw, 5000); // the "since" ages
  return () => {
    offEnv();
    clearInterval(ticker);
  };
}
