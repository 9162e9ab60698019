"""Fuzzing the checkpoint loaders: ``load_model`` on a checkpoint folder whose ``config.json``,
``vocab.json`` or ``model.safetensors`` was damaged, and the importers on random bytes, damaged
``torch.save`` files and state dicts of odd shapes. For every input: the model that the files
really describe, or one clean :class:`~rnnscope.errors.RnnscopeError` naming the file (or its
folder); never another exception type, never a hang, nothing allocated beyond what the
weights hold.
"""
from __future__ import annotations

import functools
import io
import json
import pickle
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import load_file

from rnnscope.checkpoint import load_model, save_model
from rnnscope.importers import import_checkpoint
from rnnscope.model import ModelConfig
from rnnscope.vocab import Vocabulary
from tests.conftest import tiny_model
from tests.test_fuzz_inputs import (JSON_VALUES, TIMEOUT, expect_clean, fuzz_settings, mutate,
                                    workdir)

WORDS = ["the", "cat", "sat", "on", "a", "mat"]


@functools.lru_cache(maxsize=None)
def checkpoint_files(tie: bool) -> dict[str, bytes]:
    """The three files of a tiny native checkpoint (built once per session)."""
    vocab = Vocabulary("word", WORDS)
    model = tiny_model("lstm", layers=1, hidden=4, vocab=len(vocab), emb=4, seed=1)
    if tie:
        model.config.tie_weights = True
        model.decoder.weight = model.encoder.weight
    with workdir() as d:
        path = save_model(model, vocab, Path(d) / "m")
        return {name: (path / name).read_bytes()
                for name in ("config.json", "vocab.json", "model.safetensors")}


def write_checkpoint(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir()
    for name, blob in files.items():
        (folder / name).write_bytes(blob)
    return folder


def assert_weights_are_the_files(model, folder: Path) -> None:
    """A loaded model holds exactly the tensors of its ``model.safetensors``."""
    stored = load_file(str(folder / "model.safetensors"))
    if model.config.tie_weights:
        stored.setdefault("decoder.weight", stored["encoder.weight"])
    state = model.state_dict()
    assert set(state) == set(stored)
    for k, v in state.items():
        assert torch.equal(v, stored[k].to(v.dtype)), k
        assert torch.isfinite(v).all(), k


CONFIG_KEYS = ["vocab_size", "cell", "emb_dim", "hidden_size", "num_layers", "dropout",
               "tie_weights", "output", "adaptive_cutoffs", "adaptive_div", "bogus"]
#: Values a hand-edited or tampered config may hold: sizes small and huge, wrong types ...
CONFIG_VALUES = st.sampled_from([0, -1, 1, 2, 4, 8, 65_536, 10_000_000, 10**12, 2**63, 1.5, 0.5,
                                 "4", True, False, None, [], {}, "gru", "rnn", "lstm", "relu",
                                 "adaptive", "softmax", [2, 3], [3, 2], [100], float("inf"),
                                 1e308]) | JSON_VALUES


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(200)
@given(tie=st.booleans(), how=st.sampled_from(["set", "delete", "top", "model", "bytes"]),
       data=st.data())
def test_load_model_on_a_mutated_config(tie, how, data):
    files = dict(checkpoint_files(tie))
    cfg = json.loads(files["config.json"])
    if how == "set":
        cfg["model"][data.draw(st.sampled_from(CONFIG_KEYS))] = data.draw(CONFIG_VALUES)
    elif how == "delete":
        cfg["model"].pop(data.draw(st.sampled_from(sorted(cfg["model"]))))
    elif how == "top":
        cfg[data.draw(st.sampled_from(["format", "model", "extra"]))] = data.draw(CONFIG_VALUES)
    elif how == "model":
        cfg = data.draw(JSON_VALUES)
    blob = json.dumps(cfg).encode() if how != "bytes" else \
        mutate(data, files["config.json"], allow_none=False)[0]
    files["config.json"] = blob
    with workdir() as d:
        folder = write_checkpoint(Path(d) / "m", files)
        got = expect_clean(lambda: load_model(folder), str(folder))
        if got is not None:
            model, vocab = got
            said = json.loads(blob)["model"]
            assert model.config == ModelConfig.from_dict(said)
            assert vocab.itos == json.loads(files["vocab.json"])["itos"]
            assert_weights_are_the_files(model, folder)


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(200)
@given(how=st.sampled_from(["entry", "delete", "append", "kind", "itos", "doc", "bytes"]),
       data=st.data())
def test_load_model_on_a_mutated_vocabulary(how, data):
    files = dict(checkpoint_files(False))
    doc = json.loads(files["vocab.json"])
    itos = doc["itos"]
    if how == "entry":
        itos[data.draw(st.integers(0, len(itos) - 1))] = data.draw(
            st.sampled_from(["the", "<unk>", "", " ", "dog", "\u2028"]) | JSON_VALUES)
    elif how == "delete":
        del itos[data.draw(st.integers(0, len(itos) - 1))]
    elif how == "append":
        itos.append(data.draw(st.text(max_size=3) | JSON_VALUES))
    elif how == "kind":
        doc["kind"] = data.draw(st.sampled_from(["char", "byte", "word", "", "WORD"]) | JSON_VALUES)
    elif how == "itos":
        doc["itos"] = data.draw(JSON_VALUES)
    elif how == "doc":
        doc = data.draw(JSON_VALUES)
    blob = json.dumps(doc).encode() if how != "bytes" else \
        mutate(data, files["vocab.json"], allow_none=False)[0]
    files["vocab.json"] = blob
    with workdir() as d:
        folder = write_checkpoint(Path(d) / "m", files)
        got = expect_clean(lambda: load_model(folder), str(folder))
        if got is not None:
            model, vocab = got
            said = json.loads(blob)
            assert vocab.kind == said["kind"] and vocab.itos == said["itos"]
            assert len(vocab) == model.config.vocab_size
            assert_weights_are_the_files(model, folder)


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(250)
@given(tie=st.booleans(), header=st.booleans(), data=st.data())
def test_load_model_on_mutated_weights(tie, header, data):
    files = dict(checkpoint_files(tie))
    weights = files["model.safetensors"]
    if header:  # the JSON header: names, dtypes, shapes and offsets of the tensors
        size = int.from_bytes(weights[:8], "little")
        head, body = weights[:8 + size], weights[8 + size:]
        files["model.safetensors"] = mutate(data, head, allow_none=False)[0] + body
    else:
        files["model.safetensors"] = mutate(data, weights, allow_none=False)[0]
    with workdir() as d:
        folder = write_checkpoint(Path(d) / "m", files)
        got = expect_clean(lambda: load_model(folder), str(folder))
        if got is not None:
            assert_weights_are_the_files(got[0], folder)


# -- importers ------------------------------------------------------------------------------------
def _torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@functools.lru_cache(maxsize=None)
def state_dict_bytes() -> bytes:
    """A plain ``encoder/rnn/decoder`` LM state dict saved with ``torch.save``."""
    torch.manual_seed(0)
    sd = {"encoder.weight": torch.randn(8, 4), "rnn.weight_ih_l0": torch.randn(16, 4),
          "rnn.weight_hh_l0": torch.randn(16, 4), "rnn.bias_ih_l0": torch.randn(16),
          "rnn.bias_hh_l0": torch.randn(16), "decoder.weight": torch.randn(8, 4),
          "decoder.bias": torch.randn(8)}
    return _torch_bytes(sd)


VOCAB_TXT = "\n".join(WORDS + ["<unk>", "<eos>"]) + "\n"
NAMES = st.sampled_from(["encoder.weight", "decoder.weight", "decoder.bias", "rnn.weight_ih_l0",
                         "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
                         "rnn.weight_ih_l1", "rnn.weight_hh_l1", "rnn.weight_ih_l7",
                         "module.encoder.weight", "rnn.(weight_hh_l0", "weight_hh_l0\n",
                         "lstm.weight_hh_l0", "lstm.weight_ih_l0"])
SHAPES = st.lists(st.sampled_from([0, 1, 2, 4, 8, 12, 16]), min_size=0, max_size=3)


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(250)
@given(kind=st.sampled_from(["random", "mutated", "state_dict", "pickle"]), data=st.data())
def test_importers_on_bad_files(kind, data):
    if kind == "random":
        blob = data.draw(st.binary(max_size=300) | st.sampled_from(
            [b"", b"PK\x03\x04", b"\x80\x02", b"\x80\x02}q\x00.", b"\x1f\x8b\x08"]))
    elif kind == "mutated":
        blob = mutate(data, state_dict_bytes(), allow_none=False)[0]
    elif kind == "state_dict":  # tensors of drawn names, shapes and dtypes
        sd = {}
        for name in data.draw(st.lists(NAMES, min_size=1, max_size=7, unique=True)):
            shape = data.draw(SHAPES)
            dtype = data.draw(st.sampled_from([torch.float32, torch.float16, torch.int64,
                                               torch.bool]))
            t = torch.zeros(shape, dtype=dtype) if dtype in (torch.int64, torch.bool) \
                else torch.randn(shape).to(dtype)
            if data.draw(st.booleans()) and t.numel():
                t.view(-1)[0] = float("nan") if t.is_floating_point() else 1
            sd[name] = t
        wrap = data.draw(st.sampled_from([None, "state_dict", "model"]))
        blob = _torch_bytes({wrap: sd} if wrap else sd)
    else:
        blob = pickle.dumps(data.draw(JSON_VALUES), protocol=data.draw(st.integers(0, 5)))
    with workdir() as d:
        path = Path(d) / "x.pt"
        path.write_bytes(blob)
        (Path(d) / "vocab.txt").write_text(VOCAB_TXT)
        got = expect_clean(lambda: import_checkpoint(path), path.name)
        if got is not None:
            model, vocab = got
            assert len(vocab) == model.config.vocab_size
            assert all(torch.isfinite(v).all() for v in model.state_dict().values())
