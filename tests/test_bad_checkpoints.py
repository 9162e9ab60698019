"""Malformed checkpoints and vocabularies: one clear error naming the file and key, never a
traceback and never silently accepted nonsense."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from rnnscope.checkpoint import load_model, save_model
from rnnscope.cli import main
from rnnscope.errors import RnnscopeError
from rnnscope.vocab import Vocabulary
from tests.conftest import tiny_model


@pytest.fixture
def good(tmp_path):
    vocab = Vocabulary("word", ["the", "cat", "sat"])
    save_model(tiny_model(vocab=len(vocab), hidden=8, emb=4), vocab, tmp_path / "m")
    return tmp_path / "m"


def _edit_config(path, **model):
    cfg = json.loads((path / "config.json").read_text())
    cfg["model"].update(model)
    (path / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("field,value,message", [
    ("tie_weights", "yes", "tie_weights must be true or false"),
    ("hidden_size", "8", "hidden_size must be an integer"),
    ("hidden_size", 8.5, "hidden_size must be an integer"),
    ("hidden_size", True, "hidden_size must be an integer"),
    ("hidden_size", 10**9, "hidden_size must be in 1..65,536"),
    ("vocab_size", -3, "vocab_size must be in"),
    ("dropout", "0.1", "dropout must be a number"),
    ("cell", ["lstm"], "cell must be a string"),
    ("adaptive_cutoffs", "2000", "adaptive_cutoffs must be a list"),
])
def test_nonsense_in_config_is_refused_by_name(good, field, value, message):
    _edit_config(good, **{field: value})
    with pytest.raises(RnnscopeError, match=message) as err:
        load_model(good)
    assert "config.json" in str(err.value)
    out = CliRunner().invoke(main, ["evaluate", "--model", str(good), "--corpus", str(good / "config.json")])
    assert out.exit_code == 2 and out.output.startswith("error:") and out.output.count("\n") == 1


@pytest.mark.parametrize("content", [b"[1, 2]", b'"a string"', b"\xff\xfe not utf-8", b"{"])
def test_unreadable_config_files(good, content):
    (good / "config.json").write_bytes(content)
    with pytest.raises(RnnscopeError, match="config.json"):
        load_model(good)


def test_integer_or_complex_weights_are_refused(good):
    tensors = load_file(str(good / "model.safetensors"))
    name = next(iter(tensors))
    for dtype in (torch.int64, torch.complex64):
        bad = dict(tensors)
        bad[name] = torch.zeros(tensors[name].shape, dtype=dtype)
        save_file(bad, str(good / "model.safetensors"))
        with pytest.raises(RnnscopeError, match="floating point"):
            load_model(good)


@pytest.mark.parametrize("vocab,message", [
    ({"kind": "word", "itos": ["the", 3, "sat"]}, "entry 1 is 3, not a string"),
    ({"kind": "word", "itos": "the cat sat"}, "must be a list"),
    ({"kind": "char", "itos": ["the", "cat", "sat"]}, "is 'kind' right"),
    ({"kind": 7, "itos": ["the"]}, "'kind' must be a string"),
    ([1, 2, 3], "expected an object"),
])
def test_bad_vocabularies_are_refused(good, vocab, message):
    (good / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(RnnscopeError, match=message) as err:
        load_model(good)
    assert "vocab.json" in str(err.value)


def test_non_utf8_vocabulary(good):
    (good / "vocab.json").write_bytes(b'{"kind": "word", "itos": ["\xff"]}')
    with pytest.raises(RnnscopeError, match="vocab.json: not UTF-8"):
        load_model(good)


def test_the_shape_check_shell_skips_initialisation_and_leaves_no_mode_behind():
    """The meta-device shell that checks names and shapes has the real model's state dict
    layout, runs no initialiser (normal_ on meta would import torch._dynamo, ~0.8 s per load),
    and leaves torch.nn.init working afterwards."""
    import subprocess
    import sys

    from rnnscope.checkpoint import _shell
    from rnnscope.model import ModelConfig, RecurrentLM

    config = ModelConfig(vocab_size=50, hidden_size=6, emb_dim=4, num_layers=2)
    shell = _shell(config)
    real = RecurrentLM(config)
    assert {k: tuple(v.shape) for k, v in shell.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in real.state_dict().items()}
    assert all(v.is_meta for v in shell.state_dict().values())
    t = torch.zeros(3, 3)
    torch.nn.init.normal_(t)
    assert t.abs().sum() > 0  # no mode left active
    import rnnscope

    demo = str(Path(rnnscope.__file__).parent / "data" / "demo_model")
    code = ("import sys; from rnnscope.checkpoint import load_model; "
            f"load_model({demo!r}); print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stdout + out.stderr
