// Small DOM and formatting helpers shared by the views. No framework: the page is a handful
// of views that each own a subtree and update it in place.

/** h("div", {class: "x", onclick: fn}, child, ...) -> Element. Strings become text nodes. */
export function h(tag, attrs, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && !el.namespaceURI.endsWith("svg") && key !== "list" && key !== "role")
      el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** Local wall-clock time with milliseconds: what a developer compares with their terminal. */
export function clock(epochMs) {
  if (epochMs === null || epochMs === undefined) return "";
  const d = new Date(epochMs);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function ms(value) {
  if (value === null || value === undefined) return "–";
  return value >= 100 ? `${Math.round(value)} ms` : `${value.toFixed(2)} ms`;
}

export function mb(value) {
  return value === null || value === undefined ? "–" : `${value} MB`;
}

/** "12 s", "3 min", "2 h": how long ago (or for how long) since epochMs. */
export function age(epochMs, now = Date.now()) {
  const s = Math.max(0, Math.round((now - epochMs) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h`;
}

/** Pretty JSON when the text is JSON, else the text as it is. */
export function pretty(text) {
  if (typeof text !== "string") return JSON.stringify(text, null, 2);
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** Decode base64 (the log tail, non-UTF-8 payloads) into text, replacing invalid UTF-8. */
export function fromBase64(b64) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** A status badge: success, error, timeout, crash, throttled, running; or an environment state. */
export function badge(text, kind = text) {
  return h("span", { class: `badge badge-${kind}` }, text);
}

/** Call fn at most once per `wait` ms, trailing call guaranteed. */
export function throttle(fn, wait) {
  let timer = null;
  let pending = false;
  return function throttled() {
    if (timer) {
      pending = true;
      return;
    }
    fn();
    timer = setTimeout(() => {
      timer = null;
      if (pending) {
        pending = false;
        throttled();
      }
    }, wait);
  };
}
