"""The viewer's Flask app: one store, read lazily, behind a small JSON API.

Endpoints (all GET, all JSON; bad parameters get a 400 with ``{"error": ...}``):

- ``/api/info``: store summary, keys, annotation columns, suggested units;
- ``/api/text?start=&count=&tag=``: tokens of a window of rows (with a tag column);
- ``/api/states?key=&units=&start=&count=``: raw activations of chosen units over a window;
- ``/api/find?phrase=``: rows where a phrase occurs;
- ``/api/match?key=&row_start=&row_end=&threshold=&off_before=&off_after=&top=&slack=&scale=&units=``:
  LSTMVis matches of a selected span (:func:`rnnscope.analysis.match.match_spans`); ``scale``
  is ``raw`` (default, as LSTMVis) or ``tanh``; ``units`` (optional) restricts the hypothesis to
  those units (the selection is the given units on across the span, ``extra`` counts the other
  given units);
- ``/api/cells?key=&units=&spans=&context=&tags=&scale=``: for each span ``a-b`` (rows, end
  exclusive) the tokens around it (``context`` each side, inside the sentence), the mean of the
  chosen units per token and the annotation columns ``tags`` (the match view's heatmap rows);
- ``/api/unit?key=&unit=``: a unit's card (statistics, top contexts, histogram, tag means).

The app never takes a file path from a request: the only files it reads are the store it was
started on and its own static folder. Arrays are read slice by slice from zarr, so opening a
store costs only reading its token table. If the store stops being complete (being rewritten),
API calls answer 409.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from flask import Flask, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException

from rnnscope.analysis.match import (SCALES, check_threshold, default_scale, find_phrase,
                                     joiner_for, match_spans, sentence_bounds)
from rnnscope.errors import RnnscopeError
from rnnscope.store import ActivationStore, is_complete, store_generation

STATIC = Path(__file__).parent / "static"
MAX_WINDOW = 2000
MAX_UNITS = 64
TOP_CONTEXTS = 10
MAX_SPANS = 201          # /api/cells: the selection and up to 200 matches
MAX_TAG_VALUES = 60      # /api/info lists the values of annotation columns with at most this many
BASE_COLUMNS = {"sentence", "position", "token", "word", "word_index", "is_word_end"}
STATIC_FILES = {"index.html", "viewer.css", "viewer.js", "util.js", "plot.js", "matches.js",
                "card.js"}


class ApiError(Exception):
    """A request the API refuses: turned into ``{"error": message}`` with ``status``."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def create_app(store_path: str | Path, default_key: str | None = None) -> Flask:
    """Build the viewer app for the finished store at ``store_path``.

    Raises :class:`rnnscope.errors.StoreError` if the store is missing or still being written,
    so ``rnnscope serve`` fails at startup with a clear message instead of serving a broken page.
    """
    store = ActivationStore.open(store_path)
    keys = store.keys()
    if default_key is not None and default_key not in keys:
        raise RnnscopeError(f"store has no {default_key!r}; it holds {', '.join(keys)}")
    key0 = default_key or next((k for k in keys if k.endswith(".h")), keys[0])
    tokens = store.tokens
    state = _State(store, tokens, key0)
    generation = store_generation(store.path)

    app = Flask(__name__, static_folder=None)
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False
    app.config["RNNSCOPE_STORE"] = store

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return jsonify(error=str(exc)), exc.status

    @app.errorhandler(RnnscopeError)
    def _user_error(exc: RnnscopeError):
        return jsonify(error=str(exc)), 400

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return jsonify(error=exc.description or exc.name), exc.code

    @app.before_request
    def _still_complete():
        if request.path.startswith("/api/") and not is_complete(store.path):
            raise ApiError("the store is being written (no COMPLETE marker); wait for the "
                           "extraction to finish and restart the viewer", 409)
        if request.path.startswith("/api/") and store_generation(store.path) != generation:
            raise ApiError("the store was rewritten since the viewer started (its token table and "
                           "arrays changed); restart 'rnnscope serve' to view the new one", 409)

    @app.get("/")
    def index():
        return send_from_directory(STATIC, "index.html")

    @app.get("/static/<name>")
    def static_file(name: str):
        if name not in STATIC_FILES:
            raise ApiError(f"no static file {name!r}", 404)
        return send_from_directory(STATIC, name)

    @app.get("/api/info")
    def info():
        return jsonify(state.info())

    @app.get("/api/text")
    def text():
        start, count = state.window()
        tag = request.args.get("tag") or state.default_tag
        if tag and tag not in tokens.columns:
            raise ApiError(f"no token column {tag!r}")
        part = tokens.iloc[start:start + count]
        out = {"start": start, "rows": list(range(start, start + len(part))),
               "sentence": part["sentence"].astype(int).tolist(),
               "position": part["position"].astype(int).tolist(),
               "token": part["token"].astype(str).tolist(),
               "tag": [_plain(v) for v in part[tag]] if tag else None}
        return jsonify(out)

    @app.get("/api/states")
    def states():
        k = state.key()
        units = state.units()
        start, count = state.window()
        block = np.asarray(store[k][start:start + count], dtype=np.float32)[:, units]
        return jsonify(key=k, start=start, units=units, values=_finite_lists(block.T))

    @app.get("/api/find")
    def find():
        phrase = request.args.get("phrase", "")
        if not phrase.strip():
            raise ApiError("give a phrase to find")
        hits = find_phrase(tokens, phrase, state.joiner)
        return jsonify(phrase=phrase, count=len(hits),
                       hits=[{"row_start": a, "row_end": b} for a, b in hits[:100]])

    @app.get("/api/match")
    def match():
        k = state.key()
        a = _int_arg("row_start", None, 0, len(tokens) - 1)
        b = _int_arg("row_end", None, 1, len(tokens))
        if b <= a:
            raise ApiError("row_end must be greater than row_start")
        if b - a > 50:
            raise ApiError("select at most 50 tokens")
        threshold = _float_arg("threshold", 0.3)
        check_threshold(threshold)
        scale = _scale_arg("raw")
        pool = state.units(required=False, limit=store.width(k))
        pool = None if pool is None else list(dict.fromkeys(pool))   # each unit once
        states = store[k] if pool is None else _ColumnView(store[k], pool)
        result = match_spans(states, tokens, a, b, threshold=threshold,
                             off_before=_bool_arg("off_before"), off_after=_bool_arg("off_after"),
                             top=_int_arg("top", 20, 1, 200), length_slack=_int_arg("slack", 1, 0, 10),
                             joiner=state.joiner, scale=scale)
        sel = result.selection

        def back(u) -> int:  # a unit index of the pool -> the store's unit number
            return int(u) if pool is None else int(pool[int(u)])

        matches = _records(result.table)
        for m in matches:
            m["shared_units"] = sorted(back(u) for u in m["shared_units"])
        return jsonify(key=k, threshold=threshold, scale=scale, pool=pool,
                       selection={"row_start": sel.row_start, "row_end": sel.row_end,
                                  "sentence": sel.sentence, "start": sel.start, "text": sel.text,
                                  "units": sorted(back(u) for u in sel.units)},
                       candidates=result.n_candidates,
                       matches=matches)

    @app.get("/api/cells")
    def cells():
        k = state.key()
        units = list(dict.fromkeys(state.units(required=True, limit=store.width(k))))
        scale = _scale_arg(default_scale(k))
        context = _int_arg("context", 4, 0, 10)
        spans = _spans_arg(len(tokens))
        tags = state.tag_columns()
        toks = tokens["token"]
        out = []
        for a, b in spans:
            s = int(np.searchsorted(state.bounds, a, side="right")) - 1
            first, last = int(state.bounds[s]), int(state.bounds[s + 1])
            if b > last:
                raise ApiError(f"span {a}-{b} crosses a sentence boundary")
            lo, hi = max(first, a - context), min(last, b + context)
            block = np.asarray(store[k][lo:hi], dtype=np.float32)[:, units]
            if scale == "tanh":
                block = np.tanh(block)
            mean = block.mean(axis=1)
            out.append({"row_start": a, "row_end": b, "first": lo, "lead": a - lo,
                        "sentence": int(tokens["sentence"].iat[a]),
                        "token": toks.iloc[lo:hi].astype(str).tolist(),
                        "value": _finite_lists(mean[None, :])[0],
                        "tags": {c: [_plain(v) for v in tokens[c].iloc[lo:hi]] for c in tags}})
        return jsonify(key=k, units=units, scale=scale, context=context, tags=tags, spans=out)

    @app.get("/api/unit")
    def unit():
        k = state.key()
        u = _int_arg("unit", None, 0, store.width(k) - 1)
        return jsonify(state.card(k, u))

    @app.route("/api/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
    def unknown(rest: str):
        raise ApiError(f"no API endpoint /api/{rest}", 404)

    return app


class _State:
    """What the request handlers share: the store, its token table and cached unit cards."""

    def __init__(self, store: ActivationStore, tokens, key0: str):
        self.store = store
        self.tokens = tokens
        self.key0 = key0
        self.joiner = joiner_for(store.meta.get("vocab_kind"))
        self.bounds = sentence_bounds(tokens)
        cols = [c for c in ("upos", "xpos", "deprel") if c in tokens.columns]
        self.default_tag = cols[0] if cols else None
        self._cards: dict[tuple[str, int], dict] = {}
        self._suggested: list[int] | None = None
        self._tag_values: dict[str, list] | None = None

    def key(self) -> str:
        k = request.args.get("key") or self.key0
        if k not in self.store.keys():
            raise ApiError(f"no key {k!r}; the store holds {', '.join(self.store.keys())}")
        return k

    def window(self) -> tuple[int, int]:
        start = _int_arg("start", 0, 0, max(len(self.tokens) - 1, 0))
        count = _int_arg("count", 200, 1, MAX_WINDOW)
        return start, count

    def units(self, required: bool | None = None, limit: int = MAX_UNITS) -> list[int] | None:
        """The ``units`` parameter. Absent or empty: the suggested units (``required=None``),
        ``None`` (``required=False``) or a 400 (``required=True``)."""
        raw = request.args.get("units", "")
        if not raw.strip():
            if required:
                raise ApiError("give the units (comma-separated unit numbers)")
            return None if required is False else self.suggested()
        try:
            units = [int(x) for x in raw.split(",") if x.strip()]
        except ValueError:
            raise ApiError(f"units must be comma-separated integers, got {raw!r}") from None
        width = self.store.width(self.key())
        bad = [u for u in units if not 0 <= u < width]
        if bad:
            raise ApiError(f"unit {bad[0]} out of range 0..{width - 1}")
        if len(units) > limit:
            raise ApiError(f"at most {limit} units at a time")
        return units

    def tag_columns(self) -> list[str]:
        """The ``tags`` parameter (annotation columns); default: the default tag and ``depth``."""
        raw = request.args.get("tags")
        if raw is None:
            return self.tracks
        cols = [c for c in raw.split(",") if c.strip()]
        bad = [c for c in cols if c not in self.tokens.columns]
        if bad:
            raise ApiError(f"no token column {bad[0]!r}")
        return cols

    @property
    def tracks(self) -> list[str]:
        """Annotation tracks shown by default: the first tag column and ``depth`` if present."""
        return [c for c in (self.default_tag, "depth") if c and c in self.tokens.columns]

    def tag_values(self) -> dict[str, list]:
        """Values of each annotation column with few distinct ones, most frequent first (cached)."""
        if self._tag_values is None:
            self._tag_values = {}
            for c in self.tokens.columns:
                if c in BASE_COLUMNS:
                    continue
                counts = self.tokens[c].dropna().value_counts()
                if 0 < len(counts) <= MAX_TAG_VALUES:
                    self._tag_values[c] = [_plain(v) for v in counts.index]
        return self._tag_values

    def suggested(self, n: int = 6) -> list[int]:
        """The most variable units of the default key over the first rows (a cheap default)."""
        if self._suggested is None:
            head = np.asarray(self.store[self.key0][:4096], dtype=np.float32)
            self._suggested = [int(u) for u in np.argsort(-head.var(axis=0))[:n]]
        return self._suggested

    def info(self) -> dict[str, Any]:
        meta = self.store.meta
        return {"store": Path(str(self.store.path)).name, "rows": len(self.tokens),
                "sentences": len(self.bounds) - 1, "hidden_size": self.store.hidden_size,
                "widths": {k: self.store.width(k) for k in self.store.keys()},
                "keys": self.store.keys(), "default_key": self.key0,
                "vocab_kind": meta.get("vocab_kind"), "model": meta.get("model"),
                "columns": [c for c in self.tokens.columns if c not in BASE_COLUMNS],
                "default_tag": self.default_tag, "suggested_units": self.suggested(),
                "scales": {k: default_scale(k) for k in self.store.keys()},
                "tracks": self.tracks, "tag_values": self.tag_values(),
                "limits": {"window": MAX_WINDOW, "units": MAX_UNITS, "span": 50}}

    def card(self, k: str, u: int) -> dict[str, Any]:
        if (k, u) in self._cards:
            return self._cards[(k, u)]
        values = np.concatenate([block[:, u] for _, block in self.store.iter_chunks(k)])
        order = np.argsort(-values)[:TOP_CONTEXTS]
        toks = self.tokens["token"].astype(str).to_numpy()
        contexts = []
        for r in order:
            s = int(np.searchsorted(self.bounds, r, side="right")) - 1
            a, b = int(self.bounds[s]), int(self.bounds[s + 1])
            lo, hi = max(a, r - 6), min(b, r + 4)
            contexts.append({"row": int(r), "value": float(values[r]),
                             "left": self.joiner.join(toks[lo:r]), "token": toks[r],
                             "right": self.joiner.join(toks[r + 1:hi])})
        counts, edges = np.histogram(values, bins=30)
        tag_means = []
        if self.default_tag:
            tags = self.tokens[self.default_tag].astype(str)
            g = (np.tanh(values)).astype(float)
            means = (pd.Series(g).groupby(tags.to_numpy()).agg(["mean", "size"])
                     .sort_values("mean", ascending=False))
            tag_means = [{"tag": str(t), "mean_tanh": round(float(m), 4), "n": int(n)}
                         for t, (m, n) in means.iterrows()]
        card = {"key": k, "unit": u, "mean": float(values.mean()), "std": float(values.std()),
                "on_rate": float((np.tanh(values) > 0.3).mean()),
                "top_contexts": contexts,
                "histogram": {"counts": counts.tolist(), "edges": np.round(edges, 4).tolist()},
                "tag": self.default_tag, "tag_means": tag_means}
        self._cards[(k, u)] = card
        return card


class _ColumnView:
    """Some columns of a (lazy) ``[rows, H]`` array, sliced by rows like the array itself: lets
    :func:`match_spans` work on a chosen pool of units without copying the store."""

    def __init__(self, array, columns: list[int]):
        self.array = array
        self.columns = np.asarray(columns, dtype=np.int64)
        self.shape = (array.shape[0], len(columns))

    def __getitem__(self, rows) -> np.ndarray:
        return np.asarray(self.array[rows], dtype=np.float32)[:, self.columns]


def _finite_lists(values: np.ndarray) -> list[list]:
    """Rows as lists rounded to 4 decimals, NaN/inf as ``null`` (browsers reject bare NaN)."""
    rounded = np.round(values.astype(np.float64), 4)
    if np.isfinite(rounded).all():
        return rounded.tolist()
    return [[float(x) if np.isfinite(x) else None for x in row] for row in rounded]


def _int_arg(name: str, default: int | None, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ApiError(f"missing parameter {name!r}")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(f"parameter {name!r} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ApiError(f"parameter {name!r}={value} out of range {lo}..{hi}")
    return value


def _float_arg(name: str, default: float) -> float:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ApiError(f"parameter {name!r} must be a number, got {raw!r}") from None


def _scale_arg(default: str) -> str:
    raw = request.args.get("scale") or default
    if raw not in SCALES:
        raise ApiError(f"scale must be one of {', '.join(SCALES)}, got {raw!r}")
    return raw


def _spans_arg(n_rows: int) -> list[tuple[int, int]]:
    """``spans=a-b,c-d`` (rows, end exclusive, at most 50 tokens each) as pairs."""
    raw = request.args.get("spans", "")
    out = []
    for part in (p for p in raw.split(",") if p.strip()):
        a, sep, b = part.strip().partition("-")
        try:
            a, b = int(a), int(b)
        except ValueError:
            raise ApiError(f"spans must look like 12-15,40-43, got {part!r}") from None
        if not sep or not 0 <= a < b <= n_rows or b - a > 50:
            raise ApiError(f"span {part!r} out of range (need 0 <= a < b <= {n_rows}, "
                           "at most 50 tokens)")
        out.append((a, b))
    if not out:
        raise ApiError("give spans, e.g. spans=12-15,40-43")
    if len(out) > MAX_SPANS:
        raise ApiError(f"at most {MAX_SPANS} spans at a time")
    return out


def _bool_arg(name: str) -> bool:
    return request.args.get(name, "").lower() in {"1", "true", "yes", "on"}


def _plain(v: Any) -> Any:
    """A JSON-safe scalar (NaN/None -> None)."""
    if v is None:
        return None
    if isinstance(v, (float, np.floating)) and np.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v if isinstance(v, (int, float, str, bool)) else str(v)


def _records(table) -> list[dict]:
    return [{k: (_plain(v) if k != "shared_units" else [int(x) for x in v]) for k, v in row.items()}
            for row in table.to_dict(orient="records")]
