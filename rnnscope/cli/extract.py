"""CLI verbs ``extract``, ``store-info`` and ``export-lstmvis`` (the activation store)."""
from __future__ import annotations

import click

from rnnscope.cli.options import device_option, model_on
from rnnscope.errors import RnnscopeError
from rnnscope.distributed.cli import choose
from rnnscope.distributed.cluster import cluster_options


def _csv(value: str | None, kind: type = str, what: str = "value") -> list | None:
    """``"h,c"`` -> ``["h", "c"]``; ``"1,2"`` -> ``[1, 2]`` (``kind=int``)."""
    if not value:
        return None
    try:
        return [kind(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError:
        raise RnnscopeError(f"bad {what} list {value!r}: expected e.g. 1,2") from None


@click.command("extract", short_help="Run a model over a corpus; store every activation.")
@click.option("--model", "model_path", required=True,
              help="Model folder (ours) or a foreign checkpoint (with --vocab).")
@click.option("--vocab", default=None, help="Vocabulary file for a foreign checkpoint.")
@click.option("--trust-pickle", is_flag=True, help="Allow arbitrary pickles (runs their code!).")
@click.option("--corpus", "corpus_path", required=True,
              help="Corpus: CoNLL-U (.conllu[.gz]) or plain text, one sentence per line.")
@click.option("--components", default=None, help="Components to store, e.g. h,c [default: all].")
@click.option("--layers", default=None, help="1-based layers to store, e.g. 1,2 [default: all].")
@click.option("--dtype", type=click.Choice(["float16", "float32"]), default="float16",
              show_default=True, help="Storage precision (float16 halves the store).")
@click.option("--reset", type=click.Choice(["sentence", "carry"]), default="sentence",
              show_default=True, help="Zero state per sentence, or carry it across sentences.")
@click.option("--batch-size", type=int, default=64, show_default=True,
              help="Sentences run through the model at once.")
@click.option("--chunk-rows", type=int, default=4096, show_default=True,
              help="Rows per zarr chunk (also the unit of progress).")
@click.option("--compress", is_flag=True,
              help="zstd-compress chunks (smaller store, slower extraction).")
@click.option("--max-sentences", type=int, default=None, help="Use only the first N sentences.")
@click.option("--threads", type=int, default=None, help="torch.set_num_threads.")
@click.option("--out", required=True, help="Store folder (local path or fsspec URL).")
@click.option("--resume", is_flag=True, help="Continue an interrupted extraction in --out.")
@click.option("--overwrite", is_flag=True, help="Replace an existing store in --out.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar on stderr.")
@device_option
@cluster_options
def extract_cmd(model_path, vocab, trust_pickle, corpus_path, components, layers, dtype, reset,
                batch_size, chunk_rows, compress, max_sentences, threads, out, resume, overwrite, progress,
                device, cluster=None, workers=None):
    """Run a model over a corpus and store every component of every layer at every unit."""
    import torch

    from rnnscope.checkpoint import load_model
    from rnnscope.corpus.readers import read_corpus
    from rnnscope.corpus.types import Corpus
    from rnnscope.extract import extract

    if threads:
        torch.set_num_threads(threads)
    model, vocabulary = load_model(model_path, vocab=vocab, trust_pickle=trust_pickle)
    if not (cluster or workers):  # Dask workers load the model on their own machines
        model = model_on(model, device)
    corpus = read_corpus(corpus_path)
    if max_sentences is not None:
        if max_sentences < 1:
            raise RnnscopeError(f"--max-sentences must be positive, got {max_sentences}")
        corpus = Corpus(corpus.sentences[:max_sentences], name=corpus.name)
    extract = choose(extract, "rnnscope.distributed.extract:extract_distributed", cluster, workers)
    store = extract(model, vocabulary, corpus, out, components=_csv(components, what="component"),
                    layers=_csv(layers, int, "layer"), dtype=dtype, reset=reset,
                    batch_size=batch_size, resume=resume, overwrite=overwrite,
                    chunk_rows=chunk_rows, progress=progress,
                    compression="zstd" if compress else None)
    click.echo(f"wrote {len(store)} rows x {store.hidden_size} units of "
               f"{len(store.keys())} arrays ({', '.join(store.keys())}) to {store.path}")
    if "unknown" in store.meta:
        from rnnscope.corpus.unknown import UnknownReport

        click.echo(UnknownReport.from_dict(store.meta["unknown"]).line("units the model read"),
                   err=True)


@click.command("store-info", short_help="Describe an activation store.")
@click.argument("store_path", metavar="STORE")
def store_info_cmd(store_path):
    """Describe an activation store: rows, model, keys, token-table columns."""
    from rnnscope.store import ActivationStore

    click.echo(ActivationStore.open(store_path).info())


@click.command("export-lstmvis", short_help="Export a store to LSTMVis' HDF5 layout.")
@click.argument("store_path", metavar="STORE")
@click.option("--out", required=True, help="Folder for states.hdf5, train.hdf5, words.dict, lstm.yml.")
@click.option("--keys", default=None, help="Keys to export, e.g. layer1.c,layer2.h [default: h and c].")
@click.option("--name", default=None, help="Project name in lstm.yml [default: the corpus name].")
def export_lstmvis_cmd(store_path, out, keys, name):
    """Export a store to LSTMVis' HDF5 layout (needs h5py)."""
    from rnnscope.export_lstmvis import export_lstmvis
    from rnnscope.store import ActivationStore

    folder = export_lstmvis(ActivationStore.open(store_path), out, keys=_csv(keys, what="key"),
                            name=name)
    click.echo(f"wrote LSTMVis project to {folder}")


COMMANDS = [extract_cmd, store_info_cmd, export_lstmvis_cmd]
