"""Import fastai's AWD-LSTM and Flair's character language models.

Both are read as data (tensors and plain containers; Flair's ``Dictionary`` through an inert
stand-in), never by constructing the libraries' classes.

**fastai AWD-LSTM** (layout of fastai 2.7, ``fastai.text.models.awdlstm``; fastai 1.x is the
same but for ``n_hid=1150``): ``learn.save(name)`` writes ``{"model": state_dict, "opt": ...}``
(or the state dict alone with ``with_opt=False``) with keys

    0.encoder.weight [V, E]          0.encoder_dp.emb.weight (the same matrix)
    0.rnns.{k}.weight_hh_l0_raw      (WeightDropout's raw recurrent weight)
    0.rnns.{k}.module.weight_ih_l0   0.rnns.{k}.module.bias_ih_l0   0.rnns.{k}.module.bias_hh_l0
    1.decoder.weight [V, E] (tied)   1.decoder.bias [V]

Layers have different sizes (1152, 1152, 400 for ``emb_sz=400``), so the imported model sets
``layer_sizes``. The vocabulary is fastai's ``itos`` list (``learn.dls.vocab``, pickled as a
``.pkl`` list of strings, as the pretrained ``itos_wt103.pkl``). Its ``xxunk`` becomes
rnnscope's ``<unk>`` and ``xxbos`` (what a fastai LM saw at the start of every text) its
``<eos>``, which rnnscope feeds before each sentence.

**Flair** (layout of flair 0.13, ``flair.models.LanguageModel.save``): ``torch.save`` of a dict
``{"state_dict", "dictionary", "is_forward_lm", "hidden_size", "nlayers", "embedding_size",
"nout", "document_delimiter", "dropout", ...}`` whose state dict has ``encoder.weight``,
``rnn.weight_ih_l{k}`` ..., ``decoder.weight/bias`` and whose ``Dictionary`` holds
``idx2item``, a list of UTF-8 ``bytes``. The document delimiter (``"\\n"``) becomes ``<eos>``.
A backward LM (``is_forward_lm: False``) reads text right to left; it imports, and the
caller is told that its inputs must be reversed.

Where a special rnnscope needs has no counterpart (no ``<unk>``), it is added as an extra
vocabulary entry that the model never predicts (zero embedding, output bias -1e4), so the
logits of every original entry are unchanged.
"""
from __future__ import annotations

import re

import torch

from rnnscope.errors import CheckpointError, RnnscopeError
from rnnscope.model import ModelConfig, RecurrentLM
from rnnscope.vocab import EOS, UNK, Vocabulary
from rnnscope.weights import load_state_checked

_AWD_LAYER = re.compile(r"0\.rnns\.(\d+)\.module\.weight_ih_l0")


def is_awd_lstm(sd: dict) -> bool:
    """True for a fastai AWD-LSTM language model's state dict."""
    return "0.encoder.weight" in sd and any(_AWD_LAYER.fullmatch(k) for k in sd)


def awd_lstm_model(sd: dict[str, torch.Tensor], source: str) -> RecurrentLM:
    """The AWD-LSTM of a fastai state dict as a :class:`RecurrentLM` (eval mode)."""
    layers = sorted(int(m.group(1)) for k in sd if (m := _AWD_LAYER.fullmatch(k)))
    if layers != list(range(len(layers))):
        raise CheckpointError(f"{source}: AWD-LSTM layers 0.rnns.0, 0.rnns.1 ... are not "
                              f"numbered from 0 (found {layers[:5]})")
    if any(k.startswith("0.rnns.") and ".linear." in k for k in sd):
        raise CheckpointError(f"{source}: a QRNN AWD-LSTM; only LSTM layers can be imported")
    enc = sd["0.encoder.weight"]
    ours: dict[str, torch.Tensor] = {"encoder.weight": enc}
    sizes = []
    for k in layers:
        hh = sd.get(f"0.rnns.{k}.weight_hh_l0_raw", sd.get(f"0.rnns.{k}.module.weight_hh_l0"))
        if hh is None:
            raise CheckpointError(f"{source}: no recurrent weight 0.rnns.{k}.weight_hh_l0_raw")
        sizes.append(int(hh.shape[1]))
        ours[f"layers.{k}.weight_ih_l0"] = sd[f"0.rnns.{k}.module.weight_ih_l0"]
        ours[f"layers.{k}.weight_hh_l0"] = hh
        for b in ("bias_ih_l0", "bias_hh_l0"):
            ours[f"layers.{k}.{b}"] = sd.get(f"0.rnns.{k}.module.{b}", torch.zeros(hh.shape[0]))
    dec = sd.get("1.decoder.weight")
    if dec is None:
        raise CheckpointError(f"{source}: no 1.decoder.weight: an AWD-LSTM encoder without its "
                              "language-model head (save_encoder) cannot predict words")
    tied = dec.shape == enc.shape and torch.equal(dec, enc)
    ours["decoder.weight"] = dec
    ours["decoder.bias"] = sd.get("1.decoder.bias", torch.zeros(dec.shape[0]))
    try:
        config = ModelConfig(vocab_size=int(enc.shape[0]), cell="lstm", emb_dim=int(enc.shape[1]),
                             num_layers=len(layers), layer_sizes=tuple(sizes),
                             tie_weights=tied and int(enc.shape[1]) == sizes[-1])
    except RnnscopeError as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    model = RecurrentLM(config)
    if config.tie_weights:
        del ours["decoder.weight"]
    load_state_checked(model, ours, source)
    return model.eval()


def fastai_vocab(itos, source: str) -> tuple[Vocabulary, int]:
    """``(Vocabulary, specials added)`` of a fastai ``itos`` list (``xxunk`` -> ``<unk>``,
    ``xxbos`` -> ``<eos>``)."""
    if not isinstance(itos, list) or not all(isinstance(w, str) for w in itos):
        raise CheckpointError(f"{source}: a fastai vocabulary is a pickled list of strings "
                              "(learn.dls.vocab, e.g. itos_wt103.pkl)")
    renames = {"xxunk": UNK, "xxbos": EOS}
    return _vocab([renames.get(w, w) for w in itos], "word", source)


def is_flair_lm(obj) -> bool:
    """True for the dict ``flair.models.LanguageModel.save`` writes."""
    return isinstance(obj, dict) and {"state_dict", "dictionary", "is_forward_lm"} <= set(obj)


def flair_model(obj: dict, source: str) -> tuple[RecurrentLM, Vocabulary, dict]:
    """``(model, vocabulary, info)`` of a Flair character LM; ``info["direction"]`` says
    ``forward`` or ``backward``."""
    from rnnscope.importers import model_from_state_dict, to_state_dict

    if obj.get("nout") is not None:
        raise CheckpointError(f"{source}: this Flair LM projects its LSTM output to "
                              f"{obj['nout']} units before the decoder; that layer has no "
                              "counterpart in rnnscope's models yet")
    if obj.get("recurrent_type", "LSTM") != "LSTM":
        raise CheckpointError(f"{source}: Flair recurrent type {obj.get('recurrent_type')!r}; "
                              "only LSTM language models can be imported")
    items = getattr(obj["dictionary"], "idx2item", None)
    if not isinstance(items, list) or not all(isinstance(i, (bytes, str)) for i in items):
        raise CheckpointError(f"{source}: the Flair Dictionary has no idx2item list")
    delimiter = obj.get("document_delimiter", "\n")
    chars = [i.decode("utf-8", errors="replace") if isinstance(i, bytes) else i for i in items]
    chars = [EOS if c == delimiter else c for c in chars]
    model = model_from_state_dict(to_state_dict(obj["state_dict"], source), source,
                                  dropout=float(obj.get("dropout", 0.0) or 0.0))
    vocab, added = _vocab(chars, "char", source)
    if model.config.vocab_size != len(chars):
        raise CheckpointError(f"{source}: the dictionary has {len(chars):,} entries but the "
                              f"embedding has {model.config.vocab_size:,} rows")
    direction = "forward" if obj.get("is_forward_lm", True) else "backward"
    return add_vocab_rows(model, added), vocab, {"library": "flair", "direction": direction}


def _vocab(items: list[str], kind: str, source: str) -> tuple[Vocabulary, int]:
    try:
        vocab = Vocabulary(kind, items)
    except RnnscopeError as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    return vocab, len(vocab) - len(items)


def add_vocab_rows(model: RecurrentLM, n: int) -> RecurrentLM:
    """``model`` with ``n`` vocabulary entries appended that it never predicts: zero embedding
    rows, zero decoder rows with bias -1e4 (the other logits are unchanged)."""
    if n == 0:
        return model
    if not model.linear_output:
        raise CheckpointError("cannot add vocabulary entries to an adaptive-softmax model")
    cfg = model.config.to_dict()
    cfg["vocab_size"] += n
    grown = RecurrentLM(ModelConfig.from_dict(cfg))
    state = model.state_dict()
    with torch.no_grad():
        state["encoder.weight"] = torch.cat([state["encoder.weight"],
                                             state["encoder.weight"].new_zeros(n, cfg["emb_dim"])])
        if not cfg["tie_weights"]:
            w = state["decoder.weight"]
            state["decoder.weight"] = torch.cat([w, w.new_zeros(n, w.shape[1])])
        else:
            state["decoder.weight"] = state["encoder.weight"]
        b = state["decoder.bias"]
        state["decoder.bias"] = torch.cat([b, b.new_full((n,), -1e4)])
    grown.load_state_dict(state)
    return grown.eval()
