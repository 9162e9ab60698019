// rnnscope viewer, shared helpers: building DOM/SVG nodes, calling the JSON API, formatting
// numbers, the colour scale and its legends. Plain JavaScript, no libraries: the page is served
// from the package and works offline.
"use strict";

const $ = (id) => document.getElementById(id);
const SVGNS = "http://www.w3.org/2000/svg";
// line colours of the plotted units, by their position in the unit list (d3's category10)
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf"];
const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));

// An element: el("div", {class: "x"}, "text"); "svg:rect" makes an SVG element.
function el(tag, attrs, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// GET path?params as JSON; an error answer is shown in #status and thrown.
async function api(path, params) {
  const q = new URLSearchParams(params || {}).toString();
  const res = await fetch(path + (q ? "?" + q : ""));
  const body = await res.json();
  if (!res.ok) { $("status").textContent = body.error || res.statusText; throw new Error(body.error); }
  $("status").textContent = "";
  return body;
}

// Numbers everywhere on the page: 3 significant digits, never "-0", exponents only for very
// small or very large values (0.9345999956 -> "0.935", -0.00004 -> "-4e-5", 12345 -> "12300").
function fmt(v, digits = 3) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  const r = Number(v.toPrecision(digits));
  if (r === 0) return "0";
  const a = Math.abs(r);
  if (a >= 1e6 || a < 1e-3) return r.toExponential().replace("e+", "e");
  return String(r);
}
const fmtCount = (n) => Number(n).toLocaleString("en-US");          // 12,345
const fmtPct = (x) => fmt(100 * x) + "%";

// The diverging colour scale of activations: red (-1) .. white (0) .. blue (+1), clamped,
// the same as the static figures. null (non-finite) is light grey.
function colour(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "#e0e0e0";
  const t = clamp(v, -1, 1);
  if (t >= 0) { const c = Math.round(255 * (1 - t)); return `rgb(${c},${Math.round(255 - 120 * t)},255)`; }
  const c = Math.round(255 * (1 + t)); return `rgb(255,${c},${c})`;
}

// Shown form of a token: visible space / newline, a sign for the empty token.
const shown = (tok) => String(tok).replace(/ /g, "\u2423").replace(/\n/g, "\u23ce") || "\u2205";

// A colour-bar legend of the scale above: `label`, ticks at -1, 0, 1, and optional marks
// ({value, label}) such as the threshold.
function gradientLegend(label, marks) {
  const box = el("div", { class: "legend gradient" });
  box.appendChild(el("span", { class: "legend-label" }, label));
  const bar = el("span", { class: "legend-bar" });
  bar.style.background = `linear-gradient(to right, ${[-1, -0.5, 0, 0.5, 1].map(colour).join(", ")})`;
  const pct = (v) => `${(100 * (clamp(v, -1, 1) + 1) / 2).toFixed(1)}%`;
  for (const v of [-1, 0, 1]) {
    const t = el("span", { class: "legend-tick" }, v > 0 ? "+" + fmt(v) : fmt(v));
    t.style.left = pct(v);
    bar.appendChild(t);
  }
  for (const m of marks || []) {
    const t = el("span", { class: "legend-mark", title: m.label });
    t.style.left = pct(m.value);
    bar.appendChild(t);
  }
  box.appendChild(bar);
  if ((marks || []).length) box.appendChild(el("span", { class: "legend-note" }, marks.map((m) => m.label).join(", ")));
  return box;
}

// A legend of swatches: items [{cls, colour, label}]; cls picks the swatch's shape in the CSS
// (band, line, dashed, underline, outline).
function swatchLegend(items) {
  const box = el("div", { class: "legend swatches" });
  for (const it of items) {
    const item = el("span", { class: "legend-item" });
    const sw = el("span", { class: `swatch ${it.cls || "band"}` });
    if (it.colour) sw.style.setProperty("--c", it.colour);
    item.append(sw, document.createTextNode(" " + it.label));
    box.appendChild(item);
  }
  return box;
}

// Human name of a component key: "layer1.h" -> ["layer1", "h", "hidden state"].
const COMPONENTS = { h: "hidden state", c: "cell state", i: "input gate", f: "forget gate",
                     o: "output gate", g: "candidate", r: "reset gate", z: "update gate", n: "candidate" };
function splitKey(k) {
  const m = /^(.*)\.([^.]+)$/.exec(k);
  return m ? [m[1], m[2], COMPONENTS[m[2]] || m[2]] : ["", k, k];
}
