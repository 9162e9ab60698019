"""Corpora: sentences of words with annotations, aligned to a model's units (word/char/byte)."""
from rnnscope.corpus.types import AlignedSentence, Corpus, Sentence

__all__ = ["AlignedSentence", "Corpus", "Sentence"]
