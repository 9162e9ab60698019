"""Model comparison (seed 000 §5): same sentences, one probe table."""
from __future__ import annotations

import numpy as np
import pytest
from test_concepts import planted_tokens
from test_probe import encoded

from rnnscope.analysis.compare_models import compare_models
from rnnscope.errors import RnnscopeError
from rnnscope.store import ActivationStore


def test_lm_encodes_pos_classifier_does_not(tmp_path):
    tokens = planted_tokens(n_sent=80)
    rng = np.random.default_rng(0)
    lm = ActivationStore.from_arrays(tmp_path / "lm", {"layer1.h": encoded(tokens["xpos"], rng)},
                                     tokens)
    clf = ActivationStore.from_arrays(tmp_path / "clf",
                                      {"layer1.h": rng.normal(size=(len(tokens), 16))}, tokens)
    res = compare_models({"word LM": lm, "sentiment": clf}, feature="xpos", progress=False)
    acc = res.pivot().loc[:, "layer1.h"]
    assert acc["word LM"] > 0.9 and acc["sentiment"] < acc["word LM"] - 0.4
    assert list(res.table.columns[:2]) == ["model", "key"]
    res.plot()


def test_stores_of_different_sentences_are_refused(tmp_path):
    a, b = planted_tokens(n_sent=10, seed=0), planted_tokens(n_sent=10, seed=1)
    sa = ActivationStore.from_arrays(tmp_path / "a", {"layer1.h": np.zeros((len(a), 2))}, a)
    sb = ActivationStore.from_arrays(tmp_path / "b", {"layer1.h": np.zeros((len(b), 2))}, b)
    with pytest.raises(RnnscopeError, match="differ at sentence 0 word 0"):
        compare_models({"a": sa, "b": sb}, feature="xpos", progress=False)
