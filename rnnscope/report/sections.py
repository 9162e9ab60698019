"""Report sections: each takes the :class:`ReportContext` and returns HTML (or raises ``Skip``).

Sections that use other parts of rnnscope (probes, correlations, state-gradient memory, number
agreement) import them inside the function, so a build without them still produces a report:
the section then says it is not available, and any failure is shown in its place.

All sections read the one extraction. The unit-level ones use ``ctx.values`` (the analysed key
over the first ``max_rows`` rows); correlations, probes and concept neurons, which fit models
or rank every unit of every key, use ``ctx.sample`` (about ``sample_rows`` rows of whole,
randomly drawn sentences) and say so; the memory section averages state gradients over the
first ``memory_sentences`` sentences. Numbers follow one format (:func:`~rnnscope.report.html.fmt`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from rnnscope import figures
from rnnscope.analysis.match import find_phrase, match_spans
from rnnscope.analysis.word_sets import word_set_pca
from rnnscope.errors import RnnscopeError
from rnnscope.keys import global_unit, parse_key
from rnnscope.units import unit_name
from rnnscope.report.context import ReportContext, Skip
from rnnscope.report.html import esc, figure, fmt, table


def overview(ctx: ReportContext) -> str:
    cfg = ctx.model.config.to_dict()
    tokens = ctx.store.tokens
    rows = [("model", f"{cfg['cell']} {cfg['num_layers']}×{cfg['hidden_size']}, embedding {cfg['emb_dim']}, "
                      f"vocabulary {cfg['vocab_size']} ({ctx.vocab.kind})"),
            ("corpus", f"{getattr(ctx.corpus, 'name', 'corpus')}: {len(ctx.corpus)} sentences, "
                       f"{len(tokens)} model units"),
            ("analysed component", f"{ctx.key} (first {len(ctx.values)} rows)"),
            ("fitted on (correlations, probes, concept neurons)", ctx.sample_note()),
            ("stored components", ", ".join(ctx.store.keys())),
            ("annotation columns", ", ".join(c for c in tokens.columns if c not in
                                             ("sentence", "position", "token", "word", "word_index", "is_word_end"))),
            ("number format", "accuracies and shares: % with one decimal; differences of them: "
                              "signed percentage points (pp); correlations, effect sizes, weights, "
                              "activations: signed, three decimals; magnitudes: three significant digits")]
    return table(pd.DataFrame(rows, columns=["", "value"]))


def _sentence_rows(ctx: ReportContext, want=None, max_len: int = 60) -> tuple[int, int]:
    """Rows of the first sentence of 5..max_len units (containing a ``want`` tag if given)."""
    tokens = ctx.tokens
    tags = ctx.tag_values()
    for sid, part in tokens.groupby("sentence", sort=False):
        if 5 <= len(part) <= max_len and (want is None or (tags is not None and (tags.loc[part.index] == want).any())):
            return int(part.index[0]), int(part.index[-1]) + 1
    a = 0
    b = int((tokens["sentence"] == tokens["sentence"].iloc[0]).sum())
    return a, min(b, a + max_len)


def positions(ctx: ReportContext) -> str:
    a, b = _sentence_rows(ctx)
    toks = ctx.tokens["token"].iloc[a:b].tolist()
    units = ctx.units[:6]
    fig = figures.activation_over_positions(toks, ctx.values[a:b][:, units],
                                            labels=[f"unit {u}" for u in units],
                                            title=f"{ctx.key}: most variable units along one sentence")
    return "<p>The most variable units along the first sentence (raw activation).</p>" + \
        figure(fig, "activation over positions")


def tag_units(ctx: ReportContext) -> str:
    """Seed 002: the unit that best separates the most frequent tag, text coloured by it."""
    tags = ctx.tag_values()
    if tags is None:
        raise Skip("the corpus has no POS annotation (upos/xpos)")
    valid = tags.notna().to_numpy()
    cls = str(tags[valid].value_counts().index[0])
    ctx.focus_class = cls
    hit = (tags == cls).to_numpy()
    x = np.tanh(ctx.values[valid])
    h = hit[valid]
    if h.all() or not h.any():
        raise Skip("only one tag class in the corpus")
    d = (x[h].mean(0) - x[~h].mean(0)) / (x.std(0) + 1e-6)
    order = np.argsort(-np.abs(d))
    unit = int(order[0])
    ctx.focus_unit = unit
    ctx.add_unit(unit)
    ctx.note(unit, f"selective for {cls}", f"<p>standardised mean difference for {esc(cls)} "
             f"vs rest: d = {fmt(d[unit], 'signed')} (rank 1 of {len(d)})</p>")
    best = pd.DataFrame({"unit": order[:8], "effect (d)": d[order[:8]]})
    a, b = _sentence_rows(ctx, want=cls)
    toks = ctx.tokens["token"].iloc[a:b].tolist()
    sent_tags = tags.iloc[a:b].tolist()
    parts = [f"<p>Most frequent {esc(ctx.tag_column)} class: <b>{esc(cls)}</b>. Units ranked by "
             "how far their mean tanh activation on it lies from the rest (in standard deviations):</p>",
             table(best),
             figure(figures.text_activation(toks, ctx.values[a:b, unit], tags=sent_tags, highlight=cls,
                                            title=f"{ctx.key} unit {unit}: tanh(activation), {cls} highlighted",
                                            normalise=bool(np.abs(np.tanh(ctx.values[:, unit])).max() < 0.3)),
                    "text coloured by unit"),
             figure(figures.match_histogram(ctx.values[valid, unit], h, labels=(cls, f"not {cls}"),
                                            title=f"unit {unit}: {cls} vs the rest"), "match histogram")]
    # a 3-unit logistic classifier for the class, as Carvalho's probability colouring
    from sklearn.linear_model import LogisticRegression
    top3 = order[:3]
    clf = LogisticRegression(max_iter=500).fit(ctx.values[valid][:, top3], h)
    acc = clf.score(ctx.values[valid][:, top3], h)
    prob = clf.predict_proba(ctx.values[a:b][:, top3])[:, 1]
    parts.append(f"<p>A logistic classifier on the top three units ({', '.join(map(str, top3))}) "
                 f"reaches {fmt(acc, 'pct')} training accuracy for {esc(cls)} vs rest "
                 f"(always answering “not {esc(cls)}”: {fmt(1 - h.mean(), 'pct')}); its probability:</p>")
    parts.append(figure(figures.text_probability(toks, prob, tags=sent_tags, highlight=cls,
                                                 title=f"P({cls}) from units {', '.join(map(str, top3))}"),
                        "text coloured by probability"))
    return "\n".join(parts)


def correlations(ctx: ReportContext) -> str:
    """Seed 000: Pearson/Spearman r of every unit with position, length, depth, log frequency."""
    try:
        from rnnscope.analysis.correlate import correlate
    except ImportError:
        raise Skip("rnnscope.analysis.correlate is not part of this build") from None
    layer, comp = parse_key(ctx.key)
    result = correlate(ctx.sample, components=[comp], layers=[layer])
    t = result.table
    for u in ctx.units:
        mine = t[t["unit"] == u].assign(_a=lambda d: d["pearson"].abs()).sort_values("_a", ascending=False)
        ctx.note(u, "strongest correlations", table(mine[["feature", "pearson", "spearman"]].head(4)))
    parts = [f"<p>Correlation of each unit of {esc(ctx.key)} with the numeric word features (read at "
             f"word ends, on {esc(ctx.sample_note())}); strongest units per feature:</p>",
             table(result.top(n=3)[["key", "unit", "feature", "pearson", "spearman", "n"]]),
             "<p>Every unit's Pearson r with every feature (a box per feature, one grey dot per "
             "unit, the unit with the largest |r| named; diamonds: the units with a card):</p>",
             figure(figures.correlation_overview(t, highlight=ctx.units), "correlations with every feature")]
    if not result.depth.empty and result.depth["mean_r"].notna().any():
        d = result.depth.iloc[0]
        parts.append(f"<p>Depth tracking: the mean of the units' activation correlates with the tree "
                     f"depth within a sentence at r = {fmt(d['mean_r'], 'signed')} on average over "
                     f"{int(d['n_sentences'])} sentences.</p>")
    if result.skipped:
        parts.append(f"<p class='skip'>features not available: {esc(', '.join(result.skipped))}</p>")
    return "\n".join(parts)


def lexical(ctx: ReportContext) -> str:
    if ctx.vocab.kind != "word":
        raise Skip("the lexical-space picture needs a word-level model")
    unit = ctx.focus_unit if ctx.focus_unit is not None else ctx.units[0]
    emb = ctx.model.encoder.weight.detach().cpu().numpy()
    freq, mean = figures.lexical.word_statistics(ctx.tokens["token"], ctx.values[:, unit], ctx.vocab.itos)
    fig = figures.lexical_preference(emb, ctx.vocab.itos, freq, mean,
                                     title=f"lexical preference of {ctx.key} unit {unit}")
    seen = np.isfinite(mean) & (freq >= 3)
    if seen.sum() >= 2:
        hi, lo = int(np.nanargmax(np.where(seen, mean, -np.inf))), int(np.nanargmin(np.where(seen, mean, np.inf)))
        ctx.note(unit, "lexical preference",
                 f"<p>highest mean activation on <b>{esc(ctx.vocab.itos[hi])}</b> ({fmt(mean[hi], 'signed')}), "
                 f"lowest on <b>{esc(ctx.vocab.itos[lo])}</b> ({fmt(mean[lo], 'signed')}), among words "
                 "seen at least 3 times; see the lexical-space section</p>")
    return ("<p>Seed 000's lexical space, made legible: every vocabulary word at its place in the "
            "embedding's first two principal components (grey: not in the corpus), the words of the "
            "corpus coloured by the unit's mean activation over their occurrences and sized by log "
            "frequency; the words with the largest log frequency × |mean activation| (the paper's "
            "font-size score) are labelled where their labels do not overlap. Right: the words with the "
            "highest and lowest mean activation, with their counts.</p>" + figure(fig, "lexical space"))


def matching(ctx: ReportContext) -> str:
    """Seed 001: select the most frequent bigram's first occurrence and rank the corpus."""
    tokens = ctx.tokens
    toks = tokens["token"].astype(str).to_numpy()
    same = tokens["sentence"].to_numpy()[1:] == tokens["sentence"].to_numpy()[:-1]
    pairs = pd.Series([f"{a}\x00{b}" for a, b in zip(toks[:-1], toks[1:])])[same]
    if pairs.empty:
        raise Skip("no two-token span in the corpus")
    a_tok, b_tok = pairs.value_counts().index[0].split("\x00")
    hits = find_phrase(tokens, ctx.joiner.join([a_tok, b_tok]), ctx.joiner)
    a, b = hits[0] if hits else (int(pairs.index[0]), int(pairs.index[0]) + 2)
    for threshold in (0.3, 0.1, 0.03):  # the LSTMVis study's 0.3 first; weakly trained models need less
        res = match_spans(ctx.values, tokens, a, b, top=10, joiner=ctx.joiner, threshold=threshold)
        if len(res.units):
            break
    what = "state" if res.scale == "raw" else "tanh(state)"
    parts = [f"<p>Selection: <span class='ctx'>“{esc(res.selection.text)}”</span> (sentence "
             f"{res.selection.sentence}, the first occurrence of the corpus' most frequent bigram); "
             f"{len(res.units)} units have {what} &gt; {res.threshold:g} at every token of it: "
             f"{esc(', '.join(map(str, res.units.tolist()[:40])))}. The other spans of the corpus are "
             "ranked by how many of these units are on across them (overlap), then by how few other "
             "units are (extra).</p>"]
    if len(res.table):
        tags = ctx.tag_values()
        parts += [table(res.table[["rank", "sentence", "left", "text", "right", "overlap", "extra"]]),
                  "<p>LSTMVis's match view: the selection and each match with its context, aligned on "
                  "the matched span (outlined); each token coloured by the mean activation of the "
                  f"selected units, its {esc(ctx.tag_column or 'tag')} underneath.</p>",
                  figure(figures.match_view_of(res, ctx.values, tokens,
                                               annotation=ctx.tag_column if tags is not None else None,
                                               title=f"spans matching “{res.selection.text}”"),
                         "match view")]
    else:
        parts.append("<p class='skip'>no other span shares these units</p>")
    tags = ctx.tag_values()
    if tags is not None:
        counts = tags.value_counts()
        if len(counts) >= 2:
            groups = {}
            for cls in counts.index[:2]:
                words = tokens["token"][tags == cls].value_counts().index[:10].tolist()
                groups[str(cls)] = words
            try:
                pca = word_set_pca(ctx.values, tokens, groups)
                sep = "n/a" if pca.separation is None else fmt(pca.separation, "signed")
                parts += [f"<p>PCA of the states of the 10 most frequent {esc(' and '.join(groups))} "
                          f"tokens (silhouette {sep}):</p>", figure(pca.plot(), "word-set PCA")]
            except Exception as exc:  # too few occurrences: the match part still stands
                parts.append(f"<p class='skip'>word-set PCA skipped: {esc(exc)}</p>")
    return "\n".join(parts)


def probes(ctx: ReportContext) -> str:
    """Seed 000: decode the POS tag from every component (softmax probe, control task)."""
    try:
        from rnnscope.analysis.probe import probe
    except ImportError:
        raise Skip("rnnscope.analysis.probe is not part of this build") from None
    if ctx.tag_values() is None:
        raise Skip("no POS annotation to probe")
    result = probe(ctx.sample, ctx.tag_column, progress=False)
    t = result.table
    return (f"<p>Decoding {esc(ctx.tag_column)} from each component (softmax probe fitted on "
            f"{esc(ctx.sample_note())}, 10% held out): held-out accuracy, the control task's "
            "accuracy (labels re-drawn per word type), selectivity = accuracy − control accuracy, "
            "and the majority-class baseline:</p>"
            + figure(figures.component_accuracy(t, title=f"{ctx.tag_column} decoding accuracy",
                                                baseline=float(t["majority"].mean())), "probe accuracy")
            + table(t[["key", "accuracy", "control_accuracy", "selectivity", "majority", "n_test"]]))


def _concept_table(result) -> pd.DataFrame:
    """Seed 002's table in the report's format: per class, accuracy / precision / recall for
    all units and for the top 1..3."""
    t = result.table
    first = t[t["k"] == "all"].set_index("class")
    out = pd.DataFrame({"class": first.index,
                        "n (class / not)": [f"{int(a)} / {int(b)}" for a, b in zip(first["n_class"], first["n_not"])],
                        "units used": first["nonzero"].astype(int).to_numpy(),
                        "top 3": [", ".join(map(str, u[:3])) for u in first["top_units"]]})
    for k in ("all", "1", "2", "3", "4", "5"):
        part = t[t["k"] == k].set_index("class").reindex(first.index)
        if part["accuracy"].notna().any():
            out[f"k={k}: acc / prec / rec"] = [
                " / ".join(fmt(v, "pct") for v in (r.accuracy, r.precision, r.recall))
                for r in part.itertuples()]
    return out


def concept_section(ctx: ReportContext) -> str:
    """Seed 002: one-vs-rest L1 logistic regression per tag; the cards get each unit's weights."""
    try:
        from rnnscope.analysis.concepts import concepts
    except ImportError:
        raise Skip("rnnscope.analysis.concepts is not part of this build") from None
    if ctx.tag_values() is None:
        raise Skip("no POS annotation for concept neurons")
    result = concepts(ctx.sample, feature=ctx.tag_column, key=ctx.key)
    weights = result.weights
    for u in ctx.units:
        if u in weights.columns or str(u) in weights.columns:
            col = weights[u] if u in weights.columns else weights[str(u)]
            top = col.reindex(col.abs().sort_values(ascending=False).index).head(4)
            ctx.note(u, "probe weights", table(pd.DataFrame({"class": top.index, "L1 weight": top.to_numpy()})))
    parts = [f"<p>One-vs-rest L1 logistic regression per {esc(ctx.tag_column)} class on {esc(result.key)} "
             f"(fitted on {esc(ctx.sample_note())}, scored on 10% held out): accuracy / precision / "
             "recall of class vs rest with all units and retrained on the top 1..3 units:</p>",
             table(_concept_table(result))]
    if ctx.focus_class is not None and ctx.focus_class in weights.index:
        parts.append(figure(result.plot_weights(ctx.focus_class), "concept weights"))
    return "\n".join(parts)


def _sequences(ctx: ReportContext, n: int = 40) -> list[list[int]]:
    from rnnscope.corpus.align import align_corpus
    aligned = align_corpus(list(ctx.corpus)[:n], ctx.vocab)
    return [[ctx.vocab.eos_id] + list(a.ids) for a in aligned if a.ids]


def memory_section(ctx: ReportContext) -> str:
    try:
        from rnnscope.analysis.memory import memory
    except ImportError:
        raise Skip("rnnscope.analysis.memory is not part of this build") from None
    comp = parse_key(ctx.key)[1]
    states = ctx.model.family.gradient_states  # the cell's memory first (LSTM: c)
    if comp not in states:
        comp = states[0]
    state = f"layer{ctx.layer}.{comp}"
    seqs = _sequences(ctx, ctx.memory_sentences)
    max_delay = int(min(15, max(len(s) for s in seqs) - 1))
    if max_delay < 2:
        raise Skip("sentences too short for state gradients")
    res = memory(ctx.model, seqs, state, max_delay=max_delay, progress=False)
    t = res.table.query("group == 'all'")
    curves = pd.DataFrame({"delay": t["delay"], "sigma1": t["sigma1"], "ratio": t["ratio1"],
                           "state": state})
    parts = [f"<p>State-gradient memory of {esc(state)} over the first {len(seqs)} sentences "
             "(Verwimp et al.'s state gradients): largest singular value σ₁ of the averaged "
             "normalised gradient ∂state[t+τ]/∂e[t] per delay τ, and its share σ₁/Σσ of all "
             "singular values.</p>",
             figure(figures.memory_curves(curves), "memory curves")]
    mean = res.means.get("all") if hasattr(res, "means") else None
    if mean is not None and state == ctx.key:
        per_unit = np.linalg.norm(np.asarray(mean), axis=2)     # [delay, H]
        shown = [0] + [d for d in (1, 2, 5, 10, 15) if d < per_unit.shape[0]]
        for u in ctx.units:
            rel = per_unit[:, u] / (per_unit[0, u] + 1e-12)
            ctx.note(u, "memory", table(pd.DataFrame(
                {"delay τ": shown, "norm": per_unit[shown, u], "share of τ=0": rel[shown]}),
                formats={"delay τ": "int", "norm": "num", "share of τ=0": "pct"})
                + "<p class='skip'>|∂h_u[t+τ]/∂e[t]| averaged over positions; all units of "
                  "interest in the memory section</p>")
        parts += ["<p>Per unit of interest: the norm of its row of the averaged gradient against "
                  "the delay, relative to τ = 0 (how much of the word at t is still in the unit at "
                  "t+τ).</p>",
                  figure(figures.unit_memory({f"unit {u}": per_unit[:, u] for u in ctx.units},
                                             title=f"units of {state}: |∂{state}_u[t+τ] / ∂e[t]|, "
                                                   "relative to τ = 0"),
                         "memory of the units of interest")]
    parts.append(table(curves.rename(columns={"sigma1": "σ₁", "ratio": "σ₁/Σσ"}), max_rows=20,
                       formats={"σ₁": "num", "σ₁/Σσ": "pct"}))
    return "\n".join(parts)


def agreement_section(ctx: ReportContext) -> str:
    if ctx.vocab.kind != "word":
        raise Skip("number agreement needs a word-level model")
    try:
        from rnnscope.agreement import TASKS, ablation_sweep, generate, score
    except ImportError:
        raise Skip("rnnscope.agreement is not part of this build") from None
    from rnnscope.agreement.casing import normalise_case

    items, case_note = normalise_case(generate(tasks=list(TASKS[:2]), n=20, seed=0), ctx.vocab, "auto")
    try:
        result = score(ctx.model, ctx.vocab, items)
    except RnnscopeError as exc:  # e.g. the verbs are not in the vocabulary: not applicable
        raise Skip(f"the agreement items cannot be scored with this vocabulary ({str(exc)[:160]})") from None
    if len(result.items) == 0:
        raise Skip("the agreement tasks' words are not in the model's vocabulary")
    unk = float((result.items["n_unk"] > 0).mean())
    if unk > 0.5:
        raise Skip(f"{fmt(unk, 'pct')} of agreement items contain unknown words for this vocabulary")
    sweep = ablation_sweep(ctx.model, ctx.vocab, items, mode="h", layers=[ctx.layer],
                           units=ctx.units, progress=False)
    worst = sweep.table.groupby("unit")["drop"].max()      # in points
    for u in ctx.units:
        if u in worst.index:
            ctx.note(u, "ablation effect", f"<p>largest accuracy drop when this unit's h is zeroed: "
                     f"{fmt(worst[u] / 100, 'pp')} (percentage points; number agreement, "
                     f"{', '.join(TASKS[:2])})</p>")
    fig = result.plot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    fig.axes[0].legend(handles=[Patch(color="#5b8ff9", label="congruent"),
                                Patch(color="#d9534f", label="incongruent"),
                                Line2D([], [], color="grey", ls="--", lw=1, label="chance")],
                       fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return (f"<p>Number agreement on generated {esc(', '.join(TASKS[:2]))} items "
            f"(Lakretz et al.'s NA tasks); {fmt(unk, 'pct')} of items contain unknown words; "
            f"{esc(case_note)}.</p>" + table(result.table) + figure(fig, "agreement accuracy"))


#: (anchor, heading, function) in report order; cards come last (they read the notes).
SECTIONS = [("overview", "Overview", overview),
            ("positions", "Activation over positions", positions),
            ("tags", "Units and POS tags (concept neurons, Carvalho)", tag_units),
            ("correlations", "Unit–feature correlations (Tang et al.)", correlations),
            ("lexical", "Lexical space (Tang et al.)", lexical),
            ("matching", "Span matching (LSTMVis, Strobelt et al.)", matching),
            ("probe", "Decoding tags from every component (Tang et al.)", probes),
            ("concepts", "Concept neurons (L1 probes, Carvalho)", concept_section),
            ("memory", "Memory from state gradients (Verwimp et al.)", memory_section),
            ("agreement", "Number agreement (Lakretz et al.)", agreement_section)]


def unit_title(ctx: ReportContext, unit: int) -> str:
    g = global_unit(ctx.layer, unit, ctx.model.config.widths(parse_key(ctx.key)[1]))
    return f"{unit_name(*parse_key(ctx.key), unit)} (global {g})"
