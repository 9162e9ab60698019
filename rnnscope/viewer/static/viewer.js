// rnnscope viewer: plain JavaScript + SVG, no external libraries (works offline).
"use strict";
const S = { focusUnit: null, info: null, key: null, units: [], start: 0, count: 200, text: null, states: null,
            matches: [], selection: null, dragFrom: null, dragTo: null };
const $ = (id) => document.getElementById(id);
const SVGNS = "http://www.w3.org/2000/svg";
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf"];

function el(tag, attrs, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

async function api(path, params) {
  const q = new URLSearchParams(params || {}).toString();
  const res = await fetch(path + (q ? "?" + q : ""));
  const body = await res.json();
  if (!res.ok) { $("status").textContent = body.error || res.statusText; throw new Error(body.error); }
  $("status").textContent = "";
  return body;
}

// red (-1) .. white (0) .. blue (+1), like the static figures
function colour(v) {
  const t = Math.max(-1, Math.min(1, v));
  if (t >= 0) { const c = Math.round(255 * (1 - t)); return `rgb(${c},${Math.round(255 - 120 * t)},255)`; }
  const c = Math.round(255 * (1 + t)); return `rgb(255,${c},${c})`;
}
const shown = (tok) => tok.replace(/ /g, "\u2423").replace(/\n/g, "\u23ce") || "\u2205";

async function init() {
  S.info = await api("/api/info");
  const i = S.info;
  $("storeinfo").textContent = `${i.store}: ${i.rows} tokens, ${i.sentences} sentences, ${i.hidden_size} units`;
  for (const k of i.keys) { const o = el("option", { value: k }, k); if (k === i.default_key) o.selected = true; $("key").appendChild(o); }
  S.key = i.default_key;
  S.units = i.suggested_units;
  $("units").value = S.units.join(",");
  $("key").onchange = () => { S.key = $("key").value; loadWindow(); };
  $("units").onchange = () => { S.units = $("units").value.split(",").map((x) => x.trim()).filter((x) => x !== "").map(Number); loadWindow(); };
  $("start").onchange = () => { S.start = Math.max(0, parseInt($("start").value || "0", 10)); loadWindow(); };
  $("prev").onclick = () => { S.start = Math.max(0, S.start - S.count); loadWindow(); };
  $("next").onclick = () => { S.start = Math.min(S.info.rows - 1, S.start + S.count); loadWindow(); };
  $("findbtn").onclick = findPhrase;
  document.addEventListener("mouseup", endDrag);
  await loadWindow();
}

async function loadWindow(focus) {
  $("start").value = S.start;
  const [text, states] = await Promise.all([
    api("/api/text", { start: S.start, count: S.count }),
    api("/api/states", { key: S.key, units: S.units.join(","), start: S.start, count: S.count })]);
  S.text = text; S.states = states;
  renderText(focus); renderTrajectories(); renderHeatmap();
}

function renderText(focus) {
  const box = $("text"); box.replaceChildren();
  // the text is coloured by the focused unit (the last one clicked, else the first chosen)
  const k = Math.max(0, S.states.units.indexOf(S.focusUnit));
  const vals = S.states.values[k] || [];
  const t = S.text;
  for (let j = 0; j < t.token.length; j++) {
    if (j > 0 && t.sentence[j] !== t.sentence[j - 1]) box.appendChild(el("span", { class: "sbreak" }));
    const row = t.rows[j];
    const v = vals[j] === undefined ? 0 : Math.tanh(vals[j]);
    const span = el("span", { class: "tok", "data-row": row,
      title: `unit ${S.states.units[k]} · row ${row} · sentence ${t.sentence[j]}:${t.position[j]}` + (t.tag ? ` · ${t.tag[j]}` : "") + ` · tanh ${v.toFixed(2)}` }, shown(t.token[j]));
    span.style.background = colour(v);
    span.addEventListener("mousedown", (e) => { e.preventDefault(); S.dragFrom = row; S.dragTo = row; markSelection(); });
    span.addEventListener("mouseover", () => { if (S.dragFrom !== null) { S.dragTo = row; markSelection(); } });
    box.appendChild(span);
  }
  markMatches(focus);
}

function markSelection() {
  const [a, b] = S.dragFrom === null ? (S.selection ? [S.selection.row_start, S.selection.row_end - 1] : [-1, -2])
    : [Math.min(S.dragFrom, S.dragTo), Math.max(S.dragFrom, S.dragTo)];
  for (const s of document.querySelectorAll(".tok")) { const r = +s.dataset.row; s.classList.toggle("sel", r >= a && r <= b); }
}

function markMatches(focus) {
  for (const s of document.querySelectorAll(".tok")) {
    const r = +s.dataset.row;
    s.classList.toggle("match", S.matches.some((m) => r >= m.row_start && r < m.row_end));
    s.classList.toggle("focus", !!focus && r >= focus[0] && r < focus[1]);
  }
  markSelection();
}

async function endDrag() {
  if (S.dragFrom === null) return;
  const a = Math.min(S.dragFrom, S.dragTo), b = Math.max(S.dragFrom, S.dragTo) + 1;
  S.dragFrom = null;
  await runMatch(a, b);
}

async function runMatch(a, b) {
  $("matches").replaceChildren(el("li", { class: "muted" }, "matching…"));
  let res;
  try {
    res = await api("/api/match", { key: S.key, row_start: a, row_end: b, threshold: $("threshold").value,
      off_before: $("offbefore").checked, off_after: $("offafter").checked, top: 20 });
  } catch (e) { $("matches").replaceChildren(); return; }
  S.selection = res.selection; S.matches = res.matches;
  const sel = $("selection"); sel.replaceChildren();
  sel.classList.remove("muted");
  sel.appendChild(el("div", {}, `“${res.selection.text}” (sentence ${res.selection.sentence}, ${res.selection.units.length} units on)`));
  const units = el("div", { id: "selunits" });
  for (const u of res.selection.units) { const a2 = el("span", { class: "unitlink", "data-unit": u }, u); a2.onclick = () => showCard(u); units.appendChild(a2); }
  sel.appendChild(units);
  const list = $("matches"); list.replaceChildren();
  if (!res.matches.length) list.appendChild(el("li", { class: "muted" }, "no matches"));
  for (const m of res.matches) {
    const li = el("li", { class: "match", "data-row": m.row_start });
    li.appendChild(document.createTextNode(m.left + (m.left ? " " : "")));
    li.appendChild(el("b", {}, m.text));
    li.appendChild(document.createTextNode((m.right ? " " : "") + m.right));
    li.appendChild(el("div", { class: "muted" }, `overlap ${m.overlap} · extra ${m.extra} · length ${m.length} · sentence ${m.sentence}`));
    li.onclick = () => { S.start = Math.max(0, m.row_start - 20); loadWindow([m.row_start, m.row_end]); };
    list.appendChild(li);
  }
  markMatches();
}

async function findPhrase() {
  const res = await api("/api/find", { phrase: $("phrase").value });
  if (!res.count) { $("status").textContent = "phrase not found"; return; }
  const h = res.hits[0];
  S.start = Math.max(0, h.row_start - 20);
  await loadWindow([h.row_start, h.row_end]);
  await runMatch(h.row_start, h.row_end);
}

function unitLabel(svg, x, y, u, colourOf) {
  const t = el("svg:text", { x, y, class: "unitlink", fill: colourOf || "#1565c0", "data-unit": u }, `unit ${u}`);
  t.style.cursor = "pointer";
  t.addEventListener("click", () => showCard(u));
  svg.appendChild(t);
}

function renderTrajectories() {
  const svg = $("traj"); svg.replaceChildren();
  const W = svg.getBoundingClientRect().width || 900, H = 200, left = 60, n = S.text.token.length;
  const x = (j) => left + (j + 0.5) * (W - left) / Math.max(n, 1);
  const y = (v) => 10 + (1 - (Math.tanh(v) + 1) / 2) * (H - 20);
  svg.appendChild(el("svg:line", { x1: left, x2: W, y1: y(0), y2: y(0), stroke: "#aaa" }));
  S.states.values.forEach((vals, k) => {
    const c = PALETTE[k % PALETTE.length];
    svg.appendChild(el("svg:polyline", { fill: "none", stroke: c, "stroke-width": 1.3,
      points: vals.map((v, j) => `${x(j).toFixed(1)},${y(v).toFixed(1)}`).join(" ") }));
    unitLabel(svg, 2, 14 + 13 * k, S.states.units[k], c);
  });
  for (const m of S.matches) {
    const a = m.row_start - S.start, b = m.row_end - S.start;
    if (b > 0 && a < n) svg.appendChild(el("svg:rect", { x: x(Math.max(a, 0)) - 2, y: H, width: Math.max(4, x(Math.min(b, n) - 1) - x(Math.max(a, 0)) + 4), height: 6, fill: "#9c27b0" }));
  }
}

function renderHeatmap() {
  const svg = $("heat"); svg.replaceChildren();
  const W = svg.getBoundingClientRect().width || 900, left = 60, n = S.text.token.length, rows = S.states.values.length;
  const h = 14; svg.setAttribute("height", rows * h + 4);
  const w = (W - left) / Math.max(n, 1);
  S.states.values.forEach((vals, k) => {
    unitLabel(svg, 2, k * h + 11, S.states.units[k]);
    vals.forEach((v, j) => svg.appendChild(el("svg:rect", { x: left + j * w, y: k * h, width: Math.max(w, 1), height: h - 1, fill: colour(Math.tanh(v)) })));
  });
}

async function showCard(u) {
  S.focusUnit = u;
  if (S.states && S.states.units.includes(u)) renderText();
  const card = $("card"); card.classList.remove("muted");
  card.replaceChildren(el("div", {}, "loading…"));
  const c = await api("/api/unit", { key: S.key, unit: u });
  card.replaceChildren();
  card.appendChild(el("div", { id: "cardtitle" }, `${c.key} unit ${c.unit}: mean ${c.mean.toFixed(3)}, std ${c.std.toFixed(3)}, on (tanh>0.3) ${(100 * c.on_rate).toFixed(1)}%`));
  const svg = el("svg:svg", { width: 300, height: 80 });
  const mx = Math.max(...c.histogram.counts, 1), bw = 300 / c.histogram.counts.length;
  c.histogram.counts.forEach((n, j) => svg.appendChild(el("svg:rect", { x: j * bw, y: 80 - 70 * n / mx, width: bw - 1, height: 70 * n / mx, fill: "#1f77b4" })));
  card.appendChild(svg);
  card.appendChild(el("div", { class: "muted" }, `range ${c.histogram.edges[0]} … ${c.histogram.edges[c.histogram.edges.length - 1]}`));
  card.appendChild(el("h4", {}, "Top activating contexts"));
  const tbl = el("table", { class: "ctx" });
  for (const t of c.top_contexts) {
    const tr = el("tr");
    tr.appendChild(el("td", {}, t.value.toFixed(2)));
    const td = el("td"); td.appendChild(document.createTextNode(t.left + " ")); td.appendChild(el("b", {}, t.token)); td.appendChild(document.createTextNode(" " + t.right));
    tr.appendChild(td); tr.onclick = () => { S.start = Math.max(0, t.row - 20); loadWindow([t.row, t.row + 1]); };
    tbl.appendChild(tr);
  }
  card.appendChild(tbl);
  if (c.tag_means.length) {
    card.appendChild(el("h4", {}, `Mean tanh by ${c.tag}`));
    card.appendChild(el("div", {}, c.tag_means.slice(0, 8).map((t) => `${t.tag} ${t.mean_tanh.toFixed(2)} (n=${t.n})`).join(" · ")));
  }
}

init().catch((e) => { $("status").textContent = "could not start: " + e.message; });
