"""CLI verbs ``train``, ``evaluate``, ``sample`` and ``convert``."""
from __future__ import annotations

from pathlib import Path

import click

from rnnscope.cells import cell_names
from rnnscope.cli.options import device_option, model_on

_MODEL_OPTIONS = [
    click.option("--model", "model_path", required=True,
                 help="Model folder (ours), a training run folder, or a foreign checkpoint."),
    click.option("--vocab", default=None, help="Vocabulary for a foreign checkpoint."),
    click.option("--trust-pickle", is_flag=True, help="Allow arbitrary pickles (runs their code!)."),
]


def _model_options(fn):
    for opt in reversed(_MODEL_OPTIONS):
        fn = opt(fn)
    return fn


@click.command("train", short_help="Train a word/char/byte LSTM/GRU/RNN language model.")
@click.option("--corpus-train", default=None, help="Training text (.txt or .txt.gz).")
@click.option("--corpus-valid", default=None, help="Validation text.")
@click.option("--corpus-test", default=None, help="Test text (scored with the best model).")
@click.option("--valid-fraction", type=float, default=None,
              help="Split this last fraction of --corpus-train off as validation.")
@click.option("--level", type=click.Choice(["word", "char", "byte"]), default="word", show_default=True,
              help="Units the model reads and predicts: words, characters or bytes.")
@click.option("--cell", type=click.Choice(cell_names()), default="lstm", show_default=True,
              help="Recurrent cell family (docs/cells.md).")
@click.option("--layers", type=int, default=1, show_default=True, help="Recurrent layers.")
@click.option("--hidden", type=int, default=256, show_default=True, help="Hidden units per layer.")
@click.option("--layer-sizes", default=None,
              help="Comma-separated hidden size of each layer when they differ, bottom first "
                   "(AWD-LSTM: 1150,1150,400); sets --layers and --hidden (the top layer's).")
@click.option("--proj-size", type=int, default=0, show_default=True,
              help="With --cell lstm_proj: units of the projected output h (PyTorch's proj_size; "
                   "below --hidden, which stays the number of cells).")
@click.option("--emb", type=int, default=None, help="Embedding size [default: embeddings file dim, else --hidden].")
@click.option("--dropout", type=float, default=0.2, show_default=True,
              help="Dropout probability (embeddings, between layers, before the decoder).")
@click.option("--tie", is_flag=True, help="Tie decoder and embedding weights (needs emb == hidden).")
@click.option("--output", type=click.Choice(["softmax", "adaptive"]), default="softmax", show_default=True,
              help="Output layer: one softmax over the vocabulary, or an adaptive softmax "
                   "(frequent words in a head, rare ones in cheaper clusters; ~5x faster on a "
                   "30k-word vocabulary on CPU).")
@click.option("--adaptive-cutoffs", default="2000,10000", show_default=True,
              help="Comma-separated cluster boundaries of the adaptive softmax (word ranks).")
@click.option("--min-count", type=int, default=1, show_default=True,
              help="Keep only units seen at least this often in the training text.")
@click.option("--weight-decay", type=float, default=0.0, show_default=True,
              help="L2 weight decay of the optimizer.")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", show_default=True,
              help="Optimizer of the training loop.")
@click.option("--lr", type=float, default=2e-3, show_default=True, help="Initial learning rate.")
@click.option("--lr-decay", type=float, default=0.25, show_default=True,
              help="Multiply the learning rate by this when validation loss stops improving.")
@click.option("--bptt", type=int, default=35, show_default=True,
              help="Truncated backpropagation length (tokens per training window).")
@click.option("--batch-size", type=int, default=20, show_default=True,
              help="Parallel streams the training text is cut into.")
@click.option("--clip", type=float, default=0.25, show_default=True, help="Gradient norm clip (0 = off).")
@click.option("--epochs", type=int, default=10, show_default=True,
              help="Most passes over the training text.")
@click.option("--patience", type=int, default=3, show_default=True,
              help="Stop after this many epochs without validation improvement.")
@click.option("--max-vocab", type=int, default=None, help="Keep the most frequent units (incl. <unk>, <eos>).")
@click.option("--max-tokens", type=int, default=None, help="Use only the first N training tokens.")
@click.option("--seed", type=int, default=1111, show_default=True,
              help="Random seed of the initialisation and dropout.")
@click.option("--bf16", is_flag=True, help="bfloat16 autocast on CPU for training (evaluation stays fp32).")
@click.option("--embeddings", default=None, help="word2vec text file to initialise the embedding.")
@click.option("--freeze-embeddings", is_flag=True, help="Keep the pretrained embedding fixed.")
@click.option("--init-from", default=None,
              help="Start from this model's weights and vocabulary (continue a finished run, or "
                   "fine-tune on another text); the architecture options are then the model's.")
@click.option("--save-every", type=int, default=1000, show_default=True,
              help="Write a resumable checkpoint every N batches (and at every epoch end).")
@click.option("--threads", type=int, default=None, help="torch.set_num_threads.")
@click.option("--out", required=True, help="Run folder (model/, checkpoint/, metrics.json).")
@click.option("--resume", is_flag=True, help="Continue the run in --out exactly where it stopped "
              "(its saved settings stand; --epochs, --patience, --save-every change them only when given).")
@click.option("--allow-corpus-change", is_flag=True,
              help="With --resume: continue even though a corpus file changed since the run started.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar on stderr.")
@device_option
def train_cmd(threads, adaptive_cutoffs, layer_sizes, device, **kwargs):
    """Train a word/char/byte LSTM/GRU/RNN language model."""
    import torch

    from rnnscope.errors import RnnscopeError
    from rnnscope.training import TrainConfig, train_lm
    from rnnscope.training.train import RESUME_OVERRIDES

    try:
        kwargs["adaptive_cutoffs"] = tuple(int(c) for c in adaptive_cutoffs.split(",") if c.strip())
    except ValueError:
        raise RnnscopeError(f"--adaptive-cutoffs must be integers like 2000,10000, got {adaptive_cutoffs!r}") from None
    if layer_sizes:
        try:
            kwargs["layer_sizes"] = tuple(int(s) for s in layer_sizes.split(",") if s.strip())
        except ValueError:
            raise RnnscopeError(f"--layer-sizes must be integers like 1150,1150,400, got {layer_sizes!r}") from None
        kwargs["layers"], kwargs["hidden"] = len(kwargs["layer_sizes"]), kwargs["layer_sizes"][-1]
    ctx = click.get_current_context()
    explicit = {name for name in RESUME_OVERRIDES if name in ctx.params
                and ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    if threads:
        torch.set_num_threads(threads)
    result = train_lm(TrainConfig(**kwargs), log=lambda m: click.echo(m, err=True), explicit=explicit,
                      device=device)
    if result.metrics:
        m = result.metrics
        name = m["metric"]
        line = f"valid {name} {m[f'valid_{name}']:.3f}"
        if f"test_{name}" in m:
            line += f"  test {name} {m[f'test_{name}']:.3f}"
        click.echo(f"{line}  (model in {Path(kwargs['out']) / 'model'})")


@click.command("evaluate", short_help="Perplexity or bits per character on a text.")
@_model_options
@click.option("--corpus", required=True, help="Text to score (.txt or .txt.gz).")
@click.option("--batch-size", type=int, default=10, show_default=True,
              help="Parallel streams the text is cut into (the state is carried within each).")
@click.option("--bptt", type=int, default=35, show_default=True, help="Tokens per forward pass.")
@click.option("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar on stderr.")
@device_option
def evaluate_cmd(model_path, vocab, trust_pickle, corpus, batch_size, bptt, threads, progress, device):
    """Print perplexity (word) or bits per character (char/byte) of a model on a text."""
    import torch

    from rnnscope.checkpoint import load_model
    from rnnscope.errors import RnnscopeError
    from rnnscope.training.data import encode_text, read_raw
    from rnnscope.training.train import evaluate_loss, loss_to_metric

    if batch_size < 1 or bptt < 1 or (threads is not None and threads < 1):
        raise RnnscopeError("--batch-size, --bptt and --threads must be at least 1")
    if threads:
        torch.set_num_threads(threads)
    model, voc = load_model(model_path, vocab=vocab, trust_pickle=trust_pickle)
    model = model_on(model, device)
    stream = encode_text(read_raw(corpus), voc, corpus)
    unk = float((stream == voc.unk_id).float().mean())
    loss = evaluate_loss(model, stream, batch_size, bptt, progress=progress)
    name, value = loss_to_metric(loss, voc.kind)
    click.echo(f"{name} {value:.4f}  (loss {loss:.4f} nats/token over {stream.numel() - 1:,} tokens)")
    note = f"{unk:.1%} of the tokens are <unk>"
    click.echo(f"warning: {note}" if unk > 0.05 else note, err=True)


@click.command("sample", short_help="Generate text from a model.")
@_model_options
@click.option("--prime", default="", help="Text to start from.")
@click.option("--length", type=int, default=100, show_default=True, help="Units to generate.")
@click.option("--temperature", type=float, default=1.0, show_default=True, help="0 = argmax.")
@click.option("--seed", type=int, default=None, help="Random seed of the sampler (repeatable output).")
@click.option("--no-unk", is_flag=True, help="Never generate <unk> (its probability is set to 0).")
def sample_cmd(model_path, vocab, trust_pickle, prime, length, temperature, seed, no_unk):
    """Generate text from a model (multinomial at --temperature; 0 = greedy)."""
    from rnnscope.checkpoint import load_model
    from rnnscope.sampling import sample

    model, voc = load_model(model_path, vocab=vocab, trust_pickle=trust_pickle)
    text = sample(model, voc, prime=prime, length=length, temperature=temperature, seed=seed,
                  exclude=[voc.unk_id] if no_unk else ())
    sep = " " if voc.kind == "word" and prime and not prime.endswith((" ", "\n")) else ""
    click.echo(prime + sep + text)


@click.command("convert", short_help="Import a foreign checkpoint into rnnscope's format.")
@click.argument("src")
@click.option("--vocab", default=None,
              help="The source's vocabulary: vocab.txt (one token per line), vocab.json, a "
                   "word_language_model data folder or pickled Dictionary, or fastai's itos .pkl "
                   "(Flair LMs carry theirs).")
@click.option("--out", required=True, help="Folder to write in rnnscope's format.")
@click.option("--trust-pickle", is_flag=True, help="Allow arbitrary pickles (runs their code!).")
def convert_cmd(src, vocab, out, trust_pickle):
    """Import a foreign checkpoint into our format (docs/import.md lists the sources)."""
    from rnnscope.checkpoint import save_model
    from rnnscope.importers import import_checkpoint

    model, voc = import_checkpoint(src, vocab=vocab, trust_pickle=trust_pickle)
    info = getattr(model, "imported", {})
    save_model(model, voc, out, extra={"converted_from": str(Path(src).resolve()),
                                       **({"imported": info} if info else {})})
    if info.get("direction") == "backward":
        click.echo("warning: a backward language model: it reads text right to left, but "
                   "rnnscope feeds text left to right; reverse your inputs to analyse it as trained",
                   err=True)
    c = model.config
    sizes = "-".join(map(str, c.sizes)) if c.layer_sizes else f"{c.num_layers}x{c.hidden_size}"
    sizes += f" (h projected to {c.proj_size})" if c.proj_size else ""
    click.echo(f"wrote {out}: {c.cell} {sizes}, emb {c.emb_dim}, vocab {len(voc):,} ({voc.kind})")


COMMANDS = [train_cmd, evaluate_cmd, sample_cmd, convert_cmd]
