"""Train a word/char/byte recurrent LM with stateful truncated BPTT.

``train_lm(TrainConfig(...))`` reads the corpora, builds the vocabulary, trains with gradient
clipping, dropout, Adam or SGD (learning rate multiplied by ``lr_decay`` whenever the validation
loss stops improving), stops early after ``patience`` epochs without improvement, and writes a
run folder::

    <out>/model/           best model so far (native format; pass it as --model)
    <out>/checkpoint/      latest resumable state (every epoch and every ``save_every`` batches)
    <out>/metrics.json     perplexity (word) or bits per character (char/byte) on valid/test
    <out>/train_config.json

``resume=True`` continues from ``<out>/checkpoint`` exactly: the data order is fixed, and the
optimizer state, RNG state, carried hidden state and position in the epoch are restored, so an
interrupted run ends with the same weights as an uninterrupted one.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from tqdm import tqdm

from rnnscope.checkpoint import load_native, save_model
from rnnscope.errors import RnnscopeError
from rnnscope.model import ModelConfig, RecurrentLM
from rnnscope.training.data import (batchify, build_vocab, encode_text, num_windows, read_raw,
                                    split_text, windows)
from rnnscope.training.precision import training_autocast
from rnnscope.device import model_device, resolve_device
from rnnscope.training.embeddings import init_embeddings, word2vec_dim
from rnnscope.training.state import (find_checkpoint, load_training_checkpoint,
                                     save_training_checkpoint)
from rnnscope.vocab import Vocabulary

# Settings a resumed run may change; everything else is taken from the saved run.
RESUME_OVERRIDES = ("epochs", "patience", "save_every", "stop_after", "progress",
                    "allow_corpus_change")


@dataclass
class TrainConfig:
    """All settings of a training run (saved as ``train_config.json`` in the run folder)."""

    out: str
    corpus_train: str | None = None
    corpus_valid: str | None = None
    corpus_test: str | None = None
    valid_fraction: float | None = None  # split the last part of corpus_train off as validation
    level: str = "word"
    cell: str = "lstm"
    layers: int = 1
    hidden: int = 256
    layer_sizes: tuple[int, ...] = ()  # per-layer sizes when they differ (then hidden = the last)
    proj_size: int = 0  # lstm_proj: units of the projected h (nn.LSTM proj_size)
    emb: int | None = None  # default: the embedding file's dimension, else == hidden
    dropout: float = 0.2
    tie: bool = False
    output: str = "softmax"  # "softmax" | "adaptive" (nn.AdaptiveLogSoftmaxWithLoss)
    adaptive_cutoffs: tuple[int, ...] = (2000, 10000)
    min_count: int = 1  # keep word types seen at least this often in the training text
    weight_decay: float = 0.0
    optimizer: str = "adam"
    lr: float = 2e-3
    lr_decay: float = 0.25
    bptt: int = 35
    batch_size: int = 20
    eval_batch_size: int = 10
    clip: float = 0.25
    epochs: int = 10
    patience: int = 3
    max_vocab: int | None = None
    max_tokens: int | None = None
    seed: int = 1111
    bf16: bool = False
    embeddings: str | None = None
    freeze_embeddings: bool = False
    init_from: str | None = None  # start from this model's weights and vocabulary (fine-tune/continue)
    save_every: int = 1000  # batches between mid-epoch checkpoints (0 = only at epoch ends)
    stop_after: int | None = None  # stop after this many batches in total, as if interrupted
    resume: bool = False
    allow_corpus_change: bool = False  # resume even though a corpus file changed since the start
    progress: bool = True

    def validate(self) -> None:
        """Raise RnnscopeError on inconsistent settings (before any file is read)."""
        if self.level not in ("word", "char", "byte"):
            raise RnnscopeError(f"unknown level {self.level!r}; choose word, char or byte")
        if self.optimizer not in ("adam", "sgd"):
            raise RnnscopeError(f"unknown optimizer {self.optimizer!r}; choose adam or sgd")
        for name in ("bptt", "batch_size", "eval_batch_size", "epochs", "layers", "hidden", "patience"):
            if getattr(self, name) < 1:
                raise RnnscopeError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.resume and not self.corpus_train:
            raise RnnscopeError("a training corpus is required (--corpus-train)")
        if not self.resume and not self.corpus_valid and not self.valid_fraction:
            raise RnnscopeError("give --corpus-valid or --valid-fraction")
        if self.corpus_valid and self.valid_fraction:
            raise RnnscopeError("give either --corpus-valid or --valid-fraction, not both")
        if self.init_from and self.embeddings:
            raise RnnscopeError("give either --init-from or --embeddings, not both "
                                "(--init-from brings its own embedding)")
        if self.freeze_embeddings and not self.embeddings:
            raise RnnscopeError("--freeze-embeddings needs --embeddings")
        if self.freeze_embeddings and self.tie:
            raise RnnscopeError("cannot freeze tied embeddings (the decoder shares them)")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise RnnscopeError(f"the learning rate must be a positive number, got {self.lr}")
        for name in ("dropout", "clip"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise RnnscopeError(f"{name} must be a finite number >= 0, got {v}")
        if self.min_count < 1:
            raise RnnscopeError(f"min_count must be at least 1, got {self.min_count}")
        if self.weight_decay < 0:
            raise RnnscopeError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0.0 < self.lr_decay <= 1.0:
            raise RnnscopeError(f"lr_decay must be in (0, 1], got {self.lr_decay}")


@dataclass
class TrainResult:
    """The trained model (best validation weights), its vocabulary and the metrics."""

    model: RecurrentLM
    vocab: Vocabulary
    metrics: dict
    run_dir: Path
    interrupted: bool = False
    history: list[dict] = field(default_factory=list)


def loss_to_metric(loss: float, level: str) -> tuple[str, float]:
    """``("ppl", exp(loss))`` for words, ``("bpc", loss / ln 2)`` for characters and bytes."""
    if level == "word":
        return "ppl", math.exp(min(loss, 700.0))
    return "bpc", loss / math.log(2)


@torch.no_grad()
def evaluate_loss(model: RecurrentLM, stream: torch.Tensor, batch_size: int = 10,
                  bptt: int = 35, progress: bool = False) -> float:
    """Mean next-token cross entropy (nats) over ``stream``, state carried (fp32, eval mode)."""
    was_training = model.training
    model.eval()
    batch_size = max(1, min(batch_size, stream.numel() // 2))
    data = batchify(stream, batch_size).to(model_device(model))
    hidden = model.init_state(batch_size)
    total, count = 0.0, 0
    bar = tqdm(total=num_windows(data, bptt), desc="evaluate", unit="batch",
               disable=None if progress else True, mininterval=1.0)  # None: off without a terminal
    for inputs, targets in windows(data, bptt):
        top, hidden = model.forward_hidden(inputs, hidden)
        total += model.loss(top, targets).item() * targets.numel()
        count += targets.numel()
        bar.update(1)
    bar.close()
    model.train(was_training)
    return total / count


def _load_streams(cfg: TrainConfig, vocab: Vocabulary | None):
    train_text = read_raw(cfg.corpus_train)
    if cfg.valid_fraction:
        train_text, valid_text = split_text(train_text, cfg.valid_fraction)
    else:
        valid_text = read_raw(cfg.corpus_valid)
    vocab = vocab or build_vocab(cfg.level, train_text, cfg.max_vocab, cfg.min_count)
    train = encode_text(train_text, vocab, str(cfg.corpus_train))
    if cfg.max_tokens:
        train = train[: cfg.max_tokens]
    valid = encode_text(valid_text, vocab, str(cfg.corpus_valid or "validation split"))
    test = encode_text(read_raw(cfg.corpus_test), vocab, cfg.corpus_test) if cfg.corpus_test else None
    return vocab, train, valid, test


def corpus_fingerprints(cfg: TrainConfig) -> dict[str, str]:
    """SHA-256 of each corpus file of the run (what resume compares)."""
    import hashlib

    out = {}
    for name in ("corpus_train", "corpus_valid", "corpus_test"):
        path = getattr(cfg, name)
        if path and Path(path).is_file():
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            out[name] = h.hexdigest()
    return out


def _check_same_corpus(cfg: TrainConfig, info: dict, say) -> None:
    saved = info.get("corpus_fingerprints")
    if saved is None:
        say("notice: this run predates corpus fingerprints; the corpus is not checked on resume")
        return
    now = corpus_fingerprints(cfg)
    changed = [k for k in saved if now.get(k) != saved[k]]
    if not changed:
        return
    names = ", ".join(f"--{k.replace('_', '-')} {getattr(cfg, k)}" for k in changed)
    if cfg.allow_corpus_change:
        say(f"warning: resuming although the corpus changed since the run started ({names})")
        return
    raise RnnscopeError(f"the corpus changed since this run started ({names}); resuming would "
                        "mix two corpora. Restore it, start a new run, or pass --allow-corpus-change")


# Architecture settings that --init-from takes from the model instead of the command line.
_ARCHITECTURE = ("cell", "layers", "hidden", "layer_sizes", "proj_size", "emb", "tie", "output",
                 "adaptive_cutoffs")


def _init_from(cfg: TrainConfig, say) -> tuple[RecurrentLM, Vocabulary, TrainConfig]:
    """The model to start from, its vocabulary, and ``cfg`` with its architecture.

    Continuing a run whose folder is gone, or fine-tuning a model on another text: the weights
    are loaded in float32 (a shipped float16 model trains in full precision), the vocabulary is
    the model's (the corpus is encoded with it; unseen words become ``<unk>``), and the
    architecture fields of ``cfg`` are replaced by the model's, with a notice where they differ.
    Only the optimizer starts afresh.
    """
    from dataclasses import replace

    from rnnscope.checkpoint import load_model

    model, vocab = load_model(cfg.init_from)
    if vocab.kind != cfg.level:
        raise RnnscopeError(f"--init-from {cfg.init_from} is a {vocab.kind}-level model but "
                            f"--level is {cfg.level}")
    c = model.config
    arch = {"cell": c.cell, "layers": c.num_layers, "hidden": c.hidden_size,
            "layer_sizes": tuple(c.layer_sizes), "proj_size": c.proj_size, "emb": c.emb_dim,
            "tie": c.tie_weights,
            "output": c.output, "adaptive_cutoffs": tuple(c.adaptive_cutoffs)}
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    differ = [k for k in _ARCHITECTURE
              if getattr(cfg, k) != arch[k] and getattr(cfg, k) != defaults[k]]
    if differ:
        say("notice: --init-from sets the architecture; ignored "
            + ", ".join(f"--{k.replace('_', '-')} {getattr(cfg, k)}" for k in differ))
    model = model.float()
    for module in model.modules():  # the run's dropout, not the saved model's
        if isinstance(module, torch.nn.Dropout):
            module.p = cfg.dropout
    model.config.dropout = cfg.dropout
    say(f"starting from {cfg.init_from} ({c.cell} {c.num_layers}x{c.hidden_size}, "
        f"vocab {len(vocab):,})")
    return model, vocab, replace(cfg, **arch)


def _new_model(cfg: TrainConfig, vocab: Vocabulary):
    emb = cfg.emb or (word2vec_dim(cfg.embeddings) if cfg.embeddings else cfg.hidden)
    model = RecurrentLM(ModelConfig(vocab_size=len(vocab), cell=cfg.cell, emb_dim=emb,
                                    hidden_size=cfg.hidden, num_layers=cfg.layers,
                                    layer_sizes=tuple(cfg.layer_sizes), proj_size=cfg.proj_size,
                                    dropout=cfg.dropout, tie_weights=cfg.tie, output=cfg.output,
                                    adaptive_cutoffs=tuple(cfg.adaptive_cutoffs)))
    coverage = None
    if cfg.embeddings:
        coverage = init_embeddings(model.encoder, vocab, cfg.embeddings, cfg.freeze_embeddings)
    return model, coverage


def _make_optimizer(cfg: TrainConfig, model: RecurrentLM) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _resume_config(cfg: TrainConfig, explicit: set[str] | None = None) -> TrainConfig:
    """The saved run's settings, with only the resumable ones the caller set explicitly changed.

    ``explicit``: names the user gave (the CLI passes click's parameter sources); ``None``
    means "those that differ from the defaults". ``progress`` and ``stop_after`` always apply.
    """
    saved = json.loads((Path(cfg.out) / "train_config.json").read_text())
    known = {f.name for f in fields(TrainConfig)}
    merged = {k: v for k, v in saved.items() if k in known}
    if explicit is None:
        defaults = {f.name: f.default for f in fields(TrainConfig)}
        explicit = {k for k in RESUME_OVERRIDES if getattr(cfg, k) != defaults[k]}
    merged.update({k: getattr(cfg, k) for k in RESUME_OVERRIDES
                   if k in explicit or k in ("progress", "stop_after", "allow_corpus_change")})
    merged["resume"] = True
    return TrainConfig(**merged)


def train_lm(config: TrainConfig, log: Callable[[str], None] | None = None,
             explicit: set[str] | None = None, device: "str | torch.device | None" = None
             ) -> TrainResult:
    """Train (or resume) a language model as configured; see the module docstring.

    ``device``: where to train (``"auto"``, ``"cpu"``, ``"cuda"``, ...; default the CPU). It is
    not part of the run's settings: a run started on a GPU may be resumed on a CPU.

    On resume, the saved settings stand; of ``RESUME_OVERRIDES`` only those named in
    ``explicit`` (default: those differing from ``TrainConfig``'s defaults) are changed.
    """
    say = log or (lambda msg: None)
    config.validate()
    run_dir = Path(config.out)
    resuming = config.resume and find_checkpoint(run_dir) is not None
    if config.resume and not resuming:
        raise RnnscopeError(f"nothing to resume: no training checkpoint in {run_dir}")
    cfg = _resume_config(config, explicit) if resuming else config
    dev = resolve_device(device or "cpu")
    if resuming:
        model, vocab, opt_state, info, hidden = load_training_checkpoint(run_dir)
        _check_same_corpus(cfg, info, say)
        _, train, valid, test = _load_streams(cfg, vocab)
        if cfg.freeze_embeddings:
            model.encoder.weight.requires_grad_(False)
        model = model.to(dev)  # before the optimizer, which then loads its state onto dev
        if hidden is not None:
            hidden = [tuple(t.to(dev) for t in s) if isinstance(s, tuple) else s.to(dev) for s in hidden]
        optimizer = _make_optimizer(cfg, model)
        optimizer.load_state_dict(opt_state)
        say(f"resuming {run_dir} at epoch {info['epoch'] + 1}, batch {info['step']}")
    else:
        torch.manual_seed(cfg.seed)
        coverage = None
        if cfg.init_from:
            model, vocab, cfg = _init_from(cfg, say)
            vocab, train, valid, test = _load_streams(cfg, vocab)
        else:
            vocab, train, valid, test = _load_streams(cfg, None)
            model, coverage = _new_model(cfg, vocab)
        model = model.to(dev)
        if coverage is not None:
            say(str(coverage))
        optimizer = _make_optimizer(cfg, model)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "train_config.json").write_text(json.dumps(asdict(cfg), indent=1))
        info = {"epoch": 0, "step": 0, "total_steps": 0, "best_valid": None, "best_epoch": None,
                "bad_epochs": 0, "history": [], "epoch_loss": 0.0, "epoch_tokens": 0,
                "seconds": 0.0, "embedding_coverage": coverage.fraction if coverage else None,
                "corpus_fingerprints": corpus_fingerprints(cfg)}
        hidden = None
    say(f"model: {cfg.cell} {cfg.layers}x{cfg.hidden}, vocab {len(vocab):,} ({cfg.level}), "
        f"{train.numel():,} training tokens")
    if dev.type != "cpu":
        say(f"device: {dev}")
    data = batchify(train, cfg.batch_size).to(dev)
    info["train_tokens"] = int(data.numel())
    interrupted = _train_epochs(cfg, model, vocab, optimizer, data, valid, info, hidden, run_dir, say)
    return _finish(cfg, model, vocab, valid, test, info, run_dir, interrupted, say, dev)


def _train_epochs(cfg, model, vocab, optimizer, data, valid, info, hidden, run_dir, say) -> bool:
    """The epoch loop; returns True when stopped by ``stop_after`` (a simulated interruption)."""
    params = [p for p in model.parameters() if p.requires_grad]
    cast, info["bf16_used"] = training_autocast(cfg.bf16, say, data.device.type)
    n_windows = num_windows(data, cfg.bptt)
    while info["epoch"] < cfg.epochs and info["bad_epochs"] < cfg.patience:
        model.train()
        hidden = hidden if hidden is not None else model.init_state(cfg.batch_size)
        bar = tqdm(total=n_windows, initial=info["step"], desc=f"epoch {info['epoch'] + 1}",
                   disable=not cfg.progress, mininterval=2.0, unit="batch")
        start, tokens_now = time.perf_counter(), 0
        for inputs, targets in windows(data, cfg.bptt, start=info["step"]):
            hidden = [tuple(t.detach().float() for t in s) if isinstance(s, tuple)
                      else s.detach().float() for s in hidden]
            optimizer.zero_grad()
            with cast():
                top, hidden = model.forward_hidden(inputs, hidden)
            loss = model.loss(top, targets)
            loss.backward()
            if cfg.clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.clip)
            optimizer.step()
            info["step"] += 1
            info["total_steps"] += 1
            info["epoch_loss"] += loss.item() * targets.numel()
            info["epoch_tokens"] += targets.numel()
            tokens_now += targets.numel()
            elapsed = time.perf_counter() - start
            bar.update(1)
            bar.set_postfix(loss=f"{info['epoch_loss'] / info['epoch_tokens']:.3f}",
                            tok_s=f"{tokens_now / max(elapsed, 1e-9):,.0f}", refresh=False)
            stop = cfg.stop_after is not None and info["total_steps"] >= cfg.stop_after
            if stop or (cfg.save_every and info["step"] % cfg.save_every == 0
                        and info["step"] < n_windows):
                info["seconds"] += time.perf_counter() - start
                start, tokens_now = time.perf_counter(), 0
                save_training_checkpoint(run_dir, model, vocab, optimizer, info, hidden)
            if stop:
                bar.close()
                say(f"stopped after {info['total_steps']} batches; continue with --resume")
                return True
        bar.close()
        info["seconds"] += time.perf_counter() - start
        _end_epoch(cfg, model, vocab, optimizer, valid, info, run_dir, say)
        hidden = None
    return False


def _end_epoch(cfg, model, vocab, optimizer, valid, info, run_dir, say) -> None:
    """Validate, keep the best model, decay the learning rate, write the checkpoint."""
    valid_loss = evaluate_loss(model, valid, cfg.eval_batch_size, cfg.bptt)
    name, value = loss_to_metric(valid_loss, cfg.level)
    train_loss = info["epoch_loss"] / max(info["epoch_tokens"], 1)
    lr = optimizer.param_groups[0]["lr"]
    info["history"].append({"epoch": info["epoch"] + 1, "train_loss": train_loss,
                            "valid_loss": valid_loss, f"valid_{name}": value, "lr": lr,
                            "seconds": info["seconds"]})
    say(f"epoch {info['epoch'] + 1}: train loss {train_loss:.4f}, valid loss {valid_loss:.4f}, "
        f"valid {name} {value:.3f}, lr {lr:g}")
    if info["best_valid"] is None or valid_loss < info["best_valid"]:
        info["best_valid"], info["best_epoch"], info["bad_epochs"] = valid_loss, info["epoch"] + 1, 0
        save_model(model, vocab, run_dir / "model", extra={"trained_with": "rnnscope train",
                                                           "valid_loss": valid_loss})
    else:
        info["bad_epochs"] += 1
        for group in optimizer.param_groups:
            group["lr"] *= cfg.lr_decay
    info.update(epoch=info["epoch"] + 1, step=0, epoch_loss=0.0, epoch_tokens=0)
    save_training_checkpoint(run_dir, model, vocab, optimizer, info, None)


def _finish(cfg, model, vocab, valid, test, info, run_dir, interrupted, say,
            dev: torch.device) -> TrainResult:
    """Reload the best weights, score valid/test, write ``metrics.json``."""
    metrics: dict = {}
    if not interrupted and (run_dir / "model").exists():
        model, _ = load_native(run_dir / "model")
        model = model.to(dev)
        valid_loss = info["best_valid"]
        name, value = loss_to_metric(valid_loss, cfg.level)
        metrics = {"level": cfg.level, "metric": name, "valid_loss": valid_loss,
                   f"valid_{name}": value, "best_epoch": info["best_epoch"],
                   "epochs_run": info["epoch"], "seconds": info["seconds"],
                   "train_tokens_per_epoch": info.get("train_tokens"),
                   "train_tokens_per_second": info.get("train_tokens", 0) * info["epoch"]
                   / max(info["seconds"], 1e-9),
                   "bf16_used": bool(info.get("bf16_used", False)),
                   "history": info["history"]}
        if test is not None:
            test_loss = evaluate_loss(model, test, cfg.eval_batch_size, cfg.bptt)
            metrics.update(test_loss=test_loss, **{f"test_{name}": loss_to_metric(test_loss, cfg.level)[1]})
        tmp = run_dir / ".metrics.json.tmp"
        tmp.write_text(json.dumps(metrics, indent=1))
        tmp.replace(run_dir / "metrics.json")
        say(f"best epoch {info['best_epoch']}: valid {name} {value:.3f}"
            + (f", test {name} {metrics[f'test_{name}']:.3f}" if test is not None else ""))
    model.eval()
    return TrainResult(model=model, vocab=vocab, metrics=metrics, run_dir=run_dir,
                       interrupted=interrupted, history=list(info["history"]))
