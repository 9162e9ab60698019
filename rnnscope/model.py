"""The recurrent language model: embedding -> N stacked recurrent layers -> output layer.

The recurrence is the cell family's business (:mod:`rnnscope.cells`: LSTM, GRU, tanh and
ReLU RNN, peephole LSTM); this module never branches on the family. One class, three ways
to run it:

* ``model(tokens)`` — the fused path (``nn.LSTM``/``nn.GRU``/``nn.RNN`` or the family's own
  layer), for training and scoring;
* ``model.run_with_states(tokens)`` — the same logits plus every component of every layer at
  every step (LSTM ``h c i f o g``, GRU ``h r z n``, RNN ``h``), by the cell's fastest exact
  recording path (:meth:`rnnscope.cells.Cell.run`);
* ``model.run_with_hooks(tokens, hooks)`` — step by step, with hook points that read or
  replace any component while the recurrence runs (:mod:`rnnscope.interventions`).

Shapes: B = batch, T = time, E = embedding size, H = hidden size, V = vocabulary size.
Tokens are batch-first ``[B, T]``. Layers are 1-based in keys (``layer1.c``), 0-based in
``self.layers``.
"""
from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from rnnscope.cells import get_cell
from rnnscope.cells.base import Cell
from rnnscope.errors import RnnscopeError
from rnnscope.keys import key

# Per layer, the recurrent state in PyTorch's convention: LSTM (h, c) each [1, B, H]; else h.
LayerState = "torch.Tensor | tuple[torch.Tensor, torch.Tensor]"


@dataclass
class ModelConfig:
    """Everything needed to rebuild a :class:`RecurrentLM` (stored as JSON next to weights)."""

    vocab_size: int
    cell: str = "lstm"  # a family of rnnscope.cells: lstm, gru, rnn (tanh), rnn_relu, lstm_peephole
    emb_dim: int = 64
    hidden_size: int = 256  # the top layer's size (what the output layer reads)
    num_layers: int = 1
    dropout: float = 0.0
    tie_weights: bool = False
    # Output layer: "softmax" (one linear decoder over the vocabulary) or "adaptive"
    # (nn.AdaptiveLogSoftmaxWithLoss: a head over the most frequent words plus clusters of
    # rarer words on smaller projections; needs ids sorted by frequency, as our vocabularies are).
    output: str = "softmax"
    adaptive_cutoffs: tuple[int, ...] = (2000, 10000)
    adaptive_div: float = 4.0
    # Per-layer sizes when they differ (AWD-LSTM: 1150, 1150, 400); empty = every layer
    # hidden_size. When given, hidden_size is the last of them.
    layer_sizes: tuple[int, ...] = ()
    # Families that project their output (the LSTM with projection, nn.LSTM(proj_size=P)):
    # every layer's h has proj_size units, its cell and gates the layer's size. 0 = none.
    proj_size: int = 0

    def __post_init__(self) -> None:
        get_cell(self.cell)  # refuses an unknown family by name
        for name in ("vocab_size", "emb_dim", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise RnnscopeError(f"model {name} must be an integer, got {value!r}")
            setattr(self, name, int(value))
            if value < 1:
                raise RnnscopeError(f"model {name} must be positive, got {getattr(self, name)}")
        self.layer_sizes = tuple(self.layer_sizes)
        if self.layer_sizes:
            if len(self.layer_sizes) != self.num_layers or any(
                    isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1
                    for s in self.layer_sizes):
                raise RnnscopeError(f"layer_sizes {list(self.layer_sizes)} must be {self.num_layers} "
                                    "positive integers, one per layer")
            self.layer_sizes = tuple(int(s) for s in self.layer_sizes)
            if len(set(self.layer_sizes)) == 1:
                self.hidden_size, self.layer_sizes = self.layer_sizes[0], ()  # uniform: one number
            else:
                self.hidden_size = self.layer_sizes[-1]
        if not 0.0 <= self.dropout < 1.0:
            raise RnnscopeError(f"dropout must be in [0, 1), got {self.dropout}")
        self._check_projection()
        if self.output not in ("softmax", "adaptive"):
            raise RnnscopeError(f"unknown output layer {self.output!r}; choose softmax or adaptive")
        self.adaptive_cutoffs = tuple(int(c) for c in self.adaptive_cutoffs)
        if self.output == "adaptive":
            cuts = [c for c in self.adaptive_cutoffs if c < int(self.vocab_size)]
            if not cuts or cuts != sorted(set(cuts)) or cuts[0] < 1:
                raise RnnscopeError(f"adaptive cutoffs {list(self.adaptive_cutoffs)} must be "
                                    f"increasing and below the vocabulary size {self.vocab_size}")
            self.adaptive_cutoffs = tuple(cuts)
            if self.tie_weights:
                raise RnnscopeError("weight tying is not available with the adaptive output layer")
        if self.tie_weights and self.emb_dim != self.output_sizes[-1]:
            raise RnnscopeError("weight tying needs emb_dim == the top layer's output size "
                                f"({self.emb_dim} != {self.output_sizes[-1]})")

    def _check_projection(self) -> None:
        projects = get_cell(self.cell).projects
        p = self.proj_size
        if isinstance(p, bool) or not isinstance(p, numbers.Integral) or p < 0:
            raise RnnscopeError(f"model proj_size must be a non-negative integer, got {p!r}")
        self.proj_size = int(p)
        if projects and not 0 < self.proj_size < min(self.sizes):
            raise RnnscopeError(f"the {self.cell} cell needs 0 < proj_size < every layer's size "
                                f"(sizes {list(self.sizes)}), got proj_size {self.proj_size}")
        if not projects and self.proj_size:
            raise RnnscopeError(f"proj_size is for cells that project their output "
                                f"(lstm_proj); the {self.cell} cell does not")

    @property
    def sizes(self) -> tuple[int, ...]:
        """Every layer's size (units of its cell and gates), bottom first."""
        return self.layer_sizes or (self.hidden_size,) * self.num_layers

    @property
    def output_sizes(self) -> tuple[int, ...]:
        """What every layer emits (its h: the next layer's input), bottom first; the same as
        :attr:`sizes` unless the cell projects (then ``proj_size`` each)."""
        return self.widths("h")

    def layer_size(self, layer: int) -> int:
        """The size of 1-based ``layer`` (its cell and gates; see :meth:`width` for h)."""
        if not 1 <= layer <= self.num_layers:
            raise RnnscopeError(f"layer {layer} does not exist (model has {self.num_layers})")
        return self.sizes[layer - 1]

    def width(self, layer: int, component: str) -> int:
        """Units of ``component`` in 1-based ``layer``: the layer's size, except a projecting
        cell's ``h`` (``proj_size``)."""
        size = self.layer_size(layer)
        return self.proj_size if component == "h" and self.proj_size else size

    def widths(self, component: str) -> tuple[int, ...]:
        """Units of ``component`` in every layer, bottom first (for global unit numbers)."""
        return tuple(self.width(n, component) for n in range(1, self.num_layers + 1))

    def state_widths(self, layer: int) -> tuple[int, ...]:
        """Widths of the state the layer carries, in the cell's state order (``h``, ``c``)."""
        return tuple(self.width(layer, s) for s in get_cell(self.cell).state)

    def to_dict(self) -> dict:
        out = asdict(self)
        if not self.layer_sizes:  # configs of uniform models stay as they always were
            del out["layer_sizes"]
        if not self.proj_size:
            del out["proj_size"]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        """A config from JSON, every value type-checked (a ``"yes"`` is not a boolean, a
        ``256.5`` not a size) and sizes bounded, so nonsense is refused by name."""
        if not isinstance(data, dict):
            raise RnnscopeError(f"model config must be an object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name, limit in _SIZE_LIMITS.items():
            if name in values:
                v = values[name]
                if isinstance(v, bool) or not isinstance(v, int):
                    raise RnnscopeError(f"model {name} must be an integer, got {v!r}")
                if not 1 <= v <= limit:
                    raise RnnscopeError(f"model {name} must be in 1..{limit:,}, got {v:,}")
        for name in ("tie_weights",):
            if name in values and not isinstance(values[name], bool):
                raise RnnscopeError(f"model {name} must be true or false, got {values[name]!r}")
        for name in ("cell", "output"):
            if name in values and not isinstance(values[name], str):
                raise RnnscopeError(f"model {name} must be a string, got {values[name]!r}")
        for name in ("dropout", "adaptive_div"):
            v = values.get(name, 0.0)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
                raise RnnscopeError(f"model {name} must be a number, got {v!r}")
        sizes = values.get("layer_sizes", ())
        if not isinstance(sizes, (list, tuple)) or any(
                isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= _SIZE_LIMITS["hidden_size"]
                for s in sizes):
            raise RnnscopeError(f"model layer_sizes must be a list of sizes, got {sizes!r}")
        cuts = values.get("adaptive_cutoffs", ())
        if not isinstance(cuts, (list, tuple)) or any(isinstance(c, bool) or not isinstance(c, int)
                                                      for c in cuts):
            raise RnnscopeError(f"model adaptive_cutoffs must be a list of integers, got {cuts!r}")
        if "adaptive_div" in values and not values["adaptive_div"] > 0:
            raise RnnscopeError(f"model adaptive_div must be positive, got {values['adaptive_div']}")
        return cls(**values)


# Largest accepted sizes: far above any real recurrent LM, low enough that a typo cannot ask
# for terabytes (vocab x emb and hidden x hidden are allocated at once).
_SIZE_LIMITS = {"vocab_size": 10_000_000, "emb_dim": 65_536, "hidden_size": 65_536,
                "num_layers": 64}


class RecurrentLM(nn.Module):
    """Embedding -> stacked recurrent layers (one fused module each) -> dropout -> decoder."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c = config
        self.encoder = nn.Embedding(c.vocab_size, c.emb_dim)
        family = get_cell(c.cell)
        extra = {"proj_size": c.proj_size} if c.proj_size else {}
        self.layers = nn.ModuleList(  # layer n: [B, T, E or H_{n-1}] -> [B, T, H_n]
            family.build(c.emb_dim if n == 0 else c.output_sizes[n - 1], c.sizes[n], **extra)
            for n in range(c.num_layers)
        )
        self.drop = nn.Dropout(c.dropout)
        top = c.output_sizes[-1]  # what the output layer reads
        if c.output == "adaptive":
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(
                top, c.vocab_size, list(c.adaptive_cutoffs), div_value=c.adaptive_div)
        else:
            self.decoder = nn.Linear(top, c.vocab_size)
            if c.tie_weights:
                self.decoder.weight = self.encoder.weight
        self.init_weights()

    def init_weights(self, scale: float = 0.1) -> None:
        """Uniform(-scale, scale) embedding/decoder, zero decoder bias (as the PyTorch LM example)."""
        nn.init.uniform_(self.encoder.weight, -scale, scale)
        if self.config.output == "adaptive":
            return  # nn.AdaptiveLogSoftmaxWithLoss keeps its own initialisation
        if not self.config.tie_weights:
            nn.init.uniform_(self.decoder.weight, -scale, scale)
        nn.init.zeros_(self.decoder.bias)

    # -- output layer -------------------------------------------------------------------------
    @property
    def linear_output(self) -> bool:
        """True when next-token scores are one linear map of the top hidden state (a decoder)."""
        return self.config.output == "softmax"

    def output(self, x: torch.Tensor) -> torch.Tensor:
        """Next-token scores ``[..., V]`` of top-layer states ``x [..., H]``.

        Softmax output: the decoder's logits. Adaptive output: exact log-probabilities (a
        log-softmax of them is themselves, so every consumer of logits reads them unchanged).
        """
        if self.linear_output:
            return self.decoder(x)
        flat = x.reshape(-1, x.shape[-1])
        return self.adaptive.log_prob(flat).view(*x.shape[:-1], self.config.vocab_size)

    def token_scores(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Scores of the vocabulary ids ``ids [K]`` only: ``[..., K]``.

        Differences of these scores are log-probability differences (logits of the linear
        decoder, exact log-probabilities of the adaptive output), which is what comparing two
        verb forms needs.
        """
        ids = torch.as_tensor(ids, dtype=torch.long, device=x.device)
        if self.linear_output:
            return nn.functional.linear(x, self.decoder.weight[ids], self.decoder.bias[ids])
        flat = x.reshape(-1, x.shape[-1])
        rows = flat.shape[0]
        scores = self.token_log_probs(flat.repeat_interleave(len(ids), dim=0), ids.repeat(rows))
        return scores.view(*x.shape[:-1], len(ids))

    def token_log_probs(self, h: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``log p(ids[n] | h[n])`` for ``h [N, H]``, ``ids [N]`` (only the clusters needed)."""
        ids = torch.as_tensor(ids, dtype=torch.long, device=h.device)
        if self.linear_output:
            logp = torch.log_softmax(self.decoder(h), dim=-1)
            return logp.gather(1, ids[:, None])[:, 0]
        ada = self.adaptive
        head = torch.log_softmax(ada.head(h), dim=-1)  # [N, shortlist + clusters]
        out = h.new_empty(h.shape[0])
        short = ids < ada.shortlist_size
        out[short] = head[short, ids[short]]
        for k, tail in enumerate(ada.tail):
            lo, hi = ada.cutoffs[k], ada.cutoffs[k + 1]
            m = (ids >= lo) & (ids < hi)
            if m.any():
                lp = torch.log_softmax(tail(h[m]), dim=-1)
                out[m] = head[m, ada.shortlist_size + k] + lp.gather(1, (ids[m] - lo)[:, None])[:, 0]
        return out

    def pair_margin(self, h: torch.Tensor, good: torch.Tensor, bad: torch.Tensor) -> torch.Tensor:
        """``log p(good) - log p(bad)`` per row of ``h [N, H]`` (ids ``[N]`` each)."""
        if self.linear_output:
            w, b = self.decoder.weight, self.decoder.bias
            return (h * (w[good] - w[bad])).sum(-1) + (b[good] - b[bad])
        return self.token_log_probs(h, good) - self.token_log_probs(h, bad)

    def output_input_weights(self) -> list[torch.Tensor]:
        """The weight matrices whose columns read the top layer's hidden units (for ablation)."""
        if self.linear_output:
            return [self.decoder.weight]
        return [self.adaptive.head.weight, *(tail[0].weight for tail in self.adaptive.tail)]

    def loss(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross entropy (nats) of top-layer states ``x [B, T, H]``."""
        flat, tgt = x.reshape(-1, x.shape[-1]).float(), targets.reshape(-1)
        if self.linear_output:
            return nn.functional.cross_entropy(self.decoder(flat), tgt)
        return self.adaptive(flat, tgt).loss

    # -- properties -------------------------------------------------------------------------
    @property
    def cell(self) -> str:
        """The cell family's name (``"lstm"``, ...)."""
        return self.config.cell

    @property
    def family(self) -> Cell:
        """The cell family (:class:`rnnscope.cells.Cell`) every layer is made of."""
        return get_cell(self.config.cell)

    @property
    def components(self) -> tuple[str, ...]:
        return self.family.components

    def init_state(self, batch_size: int) -> list:
        """A zero state for every layer, in PyTorch's per-layer convention."""
        p = self.encoder.weight
        c = self.config
        return [self.family.zero_state(p, batch_size, c.state_widths(n))
                for n in range(1, c.num_layers + 1)]

    def detach_state(self, state: list) -> list:
        """Cut the graph behind ``state`` (truncated BPTT)."""
        family = self.family
        return [family.pack([t.detach() for t in family.unpack(hx)]) for hx in state]

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` token ids -> ``[B, T, E]`` embeddings."""
        return self.encoder(tokens)

    # -- fused path -------------------------------------------------------------------------
    def forward(self, tokens: torch.Tensor | None = None, state: list | None = None,
                inputs_embeds: torch.Tensor | None = None) -> tuple[torch.Tensor, list]:
        """Logits ``[B, T, V]`` and the final state, via the fused PyTorch layers."""
        x, new_state = self.forward_hidden(tokens, state, inputs_embeds)
        return self.output(x), new_state

    def forward_hidden(self, tokens: torch.Tensor | None = None, state: list | None = None,
                       inputs_embeds: torch.Tensor | None = None) -> tuple[torch.Tensor, list]:
        """Top-layer states ``[B, T, H]`` (after dropout) and the final state (training path)."""
        x = self._inputs(tokens, inputs_embeds)
        x = self.drop(x)
        state = state if state is not None else [None] * len(self.layers)
        new_state = []
        for layer, hx in zip(self.layers, state):
            x, hn = layer(x, hx)
            x = self.drop(x)
            new_state.append(hn)
        return x, new_state

    # -- all components ---------------------------------------------------------------------
    def run_with_states(self, tokens: torch.Tensor | None = None, state: list | None = None,
                        components: list[str] | None = None, compute_logits: bool = True,
                        inputs_embeds: torch.Tensor | None = None,
                        ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor], list]:
        """Run the model and record components of every layer at every step.

        Returns ``(logits [B,T,V] or None, {"layer1.h": [B,T,H], ...}, final_state)``.
        ``components`` limits what is recorded (default: all of the cell's components).
        Dropout is not applied (analysis runs the model as it is evaluated).
        """
        wanted = list(components) if components else list(self.components)
        bad = [c for c in wanted if c not in self.components]
        if bad:
            raise RnnscopeError(f"{self.cell} has no component {bad[0]!r}; "
                                f"it records {', '.join(self.components)}")
        x = self._inputs(tokens, inputs_embeds)
        batch = x.shape[0]
        state = state if state is not None else self.init_state(batch)
        states: dict[str, torch.Tensor] = {}
        final = []
        family = self.family
        for n, (layer, hx) in enumerate(zip(self.layers, state)):
            out, hn, recorded = family.run(layer, x, hx, wanted, _needs_autograd(x, hx))
            for comp, value in recorded.items():
                states[key(n + 1, comp)] = value
            final.append(hn)
            x = out
        logits = self.output(x) if compute_logits else None
        return logits, states, final

    # -- hook points ------------------------------------------------------------------------
    def run_with_hooks(self, tokens: torch.Tensor, hooks: dict, components: list[str] | None = (),
                       state: list | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Run step by step with hook points, like TransformerLens' ``run_with_hooks``.

        ``hooks = {"layer2.c": fn, ...}``: ``fn(value [B, H], step)`` may read that component
        at each step, or return a replacement (per batch row) that the recurrence then carries.
        Returns ``(logits [B, T, V], {key: [B, T, H]})`` for the recorded ``components``. The
        interventions, ablations and interchange patching are built on this one path
        (:func:`rnnscope.interventions.run_stepwise`).
        """
        from rnnscope.interventions import run_stepwise

        return run_stepwise(self, tokens, state=state, components=components, hooks=hooks)

    def _inputs(self, tokens: torch.Tensor | None, inputs_embeds: torch.Tensor | None) -> torch.Tensor:
        if (tokens is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of tokens or inputs_embeds")
        return self.encoder(tokens) if inputs_embeds is None else inputs_embeds


def _needs_autograd(x: torch.Tensor, hx) -> bool:
    """True when a graph (reverse mode) or tangents (forward mode) must flow through the layer."""
    if torch.is_grad_enabled():
        return True
    from torch.autograd import forward_ad

    tensors = [x, *(hx if isinstance(hx, tuple) else (hx,))]
    return any(forward_ad.unpack_dual(t).tangent is not None for t in tensors)
