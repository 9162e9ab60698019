// The hypothesis view, after LSTMVis's parallel coordinates: x = token position in the window,
// y = activation, one polyline per plotted unit. The user drags the orange threshold line and
// brushes a span of positions; the units above the threshold at every brushed token are the
// "selected" ones (LSTMVis's rule) and are drawn thick, the rest faded. Under the token labels
// a heatmap shows the same units on the same columns. Everything is redrawn from the state S
// (viewer.js) by renderPlot(); the mouse handlers only change S and call it.
"use strict";

const PLOT = { top: 12, height: 200, labelH: 72, cellH: 13, minCol: 26, maxLabel: 11 };
const TICKS = [-1, -0.5, 0, 0.5, 1];

// y pixel of a value (clamped to the plotted range [-1, 1]) and the value at a y pixel
const plotY = (v) => PLOT.top + (1 - (clamp(v, -1, 1) + 1) / 2) * PLOT.height;
const plotValue = (y) => 1 - 2 * (y - PLOT.top) / PLOT.height;

// A stored value on the key's threshold scale: raw for h (as LSTMVis), tanh for the others.
function scaled(v) {
  if (v === null || v === undefined) return null;
  return S.scale === "tanh" ? Math.tanh(v) : v;
}
const scaleLabel = () => (S.scale === "tanh" ? `tanh(${S.key})` : `${S.key} (raw)`);

// Column width and the vertical layout: plot, token labels, heatmap rows.
function plotGeometry() {
  const n = S.text ? S.text.token.length : 0;
  const avail = $("pcpscroll").clientWidth || 900;
  const col = Math.max(PLOT.minCol, Math.floor(avail / Math.max(n, 1)));
  const heatTop = PLOT.top + PLOT.height + PLOT.labelH;
  const units = S.states ? S.states.units.length : 0;
  return { n, col, width: n * col, heatTop, height: heatTop + units * PLOT.cellH + 6 };
}

// Columns [j0, j1) of the brushed span in the window; while brushing, the span being dragged.
function brushColumns() {
  if (S.drag && S.drag.kind === "brush") return [Math.min(S.drag.from, S.drag.to), Math.max(S.drag.from, S.drag.to) + 1];
  if (!S.brush || !S.text) return null;
  const j0 = S.brush[0] - S.start, j1 = S.brush[1] - S.start;
  return j0 >= 0 && j1 <= S.text.token.length ? [j0, j1] : null;
}

// LSTMVis's rule: the plotted units whose value is above the threshold at every brushed token
// (live while the span is being dragged).
function selectedUnits() {
  const cols = brushColumns();
  if (!cols || !S.states) return [];
  return S.states.units.filter((u, k) => {
    for (let j = cols[0]; j < cols[1]; j++) {
      const v = scaled(S.states.values[k][j]);
      if (v === null || !(v > S.threshold)) return false;
    }
    return true;
  });
}

// Does token j of the window pass the annotation filter? (true when there is no filter)
function passesFilter(j) {
  return !S.filter || !S.text.tag || String(S.text.tag[j]) === S.filter.value;
}

function renderPlot() {
  const svg = $("pcp"), axis = $("pcpaxis");
  svg.replaceChildren(); axis.replaceChildren();
  if (!S.text || !S.states) return;
  const g = plotGeometry();
  for (const s of [svg, axis]) s.setAttribute("height", g.height);
  svg.setAttribute("width", Math.max(g.width, 1));
  svg.setAttribute("data-col", g.col);          // column width in pixels (for scripted use)
  const on = new Set(selectedUnits());
  svg.appendChild(el("svg:rect", { class: "bg", x: 0, y: 0, width: g.width, height: g.height, fill: "#fff" }));
  drawColumnBands(svg, g);
  drawGrid(svg, axis, g);
  drawLines(svg, g, on);
  drawThreshold(svg, axis, g);
  drawTokenLabels(svg, g);
  drawHeatmap(svg, axis, g);
  renderPlotLegend(on);
}

// Backgrounds per column: sentence boundaries, tokens passing the filter, the brushed span,
// and purple marks under the plot where matches lie.
function drawColumnBands(svg, g) {
  const t = S.text, y0 = PLOT.top, h = PLOT.height;
  for (let j = 0; j < g.n; j++) {
    if (S.filter && passesFilter(j)) {
      svg.appendChild(el("svg:rect", { class: "filterband", x: j * g.col, y: y0, width: g.col, height: h + PLOT.labelH - 4 }));
    }
    if (j > 0 && t.sentence[j] !== t.sentence[j - 1]) {
      svg.appendChild(el("svg:line", { class: "sentline", x1: j * g.col, x2: j * g.col, y1: 2, y2: g.height }));
    }
  }
  const b = brushColumns();
  if (b) {
    svg.appendChild(el("svg:rect", { id: "brushband", class: "brushband", x: b[0] * g.col, y: y0 - 6,
      width: (b[1] - b[0]) * g.col, height: h + 12 }));
  }
  for (const m of (S.match ? S.match.res.matches : [])) {
    const a = Math.max(m.row_start - S.start, 0), e = Math.min(m.row_end - S.start, g.n);
    if (e > a) svg.appendChild(el("svg:rect", { class: "matchmark", x: a * g.col + 1, y: y0 + h + 3, width: (e - a) * g.col - 2, height: 4 }));
  }
}

// Horizontal grid lines at the ticks, their labels and the axis title in the fixed left axis.
function drawGrid(svg, axis, g) {
  for (const v of TICKS) {
    svg.appendChild(el("svg:line", { class: v === 0 ? "zero" : "grid", x1: 0, x2: g.width, y1: plotY(v), y2: plotY(v) }));
    axis.appendChild(el("svg:text", { x: 44, y: plotY(v) + 3, "text-anchor": "end" }, v > 0 ? "+" + fmt(v) : fmt(v)));
  }
  const mid = PLOT.top + PLOT.height / 2;
  axis.appendChild(el("svg:text", { class: "axistitle", x: 10, y: mid, "text-anchor": "middle",
    transform: `rotate(-90 10 ${mid})` }, scaleLabel()));
}

// One polyline per plotted unit (points with no finite value are skipped); the selected units
// are drawn last, thick; the others faded while a span (in view) is brushed.
function drawLines(svg, g, on) {
  const units = S.states.units, faded = brushColumns() !== null;
  const order = units.map((u, k) => k).sort((a, b) => on.has(units[a]) - on.has(units[b]));
  for (const k of order) {
    const u = units[k];
    const pts = [];
    S.states.values[k].forEach((v, j) => {
      const s = scaled(v);
      if (s !== null) pts.push(`${((j + 0.5) * g.col).toFixed(1)},${plotY(s).toFixed(1)}`);
    });
    const cls = "unit" + (on.has(u) ? " on" : faded ? " off" : "");
    const line = el("svg:polyline", { class: cls, "data-unit": u, stroke: PALETTE[k % PALETTE.length], points: pts.join(" ") });
    line.appendChild(el("svg:title", {}, `unit ${u}` + (on.has(u) ? " (selected)" : "") + " · click for its card"));
    line.addEventListener("click", () => showCard(u));
    svg.appendChild(line);
  }
}

// The threshold: a dashed line across the plot (with a wider invisible line to grab) and a
// handle with its value on the axis. Elements of class "thr" start a threshold drag.
function drawThreshold(svg, axis, g) {
  const y = plotY(S.threshold);
  svg.appendChild(el("svg:line", { class: "thrline", x1: 0, x2: g.width, y1: y, y2: y }));
  const hit = el("svg:line", { class: "thr thrhit", x1: 0, x2: g.width, y1: y, y2: y });
  hit.appendChild(el("svg:title", {}, `threshold ${fmt(S.threshold)}: drag up or down`));
  svg.appendChild(hit);
  const handle = el("svg:path", { id: "thrhandle", class: "thr thrhandle", d: `M48,${y - 7} L63,${y} L48,${y + 7} Z` });
  handle.appendChild(el("svg:title", {}, "drag to change the threshold"));
  axis.appendChild(handle);
  axis.appendChild(el("svg:text", { id: "thrlabel", class: "thrlabel", x: 62, y: y - 9, "text-anchor": "end" }, fmt(S.threshold)));
}

// Token labels under the columns, turned 50° so that long tokens fit; the brushed ones bold,
// the ones failing the filter faded. The full token and its row are in the tooltip.
function drawTokenLabels(svg, g) {
  const t = S.text, y = PLOT.top + PLOT.height + 12, b = brushColumns();
  for (let j = 0; j < g.n; j++) {
    const x = (j + 0.5) * g.col - 3;
    const tok = shown(t.token[j]);
    const label = tok.length > PLOT.maxLabel ? tok.slice(0, PLOT.maxLabel - 1) + "…" : tok;
    const inBrush = b && j >= b[0] && j < b[1];
    const cls = "tlabel" + (inBrush ? " inbrush" : "") + (passesFilter(j) ? "" : " dim");
    const text = el("svg:text", { class: cls, x, y, "data-row": t.rows[j], transform: `rotate(50 ${x} ${y})` }, label);
    text.appendChild(el("svg:title", {}, tokenTitle(j)));
    svg.appendChild(text);
  }
}

// "row 12 · sentence 3:4 · NOUN" for token j of the window.
function tokenTitle(j) {
  const t = S.text;
  return `${shown(t.token[j])} · row ${t.rows[j]} · sentence ${t.sentence[j]}:${t.position[j]}` +
    (t.tag ? ` · ${S.textTag} ${t.tag[j]}` : "");
}

// Heatmap: one row per plotted unit (labelled on the axis, click for its card), one cell per
// token, coloured by the value on the key's scale.
function drawHeatmap(svg, axis, g) {
  S.states.units.forEach((u, k) => {
    const y = g.heatTop + k * PLOT.cellH;
    const label = el("svg:text", { class: "unitlink", x: 44, y: y + PLOT.cellH - 3, "text-anchor": "end",
      fill: PALETTE[k % PALETTE.length], "data-unit": u }, `u${u}`);
    label.addEventListener("click", () => showCard(u));
    axis.appendChild(label);
    S.states.values[k].forEach((v, j) => svg.appendChild(el("svg:rect", { class: "heatcell",
      x: j * g.col, y, width: g.col - 1, height: PLOT.cellH - 1, fill: colour(scaled(v)) })));
  });
}

// The legend above the plot: a chip per unit (its line colour; click = card, × = remove), what
// the bands and lines mean, and the heatmap's colour bar.
function renderPlotLegend(on) {
  const box = $("pcplegend"); box.replaceChildren();
  const chips = el("div", { class: "legend units" }), units = S.states.units;   // the units drawn
  units.forEach((u, k) => {
    const chip = el("span", { class: "unitchip" + (on.has(u) ? " on" : ""), "data-unit": u, title: `unit ${u}: click for its card` });
    chip.style.setProperty("--c", PALETTE[k % PALETTE.length]);
    chip.appendChild(el("span", { class: "chipline" }));
    chip.appendChild(document.createTextNode(`unit ${u}`));
    chip.addEventListener("click", () => showCard(u));
    const x = el("button", { class: "chipx", title: `remove unit ${u}` }, "×");
    x.addEventListener("click", (e) => { e.stopPropagation(); removeUnit(u); });
    chip.appendChild(x);
    chips.appendChild(chip);
  });
  if (!units.length) chips.appendChild(el("span", { class: "muted" }, "no units plotted: add some"));
  box.appendChild(chips);
  const items = [{ cls: "dashed", colour: "#e65100", label: `threshold ${fmt(S.threshold)} (drag)` },
                 { cls: "band", colour: "rgba(255,152,0,.25)", label: "brushed span" },
                 { cls: "thick", colour: "#333", label: `selected: above the threshold at every brushed token (${on.size} of ${units.length})` },
                 { cls: "band", colour: "#9c27b0", label: "match" }];
  if (S.filter) items.push({ cls: "band", colour: "rgba(255,235,59,.45)", label: `${S.filter.col} = ${S.filter.value}` });
  box.appendChild(swatchLegend(items));
  box.appendChild(gradientLegend(`heatmap: ${scaleLabel()}`, [{ value: S.threshold, label: `threshold ${fmt(S.threshold)}` }]));
}

// Under the plot: the hovered column's token and the values of the plotted units there.
function showReadout(j) {
  if (!S.text || j === null) return;
  const parts = S.states.units.map((u, k) => `u${u} ${fmt(scaled(S.states.values[k][j]))}`);
  $("readout").textContent = `${tokenTitle(j)} — ${parts.join(", ")}`;
}

// Window column under a mouse x (clientX), and the threshold value under a mouse y.
function plotColumnAt(clientX) {
  const g = plotGeometry();
  return clamp(Math.floor((clientX - $("pcp").getBoundingClientRect().left) / g.col), 0, Math.max(g.n - 1, 0));
}
const thresholdAt = (clientY) => plotValue(clientY - $("pcpaxis").getBoundingClientRect().top);

// Mouse on the plot: the threshold line/handle starts a threshold drag, a line opens its card
// (on click), anything else starts brushing. viewer.js's onMouseMove/onMouseUp finish drags.
function attachPlotMouse() {
  const start = (e) => {
    if (e.button !== 0) return;
    if (e.target.classList.contains("thr")) { e.preventDefault(); S.drag = { kind: "threshold" }; return; }
    if (e.currentTarget.id !== "pcp" || e.target.classList.contains("unit")) return;
    e.preventDefault();
    const j = plotColumnAt(e.clientX);
    S.drag = { kind: "brush", from: j, to: j };
    renderPlot();
  };
  $("pcp").addEventListener("mousedown", start);
  $("pcpaxis").addEventListener("mousedown", start);
  $("pcp").addEventListener("mousemove", (e) => { if (!S.drag) showReadout(plotColumnAt(e.clientX)); });
}

// Scroll the plot so that window column j is in view.
function scrollPlotTo(j) {
  const box = $("pcpscroll"), g = plotGeometry(), x = j * g.col;
  if (x < box.scrollLeft || x > box.scrollLeft + box.clientWidth - 4 * g.col) box.scrollLeft = Math.max(0, x - box.clientWidth / 3);
}
