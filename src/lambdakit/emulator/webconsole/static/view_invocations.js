// Invocations: a live table of the function's recent invocations; a row opens its event, its
// response or error, and its log lines.

import { h, fill, badge, clock, ms, mb, pretty, throttle } from "./dom.js";
import { api } from "./api.js";

const MAX_ROWS = 500;
const COLUMNS = ["Started", "Request ID", "Kind", "Status", "Duration", "Billed", "Init", "Max memory", "Start"];

function cells(inv) {
  const status = inv.error_type ? `${inv.status}: ${inv.error_type}` : inv.status;
  return [
    clock(inv.started),
    h("button", { type: "button", class: "link rid", "aria-label": `Open ${inv.request_id}` }, inv.request_id),
    inv.kind,
    badge(status, inv.status),
    ms(inv.duration_ms),
    inv.billed_ms == null ? "–" : `${inv.billed_ms} ms`,
    inv.init_ms == null ? "–" : ms(inv.init_ms),
    inv.max_memory_mb == null ? "–" : `${inv.max_memory_mb} / ${inv.memory_mb} MB`,
    inv.cold ? badge("cold", "cold") : badge("warm", "warm"),
  ];
}

function logList(logs) {
  if (!logs.length) return h("p", { class: "muted" }, "No log lines.");
  return h("div", { class: "loglines", role: "log", "aria-label": "Invocation log lines" },
    logs.map((l) => h("div", { class: `logline stream-${l.stream} level-${l.level || "none"}` },
      h("span", { class: "t" }, clock(l.time)), h("span", { class: "msg" }, l.text))));
}

function payload(text, encoding, truncated) {
  if (text == null) return h("p", { class: "muted" }, "–");
  const body = encoding === "base64" ? `(base64) ${text}` : pretty(text);
  return [h("pre", { class: "code" }, body), truncated ? h("p", { class: "muted small" }, "Truncated to 64 KiB.") : null];
}

export function details(inv) {
  const failed = inv.error != null;
  return [
    h("div", { class: "summary" }, badge(inv.status), h("code", { class: "rid" }, inv.request_id),
      h("span", { class: "muted" }, `${inv.kind} · ${clock(inv.started)} · ${ms(inv.duration_ms)}` +
        ` · billed ${inv.billed_ms ?? "–"} ms · ${mb(inv.max_memory_mb)} of ${inv.memory_mb} MB` +
        (inv.cold ? ` · cold start, init ${ms(inv.init_ms)}` : " · warm") +
        (inv.environment ? ` · environment ${inv.environment}` : ""))),
    h("div", { class: "columns" },
      h("section", { "aria-label": "Event" }, h("h3", {}, "Event"),
        payload(inv.event, inv.event_encoding, inv.event_truncated)),
      h("section", { "aria-label": failed ? "Error" : "Response" }, h("h3", {}, failed ? "Error" : "Response"),
        failed ? h("pre", { class: "code bad" }, JSON.stringify(inv.error, null, 2))
          : payload(inv.response, inv.response_encoding, inv.response_truncated))),
    h("h3", {}, "Log lines"),
    logList(inv.logs || []),
  ];
}

export function mount(el, { store, fn }) {
  const rows = new Map(); // request_id -> <tr>
  const body = h("tbody");
  const detail = h("section", { class: "detail", "aria-label": "Invocation details", hidden: true });
  let open = null;

  const rowFor = (inv) => {
    const tr = h("tr", { dataset: { rid: inv.request_id }, class: inv.request_id === open ? "selected" : "" },
      cells(inv).map((c, i) => (i === 1 ? h("th", { scope: "row" }, c) : h("td", {}, c))));
    rows.set(inv.request_id, tr);
    return tr;
  };
  const show = async (rid) => {
    open = rid;
    for (const [id, tr] of rows) tr.classList.toggle("selected", id === rid);
    detail.hidden = false;
    try {
      fill(detail, details(await api.invocation(rid)));
    } catch (error) {
      fill(detail, h("p", { class: "bad" }, `${rid}: ${error.message}`));
    }
  };
  body.addEventListener("click", (event) => {
    const tr = event.target.closest("tr");
    if (tr && !event.target.closest("a")) show(tr.dataset.rid);
  });
  const empty = h("p", { class: "muted" }, "No invocations yet: invoke the function from the Test tab, the AWS CLI or boto3.");
  const list = store.invocationsOf(fn.name).slice(0, MAX_ROWS);
  body.append(...list.map(rowFor));
  empty.hidden = list.length > 0;
  fill(el,
    h("div", { class: "scroll tall" }, h("table", { class: "grid rows", "aria-label": "Invocations" },
      h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)))), body)),
    empty, detail);

  const off = store.on("invocation", (inv) => {
    if (inv.function !== fn.name) return;
    const known = rows.get(inv.request_id);
    if (known) known.replaceWith(rowFor(inv));
    else body.prepend(rowFor(inv));
    empty.hidden = true;
    while (body.rows.length > MAX_ROWS) {
      rows.delete(body.lastElementChild.dataset.rid);
      body.lastElementChild.remove();
    }
    if (inv.request_id === open && inv.status !== "running") refresh(); // it just ended
  });
  // Log lines come in batches (100 ms), possibly after the end of their invocation.
  const refresh = throttle(() => open && show(open), 300);
  const offLogs = store.on("logs", (batch) => {
    if (open && batch.some((l) => l.request_id === open)) refresh();
  });
  return () => (off(), offLogs());
}
