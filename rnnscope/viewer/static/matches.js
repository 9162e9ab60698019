// The match view: the brushed span (first, for reference) and its LSTMVis matches as rows of
// aligned heatmap cells. One cell per token, every span starting in the same column; cell
// colour = mean of the selection's units at that token (on the key's scale). Under each row,
// annotation tracks (tag columns such as upos, and depth). The annotation filter hides rows
// without a matching token inside their span and fades the tokens without it.
"use strict";

const CELL_W = 56;
const scaleName = (scale) => (scale === "tanh" ? "tanh of the state" : "raw state");

// #selection: the selected span and its units (click one for its card).
function renderSelection() {
  const box = $("selection"); box.replaceChildren();
  const m = S.match;
  if (!m) {
    box.className = "muted";
    box.textContent = S.brush ? "span brushed: press “match” to find similar spans" : "nothing selected";
    return;
  }
  box.className = "";
  const sel = m.res.selection;
  const pool = m.res.pool ? `the ${m.res.pool.length} plotted units` : "all units";
  box.appendChild(el("div", {}, `“${sel.text}” (sentence ${sel.sentence}, position ${sel.start}): ` +
    `${sel.units.length} of ${pool} above ${fmt(m.res.threshold)} at every token (${scaleName(m.res.scale)} of ${m.res.key})`));
  const units = el("div", { id: "selunits" });
  for (const u of sel.units) {
    const a = el("span", { class: "unitlink", "data-unit": u, title: `unit ${u}: open its card` }, u);
    a.onclick = () => showCard(u);
    units.appendChild(a);
  }
  if (sel.units.length) {
    const max = S.info.limits.units;
    const b = el("button", { id: "plotsel", title: "plot exactly these units" }, sel.units.length > max ? `plot the first ${max}` : "plot these");
    b.onclick = () => setUnits(sel.units.slice(0, max));
    units.appendChild(b);
  }
  box.appendChild(units);
}

// The whole view: summary line, legends, the reference row and one li.match per match.
function renderMatches() {
  renderSelection();
  const list = $("matches"), ref = $("selrow"), legend = $("matchlegend");
  for (const x of [list, ref, legend]) x.replaceChildren();
  const m = S.match;
  if (!m) { $("matchinfo").textContent = ""; return; }
  const sel = m.res.selection;
  if (!sel.units.length) {
    $("matchinfo").textContent = "no unit is above the threshold at every token of this span: lower the threshold or brush fewer tokens";
    return;
  }
  const spans = new Map((m.cells ? m.cells.spans : []).map((s) => [`${s.row_start}-${s.row_end}`, s]));
  const spanOf = (r) => spans.get(`${r.row_start}-${r.row_end}`);
  legend.appendChild(gradientLegend(`cell colour: mean of the ${sel.units.length} selected units (${scaleName(m.res.scale)})`,
    [{ value: m.res.threshold, label: `threshold ${fmt(m.res.threshold)}` }]));
  const items = [{ cls: "outline", colour: "#333", label: "matched span (aligned)" }];
  if (S.filter) items.push({ cls: "band", colour: "rgba(255,235,59,.7)", label: `${S.filter.col} = ${S.filter.value} (other tokens faded)` });
  legend.appendChild(swatchLegend(items));
  ref.appendChild(matchRow(null, spanOf(sel)));
  let visible = 0;
  for (const row of m.res.matches) {
    const span = spanOf(row);
    const li = matchRow(row, span);
    li.hidden = !!S.filter && !!span && !spanHasTag(span);
    visible += li.hidden ? 0 : 1;
    list.appendChild(li);
  }
  renderMatchInfo(visible);
}

// "20 matches of 1,234 candidate spans · 7 shown with upos = NOUN" (+ a note if stale).
function renderMatchInfo(visible) {
  const m = S.match, n = m.res.matches.length;
  let text = n ? `${fmtCount(n)} matches of ${fmtCount(m.res.candidates)} candidate spans` : "no matching span";
  if (S.filter && n) text += ` · ${fmtCount(visible)} shown with ${S.filter.col} = ${S.filter.value}`;
  if (m.stale) text += " · the threshold or span changed since: press “match” to update";
  $("matchinfo").textContent = text;
}

// One row: a header (rank, scores, the text with the span in bold) over the cell grid.
// row === null is the selection itself (the reference row, not an li.match).
function matchRow(row, span) {
  const m = S.match, nsel = m.res.selection.units.length;
  const item = row ? el("li", { class: "match", "data-row": row.row_start }) : el("div", { class: "mrow ref" });
  const head = el("div", { class: "mhead" });
  if (row) {
    head.appendChild(el("span", { class: "mscore", title: "overlap: selected units on across it; extra: other units on; activation: mean of the selected units" },
      `#${row.rank} · overlap ${row.overlap}/${nsel} · extra ${row.extra} · activation ${fmt(row.activation)} · sentence ${row.sentence}`));
  } else {
    head.appendChild(el("span", { class: "mscore" }, `selection · sentence ${m.res.selection.sentence}`));
  }
  const [left, text, right] = row ? [row.left, row.text, row.right] : spanTexts(span, m.res.selection.text);
  const words = el("div", { class: "mtext" });
  words.append(document.createTextNode(left + (left ? " " : "")), el("b", {}, text), document.createTextNode((right ? " " : "") + right));
  item.append(head, words);
  if (span) item.appendChild(cellGrid(span));
  if (row) item.onclick = () => jumpTo(row.row_start, row.row_end);
  return item;
}

// Left context, span and right context of a /api/cells span as text.
function spanTexts(span, text) {
  if (!span) return ["", text, ""];
  const j = S.info.vocab_kind === "word" || !S.info.vocab_kind ? " " : "";
  const len = span.row_end - span.row_start;
  return [span.token.slice(0, span.lead).join(j), text, span.token.slice(span.lead + len).join(j)];
}

// The aligned grid of one span: a row of token cells coloured by the mean, then one row per
// track. Empty cells pad the left so that every span starts in column `context`.
function cellGrid(span) {
  const c = S.match.cells, width = alignWidth(c);
  const grid = el("div", { class: "mgrid" });
  grid.style.gridTemplateColumns = `52px repeat(${width}, ${CELL_W}px)`;
  const pad = c.context - span.lead, n = span.token.length;
  const addRow = (label, cellAt) => {
    grid.appendChild(el("div", { class: "trklabel" }, label));
    for (let col = 0; col < width; col++) {
      const i = col - pad;
      grid.appendChild(i >= 0 && i < n ? cellAt(i) : el("div", { class: "cell empty" }));
    }
  };
  addRow("mean", (i) => tokenCell(span, i));
  for (const col of S.tracks.filter((t) => t in span.tags)) addRow(col, (i) => trackCell(span, col, i));
  return grid;
}

// Columns of the grid: context + longest span + context.
function alignWidth(cells) {
  const longest = Math.max(1, ...cells.spans.map((s) => s.row_end - s.row_start));
  return 2 * cells.context + longest;
}

function inSpan(span, i) { return i >= span.lead && i < span.lead + (span.row_end - span.row_start); }
function cellPasses(span, i) {
  if (!S.filter || !(S.filter.col in span.tags)) return true;
  return String(span.tags[S.filter.col][i]) === S.filter.value;
}
// Does the span itself (not its context) hold a token passing the filter?
function spanHasTag(span) {
  for (let i = span.lead; i < span.lead + (span.row_end - span.row_start); i++) if (cellPasses(span, i)) return true;
  return false;
}

function tokenCell(span, i) {
  const v = span.value[i];
  const cls = "cell tokcell" + (inSpan(span, i) ? " core" : "") + (cellPasses(span, i) ? "" : " dim");
  const tags = Object.entries(span.tags).map(([k, vals]) => ` · ${k} ${trackText(vals[i])}`).join("");
  const cell = el("div", { class: cls, "data-row": span.first + i,
    title: `${shown(span.token[i])} · row ${span.first + i} · mean ${fmt(v)}${tags}` }, shown(span.token[i]));
  cell.style.background = colour(v);
  if (v !== null && Math.abs(v) > 0.65) cell.style.color = "#fff";
  return cell;
}

function trackCell(span, col, i) {
  const hit = S.filter && S.filter.col === col && cellPasses(span, i);
  const cls = "cell track" + (hit ? " hit" : "") + (cellPasses(span, i) ? "" : " dim");
  return el("div", { class: cls, "data-track": col }, trackText(span.tags[col][i]));
}
const trackText = (v) => (v === null || v === undefined ? "" : typeof v === "number" ? fmt(v) : String(v));
