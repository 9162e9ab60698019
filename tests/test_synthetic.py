"""The synthetic A B B ... dataset: generator statistics and the appendix perplexity."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from rnnscope.errors import CorpusError, RnnscopeError
from rnnscope.synthetic import (exact_perplexity_floor, generate, ideal_perplexity, read_lines, roles,
                                theoretical_perplexity, token_perplexity_floor, write_splits)


def test_theoretical_perplexity_from_the_appendix_formula():
    assert round(theoretical_perplexity(), 4) == 1.1375
    # eq. 25: a line of 5 cycles: 8 ** (5/81) = 1.1369
    assert theoretical_perplexity(min_cycles=5, max_cycles=5) == pytest.approx(1.1369, abs=1e-4)
    assert token_perplexity_floor() == pytest.approx(np.exp(7.5 * np.log(8) / 121))
    with pytest.raises(RnnscopeError):
        theoretical_perplexity(vocab_size=2)


def test_generator_statistics():
    lines = generate(60_000, seed=3)
    cycles = [len(line) // 16 for line in lines]
    assert all(len(line) % 16 == 0 for line in lines)
    counts = Counter(cycles)
    assert set(counts) == set(range(5, 11))
    assert max(counts.values()) / min(counts.values()) < 1.5  # roughly uniform over 5..10
    stream = [w for line in lines for w in line]
    assert set(stream) == set("ABCDEFGHIJ")
    news = stream[::16]
    reps = [stream[k + 1: k + 16] for k in range(0, len(stream), 16)]
    assert all(len(set(r)) == 1 for r in reps)
    # the repeated token is the previous cycle's new token, also across line boundaries
    assert all(reps[k][0] == news[k - 1] for k in range(1, len(news)))
    # the new token is never one of the two tokens of the previous cycle; 8 choices, ~uniform
    assert all(news[k] not in (news[k - 1], reps[k - 1][0]) for k in range(1, len(news)))
    follow = Counter(news[k] for k in range(1, len(news)) if news[k - 1] == "A")
    assert len(follow) == 9 and min(follow.values()) > 10
    # the ideal predictor's per-token perplexity on the sample is the floor
    assert ideal_perplexity(lines) == pytest.approx(token_perplexity_floor(), abs=2e-3)
    assert ideal_perplexity(lines) == pytest.approx(theoretical_perplexity(), abs=2e-3)


def test_roles_and_files(tmp_path):
    paths = write_splits(tmp_path, 2000, 500, 500, seed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.txt", "train.txt", "valid.txt"]
    lines = read_lines(paths["valid"])
    r = roles(lines)
    assert len(r) == sum(len(line) + 1 for line in lines)
    first = r.iloc[:17]
    assert list(first["count"]) == [str(k) for k in range(16)] + ["0"]
    assert list(first["new"])[:2] == ["1", "0"]
    assert (r[r.token == "<eos>"]["count"] == "EOS").all()
    assert read_lines(paths["train"]) != lines  # different seeds per split
    with pytest.raises(CorpusError, match="whole number"):
        roles([["A", "B"]])
    with pytest.raises(CorpusError, match="not found"):
        read_lines(tmp_path / "nope.txt")


def test_exact_floor_counts_line_end_uncertainty():
    lines = generate(200_000, seed=7)
    # the ideal predictor that also models where lines end (hazard 1/(11-k) after cycle k >= 5)
    nats = 0.0
    for line in lines:
        n = len(line) // 16
        nats += n * np.log(8)
        nats += sum(-np.log(1 - 1 / (11 - k)) for k in range(5, n)) - np.log(1 / (11 - n))
    ppl = np.exp(nats / sum(len(line) + 1 for line in lines))
    assert ppl == pytest.approx(exact_perplexity_floor(), abs=3e-3)
    assert exact_perplexity_floor() == pytest.approx(1.1545, abs=1e-4)
    assert exact_perplexity_floor() > theoretical_perplexity()
