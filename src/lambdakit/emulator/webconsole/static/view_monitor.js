// Monitor: durations and cold starts over time, and peak memory against the limit, from the
// function's recent invocations (the newest 1000 the emulator keeps).

import { h, fill, ms, throttle } from "./dom.js";
import { Frame, niceMax, chart, point, segment, hline, bar, legend } from "./charts.js";

const BUCKETS = 24;
const RANGES = [["all", "All kept", Infinity], ["15m", "Last 15 minutes", 15 * 60e3],
  ["5m", "Last 5 minutes", 5 * 60e3], ["1m", "Last minute", 60e3]];

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : null;
}

function stats(list) {
  const durations = list.map((i) => i.duration_ms).filter((d) => d != null).sort((a, b) => a - b);
  const errors = list.filter((i) => !["success", "running"].includes(i.status)).length;
  const peak = Math.max(0, ...list.map((i) => i.max_memory_mb ?? 0));
  return h("ul", { class: "facts big", "aria-label": "Summary" },
    [["Invocations", list.length], ["Errors", errors], ["Cold starts", list.filter((i) => i.cold).length],
      ["p50", ms(percentile(durations, 0.5))], ["p95", ms(percentile(durations, 0.95))],
      ["Max", ms(durations.at(-1) ?? null)], ["Peak memory", peak ? `${peak} MB` : "–"]]
      .map(([k, v]) => h("li", {}, h("span", { class: "muted" }, k), h("strong", {}, String(v)))));
}

function durations(list, t0, t1) {
  const top = niceMax(Math.max(1, ...list.map((i) => (i.duration_ms ?? 0) + (i.cold ? i.init_ms ?? 0 : 0))));
  const f = new Frame(t0, t1, top);
  const marks = list.filter((i) => i.duration_ms != null).map((i) => {
    const cls = i.status === "success" ? (i.cold ? "cold" : "warm") : "failed";
    const title = `${i.request_id}: ${ms(i.duration_ms)}${i.cold ? `, init ${ms(i.init_ms)}` : ""} (${i.status})`;
    return [i.cold && i.init_ms ? segment(f, i.started, i.duration_ms, i.duration_ms + i.init_ms, "init") : null,
      point(f, i.started, i.duration_ms, cls, title)];
  });
  return chart("Durations over time", f.axes("ms"), marks);
}

function coldStarts(list, t0, t1) {
  const step = Math.max(1, (t1 - t0) / BUCKETS);
  const buckets = Array.from({ length: BUCKETS }, () => ({ cold: 0, warm: 0 }));
  for (const i of list) buckets[Math.min(BUCKETS - 1, Math.floor((i.started - t0) / step))][i.cold ? "cold" : "warm"]++;
  const f = new Frame(t0, t0 + step * BUCKETS, niceMax(Math.max(1, ...buckets.map((b) => b.cold + b.warm))));
  const bars = buckets.map((b, n) => {
    const ta = t0 + n * step;
    return [b.warm ? bar(f, ta, ta + step, 0, b.warm, "warm", `${b.warm} warm`) : null,
      b.cold ? bar(f, ta, ta + step, b.warm, b.cold, "cold", `${b.cold} cold`) : null];
  });
  return chart("Invocations and cold starts over time", f.axes(""), bars);
}

function memory(list, limit, t0, t1) {
  const f = new Frame(t0, t1, niceMax(Math.max(limit * 1.1, ...list.map((i) => i.max_memory_mb ?? 0))));
  const marks = list.filter((i) => i.max_memory_mb != null).map((i) =>
    point(f, i.started, i.max_memory_mb, i.max_memory_mb >= limit ? "failed" : "memory",
      `${i.request_id}: ${i.max_memory_mb} MB of ${limit} MB`));
  return chart("Max memory used against the limit", f.axes("MB"), hline(f, limit, "limit", `limit ${limit} MB`), marks);
}

export function mount(el, { store, fn }) {
  const range = h("select", { "aria-label": "Time range", onchange: () => draw() },
    RANGES.map(([value, label]) => h("option", { value }, label)));
  const body = h("div", {});
  const draw = () => {
    const span = RANGES.find(([v]) => v === range.value)[2];
    const now = Date.now();
    const list = store.invocationsOf(fn.name).filter((i) => now - i.started <= span).reverse();
    if (!list.length) return fill(body, h("p", { class: "muted" }, "No invocations in this range yet."));
    const t0 = span === Infinity ? list[0].started : now - span;
    const t1 = Math.max(now, list.at(-1).started);
    fill(body, stats(list),
      h("div", { class: "charts" },
        h("figure", {}, h("figcaption", {}, "Duration"), durations(list, t0, t1),
          legend([["warm", "warm"], ["cold", "cold start"], ["init", "init duration"], ["failed", "error"]])),
        h("figure", {}, h("figcaption", {}, "Invocations and cold starts"), coldStarts(list, t0, t1),
          legend([["warm", "warm"], ["cold", "cold"]])),
        h("figure", {}, h("figcaption", {}, `Max memory used (limit ${fn.memory_mb} MB)`),
          memory(list, fn.memory_mb, t0, t1), legend([["memory", "max memory used"], ["limit", "limit"]]))));
  };
  fill(el, h("div", { class: "toolbar" }, range), body);
  draw();
  const later = throttle(draw, 500);
  const off = store.on("invocation", (inv) => inv.function === fn.name && later());
  return off;
}
