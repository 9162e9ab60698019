// rnnscope viewer: the page's state S, its permalink (the URL hash), the controls, the corpus
// text and the match request. Drawing lives in plot.js (parallel coordinates + heatmap),
// matches.js (match view) and card.js (neuron card); helpers in util.js. Plain JavaScript + SVG,
// no external libraries (works offline).
"use strict";

const DEFAULT_COUNT = 200, DEFAULT_THRESHOLD = 0.3, CONTEXT = 4;
const S = {
  info: null,                 // /api/info
  key: null, scale: "raw",    // component shown, and the scale its threshold applies to
  units: [],                  // plotted units, in legend order (line colour = position)
  start: 0, count: DEFAULT_COUNT,                // the window of rows
  threshold: DEFAULT_THRESHOLD,
  brush: null,                // [row_start, row_end) of the brushed span, or null
  filter: null,               // {col, value}: fade tokens / hide match rows without this tag
  card: null,                 // unit whose card is open
  focusUnit: null,            // unit colouring the text (null: the first plotted)
  tracks: [],                 // annotation columns shown under each match row
  text: null, textTag: null, states: null, focus: null,   // the loaded window
  match: null,                // {res, cells, stale} of the last match request
  drag: null,                 // a mouse drag: {kind: "brush" | "text" | "threshold", from, to}
  seq: { window: 0, match: 0, card: 0 },        // request counters: late answers are dropped
};
const joiner = () => (!S.info.vocab_kind || S.info.vocab_kind === "word" ? " " : "");

// ---- permalink ------------------------------------------------------------------------------
// #key=layer1.h&units=2,9&start=0&t=0.3&brush=12-15&filter=upos:NOUN&card=9[&count=100]
// brush = rows row_start-row_end (end exclusive). Written with history.replaceState (no history
// entry per change), read on load and whenever the hash is edited.
function hashString() {
  const enc = (v) => encodeURIComponent(v).replace(/%2C/g, ",").replace(/%3A/g, ":");
  const p = [["key", S.key], ["units", S.units.join(",")], ["start", S.start], ["t", S.threshold]];
  if (S.count !== DEFAULT_COUNT) p.push(["count", S.count]);
  if (S.brush) p.push(["brush", `${S.brush[0]}-${S.brush[1]}`]);
  if (S.filter) p.push(["filter", `${S.filter.col}:${S.filter.value}`]);
  if (S.card !== null) p.push(["card", S.card]);
  return p.map(([k, v]) => `${k}=${enc(v)}`).join("&");
}

function writeHash() {
  if (!S.info) return;
  const h = "#" + hashString();
  if (location.hash !== h) history.replaceState(null, "", h);
}

// Read the hash into S; anything missing or invalid falls back to the defaults.
function readHash() {
  const p = new URLSearchParams(location.hash.slice(1)), i = S.info;
  const int = (name) => (/^\d+$/.test(p.get(name) || "") ? parseInt(p.get(name), 10) : null);
  S.key = i.keys.includes(p.get("key")) ? p.get("key") : i.default_key;
  S.scale = i.scales[S.key] || "raw";
  const width = i.widths[S.key];
  const units = (p.get("units") || "").split(",").filter((x) => /^\d+$/.test(x)).map(Number).filter((u) => u < width);
  S.units = p.has("units") ? [...new Set(units)].slice(0, i.limits.units) : i.suggested_units.filter((u) => u < width);
  const t = parseFloat(p.get("t"));
  S.threshold = t > 0 && t < 1 ? Math.round(t * 100) / 100 : DEFAULT_THRESHOLD;
  S.start = Math.min(int("start") ?? 0, Math.max(i.rows - 1, 0));
  S.count = [50, 100, 200, 400].includes(int("count")) ? int("count") : DEFAULT_COUNT;
  const b = /^(\d+)-(\d+)$/.exec(p.get("brush") || "");
  S.brush = b && +b[1] < +b[2] && +b[2] <= i.rows && +b[2] - +b[1] <= i.limits.span ? [+b[1], +b[2]] : null;
  const f = p.get("filter") || "", c = f.indexOf(":");
  const col = f.slice(0, c), value = f.slice(c + 1);
  S.filter = c > 0 && i.tag_values[col] && i.tag_values[col].map(String).includes(value) ? { col, value } : null;
  const card = int("card");
  S.card = card !== null && card < width ? card : null;
  S.focusUnit = null; S.match = null;
}

// ---- controls ---------------------------------------------------------------------------------
// The component picker (grouped by layer), tracks, filter and unit lists, from /api/info.
function fillControls() {
  const i = S.info;
  $("storeinfo").textContent = `${i.store}: ${fmtCount(i.rows)} tokens, ${fmtCount(i.sentences)} sentences, ${i.hidden_size} units`;
  const groups = new Map();
  for (const k of i.keys) {
    const [layer, comp, name] = splitKey(k);
    if (!groups.has(layer)) groups.set(layer, el("optgroup", { label: layer || "components" }));
    groups.get(layer).appendChild(el("option", { value: k }, `${layer ? layer + " · " : ""}${comp} (${name}, ${i.widths[k]} units)`));
  }
  $("key").replaceChildren(...groups.values());
  const cols = Object.keys(i.tag_values);
  $("filtercol").replaceChildren(el("option", { value: "" }, "(none)"), ...cols.map((c) => el("option", { value: c }, c)));
  S.tracks = i.tracks.slice();
  const tracks = $("tracks"); tracks.replaceChildren(document.createTextNode("tracks: "));
  for (const c of i.columns.slice(0, 16)) {
    const box = el("input", { type: "checkbox", "data-track": c });
    box.checked = S.tracks.includes(c);
    box.onchange = () => { S.tracks = [...document.querySelectorAll("#tracks input:checked")].map((x) => x.dataset.track); refreshCells(); };
    const label = el("label"); label.append(box, " " + c); tracks.appendChild(label);
  }
  if (!i.columns.length) tracks.appendChild(el("span", { class: "muted" }, "(the token table has no annotation columns)"));
}

// The unit search list: every unit of the key, the suggested ones first.
function fillUnitList() {
  const width = S.info.widths[S.key], first = S.info.suggested_units.filter((u) => u < width);
  const rest = [...Array(width).keys()].filter((u) => !first.includes(u));
  $("unitlist").replaceChildren(...first.map((u) => el("option", { value: u }, "most variable")), ...rest.map((u) => el("option", { value: u })));
}

// Put S into the controls (after reading the hash).
function syncControls() {
  $("key").value = S.key;
  $("units").value = S.units.join(",");
  $("threshold").value = S.threshold;
  $("start").value = S.start;
  $("count").value = S.count;
  $("filtercol").value = S.filter ? S.filter.col : "";
  fillFilterValues();
  fillUnitList();
}

function fillFilterValues() {
  const col = $("filtercol").value, values = col ? S.info.tag_values[col] : [];
  $("filterval").replaceChildren(...values.map((v) => el("option", { value: String(v) }, String(v))));
  $("filterval").disabled = !col;
  if (S.filter) $("filterval").value = S.filter.value;
}

function attachHandlers() {
  $("key").onchange = () => setKey($("key").value);
  $("units").onchange = () => {
    const parts = $("units").value.split(/[\s,]+/).filter((x) => x !== "");
    if (parts.some((x) => !/^\d+$/.test(x))) { $("status").textContent = `units must be comma-separated unit numbers, got “${$("units").value}”`; return; }
    setUnits(parts.map(Number));
  };
  const add = () => { const v = $("unitsearch").value.trim(); if (v === "") return; if (addUnit(/^\d+$/.test(v) ? Number(v) : NaN)) $("unitsearch").value = ""; };
  $("unitsearch").addEventListener("keydown", (e) => { if (e.key === "Enter") add(); });
  $("unitadd").onclick = add;
  $("threshold").onchange = () => { setThreshold(parseFloat($("threshold").value)); writeHash(); };
  $("start").onchange = () => { S.start = clamp(parseInt($("start").value || "0", 10) || 0, 0, S.info.rows - 1); loadWindow(); };
  $("count").onchange = () => { S.count = Number($("count").value); loadWindow(); };
  $("prev").onclick = () => { S.start = Math.max(0, S.start - S.count); loadWindow(); };
  $("next").onclick = () => { S.start = Math.min(S.info.rows - 1, S.start + S.count); loadWindow(); };
  $("filtercol").onchange = () => { fillFilterValues(); setFilter($("filtercol").value, $("filterval").value); };
  $("filterval").onchange = () => setFilter($("filtercol").value, $("filterval").value);
  $("findbtn").onclick = findPhrase;
  $("phrase").addEventListener("keydown", (e) => { if (e.key === "Enter") findPhrase(); });
  $("matchbtn").onclick = () => runMatch();
  $("permalink").onclick = copyLink;
  document.addEventListener("mousemove", onMouseMove);
  document.addEventListener("mouseup", onMouseUp);
  window.addEventListener("hashchange", () => { readHash(); syncControls(); applyState(); });
  let timer = null;
  window.addEventListener("resize", () => { clearTimeout(timer); timer = setTimeout(renderPlot, 150); });
}

// ---- state changes --------------------------------------------------------------------------
function setKey(k) {
  S.key = k; S.scale = S.info.scales[k] || "raw";
  const width = S.info.widths[k];
  S.units = S.units.filter((u) => u < width);
  $("units").value = S.units.join(",");
  if (S.card !== null && S.card >= width) closeCard();
  S.match = null; renderMatches();
  fillUnitList();
  loadWindow().then(() => {
    if (S.brush && $("automatch").checked) runMatch();
    if (S.card !== null) showCard(S.card);
  });
}

// Plot exactly these units (validated against the key's width and the API's limit).
function setUnits(list) {
  const width = S.info.widths[S.key], max = S.info.limits.units;
  const bad = list.filter((u) => !Number.isInteger(u) || u < 0 || u >= width);
  if (bad.length) { $("status").textContent = `unit ${bad[0]} is out of range 0..${width - 1}`; return false; }
  const units = [...new Set(list)];
  if (units.length > max) { $("status").textContent = `at most ${max} units at a time`; return false; }
  S.units = units;
  $("units").value = units.join(",");
  if (!units.includes(S.focusUnit)) S.focusUnit = null;
  loadWindow();
  return true;
}
const addUnit = (u) => (S.units.includes(u) ? true : setUnits([...S.units, u]));
const removeUnit = (u) => setUnits(S.units.filter((x) => x !== u));

// The threshold must lie strictly between 0 and 1 (the API's rule); steps of 0.01.
function setThreshold(t) {
  if (!Number.isFinite(t)) return;
  t = Math.round(clamp(t, 0.01, 0.99) * 100) / 100;
  if (t === S.threshold) { $("threshold").value = t; return; }
  S.threshold = t;
  $("threshold").value = t;
  if (S.match) S.match.stale = true;
  renderPlot();
}

function setFilter(col, value) {
  S.filter = col ? { col, value } : null;
  loadWindow();          // the text's tag column follows the filter
  refreshCells();
}

// Brush rows [a, b): shown in the plot and the text; matched at once if "on release" is ticked.
function setBrush(span, note) {
  S.brush = span;
  if (S.match) S.match.stale = true;
  const j = joiner(), t = S.text, j0 = span[0] - S.start;
  const words = t && j0 >= 0 ? t.token.slice(j0, span[1] - S.start).join(j) : "";
  $("brushinfo").textContent = `brushed: “${words}” (rows ${span[0]}–${span[1] - 1}, ${span[1] - span[0]} tokens)` + (note ? ` · ${note}` : "");
  renderPlot(); markSelection(); writeHash();
  if (S.match) renderMatchInfo($("matches").querySelectorAll("li.match:not([hidden])").length);
  else renderSelection();
  if ($("automatch").checked) runMatch(span[0], span[1]);
}

// A drag from row r0 to row r1 (both in the window) as a span: it stays inside the sentence of
// r0 and holds at most the API's limit of tokens.
function commitBrush(r0, r1) {
  const t = S.text, j0 = r0 - S.start, jEnd = r1 - S.start, dir = jEnd >= j0 ? 1 : -1;
  let j1 = j0, note = "";
  while (j1 !== jEnd) {
    const next = j1 + dir;
    if (t.sentence[next] !== t.sentence[j0]) { note = "kept inside one sentence"; break; }
    if (Math.abs(next - j0) >= S.info.limits.span) { note = `at most ${S.info.limits.span} tokens`; break; }
    j1 = next;
  }
  setBrush([S.start + Math.min(j0, j1), S.start + Math.max(j0, j1) + 1], note);
}

// ---- mouse drags (the plot's brush and threshold, the text's selection) ------------------------
function onMouseMove(e) {
  if (!S.drag) return;
  if (S.drag.kind === "brush") {
    const j = plotColumnAt(e.clientX);
    if (j !== S.drag.to) { S.drag.to = j; renderPlot(); }
  } else if (S.drag.kind === "threshold") {
    setThreshold(thresholdAt(e.clientY));
  }
}

function onMouseUp() {
  const d = S.drag;
  if (!d) return;
  S.drag = null;
  if (d.kind === "threshold") { writeHash(); if (S.match) renderMatches(); return; }
  if (d.kind === "brush") commitBrush(S.start + d.from, S.start + d.to);
  else commitBrush(d.from, d.to);
}

// ---- the window: text + states ----------------------------------------------------------------
async function loadWindow(focus) {
  const seq = ++S.seq.window;
  $("start").value = S.start;
  const tag = S.filter ? S.filter.col : S.info.default_tag;
  const units = S.units.slice();
  const empty = { key: S.key, start: S.start, units: [], values: [] };
  const [text, states] = await Promise.all([
    api("/api/text", Object.assign({ start: S.start, count: S.count }, tag ? { tag } : {})),
    units.length ? api("/api/states", { key: S.key, units: units.join(","), start: S.start, count: S.count }) : empty]);
  if (seq !== S.seq.window) return;     // a newer window was asked for meanwhile
  S.text = text; S.textTag = tag; S.states = states; S.focus = focus || null;
  renderText(); renderPlot(); writeHash();
  const target = focus ? focus[0] : S.brush ? S.brush[0] : null;
  if (target !== null) scrollPlotTo(target - S.start);
}

// Show rows [a, b) in the window (from a match row or a card's context) and mark them.
function jumpTo(a, b) {
  S.start = Math.max(0, a - 20);
  loadWindow([a, b]);
}

// The corpus text of the window, one block per sentence, tokens coloured by the focused unit
// (the last unit clicked, else the first plotted). Drag across tokens to brush a span.
function renderText() {
  const box = $("text"); box.replaceChildren();
  const t = S.text;
  if (!t || !S.states) return;
  const k = Math.max(0, S.states.units.indexOf(S.focusUnit));
  const u = S.states.units[k], vals = S.states.values[k] || [], sep = joiner();
  let line = null;
  for (let j = 0; j < t.token.length; j++) {
    if (j === 0 || t.sentence[j] !== t.sentence[j - 1]) {
      line = el("div", { class: "sent", "data-sentence": t.sentence[j] });
      box.appendChild(line);
    }
    const row = t.rows[j], v = scaled(vals[j]);
    const span = el("span", { class: "tok" + (passesFilter(j) ? "" : " dim"), "data-row": row,
      title: tokenTitle(j) + (u === undefined ? "" : ` · unit ${u} ${fmt(v)}`) }, shown(t.token[j]));
    span.style.background = u === undefined ? "" : colour(v);
    span.addEventListener("mousedown", (e) => { e.preventDefault(); S.drag = { kind: "text", from: row, to: row }; markSelection(); });
    span.addEventListener("mouseover", () => { if (S.drag && S.drag.kind === "text") { S.drag.to = row; markSelection(); } });
    line.appendChild(span);
    if (sep) line.appendChild(document.createTextNode(sep));
  }
  renderTextLegend(u);
  markMatches();
}

function renderTextLegend(u) {
  const box = $("textlegend"); box.replaceChildren();
  if (u !== undefined) box.appendChild(gradientLegend(`text colour: unit ${u}, ${scaleLabel()}`));
  const items = [{ cls: "outline", colour: "#ff9800", label: "brushed" }, { cls: "underline", colour: "#9c27b0", label: "match" }];
  if (S.filter) items.push({ cls: "faded", colour: "#999", label: `faded: ${S.filter.col} ≠ ${S.filter.value}` });
  box.appendChild(swatchLegend(items));
}

// Outline the brushed span (or the one being dragged) in the text.
function markSelection() {
  let a = -1, b = -2;
  if (S.drag && S.drag.kind === "text") [a, b] = [Math.min(S.drag.from, S.drag.to), Math.max(S.drag.from, S.drag.to)];
  else if (S.brush) [a, b] = [S.brush[0], S.brush[1] - 1];
  for (const s of document.querySelectorAll(".tok")) { const r = +s.dataset.row; s.classList.toggle("sel", r >= a && r <= b); }
}

// Underline the matches in the text, outline the focused span (a jump's target).
function markMatches() {
  const matches = S.match ? S.match.res.matches : [], f = S.focus;
  for (const s of document.querySelectorAll(".tok")) {
    const r = +s.dataset.row;
    s.classList.toggle("match", matches.some((m) => r >= m.row_start && r < m.row_end));
    s.classList.toggle("focus", !!f && r >= f[0] && r < f[1]);
  }
  markSelection();
}

// ---- matching ---------------------------------------------------------------------------------
// LSTMVis matching of rows [a, b) (default: the brushed span) at the current threshold, on all
// units or only the plotted ones; then the cells of the selection and of every match.
async function runMatch(a, b) {
  if (a === undefined) {
    if (!S.brush) { $("status").textContent = "brush a span first: drag across token positions in the plot or the text"; return; }
    [a, b] = S.brush;
  }
  const seq = ++S.seq.match;
  $("matchinfo").textContent = "matching…";
  const params = { key: S.key, row_start: a, row_end: b, threshold: S.threshold, scale: S.scale,
                   off_before: $("offbefore").checked, off_after: $("offafter").checked, top: $("top").value };
  if ($("pool").checked && S.units.length) params.units = S.units.join(",");
  let res;
  try { res = await api("/api/match", params); } catch (e) { if (seq === S.seq.match) $("matchinfo").textContent = ""; return; }
  if (seq !== S.seq.match) return;      // a newer match was asked for meanwhile
  S.match = { res, cells: null, stale: false };
  await fetchCells();
  if (seq !== S.seq.match) return;
  renderMatches(); markMatches(); renderPlot();
}

// /api/cells for the selection and the matches: the mean of the selected units per token and
// the annotation columns (the tracks, plus the filter's column).
async function fetchCells() {
  const m = S.match, units = m.res.selection.units;
  if (!units.length) return;
  const spans = [m.res.selection, ...m.res.matches].map((s) => `${s.row_start}-${s.row_end}`);
  const tags = [...new Set(S.tracks.concat(S.filter ? [S.filter.col] : []))];
  try {
    m.cells = await api("/api/cells", { key: m.res.key, units: units.join(","), spans: spans.join(","),
                                        context: CONTEXT, tags: tags.join(","), scale: m.res.scale });
  } catch (e) { m.cells = null; }
}

// Tracks or filter changed: fetch the cells again for the current matches.
async function refreshCells() {
  if (!S.match) return;
  const seq = S.seq.match, m = S.match;
  await fetchCells();
  if (seq === S.seq.match && m === S.match) renderMatches();
}

async function findPhrase() {
  const res = await api("/api/find", { phrase: $("phrase").value });
  if (!res.count) { $("status").textContent = "phrase not found"; return; }
  const h = res.hits[0];
  S.start = Math.max(0, h.row_start - 20);
  await loadWindow([h.row_start, h.row_end]);
  const auto = $("automatch").checked;
  setBrush([h.row_start, h.row_end]);
  if (!auto) await runMatch(h.row_start, h.row_end);
}

async function copyLink() {
  writeHash();
  const button = $("permalink"), label = button.textContent;
  try { await navigator.clipboard.writeText(location.href); button.textContent = "link copied"; }
  catch (e) { window.prompt("Copy this link:", location.href); return; }
  setTimeout(() => { button.textContent = label; }, 1500);
}

// Load everything S describes: the window, then the matches of the brushed span and the card.
async function applyState() {
  renderMatches();
  await loadWindow();
  if (S.brush) setBrush(S.brush);
  if (S.card !== null) showCard(S.card);
}

async function init() {
  S.info = await api("/api/info");
  fillControls();
  readHash();
  syncControls();
  attachHandlers();
  attachPlotMouse();
  await applyState();
}

init().catch((e) => { $("status").textContent = "could not start: " + e.message; });
