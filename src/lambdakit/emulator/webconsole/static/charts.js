// Small SVG charts drawn by hand: a time axis, a value axis, points, bars and a limit line.
// Coordinates are in a fixed viewBox; the SVG scales to its container's width.

import { h, clock } from "./dom.js";

const W = 640;
const H = 180;
const M = { left: 52, right: 12, top: 12, bottom: 24 };

const s = (tag, attrs, ...children) => h(`svg:${tag}`, attrs, ...children);

/** A round upper bound for an axis (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten). */
export function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((m) => m * power).find((n) => n >= value);
}

export class Frame {
  /** x from t0..t1 (epoch ms), y from 0..yMax. */
  constructor(t0, t1, yMax) {
    this.t0 = t0;
    this.t1 = t1 > t0 ? t1 : t0 + 1000;
    this.yMax = yMax;
  }

  x(t) {
    return M.left + ((t - this.t0) / (this.t1 - this.t0)) * (W - M.left - M.right);
  }

  y(v) {
    return H - M.bottom - (Math.min(v, this.yMax) / this.yMax) * (H - M.top - M.bottom);
  }

  axes(unit) {
    const ticks = [0, this.yMax / 2, this.yMax];
    return s("g", { class: "axes" },
      ticks.map((v) => [
        s("line", { x1: M.left, x2: W - M.right, y1: this.y(v), y2: this.y(v), class: "gridline" }),
        s("text", { x: M.left - 6, y: this.y(v) + 4, "text-anchor": "end" }, `${+v.toFixed(1)} ${unit}`),
      ]),
      s("text", { x: M.left, y: H - 6 }, clock(this.t0).slice(0, 8)),
      s("text", { x: W - M.right, y: H - 6, "text-anchor": "end" }, clock(this.t1).slice(0, 8)));
  }
}

/** An <svg> with an accessible name and a <title> (screen readers read the label). */
export function chart(label, ...children) {
  return s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "chart" },
    s("title", {}, label), ...children);
}

export function point(frame, t, v, cls, title) {
  return s("circle", { cx: frame.x(t), cy: frame.y(v), r: 3.5, class: cls }, s("title", {}, title));
}

export function segment(frame, t, v0, v1, cls) {
  return s("line", { x1: frame.x(t), x2: frame.x(t), y1: frame.y(v0), y2: frame.y(v1), class: cls });
}

export function hline(frame, v, cls, label) {
  return s("g", {},
    s("line", { x1: M.left, x2: W - M.right, y1: frame.y(v), y2: frame.y(v), class: cls }),
    s("text", { x: W - M.right - 4, y: frame.y(v) - 4, "text-anchor": "end", class: cls }, label));
}

/** A bar from 0 to `v` spanning the time bucket [ta, tb), stacked on `base`. */
export function bar(frame, ta, tb, base, v, cls, title) {
  const x = frame.x(ta) + 1;
  const width = Math.max(1, frame.x(tb) - frame.x(ta) - 2);
  const top = frame.y(base + v);
  return s("rect", { x, y: top, width, height: Math.max(0, frame.y(base) - top), class: cls },
    s("title", {}, title));
}

export function legend(items) {
  return h("ul", { class: "legend" }, items.map(([cls, text]) =>
    h("li", {}, h("span", { class: `swatch ${cls}`, "aria-hidden": "true" }), text)));
}
