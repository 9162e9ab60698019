"""Span matching (seed 001): planted units are found and the phrase's other occurrences rank first."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnscope.analysis.idioms import idiom_check
from rnnscope.analysis.match import (binarize, find_phrase, match_spans, match_store, select_units,
                                     span_rows)
from rnnscope.analysis.word_sets import word_set_pca
from rnnscope.errors import RnnscopeError

PLANTED = [3, 7, 11]
FILLER = "a of to in is was he she it on at by we they you from with".split()


def planted_corpus(seed: int = 0, n_sent: int = 40, hidden: int = 32):
    """Random sentences; "big red dog" in some, "big red cat" (a decoy) in others.

    Units 3, 7, 11 are on (state 2.0) across "big red dog"; the decoy turns on only 3 and 7.
    Every other unit is noise that is sometimes above the threshold.
    """
    rng = np.random.default_rng(seed)
    rows, dog, cat = [], [], []
    for s in range(n_sent):
        words = list(rng.choice(FILLER, size=rng.integers(6, 12)))
        insert = rng.integers(0, len(words))
        if s % 5 == 1:
            words[insert:insert] = ["big", "red", "dog"]
            dog.append(len(rows) + insert)
        elif s % 5 == 3:
            words[insert:insert] = ["big", "red", "cat"]
            cat.append(len(rows) + insert)
        rows += [(s, p, w) for p, w in enumerate(words)]
    tokens = pd.DataFrame(rows, columns=["sentence", "position", "token"])
    states = rng.normal(0.0, 0.4, size=(len(tokens), hidden)).astype(np.float32)
    states[:, PLANTED] = -2.0
    for r in dog:
        states[r:r + 3, PLANTED] = 2.0
    for r in cat:
        states[r:r + 3, PLANTED[:2]] = 2.0
    return states, tokens, dog, cat


def test_planted_units_found_and_other_occurrences_rank_first():
    states, tokens, dog, cat = planted_corpus()
    a, b = find_phrase(tokens, "big red dog")[0]
    assert a == dog[0] and b == dog[0] + 3
    result = match_spans(states, tokens, a, b, top=len(dog) + len(cat) - 1)
    assert set(PLANTED) <= set(result.units.tolist())
    table = result.table
    n_other = len(dog) - 1
    assert sorted(table["row_start"][:n_other]) == dog[1:]          # all other dogs first
    assert (table["length"][:n_other] == 3).all()
    assert all(set(PLANTED) <= set(u) for u in table["shared_units"][:n_other])
    # the decoys (2 of 3 planted units) come next, ranked below every full occurrence
    decoys = table[table["row_start"].isin(cat)]
    assert len(decoys) > 0 and decoys["rank"].min() > n_other
    assert (table["overlap"].diff().dropna() <= 0).all()             # ranked by overlap
    assert dog[0] not in set(table["row_start"])                      # the selection itself is skipped
    assert table.loc[0, "text"] == "big red dog"


def test_blockwise_scan_equals_single_block():
    states, tokens, dog, _ = planted_corpus(seed=1)
    a, b = dog[0], dog[0] + 3
    whole = match_spans(states, tokens, a, b, top=5)
    blocks = match_spans(states, tokens, a, b, top=5, block_rows=7)
    pd.testing.assert_frame_equal(whole.table, blocks.table)


def test_off_before_drops_units_already_on():
    tokens = pd.DataFrame({"sentence": [0] * 5, "token": list("xabxy")})
    states = np.full((5, 3), -1.0, dtype=np.float32)
    states[1:3, 0] = 1.0          # on across the span only
    states[0:3, 1] = 1.0          # on before the span too
    states[1:4, 2] = 1.0          # on after the span too
    assert select_units(states, tokens, 1, 3).units.tolist() == [0, 1, 2]
    assert select_units(states, tokens, 1, 3, off_before=True).units.tolist() == [0, 2]
    assert select_units(states, tokens, 1, 3, off_before=True, off_after=True).units.tolist() == [0]


def test_threshold_is_on_tanh_scale():
    x = np.array([[np.arctanh(0.29), np.arctanh(0.31)]], dtype=np.float32)
    assert binarize(x, 0.3).tolist() == [[False, True]]


@pytest.mark.parametrize("bad", [0, 1, -0.2, 1.5, "x"])
def test_threshold_outside_unit_interval_is_refused(bad):
    states, tokens, dog, _ = planted_corpus()
    with pytest.raises(RnnscopeError, match="threshold"):
        match_spans(states, tokens, dog[0], dog[0] + 3, threshold=bad)


def test_span_out_of_range_is_refused():
    _, tokens, _, _ = planted_corpus()
    with pytest.raises(RnnscopeError, match="out of range"):
        span_rows(tokens, 0, 3, 100)
    with pytest.raises(RnnscopeError, match="not in the store"):
        span_rows(tokens, 999, 0, 1)
    with pytest.raises(RnnscopeError, match="out of range"):
        span_rows(tokens, 0, 2, 2)


def test_find_phrase_respects_token_boundaries_for_chars():
    tokens = pd.DataFrame({"sentence": [0] * 7 + [1] * 3, "token": list("the cat") + list("cat")})
    assert find_phrase(tokens, "cat", joiner="") == [(4, 7), (7, 10)]
    assert find_phrase(tokens, "he c", joiner="") == [(1, 5)]
    words = pd.DataFrame({"sentence": [0, 0, 0], "token": ["there", "the", "end"]})
    assert find_phrase(words, "the", joiner=" ") == [(1, 2)]


def test_idiom_check_finds_phrase_selective_units():
    rng = np.random.default_rng(2)
    sents = [["we", "kick", "the", "bucket", "now"], ["they", "weather", "the", "storm"],
             ["kick", "the", "bucket"], ["a", "b", "c", "d"]]
    rows = [(s, p, w) for s, ws in enumerate(sents) for p, w in enumerate(ws)]
    tokens = pd.DataFrame(rows, columns=["sentence", "position", "token"])
    states = rng.normal(-2.0, 0.1, size=(len(tokens), 8)).astype(np.float32)
    for a, b in find_phrase(tokens, "kick the bucket"):
        states[a:b, [5, 6]] = 2.0
    for a, b in find_phrase(tokens, "weather the storm"):
        states[a:b, 6] = 2.0
    result = idiom_check(states, tokens, ["kick the bucket", "weather the storm"])
    t = result.table.set_index("unit")
    assert sorted(t.index) == [5, 6]
    assert t.loc[5, "selective_for"] == "kick the bucket"
    assert t.loc[6, "n_phrases"] == 2
    assert result.summary.set_index("phrase").loc["kick the bucket", "occurrences"] == 2
    with pytest.raises(RnnscopeError, match="does not occur"):
        idiom_check(states, tokens, ["spill the beans"])


def test_word_set_pca_separates_a_planted_feature():
    rng = np.random.default_rng(3)
    words = ["court", "judge", "law", "cat", "dog", "cow"] * 20
    tokens = pd.DataFrame({"sentence": np.arange(len(words)) // 6, "token": words})
    states = rng.normal(size=(len(words), 16)).astype(np.float32)
    legal = tokens["token"].isin(["court", "judge", "law"]).to_numpy()
    groups = {"legal": ["court", "judge", "law"], "animal": ["cat", "dog", "cow"]}
    noise = word_set_pca(states, tokens, groups)
    states[legal, 4] += 8.0
    signal = word_set_pca(states, tokens, groups)
    assert signal.separation > 0.6 > noise.separation
    assert set(signal.table["label"]) == {"legal", "animal"} and len(signal.table) == len(words)


def test_match_on_a_store_equals_numpy(tmp_path):
    from rnnscope.store import ActivationStore
    states, tokens, dog, _ = planted_corpus(seed=4)
    full = tokens.assign(word=tokens["token"], word_index=tokens["position"], is_word_end=True)
    store = ActivationStore.from_arrays(tmp_path / "s", {"layer1.h": states}, full,
                                        meta={"vocab_kind": "word"}, chunk_rows=16)
    sent, pos = tokens.loc[dog[0], ["sentence", "position"]]
    by_span = match_store(store, "layer1.h", sentence=int(sent), start=int(pos), end=int(pos) + 3, top=3)
    by_phrase = match_store(store, "layer1.h", phrase="big red dog", top=3)
    direct = match_spans(states, tokens, dog[0], dog[0] + 3, top=3)
    pd.testing.assert_frame_equal(by_span.table, direct.table)
    pd.testing.assert_frame_equal(by_phrase.table, direct.table)
    with pytest.raises(RnnscopeError, match="occurs"):
        match_store(store, "layer1.h", phrase="big red dog", occurrence=99)


def test_raw_threshold_is_lstmvis_default_and_tanh_an_option():
    """h = 0.31: on at raw > 0.3 (LSTMVis), off at tanh(h) > 0.3 (tanh(0.31) = 0.300...)."""
    from rnnscope.analysis.match import binarize, default_scale

    tokens = pd.DataFrame({"sentence": [0] * 6, "token": list("abcabc")})
    states = np.full((6, 3), -0.5)
    states[[0, 1, 3, 4], 1] = 0.305  # between 0.3 and atanh(0.3) = 0.3095
    raw = match_spans(states, tokens, 0, 2)
    assert raw.units.tolist() == [1] and raw.scale == "raw"
    assert raw.table.loc[0, ["row_start", "row_end"]].tolist() == [3, 5]
    squashed = match_spans(states, tokens, 0, 2, scale="tanh")
    assert squashed.units.tolist() == []
    assert binarize(np.array([0.305]), 0.3, "raw")[0] and not binarize(np.array([0.305]), 0.3, "tanh")[0]
    assert default_scale("layer2.h") == "raw" and default_scale("layer2.c") == "tanh"
    with pytest.raises(RnnscopeError, match="scale"):
        match_spans(states, tokens, 0, 2, scale="log")


def test_ties_are_broken_by_mean_activation_not_corpus_order():
    """Three spans equal in overlap, extra and length: the most active one ranks first."""
    tokens = pd.DataFrame({"sentence": np.repeat(np.arange(4), 2), "token": list("xyxyxyxy")})
    states = np.full((8, 3), -0.5)
    states[:, 0] = [0.9, 0.9, 0.4, 0.4, 0.6, 0.6, 0.8, 0.8]  # sentence 0 is the selection
    res = match_spans(states, tokens, 0, 2, length_slack=0, top=3)
    assert res.table["sentence"].tolist() == [3, 2, 1]
    assert res.table["activation"].is_monotonic_decreasing
