"""Import checkpoints users already have into a :class:`RecurrentLM` (+ :class:`Vocabulary`).

Supported sources (:func:`import_checkpoint`, also used by :func:`rnnscope.checkpoint.load_model`):

* a plain state dict of an ``nn.LSTM``/``nn.GRU``/``nn.RNN``-based LM saved with ``torch.save``
  (keys ``encoder.weight``, ``rnn.weight_ih_l0`` ..., ``decoder.weight``), read with
  ``torch.load(weights_only=True)``; cell, layers and sizes are inferred from the shapes;
* the pickled ``RNNModel`` of PyTorch's ``examples/word_language_model`` (``rnn_type`` LSTM,
  GRU, RNN_TANH or RNN_RELU, tied or not) and of colorlessgreen (Gulordava et al.
  2018, the same class), ``torch.save(model)`` of class ``model.RNNModel``, read with an
  **allow-list unpickler** that builds tensors, ordered dicts
  and inert stand-ins for the modules, and refuses every other global, so no code in the file
  ever runs. ``trust_pickle=True`` falls back to a plain ``torch.load(weights_only=False)``;
* fastai's AWD-LSTM and Flair's character LMs (:mod:`rnnscope.importers_foreign`);
* (through :func:`rnnscope.checkpoint.load_model`) a training run folder (``<run>/model``).

The vocabulary is a ``vocab.txt`` (one token per line, index = line number) or our
``vocab.json``; when not given, one lying next to the checkpoint is used.
"""
from __future__ import annotations

import codecs
import pickle
import re
import types
import warnings
from collections import OrderedDict
from pathlib import Path

import torch

from rnnscope.errors import CheckpointError, RnnscopeError
from rnnscope.model import ModelConfig, RecurrentLM
from rnnscope.vocab import Vocabulary
from rnnscope.weights import load_state_checked

GATES = {4: "lstm", 3: "gru", 1: "rnn"}  # rows of weight_ih per hidden unit -> cell


class ModuleStandIn:
    """Inert replacement for a pickled ``nn.Module``: it only records the pickled state."""

    dump_patches = False  # read by torch's legacy loader

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots) form
            state = {**(state[0] or {}), **(state[1] or {})}
        self.__dict__.update(state)


class InertValue:
    """Stand-in for harmless non-module helpers (e.g. old cuDNN ``Unserializable`` handles)."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


def _stand_in(qualname: str) -> type:
    return type(qualname.rsplit(".", 1)[-1], (ModuleStandIn,), {"pickled_class": qualname})


_MODULE_CLASSES = {
    "model.RNNModel",
    "data.Dictionary",  # word_language_model's vocabulary (word2idx, idx2word)
    "flair.data.Dictionary",  # Flair's (item2idx, idx2item), inside its saved language models
    "torch.nn.modules.sparse.Embedding",
    "torch.nn.modules.rnn.LSTM",
    "torch.nn.modules.rnn.GRU",
    "torch.nn.modules.rnn.RNN",
    "torch.nn.modules.linear.Linear",
    "torch.nn.modules.dropout.Dropout",
}
# Pre-1.0 cuDNN LSTMs pickled their dropout descriptor in one of these; it carries no data.
_INERT = {"torch.backends.cudnn.rnn.Unserializable"}
_FUNCTIONS = {
    "collections.OrderedDict": OrderedDict,
    "torch._utils._rebuild_tensor": torch._utils._rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": torch._utils._rebuild_tensor_v2,
    "torch._utils._rebuild_parameter": torch._utils._rebuild_parameter,
    "torch.nn.parameter.Parameter": torch.nn.Parameter,
    "_codecs.encode": codecs.encode,  # bytes under pickle protocol 2 (as torch's weights-only reader)
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    "builtins.list": list,
    "builtins.dict": dict,
    "builtins.tuple": tuple,
    "__builtin__.set": set,
}
if hasattr(torch._utils, "_rebuild_parameter_with_state"):
    _FUNCTIONS["torch._utils._rebuild_parameter_with_state"] = torch._utils._rebuild_parameter_with_state


class RestrictedUnpickler(pickle.Unpickler):
    """A pickle reader that resolves only allow-listed globals; anything else is refused."""

    def find_class(self, module: str, name: str):
        qualname = f"{module}.{name}"
        if qualname in _FUNCTIONS:
            return _FUNCTIONS[qualname]
        if qualname in _MODULE_CLASSES:
            return _stand_in(qualname)
        if qualname in _INERT:
            return InertValue
        if module == "copyreg" and name == "_reconstructor":
            return _reconstructor
        raise CheckpointError(f"refusing to unpickle {qualname}: loading it would run code from the "
                              "file. Save a state dict where the model was made "
                              "(torch.save(model.state_dict(), PATH)) and convert that; "
                              "--trust-pickle runs the file's code and is only for files "
                              "whose author you trust")


def _reconstructor(cls, base, state):
    """Safe ``copyreg._reconstructor`` for stand-ins only (old protocols pickle modules so)."""
    if not (isinstance(cls, type) and issubclass(cls, (ModuleStandIn, InertValue))) or base is not object:
        raise CheckpointError("refusing to unpickle copyreg._reconstructor of a non-module: "
                              "loading it would run code from the file")
    return cls()


def _restricted_pickle_module() -> types.ModuleType:
    """A ``pickle_module`` for ``torch.load`` whose Unpickler is :class:`RestrictedUnpickler`."""
    mod = types.ModuleType("rnnscope_restricted_pickle")

    def load(file, **kwargs):
        return RestrictedUnpickler(file, **kwargs).load()

    mod.Unpickler = RestrictedUnpickler
    mod.load = load
    mod.UnpicklingError = pickle.UnpicklingError
    return mod


def read_pickled(path: Path, trust_pickle: bool = False):
    """The object in a ``torch.save`` file: weights only, else allow-list, else (trusted) anything."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # protocol notices of the weights-only reader
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # holds more than tensors and containers
    except Exception as exc:  # a damaged file: RuntimeError, EOFError, IndexError, KeyError ...
        if "magic number" in str(exc):
            return _read_plain_pickle(path, trust_pickle)
        raise CheckpointError(f"{path}: not a torch checkpoint ({_first_line(exc)})") from None
    if trust_pickle:
        names = pickle_globals(path)
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        import sys

        print(f"warning: --trust-pickle: running the pickled code of {path}; it constructs "
              f"{shown or 'no named classes'}", file=sys.stderr)
        return torch.load(path, map_location="cpu", weights_only=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=False,
                              pickle_module=_restricted_pickle_module())
    except CheckpointError as exc:  # a refused global: say which file holds it
        raise CheckpointError(f"{path}: {exc}") from None
    except Exception as exc:  # malformed pickles raise many kinds of errors
        if "magic number" in str(exc):  # a plain pickle (pickle.dump, e.g. fastai's itos.pkl)
            return _read_plain_pickle(path, trust_pickle)
        raise CheckpointError(f"{path}: cannot read checkpoint ({_first_line(exc)})") from None


def _read_plain_pickle(path: Path, trust_pickle: bool):
    """A ``pickle.dump`` file, through the allow-list unpickler unless trusted."""
    with open(path, "rb") as f:
        try:
            if trust_pickle:
                return pickle.load(f)
            return RestrictedUnpickler(f).load()
        except CheckpointError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        except Exception as exc:
            raise CheckpointError(f"{path}: cannot read pickle ({_first_line(exc)})") from None


def pickle_globals(path: Path) -> list[str]:
    """The classes and functions a pickle (plain, or ``torch.save``'s zip) would construct or
    call, read from its opcodes without running anything."""
    import io
    import pickletools
    import zipfile

    data = Path(path).read_bytes()
    blobs = []
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            blobs = [zf.read(n) for n in zf.namelist() if n.endswith(".pkl")]
    else:
        blobs = [data]
    found: list[str] = []
    for blob in blobs:
        strings: list[str] = []
        try:
            for op, arg, _ in pickletools.genops(io.BytesIO(blob)):
                if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                    strings.append(str(arg))
                elif op.name == "GLOBAL":
                    found.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    found.append(f"{strings[-2]}.{strings[-1]}")
        except Exception:  # a truncated pickle: report what was read so far
            pass
    return list(dict.fromkeys(found))


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def to_state_dict(obj, source: str) -> dict[str, torch.Tensor]:
    """A flat ``{name: tensor}`` from a state dict, a wrapped one, a stand-in or a real module."""
    if isinstance(obj, torch.nn.Module):
        return dict(obj.state_dict())
    if isinstance(obj, ModuleStandIn):
        return _walk_stand_in(obj, "")
    if isinstance(obj, dict):
        for wrapper in ("state_dict", "model_state_dict", "model"):
            if wrapper in obj and not torch.is_tensor(obj[wrapper]):
                return to_state_dict(obj[wrapper], source)
        tensors = {k: v for k, v in obj.items() if torch.is_tensor(v)}
        if tensors:
            return {re.sub(r"^module\.", "", k): v for k, v in tensors.items()}
    raise CheckpointError(f"{source}: no model weights found (got {type(obj).__name__})")


def _walk_stand_in(mod: ModuleStandIn, prefix: str) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for group in ("_parameters", "_buffers"):
        for name, t in (getattr(mod, group, None) or {}).items():
            if t is not None:
                out[prefix + name] = t.detach() if torch.is_tensor(t) else t
    for name, child in (getattr(mod, "_modules", None) or {}).items():
        if isinstance(child, ModuleStandIn):
            out.update(_walk_stand_in(child, f"{prefix}{name}."))
    return out


def model_from_state_dict(sd: dict[str, torch.Tensor], source: str,
                          dropout: float = 0.0, relu: bool = False) -> RecurrentLM:
    """Build a :class:`RecurrentLM` from an ``encoder/rnn/decoder`` LM state dict (shapes inferred).

    ``relu``: a one-gate layer is a ReLU RNN (``nn.RNN(nonlinearity="relu")``), which the
    weights alone cannot tell from a tanh RNN."""
    sd = {k: v for k, v in sd.items() if isinstance(k, str) and torch.is_tensor(v)}
    rnn_prefix = _rnn_prefix(sd, source)
    if "encoder.weight" not in sd:
        raise CheckpointError(f"{source}: no encoder.weight (embedding) in the checkpoint")
    enc = sd["encoder.weight"]
    if enc.dim() != 2 or 0 in enc.shape:
        raise CheckpointError(f"{source}: encoder.weight has shape {tuple(enc.shape)}; expected "
                              "[vocabulary, embedding]")
    vocab_size, emb = enc.shape
    numbered = re.compile(re.escape(rnn_prefix) + r"weight_ih_l(\d+)")
    found = sorted(int(m.group(1)) for k in sd if (m := numbered.fullmatch(k)))
    if found != list(range(len(found))) or not found:
        raise CheckpointError(f"{source}: the recurrent layers' {rnn_prefix}weight_ih_l0, _l1 ... "
                              f"are missing or not numbered from 0 (found {found[:5]})")
    layers = len(found)
    ih, hh = sd.get(f"{rnn_prefix}weight_ih_l0"), sd[f"{rnn_prefix}weight_hh_l0"]
    if ih.dim() != 2 or hh.dim() != 2 or 0 in hh.shape:
        raise CheckpointError(f"{source}: {rnn_prefix}weight_ih_l0 {tuple(ih.shape)} and "
                              f"weight_hh_l0 {tuple(hh.shape)} must be 2-D weight matrices")
    hr = sd.get(f"{rnn_prefix}weight_hr_l0")  # nn.LSTM(proj_size=P): W_hr [P, H]
    if hr is not None and (hr.dim() != 2 or tuple(hh.shape[1:]) != (hr.shape[0],)):
        raise CheckpointError(f"{source}: {rnn_prefix}weight_hr_l0 {tuple(hr.shape)} does not "
                              f"project to weight_hh_l0's {hh.shape[1]} inputs")
    hidden = hh.shape[1] if hr is None else hr.shape[1]  # cells per layer
    gates = ih.shape[0] // hidden
    if gates not in GATES or gates * hidden != ih.shape[0] or (hr is not None and gates != 4):
        raise CheckpointError(f"{source}: cannot infer the cell from weight_ih_l0 of shape "
                              f"{tuple(ih.shape)}")
    tied = "decoder.weight" not in sd or sd["decoder.weight"].data_ptr() == enc.data_ptr()
    out_size = hidden if hr is None else hr.shape[0]
    try:
        cell = "rnn_relu" if relu and GATES[gates] == "rnn" else GATES[gates]
        config = ModelConfig(vocab_size=vocab_size, cell="lstm_proj" if hr is not None else cell,
                             emb_dim=emb, hidden_size=hidden, num_layers=layers, dropout=dropout,
                             tie_weights=tied and emb == out_size,
                             proj_size=0 if hr is None else int(hr.shape[0]))
    except RnnscopeError as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    model = RecurrentLM(config)
    ours: dict[str, torch.Tensor] = {"encoder.weight": sd["encoder.weight"]}
    if "decoder.weight" in sd:
        ours["decoder.weight"] = sd["decoder.weight"]
    ours["decoder.bias"] = sd.get("decoder.bias", torch.zeros(vocab_size))
    kinds = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") + (("weight_hr",) if hr is not None else ())
    for k in range(layers):
        for kind in kinds:
            src = f"{rnn_prefix}{kind}_l{k}"
            if src in sd:
                ours[f"layers.{k}.{kind}_l0"] = sd[src]
            elif kind.startswith("bias"):
                ours[f"layers.{k}.{kind}_l0"] = torch.zeros(gates * hidden)
            else:
                raise CheckpointError(f"{source}: missing {src}")
    load_state_checked(model, ours, source)
    return model.eval()


def _rnn_prefix(sd: dict, source: str) -> str:
    for k in sd:
        m = re.fullmatch(r"(.*)weight_hh_l0", k, flags=re.DOTALL)
        if m:
            return m.group(1)
    raise CheckpointError(f"{source}: no recurrent weights (weight_hh_l0) in the checkpoint")


def read_vocab(path: str | Path) -> Vocabulary:
    """The vocabulary of a foreign checkpoint, from any of:

    * ``vocab.json`` (ours) or a one-token-per-line file (index = line number; colorlessgreen);
    * a pickled ``data.Dictionary`` of the PyTorch ``examples/word_language_model``
      (``torch.save(corpus.dictionary, ...)``; read by the allow-list unpickler);
    * the example's **data folder** (``train.txt``, ``valid.txt``, ``test.txt``): its
      ``data.Corpus`` builds the dictionary from those files, in that order, adding each
      line's words and ``<eos>`` in order of first occurrence; rebuilt here the same way.
    """
    p = Path(path)
    if p.is_dir():
        return word_language_model_vocab(p)
    if p.suffix == ".json":
        return Vocabulary.load(p)
    if p.suffix in (".pt", ".pth", ".pkl", ".pickle"):
        obj = read_pickled(p)
        words = getattr(obj, "idx2word", None)
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise CheckpointError(f"{p}: not a pickled word_language_model Dictionary "
                                  "(no idx2word list of strings)")
        return _example_vocab(words, str(p))
    return Vocabulary.from_lines_file(p)


def word_language_model_vocab(data_dir: str | Path) -> Vocabulary:
    """The ``data.Dictionary`` that PyTorch's word_language_model builds from ``data_dir``."""
    d = Path(data_dir)
    files = [d / f"{split}.txt" for split in ("train", "valid", "test")]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise CheckpointError(f"{d}: a word_language_model data folder holds train.txt, "
                              f"valid.txt and test.txt; missing {', '.join(missing)}")
    words: dict[str, None] = {}
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"{f}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        for line in text.splitlines():
            for w in line.split() + ["<eos>"]:
                words.setdefault(w, None)
    return _example_vocab(list(words), str(d))


def _example_vocab(words: list[str], source: str) -> Vocabulary:
    vocab = Vocabulary("word", words)
    if len(vocab) != len(words):  # our vocabularies always hold <unk> and <eos>
        raise CheckpointError(f"{source}: the dictionary has no '<unk>' entry, which rnnscope's "
                              "vocabularies need; this checkpoint cannot be imported as it is")
    return vocab


def _import_foreign(obj, p: Path, vocab: str | Path | None, trust_pickle: bool):
    """fastai AWD-LSTM and Flair LMs (:mod:`rnnscope.importers_foreign`), else None.

    The model's ``imported`` attribute says where it came from (``convert`` records it)."""
    from rnnscope import importers_foreign as foreign

    if foreign.is_flair_lm(obj):
        model, vocabulary, info = foreign.flair_model(obj, str(p))
        model.imported = info
        return model, vocabulary
    if not isinstance(obj, dict):
        return None
    sd = to_state_dict(obj, str(p))
    if not foreign.is_awd_lstm(sd):
        return None
    model = foreign.awd_lstm_model(sd, str(p))
    if vocab is None:
        found = [f for f in (p.parent / "itos.pkl", p.with_suffix(".pkl")) if f.is_file()]
        if not found:
            raise CheckpointError(f"{p}: a fastai AWD-LSTM; give its vocabulary with --vocab "
                                  "(learn.dls.vocab pickled as a .pkl list, e.g. itos_wt103.pkl)")
        vocab = found[0]
    vocabulary, added = foreign.fastai_vocab(read_pickled(Path(vocab), trust_pickle), str(vocab))
    if len(vocabulary) - added != model.config.vocab_size:
        raise CheckpointError(f"{p}: the vocabulary has {len(vocabulary) - added:,} entries but the "
                              f"checkpoint's embedding has {model.config.vocab_size:,} rows")
    model = foreign.add_vocab_rows(model, added)
    model.imported = {"library": "fastai", "architecture": "AWD-LSTM"}
    return model, vocabulary


def _find_vocab(ckpt: Path) -> Path:
    for name in ("vocab.json", "vocab.txt"):
        if (ckpt.parent / name).exists():
            return ckpt.parent / name
    raise CheckpointError(f"{ckpt}: no vocabulary given and none found next to it (pass --vocab)")


def import_checkpoint(path: str | Path, vocab: str | Path | None = None,
                      trust_pickle: bool = False) -> tuple[RecurrentLM, Vocabulary]:
    """Load a foreign checkpoint as ``(RecurrentLM in eval mode, Vocabulary)``; see module doc."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"model not found: {p}")
    if p.is_dir():
        candidates = sorted(list(p.glob("*.pt")) + list(p.glob("*.pth")))
        if len(candidates) != 1:
            raise CheckpointError(f"{p}: not an rnnscope model folder and no single *.pt/*.pth inside")
        p = candidates[0]
    obj = read_pickled(p, trust_pickle)
    foreign = _import_foreign(obj, p, vocab, trust_pickle)
    if foreign is not None:
        return foreign
    dropout = 0.0
    drop = getattr(obj, "_modules", {}).get("drop") if hasattr(obj, "_modules") else None
    if drop is not None and isinstance(getattr(drop, "p", None), float):
        dropout = drop.p
    rnn = obj._modules.get("rnn") if hasattr(obj, "_modules") else None
    relu = getattr(rnn, "mode", None) == "RNN_RELU" or getattr(rnn, "nonlinearity", "tanh") == "relu"
    if getattr(rnn, "bidirectional", False):
        raise CheckpointError(f"{p}: bidirectional recurrent layers are not supported (a language "
                              "model reads in one direction)")
    model = model_from_state_dict(to_state_dict(obj, str(p)), str(p), dropout=dropout, relu=relu)
    vocabulary = read_vocab(vocab) if vocab else read_vocab(_find_vocab(p))
    if len(vocabulary) != model.config.vocab_size:
        raise CheckpointError(f"{p}: the vocabulary has {len(vocabulary):,} entries but the "
                              f"checkpoint's embedding has {model.config.vocab_size:,} rows")
    return model, vocabulary
