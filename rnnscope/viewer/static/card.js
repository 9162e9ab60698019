// The neuron card of one unit (/api/unit): statistics, the histogram of its values over the
// whole corpus (with the threshold), its top activating contexts and its mean by tag.
// Opened by clicking a unit anywhere: a legend chip, a line, a heatmap row label, a unit of the
// selection. Clicking a unit also colours the corpus text by it.
"use strict";

async function showCard(u) {
  S.card = u;
  writeHash();
  if (S.states && S.states.units.includes(u) && S.focusUnit !== u) { S.focusUnit = u; renderText(); }
  const seq = ++S.seq.card, key = S.key;
  const card = $("card");
  card.classList.remove("muted");
  // (no #cardtitle while loading: it appears with the card's content)
  card.replaceChildren(el("div", { class: "muted" }, `loading ${key} unit ${u}… (a unit's first card reads it over the whole corpus)`));
  let c;
  try { c = await api("/api/unit", { key, unit: u }); } catch (e) { card.replaceChildren(); return; }
  if (seq !== S.seq.card) return;   // another card was asked for meanwhile
  card.replaceChildren(cardHeader(c), cardHistogram(c), cardContexts(c));
  if (c.tag_means.length) card.appendChild(cardTagMeans(c));
}

function closeCard() {
  S.card = null; S.seq.card++;
  const card = $("card");
  card.className = "muted"; card.textContent = "click a unit (legend, line, heatmap label or selection) for its card";
  writeHash();
}

// Title, buttons and the summary statistics.
function cardHeader(c) {
  const box = el("div");
  const title = el("div", { id: "cardtitle" });
  title.appendChild(el("b", {}, `${c.key} unit ${c.unit}`));
  const plotted = S.units.includes(c.unit);
  const toggle = el("button", { id: "cardplot" }, plotted ? "remove from plot" : "add to plot");
  toggle.onclick = () => (plotted ? removeUnit(c.unit) : addUnit(c.unit)) && showCard(c.unit);
  const close = el("button", { id: "cardclose", title: "close the card" }, "×");
  close.onclick = closeCard;
  title.append(" ", toggle, " ", close);
  box.appendChild(title);
  box.appendChild(el("div", { class: "cardstats" },
    `mean ${fmt(c.mean)} · std ${fmt(c.std)} · on (tanh > 0.3) at ${fmtPct(c.on_rate)} of tokens`));
  return box;
}

// Histogram of the unit's raw values, x ticks at the ends (and 0), the threshold as a dashed
// line when the card's component is the one plotted.
function cardHistogram(c) {
  const W = 320, H = 110, top = 14, bottom = 20, { counts, edges } = c.histogram;
  const lo = edges[0], hi = edges[edges.length - 1], span = hi - lo || 1;
  const x = (v) => 4 + (W - 8) * (v - lo) / span;
  const mx = Math.max(...counts, 1), bw = (W - 8) / counts.length, ph = H - top - bottom;
  const svg = el("svg:svg", { class: "hist", width: W, height: H });
  counts.forEach((n, j) => svg.appendChild(el("svg:rect", { class: "histbar", x: 4 + j * bw, y: top + ph * (1 - n / mx),
    width: Math.max(bw - 1, 1), height: ph * n / mx }, undefined)));
  svg.appendChild(el("svg:line", { class: "axis", x1: 4, x2: W - 4, y1: top + ph, y2: top + ph }));
  // ticks at both ends (anchored inwards so they are not cut) and at 0 when it is inside
  const ticks = [[lo, "start"], [hi, "end"]].concat(lo < 0 && hi > 0 ? [[0, "middle"]] : []);
  for (const [v, anchor] of ticks) svg.appendChild(el("svg:text", { x: x(v), y: H - 5, "text-anchor": anchor }, fmt(v)));
  svg.appendChild(el("svg:text", { x: 4, y: 10 }, `tokens per bin (max ${fmtCount(mx)})`));
  const items = [{ cls: "band", colour: "#1f77b4", label: `${c.key} unit ${c.unit}, raw value over the corpus` }];
  if (c.key === S.key) {
    const t = S.scale === "tanh" ? Math.atanh(S.threshold) : S.threshold;   // the threshold in raw units
    if (t > lo && t < hi) {
      svg.appendChild(el("svg:line", { class: "thrline", x1: x(t), x2: x(t), y1: top - 4, y2: top + ph }));
      items.push({ cls: "dashed", colour: "#e65100", label: `threshold ${fmt(S.threshold)}${S.scale === "tanh" ? " (tanh)" : ""}` });
    }
  }
  const box = el("div", { class: "cardhist" });
  box.append(svg, swatchLegend(items));
  return box;
}

// Top activating contexts: value, left context, the token in bold, right context; a click
// shows it in the window.
function cardContexts(c) {
  const box = el("div");
  box.appendChild(el("h4", {}, "Top activating contexts"));
  const tbl = el("table", { class: "ctx" });
  for (const t of c.top_contexts) {
    const tr = el("tr", { title: `row ${t.row}: show it in the window` });
    tr.appendChild(el("td", { class: "num" }, fmt(t.value)));
    const td = el("td");
    td.append(document.createTextNode(t.left + " "), el("b", {}, t.token), document.createTextNode(" " + t.right));
    tr.appendChild(td);
    tr.onclick = () => jumpTo(t.row, t.row + 1);
    tbl.appendChild(tr);
  }
  box.appendChild(tbl);
  return box;
}

// Mean tanh by tag as bars (colour = the mean on the activation scale, legend below).
function cardTagMeans(c) {
  const box = el("div");
  box.appendChild(el("h4", {}, `Mean tanh by ${c.tag}`));
  const rows = c.tag_means.slice(0, 14);
  const mx = Math.max(...rows.map((t) => Math.abs(t.mean_tanh)), 1e-9);
  const tbl = el("table", { class: "tagmeans" });
  for (const t of rows) {
    const tr = el("tr");
    tr.appendChild(el("td", {}, t.tag));
    const bar = el("span", { class: "tagbar" });
    bar.style.width = `${(80 * Math.abs(t.mean_tanh) / mx).toFixed(1)}px`;
    bar.style.background = colour(t.mean_tanh);
    const td = el("td"); td.appendChild(bar); tr.appendChild(td);
    tr.appendChild(el("td", { class: "num" }, fmt(t.mean_tanh)));
    tr.appendChild(el("td", { class: "num muted" }, `n=${fmtCount(t.n)}`));
    tbl.appendChild(tr);
  }
  box.appendChild(tbl);
  if (c.tag_means.length > rows.length) box.appendChild(el("div", { class: "muted" }, `… and ${c.tag_means.length - rows.length} more tags`));
  box.appendChild(gradientLegend("bar colour: mean tanh"));
  return box;
}
