"""Export a store to LSTMVis' project layout (Strobelt et al., seed 001), for its own viewer.

LSTMVis reads a project folder with an ``lstm.yml`` config and HDF5 files whose datasets are
``[time steps, units]``. We write::

    states.hdf5   states{n} = layer n cell state c (type ``state``, LSTMVis applies tanh),
                  output{n} = layer n hidden state h (type ``output``, already in [-1, 1]);
                  for GRU/RNN stores, h is written as states{n}
    train.hdf5    word_ids: [time steps] int, the token id of every stored row
    words.dict    "token id" per line (ids from 1); whitespace tokens are written as <space>
    meta.hdf5 + {col}.dict   categorical annotations (upos, xpos, deprel) where present
    lstm.yml      the config tying them together

Rows are copied chunk by chunk (bounded memory). h5py is an optional dependency, imported here
only: ``pip install h5py``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnscope.errors import RnnscopeError, StoreError
from rnnscope.keys import parse_key
from rnnscope.store import ActivationStore

#: Token-table columns exported as categorical LSTMVis meta tracks when present.
META_COLUMNS = ("upos", "xpos", "deprel")


def _h5py():
    try:
        import h5py
    except ImportError:
        raise RnnscopeError("export-lstmvis needs h5py: pip install h5py") from None
    return h5py


def lstmvis_name(key: str, has_cell: bool) -> tuple[str, str, bool]:
    """``(dataset name, LSTMVis type, apply tanh)`` of a store key."""
    layer, comp = parse_key(key)
    if comp == "c":
        return f"states{layer}", "state", True
    if comp == "h":
        return (f"output{layer}", "output", False) if has_cell else (f"states{layer}", "state", False)
    raise StoreError(f"LSTMVis shows hidden (h) and cell (c) states only, not {key!r}")


def export_lstmvis(store: ActivationStore, out_dir: str | Path, keys: list[str] | None = None,
                   name: str | None = None) -> Path:
    """Write ``store`` as an LSTMVis project in ``out_dir``; returns the folder."""
    h5py = _h5py()
    all_keys = store.keys()
    if keys is None:
        keys = [k for k in all_keys if parse_key(k)[1] in ("h", "c")]
    missing = [k for k in keys if k not in all_keys]
    if missing:
        raise StoreError(f"store has no {missing[0]!r}; it holds {', '.join(all_keys)}")
    if not keys:
        raise StoreError("nothing to export: the store has no h or c arrays")
    has_cell = any(parse_key(k)[1] == "c" for k in all_keys)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokens = store.tokens

    types = []
    with h5py.File(out / "states.hdf5", "w") as f:
        for k in keys:
            dset_name, kind, tanh = lstmvis_name(k, has_cell)
            dset = f.create_dataset(dset_name, shape=(len(store), store.width(k)), dtype="f4")
            for start, block in store.iter_chunks(k):
                dset[start:start + len(block)] = block
            entry = {"type": kind, "layer": parse_key(k)[0], "path": dset_name}
            if not tanh:
                entry["transform"] = "none"
            types.append(entry)

    word_ids, words = _ids(tokens["token"].map(_printable))
    with h5py.File(out / "train.hdf5", "w") as f:
        f.create_dataset("word_ids", data=word_ids)
    _write_dict(out / "words.dict", words)

    files = {"states": "states.hdf5", "train": "train.hdf5", "words": "words.dict"}
    meta = {}
    columns = [c for c in META_COLUMNS if c in tokens.columns and tokens[c].notna().any()]
    if columns:
        with h5py.File(out / "meta.hdf5", "w") as f:
            for col in columns:
                ids, labels = _ids(tokens[col].fillna("_").astype(str).map(_printable))
                f.create_dataset(col, data=ids)
                _write_dict(out / f"{col}.dict", labels)
                files[f"{col}_dict"] = f"{col}.dict"
                meta[col] = {"file": "meta", "path": col, "dict": f"{col}_dict",
                             "vis": {"type": "discrete", "range": "dict"}}
        files["meta"] = "meta.hdf5"

    title = name or store.meta.get("corpus") or "rnnscope"
    model = store.meta.get("model") or {}
    config = {
        "name": title,
        "description": f"rnnscope store {store.path}: {model.get('cell', '?')} "
                       f"{model.get('num_layers', '?')}x{store.hidden_size}, "
                       f"{store.meta.get('vocab_kind', '?')} level",
        "files": files,
        "word_sequence": {"file": "train", "path": "word_ids", "dict_file": "words"},
        "states": {"file": "states", "types": types},
    }
    if meta:
        config["meta"] = meta
    (out / "lstm.yml").write_text(_yaml(config), encoding="utf-8")
    return out


def _printable(token: Any) -> str:
    """A token as one whitespace-free field of a .dict line."""
    token = "" if token is None else str(token)
    if token == " ":
        return "<space>"
    if token == "":
        return "<empty>"
    return re.sub(r"\s", "_", token)


def _ids(values) -> tuple[np.ndarray, list[str]]:
    """Ids from 1 for each distinct value (in first-seen order) and the id->value list."""
    codes, uniques = pd.factorize(pd.Series(values), sort=False)
    return (codes + 1).astype(np.int64), list(uniques)


def _write_dict(path: Path, labels: list[str]) -> None:
    path.write_text("".join(f"{label} {i}\n" for i, label in enumerate(labels, start=1)),
                    encoding="utf-8")


def _yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML for nested dicts/lists of scalars (JSON scalars are valid YAML)."""
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)):
                lines.append(f"{pad}{k}:\n{_yaml(v, indent + 1)}")
            else:
                lines.append(f"{pad}{k}: {json.dumps(v, ensure_ascii=False)}")
    else:
        for item in value:
            lines.append(f"{pad}- {json.dumps(item, ensure_ascii=False)}")
    return "\n".join(lines) + ("\n" if indent == 0 else "")
