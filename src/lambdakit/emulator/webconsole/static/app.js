// lambdakit console: the shell. Loads the store, keeps the function list in the sidebar, and
// routes #/functions/<name>/<tab> to the view that owns the main area.

import { Store } from "./store.js";
import { h, fill, badge, clock, throttle } from "./dom.js";
import * as configuration from "./view_config.js";
import * as test from "./view_test.js";
import * as invocations from "./view_invocations.js";
import * as monitor from "./view_monitor.js";
import * as logs from "./view_logs.js";
import * as asyncView from "./view_async.js";
import * as home from "./view_home.js";

const TABS = [
  ["configuration", "Configuration", configuration],
  ["test", "Test", test],
  ["invocations", "Invocations", invocations],
  ["monitor", "Monitor", monitor],
  ["logs", "Logs", logs],
  ["async", "Async", asyncView],
];

const store = new Store();
window.lambdakitConsole = store; // for the curious, from the browser's devtools

const main = document.getElementById("main");
const nav = document.getElementById("functions");
const status = document.getElementById("connection");
let unmount = () => {};

function route() {
  const [, kind, name, tab] = location.hash.split("/").map(decodeURIComponent);
  if (kind === "functions" && store.functions.has(name)) return { name, tab: tab || "test" };
  return { name: null, tab: null };
}

export function link(name, tab) {
  return `#/functions/${encodeURIComponent(name)}/${tab}`;
}

function render() {
  unmount();
  const { name, tab } = route();
  renderNav(name);
  if (!name) {
    document.title = "lambdakit console";
    unmount = home.mount(main, { store, link });
    return;
  }
  const fn = store.functions.get(name);
  document.title = `${name} · lambdakit console`;
  const [, , view] = TABS.find(([id]) => id === tab) || TABS[1];
  const panel = h("section", { class: "panel", id: "panel", role: "tabpanel", "aria-label": tab });
  fill(main, header(fn, tab), panel);
  unmount = view.mount(panel, { store, fn, name, link }) || (() => {});
  main.focus({ preventScroll: true });
}

function header(fn, current) {
  return h(
    "header",
    { class: "function-header" },
    h("h1", {}, fn.name),
    h("span", { class: "muted" }, `${fn.runtime} · ${fn.handler} · ${fn.memory_mb} MB`),
    h(
      "nav",
      { class: "tabs", role: "tablist", "aria-label": "Function views" },
      TABS.map(([id, label]) =>
        h("a", { role: "tab", href: link(fn.name, id), "aria-selected": String(id === current) },
          label),
      ),
    ),
  );
}

function environmentDots(fn) {
  const counts = {};
  for (const e of fn.environments) counts[e.state] = (counts[e.state] || 0) + 1;
  return Object.entries(counts).map(([state, n]) =>
    h("span", { class: `dot dot-${state}`, title: `${n} ${state}` }, n > 1 ? String(n) : ""),
  );
}

function renderNav(current) {
  fill(
    nav,
    h("a", { href: "#/", class: "nav-home", "aria-current": current ? null : "page" }, "All functions"),
    [...store.functions.values()].map((fn) =>
      h(
        "a",
        { href: link(fn.name, route().tab || "test"), "aria-current": fn.name === current ? "page" : null },
        h("span", { class: "nav-name" }, fn.name),
        h("span", { class: "nav-dots", "aria-hidden": "true" }, environmentDots(fn)),
      ),
    ),
  );
}

function showConnection(state) {
  const labels = { live: "live", connecting: "reconnecting…", offline: "offline" };
  fill(status, badge(labels[state], `conn-${state}`));
}

function showEmulator() {
  const e = store.emulator;
  if (!e) return;
  const where = document.getElementById("emulator");
  fill(where, `lambdakit ${e.version} · Invoke API :${e.invoke_port}`,
    e.api_port ? ` · APIs :${e.api_port}` : "", ` · up since ${clock(e.started)}`);
  where.title = `${e.sandbox}\n${e.memory_limits}`;
}

async function start() {
  try {
    await store.load();
  } catch (error) {
    fill(main, h("p", { class: "error", role: "alert" }, `Cannot load the console: ${error.message}`));
    return;
  }
  showEmulator();
  store.connect();
  store.on("connection", showConnection);
  store.on("overview", () => (showEmulator(), render()));
  const navLater = throttle(() => renderNav(route().name), 250);
  store.on("environment", navLater);
  window.addEventListener("hashchange", render);
  render();
}

start();
