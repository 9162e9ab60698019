"""The activation store: every recorded component of a model over a corpus, on disk.

A store is a folder (a local path or any fsspec URL, e.g. ``s3://bucket/run``) holding::

    arrays.zarr/     one zarr 3 array per key ``layer{n}.{comp}``, shape [rows, H],
                     float16 (default) or float32, chunked by rows, read lazily
    tokens.parquet   the token table: one row per stored unit (see below)
    meta.json        model config, vocab kind, components, dtype, reset mode, corpus, rows
    COMPLETE         written last; a folder without it is refused by :meth:`ActivationStore.open`

Row ``r`` of every array belongs to row ``r`` of the token table, in corpus order
(sentence, position). Token table columns: ``sentence``, ``position``, ``token``, ``word``,
``word_index`` (-1 for separators of char/byte models), ``is_word_end``, then annotations
(``upos``, ``xpos``, ``deprel``, ``head``, ``depth``, ... and one column per FEATS key).

Writing goes through :class:`StoreWriter`: the arrays are preallocated at their final size and
filled by row ranges, so memory stays bounded, and writers that own distinct chunks of rows
(:meth:`StoreWriter.chunk_bounds`) may write concurrently from different processes or machines —
zarr stores each chunk as its own object. Only :meth:`StoreWriter.finalize` writes the token
table, the final meta and the ``COMPLETE`` marker.

>>> import numpy as np, pandas as pd, tempfile
>>> tokens = pd.DataFrame({"sentence": [0, 0], "position": [0, 1], "token": ["a", "b"],
...                        "word": ["a", "b"], "word_index": [0, 1], "is_word_end": [True, True],
...                        "upos": ["DET", "NOUN"]})
>>> store = ActivationStore.from_arrays(tempfile.mkdtemp() + "/s",
...                                     {"layer1.h": np.eye(2, 3)}, tokens)
>>> store.select("layer1.h", upos="NOUN")
array([[0., 1., 0.]], dtype=float32)
"""
from __future__ import annotations

from rnnscope.store.layout import (ARRAYS, COMPLETE, COMPRESSIONS, DEFAULT_CHUNK_ROWS, DTYPES,
                                   FORMAT, META, TOKEN_COLUMNS, TOKENS, check_dtype,
                                   check_replaceable, is_complete, store_generation, store_state)
from rnnscope.store.lock import writer_lock, writing_pid
from rnnscope.store.reader import ActivationStore, read_meta
from rnnscope.store.writer import StoreWriter

__all__ = ["ARRAYS", "COMPLETE", "COMPRESSIONS", "DEFAULT_CHUNK_ROWS", "DTYPES", "FORMAT", "META",
           "TOKEN_COLUMNS", "TOKENS", "ActivationStore", "StoreWriter", "check_dtype",
           "check_replaceable", "is_complete", "read_meta", "store_generation", "store_state",
           "writer_lock", "writing_pid"]
